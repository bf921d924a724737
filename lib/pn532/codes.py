"""PN532 frame identifiers and command codes (user manual, section 7), as public names.

pn532.frames serves these names (frames.CMD_GETFIRMWAREVERSION still works) from this module on
first use; the driver and the emulator use private copies of the few they send or answer, so
this table is never in a reader's heap.
"""
from micropython import const

TFI_HOST = const(0xD4)  # host -> PN532
TFI_PN532 = const(0xD5)  # PN532 -> host

# Command codes (the response code is the command + 1).
CMD_GETFIRMWAREVERSION = const(0x02)
CMD_SAMCONFIGURATION = const(0x14)
CMD_POWERDOWN = const(0x16)
CMD_RFCONFIGURATION = const(0x32)
CMD_INDATAEXCHANGE = const(0x40)
CMD_INDESELECT = const(0x44)
CMD_INLISTPASSIVETARGET = const(0x4A)
CMD_INRELEASE = const(0x52)

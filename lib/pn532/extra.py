"""PN532 commands a door reader rarely or never sends: loaded on first use (PN532.__getattr__).

Each function takes the PN532 as its first argument and is called as a method of it:
`await pn.mifare_read(4)` runs `mifare_read(pn, 4)`. Every public name here becomes a method, so
the module holds nothing else (command codes are literals, named in the comments: frames.CMD_*).
"""
from . import PN532Error as _PN532Error


async def firmware_version(pn):
    r = await pn.command(0x02)  # GetFirmwareVersion
    if len(r) < 4:
        raise _PN532Error("short firmware reply")
    pn.firmware = (r[0], r[1], r[2], r[3])
    return pn.firmware


async def sam_configuration(pn, mode=1, timeout=0x14, irq=1):
    await pn.command(0x14, bytes((mode, timeout, irq)))  # SAMConfiguration


async def set_passive_retries(pn, retries):
    """RFConfiguration MaxRetries: ATR 0xFF, PSL 0x01, passive activation `retries`."""
    await pn.command(0x32, bytes((0x05, 0xFF, 0x01, retries & 0xFF)))  # RFConfiguration
    pn.passive_retries = retries


async def release(pn, tg=0):
    """InRelease (tg 0 = all targets): stop talking to the selected card."""
    await pn.command(0x52, bytes((tg,)))  # InRelease


async def deselect(pn, tg=0):
    await pn.command(0x44, bytes((tg,)))  # InDeselect


async def power_down(pn, wakeup=0xB0):
    """PowerDown; WakeUpEnable 0xB0 = I2C | SPI | HSU. init() wakes it again."""
    await pn.command(0x16, bytes((wakeup,)))  # PowerDown


async def in_data_exchange(pn, data, tg=1, timeout_ms=None):
    """InDataExchange with target `tg`: returns (status, reply bytes); status 0 = OK."""
    r = await pn.command(0x40, bytes((tg,)) + bytes(data), timeout_ms)  # InDataExchange
    if not r:
        raise _PN532Error("empty InDataExchange reply")
    return r[0] & 0x3F, r[1:]


async def mifare_auth(pn, block, key, uid, key_b=False):
    """MIFARE Classic authentication of `block`'s sector; False when the card refused.

    Uses the last 4 UID bytes (what a 7-byte-UID Classic expects). After a refusal the card
    is halted: poll it again (read_passive_target) before the next try.
    """
    cmd = bytes((0x61 if key_b else 0x60, block))  # MIFARE_AUTH_B / _A
    st, _ = await in_data_exchange(pn, cmd + bytes(key) + bytes(uid[-4:]))
    return st == 0


async def mifare_read(pn, block):
    """16 bytes of an authenticated block, or None when the card refused."""
    st, d = await in_data_exchange(pn, bytes((0x30, block)))  # MIFARE READ
    if st or len(d) < 16:
        return None
    return d[:16]


async def mifare_write(pn, block, data):
    """Write 16 bytes to an authenticated block; True on success."""
    if len(data) != 16:
        raise ValueError("16 bytes")
    st, _ = await in_data_exchange(pn, bytes((0xA0, block)) + bytes(data))  # MIFARE WRITE
    return st == 0

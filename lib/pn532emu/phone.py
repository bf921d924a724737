"""A phone with an app answering by host card emulation (Android HCE) in the PN532 emulator:
the ISO 14443-4 target's side of InDataExchange, ISO 7816-4 APDUs (docs/cards-nfc.md).

The phone's app is registered for one AID (Android: the AID group of its HostApduService);
the phone routes a SELECT by that AID to the app, which answers its response and 90 00:

  00 A4 04 00 Lc AID [Le]   -> RESPONSE 90 00     (the app's AID)
                            -> 6A 82              (another AID: no such app, "file not found")
  anything else             -> 6D 00              (instruction not supported)
  not an APDU (< 4 bytes, a DESFire or MIFARE Plus native command)  -> 6E 00 / 6D 00 as Android does
                                                   for a class or instruction it doesn't know

`response` is what the app answers (hex in the JSON description); `status` replaces 90 00 (an
app that refuses, e.g. 69 85 with the screen locked); `installed` False: every SELECT -> 6A 82.
A phone's UID is random per tap (ISO 14443-3 random IDs: 4 bytes, the first 08). Faults for
tests: `leave_after` (the phone leaves after that many exchanges).
"""
import os

from .hexdesc import hex_bytes

ATS = b"\x05\x78\x80\x70\x02"  # TL T0 TA TB TC (no historical bytes), as Android phones answer


def random_uid():
    return b"\x08" + os.urandom(3)


class Phone:
    def __init__(self, aid, response=b"", status=b"\x90\x00", installed=True, leave_after=0):
        self.aid = bytes(aid)
        self.response = bytes(response)
        self.status = bytes(status)
        self.installed = installed
        self.leave_after = leave_after
        self.exchanges = 0
        self.selects = 0

    def reset(self):
        pass

    def answer(self, data):
        data = bytes(data)
        if len(data) < 4:
            return b"\x67\x00"  # wrong length
        if data[0] not in (0x00, 0x80):
            return b"\x6e\x00"  # class not supported
        if data[1:4] != b"\xa4\x04\x00" or len(data) < 5:
            return b"\x6d\x00"
        lc = data[4]
        if len(data) not in (5 + lc, 6 + lc):
            return b"\x67\x00"
        self.selects += 1
        if not self.installed or data[5:5 + lc] != self.aid:
            return b"\x6a\x82"
        return self.response + self.status


def phone_from(desc):
    """A phone from its description: {"aid": "F0646F6F7263746C", "response": "00003039",
    "status": "9000", "installed": true, "leave_after": N}."""
    if not isinstance(desc, dict):
        raise ValueError("hce must be an object (aid, response, status, installed, leave_after)")
    known = ("aid", "response", "status", "installed", "leave_after")
    for k in desc:
        if k not in known:
            raise ValueError("hce: unknown field %r (known: %s)" % (k, ", ".join(known)))
    if "aid" not in desc:
        raise ValueError("hce needs an aid (5-16 bytes of hex)")
    return Phone(hex_bytes(desc["aid"], "hce aid", range(5, 17)), hex_bytes(desc.get("response", ""), "hce response"),
                 hex_bytes(desc.get("status", "9000"), "hce status", range(2, 3)), bool(desc.get("installed", True)),
                 int(desc.get("leave_after", 0)))

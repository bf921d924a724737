"""NFC phones at the door (firmware/doorapp/nfc.py, routed by doorapp/cardkinds.py) against the
emulator's phone (lib/pn532emu/phone.py): SELECT by the site's AID, the app's answer as the code,
each denial's reason, and the order with DESFire and MIFARE Plus on; under CPython and
MicroPython."""
import asyncio

from carddoor import CardDoor, Watcher
from pn532 import PN532Error
from pn532.hsu import PN532_HSU
from pn532emu import PN532Emulator
from pn532emu.stream import EmulatorStream
from doorapp import cardkinds, nfc

AID = "F0646F6F7263746C"
CODE = b"\x00\x00\x30\x39"


class Door(CardDoor):
    """What doorapp/nfc.py and cardkinds.py use of the door."""

    def __init__(self, **over):
        n = {"enabled": True, "aid": AID, "uid_fallback": False}
        n.update(over)
        CardDoor.__init__(self, {"nfc": n, "mifare": {"enabled": False}, "desfire": {"enabled": False},
                                 "plus": {"enabled": False}}, {})


def phone(response="00003039", **over):
    d = {"aid": AID, "response": response}
    d.update(over)
    return d


def run(coro, limit_s=30):
    return asyncio.run(asyncio.wait_for(coro, limit_s))


def tap(door, place):
    """`place(emu)` puts something in the field; the door's outcome, the frames the read took,
    the UID the poll saw."""
    emu = PN532Emulator()
    pn = PN532_HSU(EmulatorStream(emu), ack_timeout_ms=30, timeout_ms=80, poll_timeout_ms=150, attempts=1)

    async def main():
        await pn.init()
        place(emu)
        c = await pn.read_passive_target()
        w = Watcher()
        cardkinds.follow(door, w)
        door.out = []
        before = emu.counters["frames_in"]
        try:
            await w.read_card(pn, *c)
        except PN532Error as e:
            return ("error", str(e)), 0, c[0]
        return door.out[0], emu.counters["frames_in"] - before, bytes(c[0])

    return run(main())


def test_the_apps_answer_is_the_code_in_one_exchange():
    out, frames, uid = tap(Door(), lambda emu: emu.place_phone(phone()))
    assert (out, frames) == (("code", "0000012345", CODE), 1)
    assert len(uid) == 4 and uid[0] == 0x08  # a random ID
    out2, _, uid2 = tap(Door(), lambda emu: emu.place_phone(phone()))
    assert out2 == out and uid2 != uid  # another tap, another UID, the same code
    # 10 bytes: the longest code; FULLH would show them all
    assert tap(Door(), lambda emu: emu.place_phone(phone("00112233445566778899")))[0][0] == "code"


def test_the_select_apdu():
    assert nfc.select_apdu(AID) == bytes.fromhex("00A4040008F0646F6F7263746C00")
    assert nfc.select_apdu("A000000001") == bytes.fromhex("00A4040005A00000000100")


def test_denials_have_their_reasons():
    cases = (
        (Door(), phone(installed=False), ("deny", 47)),  # 6A 82: the app is not installed
        (Door(), phone(aid="F00102030405"), ("deny", 47)),  # another site's app
        (Door(), phone(""), ("deny", 48)),  # 90 00 without a code
        (Door(), phone("001122"), ("deny", 48)),  # too short
        (Door(), phone("00" * 11), ("deny", 48)),  # too long
        (Door(), phone(status="6985"), ("deny", 48)),  # the app refuses (the phone locked)
        (Door(uid_fallback=True), phone(installed=False), ("uid",)),
    )
    for door, desc, want in cases:
        out = tap(door, lambda emu: emu.place_phone(desc))[0]
        assert out[:len(want)] == want, (desc, out)
    # not ISO 14443-4 (an NTAG): the UID by uid_fallback, else nfc_app_missing
    ntag = b"\x04\x50\x12\x34\x56\x78\x90"
    assert tap(Door(), lambda emu: emu.place(ntag))[0] == ("deny", 47, ntag)
    assert tap(Door(uid_fallback=True), lambda emu: emu.place(ntag))[0] == ("uid", ntag)


def test_desfire_and_plus_on_too_a_phone_comes_last():
    door = Door()
    door.cfg["card"]["desfire"] = {"enabled": True, "aid": "F51230", "file": 1, "crypto": "aes", "key_index": 1,
                                   "comm": "enc", "offset": 0, "length": 4, "diversify": False,
                                   "uid_fallback": False}
    door.cfg["card"]["plus"] = {"enabled": True, "sector": 1, "block": 0, "key_type": "A", "keys": 1,
                                "uid_fallback": False}
    # the DESFire select and the Plus first pass answered 6E 00, then the SELECT AID
    assert tap(door, lambda emu: emu.place_phone(phone()))[:2] == (("code", "0000012345", CODE), 3)
    # a DESFire without the application is DESFire's to deny; a phone without the app is NFC's
    assert tap(door, lambda emu: emu.place_desfire(b"\x04\x11\x22\x33\x44\x55\x66", {}))[0][:2] == ("deny", 44)
    assert tap(door, lambda emu: emu.place_phone(phone(installed=False)))[0][:2] == ("deny", 47)


def test_a_phone_leaving_is_one_failure():
    """Gone after DESFire's select (DESFire on too): the SELECT AID times out, nothing decided."""
    door = Door()
    door.cfg["card"]["desfire"] = {"enabled": True, "aid": "F51230", "file": 1, "crypto": "aes", "key_index": 1,
                                   "comm": "enc", "offset": 0, "length": 4, "diversify": False,
                                   "uid_fallback": False}
    out = tap(door, lambda emu: emu.place_phone(phone(leave_after=1)))[0]
    assert out[0] == "error", out

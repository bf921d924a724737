"""MIFARE Plus SL3 at the door (firmware/doorapp/plus.py, routed by doorapp/cardkinds.py)
against the emulator's card (lib/pn532emu/plus.py): AES FirstAuthenticate, the MACed read, the
key choices, each denial's reason, a card leaving mid-authentication; under CPython and
MicroPython (tests/test_plus_crypto.py checks both sides against host code on `cryptography`)."""
import asyncio

from carddoor import CardDoor, Watcher
from pn532 import PN532Error
from pn532.hsu import PN532_HSU
from pn532emu import PN532Emulator
from pn532emu.stream import EmulatorStream
from doorapp import cardkinds, plus

UID = b"\x04\x21\x32\x43\x54\x65\x76"
KEY1 = bytes(range(0x30, 0x40))
KEY2 = bytes(range(0x50, 0x60))
KEY3 = bytes(range(0x70, 0x80))
CODE = b"\x00\x00\x30\x39"


class Door(CardDoor):
    """What doorapp/plus.py and cardkinds.py use of the door."""

    def __init__(self, plus_keys=(KEY1,), **over):
        p = {"enabled": True, "sector": 2, "block": 1, "key_type": "A", "keys": 3, "uid_fallback": False}
        p.update(over)
        CardDoor.__init__(self, {"plus": p, "mifare": {"enabled": False}, "desfire": {"enabled": False}},
                          {"plus_keys": list(plus_keys)})


def card(key=KEY1, data="00003039", block=9, **over):
    d = {"key": key.hex(), "blocks": {str(block): data}}
    d.update(over)
    return d


def run(coro, limit_s=30):
    return asyncio.run(asyncio.wait_for(coro, limit_s))


def tap(door, desc, uid=UID, frames=False):
    """Place the card (a Plus from `desc`, or a plain one), poll it, let the door read it: the
    door's outcome (and the frames the read took), or ("error", text)."""
    emu = PN532Emulator()
    pn = PN532_HSU(EmulatorStream(emu), ack_timeout_ms=30, timeout_ms=80, poll_timeout_ms=150, attempts=1)

    async def main():
        await pn.init()
        if desc is None:
            emu.place(uid)
        else:
            emu.place_plus(uid, desc)
        c = await pn.read_passive_target()
        w = Watcher()
        cardkinds.follow(door, w)
        door.out = []
        before = emu.counters["frames_in"]
        try:
            await w.read_card(pn, *c)
        except PN532Error as e:
            return ("error", str(e))
        if frames:
            return door.out[0], emu.counters["frames_in"] - before
        return door.out[0]

    return run(main())


def test_the_code_in_three_exchanges():
    assert tap(Door(), card(), frames=True) == (("code", "0000012345", CODE), 3)  # pass 1, pass 2, read
    # key B, and a sector of a 4K's upper part (16 blocks: block 14 is data)
    assert tap(Door(key_type="B"), card(), frames=True)[0] == ("code", "0000012345", CODE)
    assert tap(Door(sector=33, block=14), card(block=128 + 16 + 14))[0] == "code"


def test_any_of_three_key_choices():
    door = Door(plus_keys=(KEY1, KEY2, KEY3))
    assert tap(door, card(key=KEY2), frames=True) == (("code", "0000012345", CODE), 5)  # one refused: 2 more
    assert tap(door, card(key=KEY3), frames=True) == (("code", "0000012345", CODE), 7)
    assert tap(door, card(key=bytes(16)), frames=True) == (("deny", 40, UID), 6)  # none of the three
    # card.plus.keys limits the choices tried
    assert tap(Door(plus_keys=(KEY1, KEY2, KEY3), keys=1), card(key=KEY2), frames=True) == (("deny", 40, UID), 2)


def test_denials_have_their_reasons():
    cases = (
        (Door(), card(key=bytes(16)), ("deny", 40, UID)),  # another key
        (Door(plus_keys=()), card(), ("deny", 40, UID)),  # none provisioned
        (Door(key_type="B"), card(read="A"), ("deny", 40, UID)),  # key B may not read the block
        (Door(), card(data="00000000"), ("deny", 41, UID)),  # no code
        (Door(), card(data="ffffffff"), ("deny", 41, UID)),
        (Door(), card(tamper="mac"), ("deny", 43, UID)),  # the answer's MAC is wrong
        (Door(), None, ("deny", 46, UID)),  # not a Plus: a MIFARE Ultralight / NTAG
        (Door(uid_fallback=True), None, ("uid", UID)),
    )
    for door, desc, want in cases:
        got = tap(door, desc)
        assert got == want, (desc, got)


def test_a_phone_or_a_desfire_is_not_a_plus():
    emu = PN532Emulator()
    pn = PN532_HSU(EmulatorStream(emu), ack_timeout_ms=30, timeout_ms=80, poll_timeout_ms=150, attempts=1)

    async def main():
        await pn.init()
        out = []
        for place in ("phone", "desfire"):
            if place == "phone":  # ISO 14443-4 without a card model: 6E 00 to everything
                emu.place(b"\x08\x01\x02\x03", sak=0x20, ats=b"\x05\x78\x80\x70\x02")
            else:
                emu.place_desfire(UID, {})
            c = await pn.read_passive_target()
            d = Door()
            w = Watcher()
            cardkinds.follow(d, w)
            await w.read_card(pn, *c)
            out.append(d.out[0][:2])
        return out

    assert run(main()) == [("deny", 46), ("deny", 46)]


def test_desfire_and_plus_both_on():
    door = Door()
    door.cfg["card"]["desfire"] = {"enabled": True, "aid": "F51230", "file": 1, "crypto": "aes", "key_index": 1,
                                   "comm": "enc", "offset": 0, "length": 4, "diversify": False,
                                   "uid_fallback": False}
    # a Plus refuses the DESFire select (0B): the Plus reader takes it, one exchange later
    assert tap(door, card(), frames=True) == (("code", "0000012345", CODE), 4)
    # a card neither could read (SAK 00): the first kind on names the reason
    assert tap(door, None)[:2] == ("deny", 45)


def test_a_card_leaving_mid_authentication_is_one_failure_and_the_reader_recovers():
    for n in (1, 2):  # gone after pass 1, after pass 2
        got = tap(Door(), card(leave_after=n))
        assert got[0] == "error", (n, got)
        assert tap(Door(), card()) == ("code", "0000012345", CODE)


def test_block_numbers():
    assert plus.block_number(0, 1) == 1 and plus.block_number(31, 2) == 126
    assert plus.block_number(32, 0) == 128 and plus.block_number(39, 14) == 254


class Counting:
    """The emulator's ByteStream, counting the bytes each way on the UART."""

    def __init__(self, inner):
        self.inner = inner
        self.n = 0

    async def write(self, data):
        self.n += len(data)
        await self.inner.write(data)

    async def read(self, n, timeout_ms):
        d = await self.inner.read(n, timeout_ms)
        self.n += len(d)
        return d

    def reset_input(self):
        self.inner.reset_input()


def test_bytes_on_the_uart_per_read():
    """The 3 command frames, 3 ACKs and 3 answers of a read with the first key (and 2 + 2 + 2
    more per key refused); at 115200 baud (10 bits a byte) bytes / 11.52 ms
    (docs/cards-plus.md quotes these figures)."""
    got = []
    for desc, door in ((card(), Door()), (card(key=KEY2), Door(plus_keys=(KEY1, KEY2)))):
        emu = PN532Emulator()
        st = Counting(EmulatorStream(emu))
        pn = PN532_HSU(st, ack_timeout_ms=30, timeout_ms=80, poll_timeout_ms=150, attempts=1)

        async def main():
            await pn.init()
            emu.place_plus(UID, desc)
            c = await pn.read_passive_target()
            w = Watcher()
            cardkinds.follow(door, w)
            st.n = 0
            await w.read_card(pn, *c)
            return st.n

        got.append(run(main()))
        assert door.out[0][0] == "code"
    assert got == [202, 309], got

"""FeliCa at the door: the driver's FeliCa poll (InListPassiveTarget BrTy 01, payload 00 FF FF 01
00) against the emulator's FeliCa card (the PN532's response layout), the card watcher
alternating type A and FeliCa polls only while card.felica is on (no extra frame otherwise), and
the IDm decided as the card number; under CPython and MicroPython (docs/cards-felica.md)."""
import asyncio

from compat import ticks_ms, ticks_diff
from test_pn532_driver import run, until  # (the driver tests' loop helpers)
from pn532 import frames
from pn532.frames import FrameParser
from pn532.hsu import PN532_HSU
from pn532.watch import CardWatcher
from pn532emu import PN532Emulator
from pn532emu.stream import EmulatorStream
from doorapp import cardkinds

IDM = b"\x01\x2e\x4c\xd8\xa5\xb6\xc7\xd8"
PMM = b"\x10\x0b\x4b\x42\x84\x85\xd0\xff"
UID4 = b"\xde\xad\xbe\xef"


class Counting:
    """The emulator's ByteStream, counting the frames the host sends."""

    def __init__(self, emu):
        self.inner = EmulatorStream(emu)
        self.frames = 0
        self.sent = []

    async def write(self, data):
        if len(data) > 6:  # (not an ACK)
            self.frames += 1
            self.sent.append(bytes(data))
        await self.inner.write(data)

    async def read(self, n, timeout_ms):
        return await self.inner.read(n, timeout_ms)

    def reset_input(self):
        self.inner.reset_input()


def rig():
    emu = PN532Emulator()
    st = Counting(emu)
    pn = PN532_HSU(st, ack_timeout_ms=30, timeout_ms=80, poll_timeout_ms=150)
    return emu, st, pn


def test_the_felica_poll_and_the_pn532_answer():
    emu, st, pn = rig()

    async def main():
        await pn.init()
        assert await pn.read_felica_target() is None  # no card
        emu.place_felica(IDM)
        got = await pn.read_felica_target()
        assert got == (IDM, None, None), got
        assert await pn.read_passive_target() is None  # a type A poll doesn't find a FeliCa card
        emu.place(UID4)
        assert await pn.read_felica_target() is None  # nor a FeliCa poll a type A card
        assert (await pn.read_passive_target())[0] == UID4
        # the frame as sent: D4 4A 01 01 00 FF FF 01 00
        assert st.sent[-2][5:14] == b"\xd4\x4a\x01\x01\x00\xff\xff\x01\x00", st.sent[-2]

    run(main())
    # the PN532's answer: D5 4B NbTg Tg POL_RES-length 01 IDm PMm system code
    emu.place_felica(IDM)
    assert answer(emu, b"\x01\x01\x00\xff\xff\x01\x00") == b"\x01\x01\x14\x01" + IDM + PMM + b"\x88\xb4"
    assert answer(emu, b"\x01\x01\x00\xff\xff\x00\x00") == b"\x01\x01\x12\x01" + IDM + PMM  # RC 00: no code
    assert answer(emu, b"\x01\x01\x00\x88\xb4\x01\x00")[:2] == b"\x01\x01"  # its own system code
    emu.retries = 0
    assert answer(emu, b"\x01\x01\x00\x00\x03\x01\x00") == b"\x00"  # another: no answer (NbTg 0)
    assert answer(emu, b"\x01\x00") == b"\x00"  # a type A poll


def test_the_424_kbps_poll_finds_the_cards_that_answer_it():
    """card.felica.kbps 424: the polls go at 424 kbit/s (BrTy 02); a card that answers only
    212 kbit/s (older FeliCa) is not found then, and is at 212."""
    emu, st, pn = rig()

    async def main():
        await pn.init()
        emu.place_felica(IDM)
        assert await pn.read_felica_target(2) == (IDM, None, None)
        assert polls()[-1] == b"\xd4\x4a\x01\x02\x00\xff\xff\x01\x00", polls()
        emu.place_felica(IDM, kbps=(212,))
        assert await pn.read_felica_target(2) is None
        assert await pn.read_felica_target(1) == (IDM, None, None)
        assert polls()[-1] == b"\xd4\x4a\x01\x01\x00\xff\xff\x01\x00", polls()

    def polls():  # the InListPassiveTarget frames sent (TFI, command, params)
        return [bytes(f[5:14]) for f in st.sent if len(f) > 6 and f[6] == 0x4A]

    run(main())
    seen, kinds, w = watch(1, lambda emu: emu.place_felica(IDM), brty=2)
    assert seen == [(IDM, None, None)] and kinds[2] > 30 and 1 not in kinds, (seen, kinds)


def answer(emu, params):
    """The emulator's InListPassiveTarget answer data (after D5 4B) to `params`."""
    emu.clear_output()
    emu.feed(frames.command(0x4A, params))
    t0 = ticks_ms()
    p = FrameParser()
    while ticks_diff(ticks_ms(), t0) < 1000:
        p.feed(emu.read())
        while True:
            ev = p.next_event()
            if ev is None:
                break
            if ev == 4:  # an information frame
                return bytes(p.data[2:])
    raise AssertionError("no answer")


def watch(felica, place, polls=40, brty=1):
    """A watcher polling for `polls` polls with `place(emu)` done first: (the cards it saw, the
    InListPassiveTarget frames by BrTy)."""
    emu, st, pn = rig()
    seen = []
    w = CardWatcher(pn, lambda uid, atqa, sak: seen.append((uid, atqa, sak)), interval_ms=2, miss_polls=3)
    w.felica = felica
    w.felica_brty = brty

    async def main():
        task = asyncio.create_task(w.run())
        await until(lambda: w.status == "ok")
        st.sent = []
        place(emu)
        p0 = w.polls
        await until(lambda: w.polls >= p0 + polls)
        w.stop()
        await task

    run(main())
    kinds = {}
    for f in st.sent:
        if f[6] == 0x4A:
            kinds[f[8]] = kinds.get(f[8], 0) + 1
    return seen, kinds, w


def test_felica_off_sends_type_a_polls_only():
    seen, kinds, w = watch(0, lambda emu: emu.place_felica(IDM))
    assert seen == [] and list(kinds) == [0], kinds  # one frame per poll, all type A: no cost
    assert kinds[0] >= 38 and w.felica == 0


def test_felica_on_alternates_and_holds_the_kind_that_found_the_card():
    seen, kinds, w = watch(1, lambda emu: None, polls=20)  # an empty field: A, F, A, F...
    assert seen == [] and abs(kinds[0] - kinds[1]) <= 1, kinds
    seen, kinds, w = watch(1, lambda emu: emu.place_felica(IDM))
    assert seen == [(IDM, None, None)], seen  # one event however long it is held
    assert kinds[1] > 30 and kinds.get(0, 0) <= 2, kinds  # FeliCa polls while it is there
    seen, kinds, w = watch(1, lambda emu: emu.place(UID4))
    assert seen == [(UID4, 4, 8)] and kinds[0] > 30 and kinds.get(1, 0) <= 2, (seen, kinds)


def test_felica_removal_and_the_door_deciding_on_the_idm():
    emu, st, pn = rig()
    out = []

    class Door:
        cfg = {"card": {"enabled": True, "felica": {"enabled": True}, "mifare": {"enabled": False},
                        "desfire": {"enabled": True}}}  # (another kind on: read() routes)
        card_format = "FULLH"

        def on_card(self, uid, atqa, sak):
            out.append(bytes(uid))

    w = CardWatcher(pn, lambda *a: None, on_remove=lambda uid: out.append(("gone", uid)), interval_ms=2,
                    miss_polls=2)
    cardkinds.follow(Door(), w)
    assert w.felica == 1 and w.read_card is not None
    d2 = Door()
    d2.cfg = {"card": {"enabled": True, "felica": {"enabled": False}, "desfire": {"enabled": False}}}

    async def main():
        task = asyncio.create_task(w.run())
        await until(lambda: w.status == "ok")
        emu.place_felica(IDM)
        await until(lambda: len(out) == 1)
        emu.remove()
        await until(lambda: len(out) == 2)
        emu.place_felica(IDM)  # back: a new tap
        await until(lambda: len(out) == 3)
        w.stop()
        await task

    run(main())
    assert out == [IDM, ("gone", IDM), IDM], out
    cardkinds.follow(d2, w)  # off again: type A only, no reader routing
    assert w.felica == 0 and w.read_card is None

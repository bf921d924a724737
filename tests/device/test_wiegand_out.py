"""Wiegand output: cards encoded as W26/W34 frames decode with lib/wiegand.py to the same card
(parity included), with no allocation per card or frame; the door's queue (send policy,
overflow) and the ESP32 timed loop (hal/wiegandtx.py) on pin doubles, decoded back."""
import asyncio

import cardfmt
import wiegand
import wiegandbits
from compat import sleep_ms, ticks_add, ticks_diff, ticks_us
from hal.wiegandtx import WiegandTx
from wiegandout import WiegandOut, encode

try:
    from micropython import heap_lock, heap_unlock
except ImportError:  # CPython: no heap to lock
    heap_lock = heap_unlock = None

UIDS = (b"\x04\xa1\xb2\xc3", b"\x00\xd5\x07\xd0", b"\xff\xff\xff\xff", b"\x00\x00\x00\x00",
        b"\x04\x78\x2e\x21\x80\x1d\x80", b"\x80\x01\x80\x01")
FOUR_BYTE_FORMATS = ("8HN", "8HR", "10D", "10DR", "6H3D5D", "6H3D5DR")


def _str(buf, n):
    return "".join("1" if buf[i] else "0" for i in range(n))


def test_w34_round_trip_gives_the_same_card_in_every_4_byte_format():
    buf = bytearray(34)
    for uid in UIDS:
        assert encode(buf, uid, 0, 34) == 34
        f = wiegand.decode(buf, 34)
        assert (f.kind, f.bits, f.uid4) == (wiegand.CARD, 34, uid[:4]), uid
        for fmt in FOUR_BYTE_FORMATS:
            assert cardfmt.format_uid(f.uid4, fmt) == cardfmt.format_uid(uid, fmt), (uid, fmt)
        # the same frame as the simulator's reader model writes it (independent encoder)
        assert _str(buf, 34) == wiegandbits.encode34(int.from_bytes(uid[:4], "big"))


def test_w26_round_trip_gives_the_6h3d5d_code():
    buf = bytearray(34)
    for uid in UIDS:
        assert encode(buf, uid, 0, 26) == 26
        f = wiegand.decode(buf, 26)
        assert (f.kind, f.bits) == (wiegand.CARD, 26)
        assert (f.facility, f.number) == (uid[1], uid[2] * 256 + uid[3]), uid
        assert f.uid4 == b"\x00" + uid[1:4]
        assert cardfmt.format_uid(f.uid4, "6H3D5D") == cardfmt.format_uid(uid, "6H3D5D")
        assert _str(buf, 26) == wiegandbits.encode26(uid[1], uid[2] * 256 + uid[3])
    # the printed card of docs/card-formats.md: 10-digit 0013961168 = 213,02000
    encode(buf, b"\x00\xd5\x07\xd0", 0, 26)
    assert _str(buf, 26) == "1" + "11010101" + "0000011111010000" + "1"


def test_parity_bits_are_the_ones_the_decoder_checks():
    buf = bytearray(34)
    for n in (26, 34):
        half = n // 2 - 1
        for uid in UIDS:
            encode(buf, uid, 0, n)
            ones_first = sum(buf[0:half + 1])  # even parity: E + first half has an even count
            ones_last = sum(buf[half + 1:n])  # odd parity: second half + O has an odd count
            assert ones_first % 2 == 0 and ones_last % 2 == 1, (n, uid)
            for i in range(n):  # any single flipped bit is refused as a parity error
                buf[i] ^= 1
                try:
                    wiegand.decode(buf, n)
                    raise AssertionError("bit %d flipped, accepted" % i)
                except wiegand.WiegandError as e:
                    assert e.reason == "parity"
                buf[i] ^= 1


def test_encode_at_an_offset_and_without_allocating():
    src = bytearray(b"\x11\x22\x33\x44\x04\xa1\xb2\xc3")
    buf = bytearray(34)
    if heap_lock is not None:
        heap_lock()
    try:
        n26 = encode(buf, src, 4, 26)
    finally:
        if heap_unlock is not None:
            heap_unlock()
    assert n26 == 26 and wiegand.decode(buf, 26).number == 0xB2C3


class Rec:
    """A board output that keeps each frame sent as a bit string."""

    def __init__(self):
        self.frames = []

    def send(self, bits, n, pulse_us, interval_us):
        self.frames.append((_str(bits, n), pulse_us, interval_us))
        return ticks_us()


class Board:
    def __init__(self):
        self.spec = {"wiegand_out": {"d0": 21, "d1": 22}}
        self.out = None

    def wiegand_output(self, d0, d1):
        assert (d0, d1) == (21, 22)
        self.out = Rec()
        return self.out


def cfg(**kw):
    c = {"enabled": True, "format": "w26", "send": "granted", "pulse_us": 50, "interval_us": 2000}
    c.update(kw)
    return {"wiegand_out": c}


class Door:
    """What WiegandOut takes from the Door: its board and its (replaceable) config."""

    def __init__(self, cfg):
        self.board = Board()
        self.cfg = cfg


def test_send_policy_queue_and_overflow():
    door = Door(cfg())
    w = WiegandOut(door)
    w.card(b"\x04\xa1\xb2\xc3", False)  # denied, send granted: nothing
    assert w.queued == 0
    w.card(b"\x04\xa1", True)  # not a card UID (too short): nothing
    assert w.queued == 0
    door.cfg = cfg(send="all")
    for i in range(6):  # 4 fit, 2 overflow
        w.card(bytes((i, i, i, i)), i % 2 == 0)
    assert (w.queued, w.overflows) == (4, 2)
    door.cfg = cfg(enabled=False)
    w.card(b"\x04\xa1\xb2\xc3", True)
    assert (w.queued, w.overflows) == (4, 2)
    if heap_lock is not None:  # a card is queued without allocating (Door.conclude's turn)
        door.cfg = cfg()
        w._head, w.queued = 0, 0
        heap_lock()
        try:
            w.card(b"\x04\xa1\xb2\xc3", True)
        finally:
            heap_unlock()
        assert w.queued == 1


def test_task_sends_queued_cards_in_order_with_the_configured_format():
    door = Door(cfg(format="w34", pulse_us=60, interval_us=900))
    b = door.board
    w = WiegandOut(door)

    async def main():
        task = asyncio.create_task(w.run())
        w.card(b"\x04\xa1\xb2\xc3", True)
        w.card(b"\x00\xd5\x07\xd0", True)
        for _ in range(100):
            if len(b.out.frames) == 2:
                break
            await sleep_ms(10)
        door.cfg = cfg(enabled=False)  # queued cards are dropped once output is off
        w.card(b"\x01\x02\x03\x04", True)
        await sleep_ms(150)
        task.cancel()

    asyncio.run(main())
    assert [f[1:] for f in b.out.frames] == [(60, 900), (60, 900)]
    got = [wiegandbits.decode_str(f[0]).uid4 for f in b.out.frames]
    assert got == [b"\x04\xa1\xb2\xc3", b"\x00\xd5\x07\xd0"]
    assert w.state() == {"enabled": False, "sent": 2, "queued": 0, "overflows": 0, "errors": 0}


class Pin:
    """A machine.Pin double that logs (level, ticks_us) on every write."""

    def __init__(self, log, line):
        self.log = log
        self.line = line

    def __call__(self, v):
        self.log.append((self.line, v, ticks_us()))


def test_esp32_timed_loop_decodes_with_the_receivers_assembler():
    log = []
    irq = []
    tx = WiegandTx(Pin(log, 0), Pin(log, 1), lambda: irq.append("off") or 7, lambda s: irq.append(s))
    buf = bytearray(34)
    n = encode(buf, b"\x04\xa1\xb2\xc3", 0, 26)
    t0 = ticks_us()
    end = tx.send(buf, n, 50, 400)
    assert ticks_diff(end, t0) >= 25 * 400  # 26 pulses, 400 us apart
    assert irq == ["off", 7] * 26  # every pulse with interrupts off, restored with their state
    assert len(log) == 52
    asm = wiegand.WiegandAssembler(frame_gap_us=5000)
    starts = []
    for i in range(0, 52, 2):
        (line, lo, t_lo), (line2, hi, t_hi) = log[i], log[i + 1]
        assert (lo, hi, line2) == (0, 1, line)
        assert ticks_diff(t_hi, t_lo) >= 50  # never narrower than asked
        starts.append(t_lo)
        asm.pulse(line, t_lo)
    for i in range(1, 26):  # never sooner than asked (a few us: the double's clock read)
        assert ticks_diff(starts[i], starts[i - 1]) >= 400 - 20
    assert asm.poll(ticks_add(starts[-1], 6000)) == 26
    f = wiegand.decode(asm.frame, 26)
    assert (f.facility, f.number) == (0xA1, 0xB2C3)


# --- board file and config ------------------------------------------------------------------
ROOT = __file__.rsplit("/tests/device/", 1)[0] + "/"


def _board(name):
    import json

    return json.loads(open(ROOT + "boards/" + name + ".json").read())


def _err(fn, *args):
    from configerror import ConfigError

    try:
        fn(*args)
    except ConfigError as e:
        return e
    raise AssertionError("no ConfigError")


def test_board_file_wiegand_out_pins_are_claimed_and_named():
    import hal

    for name, pins in (("sim", (21, 22)), ("esp32-wrover-e", (21, 22)), ("esp32s3-devkitc-n16r8", (10, 11))):
        w = hal.validate_board(_board(name), name)["wiegand_out"]
        assert (w["d0"], w["d1"]) == pins
    for name in ("esp32-devkitc", "sim-lean"):  # the lean boards don't declare it (their heap)
        assert "wiegand_out" not in _board(name)
    spec = _board("esp32-wrover-e")
    spec["wiegand_out"]["d1"] = 27  # relay 2's
    e = _err(hal.validate_board, spec, "b.json")
    assert (e.file, e.field) == ("b.json", "wiegand_out.d1") and "relays[1].pin" in e.message
    spec = _board("sim")
    del spec["wiegand_out"]["d0"]
    assert _err(hal.validate_board, spec, "b.json").field == "wiegand_out.d0"
    spec = _board("sim")
    spec["wiegand_out"]["d0"] = 49
    assert _err(hal.validate_board, spec, "b.json").field == "wiegand_out.d0"
    spec = _board("sim")
    spec["wiegand_out"] = [21, 22]
    assert _err(hal.validate_board, spec, "b.json").field == "wiegand_out"


def test_config_wiegand_out_defaults_and_errors():
    import hal
    from doorapp.config import schema

    sim = hal.validate_board(_board("sim"), "sim")
    lean = hal.validate_board(_board("sim-lean"), "sim-lean")
    assert schema.defaults(sim)["wiegand_out"] == {"enabled": False, "format": "w26", "send": "granted",
                                                   "pulse_us": 50, "interval_us": 2000}
    on = {"wiegand_out": {"enabled": True, "format": "w34", "send": "all"}}
    assert schema.validate(on, sim)["wiegand_out"]["format"] == "w34"
    e = _err(schema.validate, on, lean, "config.json")
    assert e.field == "wiegand_out.enabled" and "sim-lean" in e.message
    # a board without the pins: the section may only say it is off, and the config then has none
    assert "wiegand_out" not in schema.validate({"wiegand_out": {"enabled": False}}, lean)
    assert "wiegand_out" not in schema.defaults(lean)
    assert _err(schema.validate, {"wiegand_out": {"format": "w99"}}, lean).field == "wiegand_out.format"
    for bad, field in (({"format": "W26"}, "format"), ({"send": "denied"}, "send"), ({"pulse_us": 201}, "pulse_us"),
                       ({"interval_us": 199}, "interval_us"), ({"pulse_us": 150, "interval_us": 200}, "interval_us"),
                       ({"enabled": 1}, "enabled"), ({"bits": 26}, "bits")):
        assert _err(schema.validate, {"wiegand_out": bad}, sim).field == "wiegand_out." + field, bad

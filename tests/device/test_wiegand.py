"""Wiegand frames: published examples decode to their facility/card numbers, bad parity and
lengths are rejected, keypad bursts, pulse assembly with inter-bit and end-of-frame timing."""
import cardfmt
import wiegand
import wiegandbits


def _rejects(bits, reason):
    try:
        wiegandbits.decode_str(bits)
    except wiegand.WiegandError as e:
        assert e.reason == reason, (bits, e.reason)
        return
    raise AssertionError("accepted %s" % bits)


def test_h10301_published_example():
    # Raw 26-bit frame 0x21A6616 = facility 13, card 13067 (worked example in the r/AskElectronics
    # thread "RFID - How do I convert 26 bit Wiegand to Dec?", reddit.com/r/AskElectronics
    # /comments/10llyy, decoded there with HID's "Understanding Card Data Formats" H10301 layout).
    bits = "10000110100110011000010110"  # 0x21A6616 as 26 bits
    f = wiegandbits.decode_str(bits)
    assert f.kind == wiegand.CARD and f.bits == 26
    assert (f.facility, f.number) == (13, 13067)
    assert f.uid4 == b"\x00\x0d\x33\x0b"
    assert cardfmt.format_uid(f.uid4, "6H3D5D") == "01313067"
    assert wiegandbits.encode26(13, 13067) == bits


def test_printed_card_numbers_w26_and_w34():
    # A card printed "0013961168 213,02000" (docs/card-formats.md): the 10-digit number is the
    # 32-bit value a Wiegand-34 reader sends, the 3+5 digits what the same reader sends in
    # Wiegand-26 mode. Frames written out by hand: parity bits computed from the layout.
    w34 = "1" + "0000000011010101" + "0000011111010000" + "1"
    f = wiegandbits.decode_str(w34)
    assert (f.bits, f.facility, f.number) == (34, 213, 2000)
    assert cardfmt.format_uid(f.uid4, "10D") == "0013961168"
    assert cardfmt.format_uid(f.uid4, "6H3D5D") == "21302000"
    assert cardfmt.format_uid(f.uid4, "8HN") == "00D507D0"
    w26 = "1" + "11010101" + "0000011111010000" + "1"
    g = wiegandbits.decode_str(w26)
    assert (g.bits, g.facility, g.number) == (26, 213, 2000)
    # the same card code in either mode, in the formats that fit 24 bits
    for fmt in ("10D", "6H3D5D", "8HN"):
        assert cardfmt.format_uid(g.uid4, fmt) == cardfmt.format_uid(f.uid4, fmt)
    assert wiegandbits.encode34(0x00D507D0) == w34 and wiegandbits.encode26(213, 2000) == w26


def test_every_single_bit_flip_is_rejected():
    for good in (wiegandbits.encode26(13, 13067), wiegandbits.encode34(0xDEADBEEF)):
        wiegandbits.decode_str(good)
        for i in range(len(good)):
            bad = good[:i] + ("0" if good[i] == "1" else "1") + good[i + 1:]
            _rejects(bad, "parity")


def test_wrong_lengths_rejected():
    good = wiegandbits.encode26(1, 2)
    for bits in (good[:-1], good + "0", "1" * 37, "", "101", "1" * 35, "0" * 25):
        _rejects(bits, "length")
    try:
        wiegandbits.decode_str("1" * 65)
    except wiegand.WiegandError as e:
        assert e.reason == "length"
    else:
        raise AssertionError("65 bits accepted")


def test_keypad_bursts():
    for k in "0123456789*#":
        for n in (4, 8):
            f = wiegandbits.decode_str(wiegandbits.encode_key(k, n))
            assert f.kind == wiegand.KEY and f.key == k and f.bits == n
    assert wiegandbits.encode_key("*") == "1010" and wiegandbits.encode_key("#") == "1011"
    assert wiegandbits.encode_key("1", 8) == "11100001"
    _rejects("1100", "parity")  # 12: no such key
    _rejects("11110001", "parity")  # high nibble not the complement
    _rejects("00001100", "parity")  # complement ok-looking but 12 is no key


def test_assembler_frames_and_gaps():
    a = wiegand.WiegandAssembler()
    bits = wiegandbits.encode26(13, 13067)
    t = 1000
    for ch in bits:
        a.pulse(1 if ch == "1" else 0, t)
        t += 2000  # 2 ms between bits
    assert a.poll(t) == 0  # last bit only 2 ms ago: frame may go on
    t += 25000
    n = a.poll(t)
    assert n == 26
    f = wiegand.decode(a.frame, n)
    a.taken()
    assert (f.facility, f.number) == (13, 13067)
    assert a.poll(t + 100000) == 0


def test_assembler_frames_queue_two_deep_then_overrun():
    a = wiegand.WiegandAssembler()
    t = 0
    for frame in (wiegandbits.encode_key("4"), wiegandbits.encode_key("2")):
        for ch in frame:
            a.pulse(int(ch), t)
            t += 1000
        t += 30000  # frame gap; nobody polled in between
    assert a.poll(t) == 4 and wiegand.decode(a.frame, 4).key == "4"  # the older frame first
    a.taken()
    assert a.poll(t) == 4 and wiegand.decode(a.frame, 4).key == "2"
    a.taken()
    assert a.overruns == 0
    for frame in (wiegandbits.encode_key("1"), wiegandbits.encode_key("2"), wiegandbits.encode_key("3")):
        for ch in frame:
            a.pulse(int(ch), t)
            t += 1000
        t += 30000
    assert a.poll(t) == 4 and wiegand.decode(a.frame, 4).key == "2"  # "1" was replaced
    assert a.overruns == 1


def test_assembler_overflow_dropped():
    a = wiegand.WiegandAssembler(max_bits=40)
    t = 0
    for i in range(50):
        a.pulse(i & 1, t)
        t += 500
    assert a.poll(t + 30000) == 0 and a.overflows == 1
    for ch in wiegandbits.encode26(1, 1):
        a.pulse(int(ch), t + 100000)
        t += 500
    assert a.poll(t + 200000) == 26


def test_pulse_does_not_allocate():
    try:
        import gc

        gc.mem_alloc
    except (ImportError, AttributeError):
        return  # CPython: nothing to measure
    from compat import ticks_us

    a = wiegand.WiegandAssembler()
    a.pulse(0, ticks_us())
    gc.collect()
    before = gc.mem_alloc()
    t = 0
    for i in range(30):
        a.pulse(i & 1, t)
        t += 300
    a.pulse(1, t + 50000)  # gap: finishes the frame (buffer swap) inside pulse
    assert gc.mem_alloc() - before == 0


def test_watch_task_decodes_and_reports_errors():
    import asyncio

    got = []
    errs = []

    async def main():
        a = wiegand.WiegandAssembler(frame_gap_us=5000)
        task = asyncio.create_task(wiegand.watch(a, got.append, errs.append, interval_ms=2))
        from compat import sleep_ms, ticks_us

        for frame in (wiegandbits.encode26(7, 99), "1" * 26):
            for ch in frame:
                a.pulse(int(ch), ticks_us())
            await sleep_ms(30)
        task.cancel()

    asyncio.run(main())
    assert len(got) == 1 and (got[0].facility, got[0].number) == (7, 99)
    assert len(errs) == 1 and errs[0].reason == "parity"


def test_w26_and_w34_agree_in_6h3d5d_whatever_the_top_byte():
    w34 = wiegandbits.decode_str(wiegandbits.encode34(0xDE0D330B))
    w26 = wiegandbits.decode_str(wiegandbits.encode26(0x0D, 0x330B))
    assert cardfmt.format_uid(w34.uid4, "6H3D5D") == cardfmt.format_uid(w26.uid4, "6H3D5D") == "01313067"
    assert cardfmt.format_uid(w34.uid4, "10D") != cardfmt.format_uid(w26.uid4, "10D")


class FakePin:
    """A machine.Pin stand-in: records the IRQ handler the glue installs."""

    IRQ_FALLING = 2

    def __init__(self):
        self.handler = None
        self.trigger = None

    def irq(self, handler=None, trigger=None):
        self.handler = handler
        self.trigger = trigger


def test_attach_irq_glue():
    from compat import ticks_diff, ticks_us
    from wiegandirq import attach_irq

    a = wiegand.WiegandAssembler(frame_gap_us=1000)
    d0, d1 = FakePin(), FakePin()
    attach_irq(a, d0, d1)
    assert d0.trigger == FakePin.IRQ_FALLING and d1.trigger == FakePin.IRQ_FALLING
    for ch in wiegandbits.encode26(42, 4242):
        (d1 if ch == "1" else d0).handler(None)
    t = ticks_us()
    while a.poll(ticks_us()) == 0:
        assert ticks_diff(ticks_us(), t) < 1000000
    f = wiegand.decode(a.frame, a.frame_n)
    assert (f.facility, f.number) == (42, 4242)

"""Wiegand reader input: bit assembly from D0/D1 pulses and frame decoding.

Frames (bit 0 is the first bit on the wire; docs/credentials.md):

  26 bits, HID H10301: E FFFFFFFF CCCCCCCCCCCCCCCC O
     E = even parity over bits 1-12, F = facility 0-255, C = card 0-65535,
     O = odd parity over bits 13-24
  34 bits: E + 32 data bits + O; even parity over bits 1-16, odd over bits 17-32;
     data = facility (16 bits) + card (16 bits), or one 32-bit card number
  4 bits: one keypad key, 0-9, * = 1010, # = 1011 (most keypads' "4-bit burst")
  8 bits: one key with its complement in the high nibble (1 = 1110 0001)

Other lengths and bad parity are rejected (WiegandError with reason "length" / "parity").

Card codes go through the same card-format module as a PN532 tap: `decode` gives a 4-byte
value `uid4` that cardfmt.format_uid formats. W34: the 32 data bits, big endian, i.e. what a
reader in 34-bit mode sends for a card's 4-byte number. W26: 00 + facility + card (big
endian), so 6H3D5D shows "FFFCCCCC" (facility, card number: 213 and 2000 -> "21302000"), 10D
shows the 24-bit number and 8HN "00D507D0". A reader switched from W34 to W26 sends the low 24
bits of the same number, so the 6H3D5D/10D codes of a card agree between the two modes when
the facility byte is the number's second byte (docs/card-formats.md).

Timing: bits are 20-100 us low pulses on D0 (a 0) or D1 (a 1), 0.2-20 ms apart; a frame ends
when no bit came for `frame_gap_us` (default 25 ms). `WiegandAssembler` is the pure core:
`pulse(bit, ticks_us)` from the pin interrupts (no allocation: preallocated buffers, small
ints), `poll(now_us)` from a task returns the bit count of a finished frame. The simulator
skips the pulses and feeds whole bit strings (lib/wiegandbits.py: bit strings from and to
card numbers and keys, for the simulator, tests and host tools; not needed on a board).
"""
from micropython import const

from compat import ticks_diff, ticks_us

MAX_BITS = const(64)
FRAME_GAP_US = const(25000)

KEY_STAR = "*"
KEY_HASH = "#"
KEYS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#")

CARD = "card"
KEY = "key"


class WiegandError(ValueError):
    """A frame that can't be used; `reason` is "length" or "parity"."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


def _ones(bits, a, b):
    c = 0
    for i in range(a, b):
        c += bits[i]
    return c


def _value(bits, a, b):
    v = 0
    for i in range(a, b):
        v = (v << 1) | bits[i]
    return v


def _bytes(bits, a, nbytes):
    out = bytearray(nbytes)
    for k in range(nbytes):
        out[k] = _value(bits, a + 8 * k, a + 8 * k + 8)
    return bytes(out)


class Frame:
    """A decoded frame: kind CARD (facility, number, uid4, bits) or KEY (key, bits)."""

    __slots__ = ("kind", "bits", "facility", "number", "uid4", "key")

    def __init__(self, kind, bits, facility=0, number=0, uid4=b"", key=""):
        self.kind = kind
        self.bits = bits
        self.facility = facility
        self.number = number
        self.uid4 = uid4
        self.key = key

    def __repr__(self):
        if self.kind == KEY:
            return "Frame(key %r, %d bits)" % (self.key, self.bits)
        return "Frame(card W%d facility %d number %d uid4 %s)" % (
            self.bits, self.facility, self.number, self.uid4.hex())


def decode(bits, n):
    """Decode the first `n` bits of `bits` (one 0/1 per byte); WiegandError if unusable."""
    if n == 26 or n == 34:
        half = (n - 2) // 2  # data bits covered by each parity bit
        if (_ones(bits, 0, half + 1) & 1) != 0:
            raise WiegandError("parity", "W%d even parity (bits 0-%d) wrong" % (n, half))
        if (_ones(bits, half + 1, n) & 1) != 1:
            raise WiegandError("parity", "W%d odd parity (bits %d-%d) wrong" % (n, half + 1, n - 1))
        if n == 26:
            fac = _value(bits, 1, 9)
            num = _value(bits, 9, 25)
            uid4 = b"\x00" + _bytes(bits, 1, 3)
        else:
            fac = _value(bits, 1, 17)
            num = _value(bits, 17, 33)
            uid4 = _bytes(bits, 1, 4)
        return Frame(CARD, n, fac, num, uid4)
    if n == 4:
        v = _value(bits, 0, 4)
        if v > 11:
            raise WiegandError("parity", "4-bit key code %d is not a key" % v)
        return Frame(KEY, 4, key=KEYS[v])
    if n == 8:
        hi = _value(bits, 0, 4)
        lo = _value(bits, 4, 8)
        if hi != (~lo & 15):
            raise WiegandError("parity", "8-bit key: high nibble is not the complement of the low")
        if lo > 11:
            raise WiegandError("parity", "8-bit key code %d is not a key" % lo)
        return Frame(KEY, 8, key=KEYS[lo])
    raise WiegandError("length", "%d-bit frames are not supported (26, 34, 4, 8)" % n)


class WiegandAssembler:
    """Collects D0/D1 pulses into frames. `pulse` runs in the pin IRQ: it never allocates."""

    def __init__(self, max_bits=MAX_BITS, frame_gap_us=FRAME_GAP_US):
        self.buf = bytearray(max_bits)  # bits being received
        self.frame = bytearray(max_bits)  # last finished frame, read by the consumer
        self.n = 0
        self.frame_n = 0  # bits in `frame`, 0 = none waiting
        self.last_us = 0
        self.frame_gap_us = frame_gap_us
        self.overflows = 0  # frames longer than the buffer (dropped)
        self.overruns = 0  # finished frames replaced before poll() took them
        self._over = False

    def pulse(self, bit, now_us):
        """One bit arrived (D0 pulse = 0, D1 pulse = 1) at `now_us` (ticks_us)."""
        if self.n and ticks_diff(now_us, self.last_us) >= self.frame_gap_us:
            self._finish()
        self.last_us = now_us
        if self.n >= len(self.buf):
            self._over = True
            return
        self.buf[self.n] = bit
        self.n += 1

    def _finish(self):
        if self._over:
            self.overflows += 1
        else:
            if self.frame_n:
                self.overruns += 1
            self.buf, self.frame = self.frame, self.buf
            self.frame_n = self.n
        self.n = 0
        self._over = False

    def poll(self, now_us):
        """Bits in a finished frame (now in `self.frame`), or 0. Call `taken()` after decoding."""
        if not self.frame_n and self.n and ticks_diff(now_us, self.last_us) >= self.frame_gap_us:
            self._finish()
        return self.frame_n

    def taken(self):
        self.frame_n = 0


def attach_irq(assembler, d0, d1):
    """Wire two machine.Pin inputs (D0, D1, idle high) to an assembler: falling-edge IRQs.

    ESP32 pin IRQs are soft (run by the scheduler, queue of 8): a 26-bit frame at 2 ms per
    bit is fine; a reader sending bits 200 us apart can outrun the queue - those frames then
    fail their parity check instead of decoding wrong.
    """
    def on_d0(_pin):
        assembler.pulse(0, ticks_us())

    def on_d1(_pin):
        assembler.pulse(1, ticks_us())

    d0.irq(handler=on_d0, trigger=getattr(d0, "IRQ_FALLING", 2))
    d1.irq(handler=on_d1, trigger=getattr(d1, "IRQ_FALLING", 2))
    return on_d0, on_d1


async def watch(assembler, on_frame, on_error=None, interval_ms=10):
    """Task: decode finished frames and hand them to on_frame(Frame) / on_error(WiegandError)."""
    from compat import sleep_ms

    while True:
        n = assembler.poll(ticks_us())
        if n:
            try:
                f = decode(assembler.frame, n)
            except WiegandError as e:
                f = None
                if on_error:
                    on_error(e)
            assembler.taken()
            if f is not None:
                on_frame(f)
        await sleep_ms(interval_ms)

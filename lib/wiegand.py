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
ints), `poll(now_us)` from a task returns the bit count of a finished frame. The pin IRQ
wiring is lib/wiegandirq.py (ESP32 start-up only, dropped after). The simulator drives
`pulse` itself (lib/wiegandbits.py: bit strings from and to card numbers and keys, for the
simulator, tests and host tools; not needed on a board).

Resident on a board with a Wiegand reader, so kept small: few functions, no tables built at
import, private constants (const) where nothing outside needs the name.
"""
from micropython import const

from compat import ticks_diff, ticks_us

_MAX_BITS = const(64)  # wiegandbits.MAX_BITS
_FRAME_GAP_US = const(25000)

KEYS = "0123456789*#"  # key of each 4-bit code: * = 10, # = 11

CARD = "card"
KEY = "key"


class WiegandError(ValueError):
    """A frame that can't be used; `reason` is "length" or "parity"."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


class Frame:
    """A decoded frame: kind CARD (facility, number, uid4, bits) or KEY (key, bits)."""

    def __init__(self, kind, bits, facility=0, number=0, uid4=b"", key=""):
        self.kind = kind
        self.bits = bits
        self.facility = facility
        self.number = number
        self.uid4 = uid4
        self.key = key


def decode(bits, n):
    """Decode the first `n` bits of `bits` (one 0/1 per byte); WiegandError if unusable."""
    if n != 26 and n != 34 and n != 4 and n != 8:
        raise WiegandError("length", "%d-bit frames are not supported (26, 34, 4, 8)" % n)
    half = n // 2 - 1  # W26/W34: the even parity bit covers bits 0..half, the odd one the rest
    v = p = e = 0  # the bits as a number, parity of the bits so far, of bits 0..half
    for i in range(n):
        b = bits[i]
        v = (v << 1) | b
        p ^= b
        if i == half:
            e = p
    if n > 8:
        if e:
            raise WiegandError("parity", "W%d %s parity (bits %d-%d) wrong" % (n, "even", 0, half))
        if not p ^ e:
            raise WiegandError("parity", "W%d %s parity (bits %d-%d) wrong" % (n, "odd", half + 1, n - 1))
        v = (v >> 1) & ((1 << (n - 2)) - 1)  # the data bits: W26 facility 8 + card 16, W34 16 + 16
        return Frame(CARD, n, v >> 16, v & 0xFFFF, v.to_bytes(4, "big"))
    if n == 8:
        if v >> 4 != (~v & 15):
            raise WiegandError("parity", "8-bit key: high nibble is not the complement of the low")
        v &= 15
    if v > 11:
        raise WiegandError("parity", "%d-bit key code %d is not a key" % (n, v))
    return Frame(KEY, n, 0, 0, b"", KEYS[v])


class WiegandAssembler:
    """Collects D0/D1 pulses into frames. `pulse` runs in the pin IRQ: it never allocates."""

    def __init__(self, max_bits=_MAX_BITS, frame_gap_us=_FRAME_GAP_US):
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

"""Wiegand frames as bit strings ("0101...", bit 0 first): what a reader would send for a card
number or a keypad key, and decoding from such text. For the simulator, tests and host tools;
a board decodes the pulses it receives with lib/wiegand.py alone."""
from wiegand import KEYS, WiegandError, decode

MAX_BITS = 64  # the assembler's default buffer (wiegand._MAX_BITS)


def bits_from_str(text, buf=None):
    """A bit string ("0101...", spaces ignored) -> (buf, n) as `decode` takes them."""
    if buf is None:
        buf = bytearray(MAX_BITS)
    n = 0
    for ch in text:
        if ch == " ":
            continue
        if ch not in "01":
            raise ValueError("bit strings hold only 0 and 1, got %r" % ch)
        if n >= len(buf):
            raise WiegandError("length", "more than %d bits" % len(buf))
        buf[n] = 1 if ch == "1" else 0
        n += 1
    return buf, n


def decode_str(text):
    """decode() for a bit string: what the simulator's control channel feeds."""
    buf, n = bits_from_str(text)
    return decode(buf, n)


def _encode(nbits, data, ndata):
    bits = [0] * nbits
    for i in range(ndata):
        bits[1 + i] = (data >> (ndata - 1 - i)) & 1
    half = ndata // 2
    bits[0] = sum(bits[1:1 + half]) & 1
    bits[nbits - 1] = 1 - (sum(bits[1 + half:1 + ndata]) & 1)
    return "".join("1" if b else "0" for b in bits)


def encode26(facility, number):
    """The H10301 bit string for a facility 0-255 and card number 0-65535 (tests, simulator)."""
    if not (0 <= facility <= 255 and 0 <= number <= 65535):
        raise ValueError("W26 facility must be 0-255 and number 0-65535")
    return _encode(26, (facility << 16) | number, 24)


def encode34(value):
    """The 34-bit string for a 32-bit card number (facility << 16 | number)."""
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError("W34 value must be 0-4294967295")
    return _encode(34, value, 32)


def encode_key(key, bits=4):
    """A keypad key as a 4- or 8-bit burst."""
    if len(key) != 1:
        raise ValueError("one key, 0-9 * or #")
    v = KEYS.index(key)
    s = "".join("1" if (v >> (3 - i)) & 1 else "0" for i in range(4))
    if bits == 8:
        s = "".join("0" if c == "1" else "1" for c in s) + s
    return s

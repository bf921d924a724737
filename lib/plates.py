"""Licence plate normalisation: one form for matching, storing and showing plates.

Upper case, spaces, dashes, dots and middle dots removed: "ab-12 cde" -> "AB12CDE". Only
A-Z and 0-9 remain valid (an LPR camera's umlauts etc. are out of scope); at most 10 characters.
"""
from micropython import const

_MAX_LEN = const(10)
_DROP = " -.\u00b7\t"


def normalize(text):
    """Canonical plate, or ValueError naming what is wrong."""
    if not isinstance(text, str):
        raise ValueError("plate must be text")
    out = []
    for c in text:
        if c in _DROP:
            continue
        c = c.upper()
        if not ("A" <= c <= "Z" or "0" <= c <= "9"):
            raise ValueError("plate %r has an invalid character %r" % (text, c))
        out.append(c)
    plate = "".join(out)
    if not plate:
        raise ValueError("plate is empty")
    if len(plate) > _MAX_LEN:
        raise ValueError("plate %r is longer than %d characters" % (text, _MAX_LEN))
    return plate

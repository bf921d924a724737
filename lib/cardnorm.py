"""Card code input checking: cardfmt.normalize / cardfmt.matches (see cardfmt.py for the formats).

Split from cardfmt.py so the device's heap holds it only while users are loaded or edited: cardfmt
resolves `normalize` and `matches` here on first use (unload.forget("cardnorm") drops it again).
"""
from micropython import const

from cardfmt import DEFAULT, FORMATS, format_id, format_uid

_F_8HN = const(1)
_F_8HR = const(2)
_F_10D = const(3)
_F_10DR = const(4)
_F_FULLH = const(7)

_MIN_UID = const(4)
_MAX_UID = const(10)

_HEX_DIGITS = "0123456789ABCDEFabcdef"
_DEC_DIGITS = "0123456789"
_HEX_SEPS = " :-"
_W26_SEPS = ",:-/.\t"


def _bad(code, name, why):
    return ValueError("bad card code %r for format %s: %s" % (code, name, why))


def _only(s, allowed):
    for ch in s:
        if ch not in allowed:
            return False
    return True


def _norm_hex(code, s, name, ndigits):
    # ndigits: exact digit count, or 0 for FULLH (even count of 8..20)
    if s[:2] in ("0x", "0X"):
        s = s[2:]
    for sep in _HEX_SEPS:
        if sep in s:
            s = s.replace(sep, "")
    if not s or not _only(s, _HEX_DIGITS):  # checked before upper(): "\ufb00".upper() == "FF"
        raise _bad(code, name, "expected hex digits 0-9 A-F")
    s = s.upper()
    n = len(s)
    if ndigits:
        if n != ndigits:
            hint = ""
            if n > ndigits:
                hint = " (for the full UID of a 7- or 10-byte card use FULLH)"
            raise _bad(code, name, "expected %d hex digits, got %d%s" % (ndigits, n, hint))
    elif n % 2 or n < 2 * _MIN_UID or n > 2 * _MAX_UID:
        raise _bad(code, name, "expected a whole UID: 4 to 10 bytes, 8 to 20 hex digits; got %d" % n)
    return s


def _norm_10d(code, s, name):
    if not s or not _only(s, _DEC_DIGITS):
        raise _bad(code, name, "expected decimal digits only")
    t = s.lstrip("0")
    if len(t) > 10 or (t and int(t) > 0xFFFFFFFF):
        raise _bad(code, name, "out of range (at most 4294967295)")
    return "0" * (10 - len(t)) + t


def _norm_w26(code, s, name):
    for sep in _W26_SEPS:
        if sep in s:
            s = s.replace(sep, " ")
    parts = [p for p in s.split(" ") if p]
    if len(parts) == 1:  # no separator: the 8-digit number, leading zeros may be missing
        s = parts[0].lstrip("0")
        if len(s) > 8 or not _only(s, _DEC_DIGITS):
            raise _bad(code, name, "expected 8 decimal digits (3-digit facility + 5-digit card)")
        s = "0" * (8 - len(s)) + s
        parts = (s[:3], s[3:])
    if len(parts) != 2 or not _only(parts[0] + parts[1], _DEC_DIGITS):
        raise _bad(code, name, "expected 8 digits, or facility and card number as in 161,45763")
    fc = parts[0].lstrip("0")
    cn = parts[1].lstrip("0")
    if len(fc) > 3 or int(fc or "0") > 255:
        raise _bad(code, name, "facility code %s out of range 0-255" % parts[0])
    if len(cn) > 5 or int(cn or "0") > 65535:
        raise _bad(code, name, "card number %s out of range 0-65535" % parts[1])
    return "%03d%05d" % (int(fc or "0"), int(cn or "0"))


def normalize(code, fmt=DEFAULT):
    """Canonical form of a code typed by a person for format `fmt`; ValueError if it can't be one."""
    f = format_id(fmt)
    name = FORMATS[f - 1]
    if isinstance(code, (bytes, bytearray)):
        try:
            code = bytes(code).decode()
        except Exception:
            raise _bad(code, name, "not text")
    if not isinstance(code, str):
        raise _bad(code, name, "expected a string")
    s = code.strip()
    if f == _F_8HN or f == _F_8HR:
        return _norm_hex(code, s, name, 8)
    if f == _F_FULLH:
        return _norm_hex(code, s, name, 0)
    if f == _F_10D or f == _F_10DR:
        return _norm_10d(code, s, name)
    return _norm_w26(code, s, name)


def matches(uid, stored, fmt=DEFAULT):
    """True if a card with `uid` has code `stored` in format `fmt`.

    Stored codes should already be normalised (host tools and the API normalise on input), which
    makes this one string comparison; anything else is normalised here; junk never matches.
    """
    code = format_uid(uid, fmt)
    if code == stored:
        return True
    try:
        return code == normalize(stored, fmt)
    except ValueError:
        return False

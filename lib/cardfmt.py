"""RF card code formats ("IC Card Display Mode"): one UID, several ways to write it down.

A card reader gives the UID as bytes in read (anticollision) order, e.g. ``04 A1 B2 C3``. Access
systems print, store and compare that UID in one of several conventional text forms; the device
uses the configured form both to display a tapped card and to match it against the codes stored
for users, and host tools use `normalize` to canonicalise what an admin typed. The device matches
by string equality (``format_uid(uid, fmt) == normalize(stored, fmt)``, see `matches`).

Formats (the number is the id stored on flash; ids never change, new formats get new ids):

=== ========= ====================================================== ============ ==============
id  name      what it is                                             04A1B2C3     04782E21801D80
=== ========= ====================================================== ============ ==============
1   8HN       first 4 UID bytes, 8 hex digits, read order (default)  04A1B2C3     04782E21
2   8HR       first 4 UID bytes, 8 hex digits, reversed              C3B2A104     212E7804
3   10D       8HN as one 32-bit number, 10 decimal digits            0077705923   0074984993
4   10DR      8HR as one 32-bit number, 10 decimal digits            3283263748   0556693508
5   6H3D5D    low 24 bits of the 10D number: 3-digit facility (8     16145763     12011809
              bits) + 5-digit card number (16 bits), as Wiegand-26
6   6H3D5DR   low 24 bits of the 10DR number, split the same way     17841220     04630724
7   FULLH     every UID byte, hex, read order (alias ``14H``)        04A1B2C3     04782E21801D80
=== ========= ====================================================== ============ ==============

Hex is upper case; decimal forms are zero padded to their full width.

6H3D5D: a reader wired as Wiegand-34 sends the 32-bit card number (the "10-digit number"); the
same reader set to Wiegand-26 has room for 24 bits (8-bit facility code + 16-bit card number,
H10301) and sends the low 24 bits of that number, i.e. it drops the first byte. That is the
"8-digit 3+5 number" printed next to the 10-digit number on many cards (10-digit 0013961168 =
hex 00D507D0 -> facility 0xD5 = 213, card 0x07D0 = 2000 -> 21302000). So 6H3D5D uses UID bytes
1, 2, 3 (facility = byte 1, card = bytes 2-3) and agrees with 10D; 6H3D5DR uses bytes 2, 1, 0
(facility = byte 2, card = byte 1 * 256 + byte 0) and agrees with 10DR, for installations whose
readers send the UID least significant byte first.

UIDs longer than 4 bytes (7-byte NTAG/DESFire/Ultralight, 10-byte, 8-byte FeliCa IDm): every
4-byte format (8HN, 8HR, 10D, 10DR, 6H3D5D, 6H3D5DR) uses the **first 4 bytes in read order**,
which is what readers with a 4-byte (Wiegand-34, 8/10-digit) output send for such cards, so
codes printed or exported by those readers match. Beware: byte 0 of a 7-byte UID is the
manufacturer code (04 = NXP), so only 24 bits of a 7-byte UID reach these formats and two cards
can collide; sites with 7/10-byte cards should use FULLH, which keeps every byte.

UIDs must be 4 to 10 bytes (ISO 14443-A: 4, 7 or 10; FeliCa: 8). `format_uid` accepts bytes,
bytearray or memoryview and builds only the result string (no big integers, which would be
heap objects on the ESP32 above 2**30).

`normalize(code, fmt)` accepts what people type: surrounding spaces, lower case, an optional
``0x`` prefix and ``:``/``-``/space separators in hex (``04:a1:b2:c3``), missing leading zeros
in the decimal forms (``77705923`` -> ``0077705923``) and ``161,45763`` / ``161 45763`` /
``161-45763`` (each part zero padded) for 6H3D5D(R). It raises ValueError naming the format
and the problem for anything that cannot be a code in that format.
"""

from micropython import const

_F_8HN = const(1)
_F_8HR = const(2)
_F_10D = const(3)
_F_10DR = const(4)
_F_W26 = const(5)
_F_W26R = const(6)
_F_FULLH = const(7)

_MIN_UID = const(4)
_MAX_UID = const(10)

_HEX_DIGITS = "0123456789ABCDEFabcdef"
_DEC_DIGITS = "0123456789"
_HEX_SEPS = " :-"
_W26_SEPS = ",:-/.\t"

FORMATS = ("8HN", "8HR", "10D", "10DR", "6H3D5D", "6H3D5DR", "FULLH")  # index + 1 = format id
DEFAULT = "8HN"
ALIASES = {"14H": "FULLH"}


def format_id(name):
    """The compact integer id (1..7) stored on flash for a format name (any case, aliases such
    as 14H accepted; ids pass through); ValueError naming the bad value."""
    if isinstance(name, int) and not isinstance(name, bool):
        if 1 <= name <= _F_FULLH:
            return name
    elif isinstance(name, str):
        f = name
        if f not in FORMATS:
            f = f.strip().upper()
            f = ALIASES.get(f, f)
        if f in FORMATS:
            return FORMATS.index(f) + 1
    raise ValueError("unknown card format %r (known: %s)" % (name, ", ".join(FORMATS)))


def check_format(name):
    """Return the canonical name for `name` (case-insensitive, aliases such as 14H accepted, or a
    format id); raise ValueError naming the bad value."""
    return FORMATS[format_id(name) - 1]


def format_name(fid):
    """The canonical name for a format id; ValueError for unknown ids (0 = no format)."""
    if isinstance(fid, int) and not isinstance(fid, bool) and 1 <= fid <= _F_FULLH:
        return FORMATS[fid - 1]
    raise ValueError("unknown card format id %r" % (fid,))


def format_uid(uid, fmt=DEFAULT):
    """The code for `uid` (bytes/bytearray/memoryview of 4..10 bytes) in format `fmt` (name or id).

    Allocates the result and one small tuple for the % operator, nothing else.
    """
    f = format_id(fmt)
    n = len(uid)
    if n < _MIN_UID or n > _MAX_UID:
        raise ValueError("card UID must be 4 to 10 bytes, got %d" % n)
    if f == _F_FULLH:
        return "%02X" * n % tuple(uid)
    if f == _F_8HN or f == _F_10D or f == _F_W26:
        a = uid[0]
        b = uid[1]
        c = uid[2]
        d = uid[3]
    else:  # the reversed forms: the same on d.c.b.a
        a = uid[3]
        b = uid[2]
        c = uid[1]
        d = uid[0]
    if f <= _F_8HR:
        return "%02X%02X%02X%02X" % (a, b, c, d)
    if f >= _F_W26:  # low 24 bits of the number: 8-bit facility b + 16-bit card number c.d
        return "%03d%05d" % (b, c * 256 + d)
    # a.b.c.d as 10 decimal digits, by long division by 100000 in base 256 so no intermediate
    # exceeds 2**25 (ESP32 small ints are 31-bit; larger ones are heap objects).
    r = (a * 256 + b) * 256 + c  # < 2**24: quotient by 100000 < 168
    q = r // 100000
    r = (r - q * 100000) * 256 + d
    t = r // 100000
    return "%05d%05d" % (q * 256 + t, r - t * 100000)


# -- input: what people type -> the canonical code -------------------------------------------
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

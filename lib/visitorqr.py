"""Signed, expiring visitor QR codes, checked offline with the site's `qr_key` (docs/visitor-qr.md).

Payload (ASCII, fits QR alphanumeric mode: digits, upper case, '.'):

    V1.<id>.<relays>.<not_before>.<not_after>.<mac>
    V1.5001.1.1795341600.1795370400.G4MTXBW4POIZDN7A

  id          visitor or user id, decimal 0-4294967294 (0 = anonymous visitor)
  relays      relay bit mask, decimal 1-255 (bit 0 = relay 1)
  not_before  unix seconds (UTC), decimal; valid from this second ...
  not_after   ... until before this second; not_after > not_before
  mac         HMAC-SHA256(qr_key, every byte before the last '.'), first 10 bytes, base32
              (RFC 4648 alphabet A-Z 2-7, upper case, no padding): 16 characters, 80 bits

Numbers are canonical (no sign, no leading zeros) so one pass has one text. The MAC is
compared in constant time. The device needs its clock set to accept a pass (reason
"clock_not_set"). A pass can't be revoked before it expires except by changing qr_key (which
voids every pass): keep validity windows short.
"""
from micropython import const

import keyedhash

PREFIX = "V1."
_MAC_BYTES = const(10)
_MAC_CHARS = const(16)
MAX_ID = 4294967294
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_MAX_U32 = 4294967295


class VisitorQRError(ValueError):
    """`reason`: format, signature, clock_not_set, not_yet_valid, expired."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


class Pass:
    __slots__ = ("id", "relays", "not_before", "not_after")

    def __init__(self, id, relays, not_before, not_after):
        self.id = id
        self.relays = relays
        self.not_before = not_before
        self.not_after = not_after

    def relay_list(self):
        return [i + 1 for i in range(8) if self.relays & (1 << i)]

    def __repr__(self):
        return "Pass(id=%d relays=%d %d..%d)" % (self.id, self.relays, self.not_before, self.not_after)


def b32encode(data):
    """RFC 4648 base32 without padding (upper case)."""
    out = []
    acc = 0
    nbits = 0
    for b in data:
        acc = ((acc << 8) | b) & 0xFFFF
        nbits += 8
        while nbits >= 5:
            nbits -= 5
            out.append(_B32[(acc >> nbits) & 31])
    if nbits:
        out.append(_B32[(acc << (5 - nbits)) & 31])
    return "".join(out)


def _keyed(key):
    if isinstance(key, keyedhash.Keyed):
        return key
    if not isinstance(key, (bytes, bytearray)) or len(key) < 16:
        raise ValueError("qr_key must be at least 16 bytes")
    return keyedhash.Keyed(bytes(key))


def mac(key, body):
    """The 16-character MAC for the payload text before the last '.'."""
    return b32encode(_keyed(key).digest(body.encode())[:_MAC_BYTES])


def make(key, id, relays, not_before, not_after):
    """The payload text for a pass (host: `doorctl qr visitor`; tests)."""
    for name, v, lo, hi in (("id", id, 0, MAX_ID), ("relays", relays, 1, 255),
                            ("not_before", not_before, 0, _MAX_U32), ("not_after", not_after, 1, _MAX_U32)):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError("%s must be an integer %d-%d, got %r" % (name, lo, hi, v))
    if not_after <= not_before:
        raise ValueError("not_after must be later than not_before")
    body = "%s%d.%d.%d.%d" % (PREFIX, id, relays, not_before, not_after)
    return body + "." + mac(key, body)


def is_visitor(text):
    """True if a scanned text is meant as a visitor pass (then check() decides)."""
    return isinstance(text, str) and text.startswith(PREFIX)


def _num(s, hi):
    if not s or len(s) > 10 or not s.isdigit() or (s[0] == "0" and len(s) > 1):
        return -1
    v = int(s)
    return v if v <= hi else -1


def parse(text):
    """Pass for a payload, without checking the MAC or the time; VisitorQRError("format")."""
    if not is_visitor(text):
        raise VisitorQRError("format", "not a V1 visitor pass")
    f = text.split(".")
    if len(f) != 6 or len(f[5]) != _MAC_CHARS:
        raise VisitorQRError("format", "a V1 pass has 6 fields and a 16-character MAC")
    pid = _num(f[1], MAX_ID)
    relays = _num(f[2], 255)
    nbf = _num(f[3], _MAX_U32)
    naf = _num(f[4], _MAX_U32)
    if pid < 0 or relays < 1 or nbf < 0 or naf <= nbf:
        raise VisitorQRError("format", "bad number in the pass")
    return Pass(pid, relays, nbf, naf)


def check(text, key, now):
    """The Pass if `text` is a genuine pass valid at unix time `now` (0 = clock not set);
    VisitorQRError naming why not. `key`: the 32-byte qr_key or a keyedhash.Keyed of it."""
    p = parse(text)
    cut = text.rfind(".")
    want = mac(key, text[:cut]).encode()
    if not keyedhash.equal(want, text[cut + 1:].encode()):
        raise VisitorQRError("signature", "the pass is not signed with this site's key")
    if not now:
        raise VisitorQRError("clock_not_set", "the clock is not set: passes can't be checked")
    if now < p.not_before:
        raise VisitorQRError("not_yet_valid", "the pass is valid from %d" % p.not_before)
    if now >= p.not_after:
        raise VisitorQRError("expired", "the pass expired at %d" % p.not_after)
    return p

"""HMAC-SHA256 (RFC 2104) for MicroPython, which has hashlib.sha256 but no hmac module.

Used for the keyed hashes of secrets in the user table (PINs, QR and BLE ids) and for signing
visitor QR codes; compare digests with `equal()` (constant time).
"""
import hashlib

_BLOCK = 64


def _pad(key, byte):
    out = bytearray(_BLOCK)
    for i in range(len(key)):
        out[i] = key[i] ^ byte
    for i in range(len(key), _BLOCK):
        out[i] = byte
    return out


class Keyed:
    """A key prepared once (ipad/opad blocks), then `digest(msg)` per message."""

    def __init__(self, key):
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        self._ipad = bytes(_pad(key, 0x36))
        self._opad = bytes(_pad(key, 0x5C))

    def digest(self, msg):
        inner = hashlib.sha256(self._ipad)
        inner.update(msg)
        outer = hashlib.sha256(self._opad)
        outer.update(inner.digest())
        return outer.digest()


def hmac_sha256(key, msg):
    return Keyed(key).digest(msg)


def equal(a, b):
    """Constant-time comparison of two byte strings (no early exit on the first difference)."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0

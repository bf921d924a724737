"""Admin authentication for the HTTP API: salted PBKDF2 password hashes, session tokens.

Passwords are stored only as "pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>" (secrets.json,
never returned). 1000 iterations cost ~0.5 s on an ESP32: slow enough to blunt guessing, fast
enough for a login; per-client lockout (lockout.py) does the rest. After a login, requests carry
a random bearer token (RAM only, a handful at a time, idle timeout) so the hash isn't recomputed
per request; HTTP Basic is accepted too and cached the same way.
"""
import os

from micropython import const

from keyedhash import Keyed, equal

ITERATIONS = const(1000)
SCHEME = "pbkdf2-sha256"
MAX_TOKENS = const(4)
TOKEN_IDLE_S = const(1800)


def pbkdf2_sha256(password, salt, iterations):
    """RFC 8018 PBKDF2 with HMAC-SHA256, one 32-byte block."""
    prf = Keyed(password)
    u = prf.digest(salt + b"\x00\x00\x00\x01")
    out = bytearray(u)
    for _ in range(iterations - 1):
        u = prf.digest(u)
        for i in range(32):
            out[i] ^= u[i]
    return bytes(out)


def hash_password(password, salt=None, iterations=ITERATIONS):
    if salt is None:
        salt = os.urandom(16)
    h = pbkdf2_sha256(password.encode(), salt, iterations)
    return "%s$%d$%s$%s" % (SCHEME, iterations, salt.hex(), h.hex())


def valid_hash(stored):
    """True if `stored` looks like a hash this module made (for secrets.json validation)."""
    parts = stored.split("$") if isinstance(stored, str) else ()
    if len(parts) != 4 or parts[0] != SCHEME:
        return False
    try:
        return int(parts[1]) >= 1 and len(bytes.fromhex(parts[2])) >= 8 and len(bytes.fromhex(parts[3])) == 32
    except ValueError:
        return False


def check_password(password, stored):
    """Constant-time check of a password against a stored hash; False for malformed hashes."""
    if not valid_hash(stored):
        return False
    _scheme, it, salt, want = stored.split("$")
    got = pbkdf2_sha256(password.encode(), bytes.fromhex(salt), int(it))
    return equal(got, bytes.fromhex(want))


class Tokens:
    """Bearer tokens in RAM: at most MAX_TOKENS live (the oldest is dropped), idle timeout."""

    def __init__(self):
        self._tokens = []  # [token_bytes, last_used_s]

    def issue(self, now):
        tok = os.urandom(16)
        if len(self._tokens) >= MAX_TOKENS:
            self._tokens.pop(0)
        self._tokens.append([tok, now])
        return tok.hex()

    def check(self, token_hex, now):
        try:
            tok = bytes.fromhex(token_hex)
        except ValueError:
            return False
        hit = None
        for t in self._tokens:  # compare with every entry, constant time each
            if equal(t[0], tok) and now - t[1] <= TOKEN_IDLE_S:
                hit = t
        if hit is not None:
            hit[1] = now
            return True
        return False

    def revoke_all(self):
        self._tokens = []

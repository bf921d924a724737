"""Admin passwords for the HTTP API: salted PBKDF2 hashes (session tokens: doorapp/http/tokens.py).

Passwords are stored only as "pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>" (secrets.json,
never returned). 1000 iterations cost ~0.5 s on an ESP32: slow enough to blunt guessing, fast
enough for a login; per-client lockout (lockout.py) does the rest. After a login, requests carry
a random bearer token (RAM only, a handful at a time, idle timeout) so the hash isn't recomputed
per request; HTTP Basic is accepted too and cached the same way. Cold code: loaded for a
sign-in or a password change, dropped again with the API's route modules.
"""
import os

from micropython import const

from keyedhash import Keyed, equal

_ITERATIONS = const(1000)
SCHEME = "pbkdf2-sha256"
# checked against when there is no stored hash (or the name is wrong): the same work, never a match
NO_HASH = "pbkdf2-sha256$1000$00000000000000000000000000000000$" + "00" * 32


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


def hash_password(password, salt=None, iterations=_ITERATIONS):
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

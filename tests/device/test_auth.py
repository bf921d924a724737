"""Password hashing (PBKDF2-HMAC-SHA256) and bearer tokens."""
from doorapp.config import passwords
from doorapp.http import tokens


def test_pbkdf2_matches_rfc_vector():
    # RFC 7914 section 11 (PBKDF2-HMAC-SHA256, P="passwd", S="salt", c=1, first 32 bytes)
    d = passwords.pbkdf2_sha256(b"passwd", b"salt", 1)
    assert d.hex() == "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"


def test_hash_and_check():
    h = passwords.hash_password("correct horse", iterations=50)
    assert h.startswith("pbkdf2-sha256$50$") and passwords.valid_hash(h)
    assert passwords.check_password("correct horse", h)
    assert not passwords.check_password("correct horsE", h)
    assert passwords.hash_password("x", iterations=5) != passwords.hash_password("x", iterations=5)  # salted
    for bad in ("", "plain", "pbkdf2-sha256$x$00$00", "md5$1$00$00", None):
        assert not passwords.valid_hash(bad) and not passwords.check_password("x", bad)


def test_tokens_expire_and_are_bounded():
    t = tokens.Tokens()
    a = t.issue(100)
    assert t.check(a, 200) and not t.check("00" * 16, 200) and not t.check("zz", 200)
    assert not t.check(a, 200 + tokens.TOKEN_IDLE_S + 1)
    toks = [t.issue(300) for _ in range(tokens.MAX_TOKENS + 1)]
    assert not t.check(toks[0], 301) and t.check(toks[-1], 301)
    t.revoke_all()
    assert not t.check(toks[-1], 302)

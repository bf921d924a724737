"""HMAC-SHA256 against RFC 4231 vectors; constant-time equality; plate normalisation."""
import keyedhash
import plates


def test_rfc4231_case_1_and_2():
    d = keyedhash.hmac_sha256(b"\x0b" * 20, b"Hi There")
    assert d.hex() == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    d = keyedhash.hmac_sha256(b"Jefe", b"what do ya want for nothing?")
    assert d.hex() == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_rfc4231_long_key():
    d = keyedhash.hmac_sha256(b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First")
    assert d.hex() == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"


def test_keyed_reuse_and_equal():
    k = keyedhash.Keyed(b"site")
    assert k.digest(b"a") == keyedhash.hmac_sha256(b"site", b"a") and k.digest(b"a") != k.digest(b"b")
    assert keyedhash.equal(b"abc", b"abc") and not keyedhash.equal(b"abc", b"abd")
    assert not keyedhash.equal(b"abc", b"ab")


def test_plates():
    assert plates.normalize(" ab-12 cde ") == "AB12CDE"
    assert plates.normalize("m.ab.123") == "MAB123"
    for bad in ("", " - ", "AB#12", "ABCDEFGHIJK", 12):
        try:
            plates.normalize(bad)
        except ValueError:
            continue
        raise AssertionError("accepted %r" % (bad,))

"""Signed visitor QR passes: round trip, signature, time window, canonical format."""
import keyedhash
import visitorqr

KEY = bytes(range(32))
NBF = 1795341600  # 2026-11-22 10:00 UTC
NAF = 1795370400  # 2026-11-22 18:00 UTC


def _reason(text, key=KEY, now=NBF + 60):
    try:
        visitorqr.check(text, key, now)
    except visitorqr.VisitorQRError as e:
        return e.reason
    return "valid"


def test_round_trip_and_layout():
    p = visitorqr.make(KEY, 5001, 3, NBF, NAF)
    f = p.split(".")
    assert f[:5] == ["V1", "5001", "3", str(NBF), str(NAF)] and len(f[5]) == 16
    for ch in p:  # QR alphanumeric mode characters only
        assert ch in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.", ch
    ok = visitorqr.check(p, KEY, NBF + 60)
    assert (ok.id, ok.relays, ok.not_before, ok.not_after) == (5001, 3, NBF, NAF)
    assert ok.relay_list() == [1, 2]
    assert visitorqr.check(p, keyedhash.Keyed(KEY), NBF).id == 5001  # prepared key, first second


def test_mac_is_hmac_sha256_truncated_base32():
    body = "V1.5001.3.%d.%d" % (NBF, NAF)
    d = keyedhash.hmac_sha256(KEY, body.encode())[:10]
    assert visitorqr.make(KEY, 5001, 3, NBF, NAF) == body + "." + visitorqr.b32encode(d)
    # RFC 4648 base32 test vectors (section 10), padding removed
    for raw, enc in ((b"f", "MY"), (b"fo", "MZXQ"), (b"foo", "MZXW6"), (b"foob", "MZXW6YQ"),
                     (b"fooba", "MZXW6YTB"), (b"foobar", "MZXW6YTBOI")):
        assert visitorqr.b32encode(raw) == enc


def test_documented_example():
    # docs/visitor-qr.md: key 00112233..eeff twice, visitor 5001, relay 1, 2026-11-22 10:00-18:00 UTC
    key = bytes.fromhex("00112233445566778899aabbccddeeff" * 2)
    p = "V1.5001.1.1795341600.1795370400.G4MTXBW4POIZDN7A"
    assert visitorqr.make(key, 5001, 1, NBF, NAF) == p
    assert visitorqr.check(p, key, NBF + 3600).id == 5001


def test_time_window():
    p = visitorqr.make(KEY, 1, 1, NBF, NAF)
    assert _reason(p, now=NBF - 1) == "not_yet_valid"
    assert _reason(p, now=NBF) == "valid"
    assert _reason(p, now=NAF - 1) == "valid"
    assert _reason(p, now=NAF) == "expired"
    assert _reason(p, now=0) == "clock_not_set"


def test_forgeries_rejected():
    p = visitorqr.make(KEY, 1, 1, NBF, NAF)
    assert _reason(p, key=bytes(32)) == "signature"
    # any change to a signed field breaks the MAC
    assert _reason(p.replace("V1.1.1.", "V1.1.3.")) == "signature"
    longer = p.replace(".%d." % NAF, ".%d." % (NAF + 86400))
    assert _reason(longer) == "signature"
    last = p[-1]
    assert _reason(p[:-1] + ("A" if last != "A" else "B")) == "signature"


def test_malformed_rejected_as_format():
    p = visitorqr.make(KEY, 1, 1, NBF, NAF)
    mac = p.rsplit(".", 1)[1]
    for bad in ("", "12345678", "V1.", "V2.1.1.%d.%d.%s" % (NBF, NAF, mac), p + ".X", p[:-1],
                "V1.01.1.%d.%d.%s" % (NBF, NAF, mac), "V1.1.0.%d.%d.%s" % (NBF, NAF, mac),
                "V1.1.256.%d.%d.%s" % (NBF, NAF, mac), "V1.1.1.%d.%d.%s" % (NAF, NBF, mac),
                "V1.-1.1.%d.%d.%s" % (NBF, NAF, mac), "V1.1.1.%d.99999999999.%s" % (NBF, mac)):
        assert _reason(bad) == "format", bad
    assert visitorqr.is_visitor(p) and not visitorqr.is_visitor("12345678")


def test_make_validates():
    for args in ((-1, 1, NBF, NAF), (1, 0, NBF, NAF), (1, 256, NBF, NAF), (1, 1, NAF, NBF),
                 (True, 1, NBF, NAF)):
        try:
            visitorqr.make(KEY, *args)
        except ValueError:
            continue
        raise AssertionError(args)
    try:
        visitorqr.make(b"short", 1, 1, NBF, NAF)
    except ValueError:
        pass
    else:
        raise AssertionError("short key accepted")

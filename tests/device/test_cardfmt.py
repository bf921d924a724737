"""cardfmt: card code formats, worked examples, normalisation (MicroPython and CPython)."""
import cardfmt

UID4 = b"\x04\xa1\xb2\xc3"
UID7 = b"\x04\x78\x2e\x21\x80\x1d\x80"

# The worked examples of docs/card-formats.md and the module docstring.
EXAMPLES = {
    "8HN": ("04A1B2C3", "04782E21"),
    "8HR": ("C3B2A104", "212E7804"),
    "10D": ("0077705923", "0074984993"),
    "10DR": ("3283263748", "0556693508"),
    "6H3D5D": ("16145763", "12011809"),
    "6H3D5DR": ("17841220", "04630724"),
    "FULLH": ("04A1B2C3", "04782E21801D80"),
}


def raises(fn, *args):
    try:
        fn(*args)
    except ValueError as e:
        return str(e)
    raise AssertionError("no ValueError from %r%r" % (fn, args))


def test_formats_and_default():
    assert cardfmt.DEFAULT == "8HN"
    assert cardfmt.FORMATS == ("8HN", "8HR", "10D", "10DR", "6H3D5D", "6H3D5DR", "FULLH")
    assert sorted(EXAMPLES) == sorted(cardfmt.FORMATS)


def test_worked_examples():
    for fmt, (c4, c7) in EXAMPLES.items():
        assert cardfmt.format_uid(UID4, fmt) == c4, fmt
        assert cardfmt.format_uid(UID7, fmt) == c7, fmt
        # the canonical form is a fixed point of normalize
        assert cardfmt.normalize(c4, fmt) == c4, fmt
        assert cardfmt.normalize(c7, fmt) == c7, fmt


def test_default_format_is_8hn():
    assert cardfmt.format_uid(UID4) == "04A1B2C3"


def test_buffer_types_and_ids():
    for buf in (UID4, bytearray(UID4), memoryview(UID4), memoryview(b"xx" + UID4)[2:]):
        for i, fmt in enumerate(cardfmt.FORMATS):
            assert cardfmt.format_uid(buf, fmt) == EXAMPLES[fmt][0]
            assert cardfmt.format_uid(buf, i + 1) == EXAMPLES[fmt][0]


def test_extremes_no_overflow():
    ff = b"\xff\xff\xff\xff"
    assert cardfmt.format_uid(ff, "10D") == "4294967295"
    assert cardfmt.format_uid(ff, "10DR") == "4294967295"
    assert cardfmt.format_uid(ff, "6H3D5D") == "25565535"
    assert cardfmt.format_uid(b"\x80\x00\x00\x01", "10D") == "2147483649"
    assert cardfmt.format_uid(b"\x00\x00\x00\x00", "10D") == "0000000000"
    assert cardfmt.format_uid(b"\x00\x00\x01\x00", "6H3D5D") == "00000256"


def test_long_uids():
    uid10 = bytes(range(1, 11))
    assert cardfmt.format_uid(uid10, "FULLH") == "0102030405060708090A"
    assert cardfmt.format_uid(uid10, "8HN") == "01020304"
    uid8 = b"\x01\x2e\x4c\xd2\x10\x20\x30\x40"  # FeliCa IDm
    assert cardfmt.format_uid(uid8, "FULLH") == "012E4CD210203040"


def test_uid_length_checked():
    assert "4 to 10" in raises(cardfmt.format_uid, b"\x01\x02\x03", "8HN")
    raises(cardfmt.format_uid, b"", "FULLH")
    raises(cardfmt.format_uid, bytes(11), "FULLH")


def test_check_format():
    assert cardfmt.check_format("8HN") == "8HN"
    assert cardfmt.check_format(" 10dr ") == "10DR"
    assert cardfmt.check_format("14H") == "FULLH"
    assert cardfmt.check_format(5) == "6H3D5D"
    assert "9HX" in raises(cardfmt.check_format, "9HX")
    raises(cardfmt.check_format, "")
    raises(cardfmt.check_format, None)
    raises(cardfmt.check_format, 0)
    raises(cardfmt.format_uid, UID4, "nope")


def test_format_ids_are_stable():
    want = {"8HN": 1, "8HR": 2, "10D": 3, "10DR": 4, "6H3D5D": 5, "6H3D5DR": 6, "FULLH": 7}
    for name, fid in want.items():
        assert cardfmt.format_id(name) == fid
        assert cardfmt.format_name(fid) == name
    assert cardfmt.format_id("14h") == 7
    raises(cardfmt.format_name, 0)
    raises(cardfmt.format_name, 8)
    raises(cardfmt.format_name, "8HN")


def test_normalize_accepts_human_input():
    cases = (
        ("04a1b2c3", "8HN", "04A1B2C3"),
        ("  04:A1:b2:C3 ", "8HN", "04A1B2C3"),
        ("04-a1-b2-c3", "8HR", "04A1B2C3"),
        ("0x04a1b2c3", "8HN", "04A1B2C3"),
        ("04 78 2e 21 80 1d 80", "FULLH", "04782E21801D80"),
        ("04782e21801d80", "14H", "04782E21801D80"),
        ("77705923", "10D", "0077705923"),
        (" 0077705923\n", "10D", "0077705923"),
        ("0", "10DR", "0000000000"),
        ("4294967295", "10D", "4294967295"),
        ("161,45763", "6H3D5D", "16145763"),
        ("161 45763", "6H3D5D", "16145763"),
        ("161-45763", "6H3D5D", "16145763"),
        ("161, 45763", "6H3D5D", "16145763"),
        ("46/30724", "6H3D5DR", "04630724"),
        ("4630724", "6H3D5DR", "04630724"),
        ("1,2", "6H3D5D", "00100002"),
        (b"04a1b2c3", "8HN", "04A1B2C3"),
    )
    for code, fmt, want in cases:
        got = cardfmt.normalize(code, fmt)
        assert got == want, (code, fmt, got)


def test_normalize_rejects_junk():
    cases = (
        ("", "8HN"), ("   ", "8HN"), ("04A1B2C", "8HN"), ("04A1B2C3D4", "8HN"),
        ("04782E21801D80", "8HN"), ("G4A1B2C3", "8HN"), ("04A1B2C3!", "8HN"), ("0x", "8HN"),
        ("04A1B2", "FULLH"), ("04A1B2C3D", "FULLH"), ("00" * 11, "FULLH"),
        ("", "10D"), ("-1", "10D"), ("4294967296", "10D"), ("12345678901", "10D"), ("1e9", "10D"),
        ("12 34", "10D"), ("0x10", "10DR"),
        ("", "6H3D5D"), ("256,1", "6H3D5D"), ("1,65536", "6H3D5D"), ("123456789", "6H3D5D"),
        ("25665535", "6H3D5D"), ("1,2,3", "6H3D5D"), ("a,1", "6H3D5D"), ("12x45678", "6H3D5D"),
        ("04A1B2C3", "9HX"),
    )
    for code, fmt in cases:
        raises(cardfmt.normalize, code, fmt)
    msg = raises(cardfmt.normalize, "04A1B2C", "8HN")
    assert "8HN" in msg and "04A1B2C" in msg
    assert "FULLH" in raises(cardfmt.normalize, "04782E21801D80", "8HN")
    assert "range" in raises(cardfmt.normalize, "4294967296", "10D")
    raises(cardfmt.normalize, None, "8HN")
    raises(cardfmt.normalize, 1234, "10D")


def test_matches():
    assert cardfmt.matches(UID4, "04A1B2C3")
    assert cardfmt.matches(UID4, "04a1b2c3", "8HN")
    assert cardfmt.matches(UID4, "77705923", "10D")
    assert cardfmt.matches(UID4, "161,45763", "6H3D5D")
    assert cardfmt.matches(UID7, "04782E21801D80", "FULLH")
    assert cardfmt.matches(UID7, "04782E21", "8HN")  # 4-byte formats use the first 4 bytes
    assert not cardfmt.matches(UID4, "C3B2A104", "8HN")
    assert not cardfmt.matches(UID4, "junk", "8HN")
    assert not cardfmt.matches(UID4, "", "10D")


def test_format_uid_allocates_only_the_result():
    try:
        import gc

        mem_alloc = gc.mem_alloc
    except AttributeError:  # CPython: nothing to measure
        return
    keep = [None] * 60
    gc.collect()
    before = mem_alloc()
    for i in range(60):
        keep[i] = cardfmt.format_uid(b"\xc3\xb2\xa1\x04", "10D")
    used = mem_alloc() - before
    assert keep[0] == "3283263748"
    assert used < 60 * 128, used  # result string + format tuple, no big ints, no lists

"""Property tests for lib/cardfmt.py (CPython + hypothesis), and the docs' worked examples."""
import os
import re

from hypothesis import given, settings
from hypothesis import strategies as st

import cardfmt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

uids = st.binary(min_size=4, max_size=10)
formats = st.sampled_from(cardfmt.FORMATS)

CANONICAL = {
    "8HN": r"[0-9A-F]{8}",
    "8HR": r"[0-9A-F]{8}",
    "10D": r"[0-9]{10}",
    "10DR": r"[0-9]{10}",
    "6H3D5D": r"[0-9]{8}",
    "6H3D5DR": r"[0-9]{8}",
    "FULLH": r"(?:[0-9A-F]{2}){4,10}",
}


def _n(b):
    return int.from_bytes(b, "big")


@given(uids, formats)
def test_normalize_of_format_is_identity(uid, fmt):
    code = cardfmt.format_uid(uid, fmt)
    assert re.fullmatch(CANONICAL[fmt], code), code
    assert cardfmt.normalize(code, fmt) == code
    assert cardfmt.matches(uid, code, fmt)
    assert cardfmt.format_uid(uid, cardfmt.format_id(fmt)) == code


@given(uids)
def test_hex_round_trips(uid):
    assert bytes.fromhex(cardfmt.format_uid(uid, "8HN")) == uid[:4]
    assert bytes.fromhex(cardfmt.format_uid(uid, "8HR")) == uid[:4][::-1]
    assert bytes.fromhex(cardfmt.format_uid(uid, "FULLH")) == uid


@given(uids)
def test_decimal_round_trips(uid):
    n, r = _n(uid[:4]), _n(uid[:4][::-1])
    assert int(cardfmt.format_uid(uid, "10D")) == n
    assert int(cardfmt.format_uid(uid, "10DR")) == r
    assert cardfmt.format_uid(uid, "10D") == "%010d" % n
    w = cardfmt.format_uid(uid, "6H3D5D")
    assert (int(w[:3]), int(w[3:])) == (uid[1], uid[2] * 256 + uid[3])
    assert int(w[:3]) * 65536 + int(w[3:]) == n % (1 << 24)  # Wiegand-26 = low 24 bits of 10D
    wr = cardfmt.format_uid(uid, "6H3D5DR")
    assert int(wr[:3]) * 65536 + int(wr[3:]) == r % (1 << 24)


@given(uids, st.sampled_from(["", ":", "-", " "]), st.booleans(), st.sampled_from(["", " ", "\t", "  \n"]))
def test_hex_human_variants(uid, sep, lower, pad):
    for fmt, raw in (("8HN", uid[:4]), ("8HR", uid[:4][::-1]), ("FULLH", uid)):
        text = sep.join("%02x" % b if lower else "%02X" % b for b in raw)
        assert cardfmt.normalize(pad + text + pad, fmt) == cardfmt.format_uid(uid, fmt)
        assert cardfmt.normalize("0x" + raw.hex(), fmt) == raw.hex().upper()


@given(st.integers(0, 2**32 - 1), st.sampled_from(["10D", "10DR"]))
def test_decimal_missing_zeros(n, fmt):
    assert cardfmt.normalize(str(n), fmt) == "%010d" % n
    assert cardfmt.normalize(" %d " % n, fmt) == "%010d" % n


@given(st.integers(2**32, 10**12), st.sampled_from(["10D", "10DR"]))
def test_decimal_out_of_range_rejected(n, fmt):
    try:
        cardfmt.normalize(str(n), fmt)
    except ValueError as e:
        assert fmt in str(e)
    else:
        raise AssertionError("accepted %d" % n)


@given(st.integers(0, 255), st.integers(0, 65535), st.sampled_from([",", " ", "-", "/", ", "]),
       st.sampled_from(["6H3D5D", "6H3D5DR"]))
def test_wiegand_pairs(fc, cn, sep, fmt):
    want = "%03d%05d" % (fc, cn)
    assert cardfmt.normalize("%d%s%d" % (fc, sep, cn), fmt) == want
    assert cardfmt.normalize(want, fmt) == want
    assert cardfmt.normalize(str(fc * 100000 + cn), fmt) == want


@given(st.integers(0, 10**6), st.integers(0, 10**7), st.sampled_from(["6H3D5D", "6H3D5DR"]))
def test_wiegand_out_of_range_rejected(fc, cn, fmt):
    text = "%d,%d" % (fc, cn)
    if fc <= 255 and cn <= 65535:
        assert cardfmt.normalize(text, fmt) == "%03d%05d" % (fc, cn)
    else:
        try:
            cardfmt.normalize(text, fmt)
        except ValueError:
            pass
        else:
            raise AssertionError("accepted " + text)


@settings(max_examples=400)
@given(st.text(max_size=30), formats)
def test_any_text_is_canonical_or_value_error(text, fmt):
    try:
        out = cardfmt.normalize(text, fmt)
    except ValueError as e:
        assert fmt in str(e)
        return
    assert re.fullmatch(CANONICAL[fmt], out), (text, out)
    assert cardfmt.normalize(out, fmt) == out


JUNK = "GHIJKLMNOPQRSTUVWXYZghijklmnopqrstuvwxyz!#$%&*+=?@_~\u00e9\ufb00"


@given(uids, st.text(alphabet=JUNK, min_size=1, max_size=3), st.integers(0, 30))
def test_junk_characters_rejected(uid, junk, at):
    for fmt in cardfmt.FORMATS:
        code = cardfmt.format_uid(uid, fmt)
        i = at % (len(code) + 1)
        try:
            cardfmt.normalize(code[:i] + junk + code[i:], fmt)
        except ValueError:
            continue
        raise AssertionError("accepted %r for %s" % (code[:i] + junk + code[i:], fmt))


@given(st.binary(max_size=3) | st.binary(min_size=11, max_size=20), formats)
def test_bad_uid_lengths_rejected(uid, fmt):
    try:
        cardfmt.format_uid(uid, fmt)
    except ValueError:
        return
    raise AssertionError("formatted a %d-byte UID" % len(uid))


@given(st.text(max_size=8))
def test_check_format_only_known_names(name):
    try:
        out = cardfmt.check_format(name)
    except ValueError as e:
        assert repr(name) in str(e)
        return
    assert out in cardfmt.FORMATS


def test_docs_table_matches_code():
    """docs/card-formats.md's table of worked examples is what the code produces."""
    uid4 = bytes.fromhex("04A1B2C3")
    uid7 = bytes.fromhex("04782E21801D80")
    with open(os.path.join(ROOT, "docs", "card-formats.md"), encoding="utf-8") as f:
        rows = [line.strip().strip("|").split("|") for line in f if line.startswith("|")]
    seen = set()
    for cells in rows:
        cells = [c.strip().strip("`") for c in cells]
        if len(cells) == 5 and cells[1] in cardfmt.FORMATS:
            fid, name, _what, c4, c7 = cells
            assert int(fid) == cardfmt.format_id(name)
            assert cardfmt.format_uid(uid4, name) == c4, name
            assert cardfmt.format_uid(uid7, name) == c7, name
            seen.add(name)
    assert seen == set(cardfmt.FORMATS)


def test_module_docstring_table_matches_code():
    uid4 = bytes.fromhex("04A1B2C3")
    uid7 = bytes.fromhex("04782E21801D80")
    seen = set()
    for line in cardfmt.__doc__.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0].isdigit() and parts[1] in cardfmt.FORMATS:
            name = parts[1]
            assert cardfmt.format_uid(uid4, name) in parts and cardfmt.format_uid(uid7, name) in parts, line
            seen.add(name)
    assert seen == set(cardfmt.FORMATS)

"""usertable.fmt / writer / reader details: key packing, hashing bounds, records, file layout."""
import os
import struct
from binascii import crc32, hexlify

import cardfmt
from usertable import build, codec, fmt, sitetime, validate, validate_list, writer
from usertable.reader import Base, Record

KEY = bytes(range(32))


def _tmp(tag):
    return "/tmp/doorctl-test-usertable-fmt-%s-%s" % (tag, hexlify(os.urandom(4)).decode())


def test_card_codes_pack_and_unpack_in_every_format():
    uid = b"\x04\x78\x2e\x21\x80\x1d\x80"
    for name in cardfmt.FORMATS:
        fid = cardfmt.format_id(name)
        code = cardfmt.format_uid(uid, name)
        b = bytearray(11)
        assert fmt.pack_card(code, fid, b, 0), name
        assert fmt.unpack_card(b, 0, fid) == code, name
    b = bytearray(11)
    for code, fid in (("04A1B2C", 1), ("04A1B2C3D", 1), ("04a1b2c3", 1), ("0077705923X", 3), ("007770592A", 3),
                      ("ABCDEF12", 5), ("04A1B2", 7), ("04A1B2C3D", 7), ("04A1B2C3" * 3, 7)):
        assert not fmt.pack_card(code, fid, b, 0), (code, fid)
    # FULLH keeps the UID length: a 4-byte UID and a 5-byte UID starting alike differ
    k4 = codec.clear_key(fmt.K_CARD, "04A1B2C3", 7)
    k5 = codec.clear_key(fmt.K_CARD, "04A1B2C300", 7)
    assert k4 != k5 and len(k4) == len(k5) == fmt.key_width(fmt.K_CARD, 7)


def test_plates_pack_into_8_bytes():
    b = bytearray(8)
    for p in ("A", "AB12CDE", "ZZZZZZZZZZ", "0000000000", "M0X9"):
        assert fmt.pack_plate(p, b, 0) and fmt.unpack_plate(b, 0) == p
        assert b[7] & 0x0F == 0
    for bad in ("", "ABCDEFGHIJK", "ab12", "A-1"):
        assert not fmt.pack_plate(bad, b, 0), bad


def test_hash_stays_a_small_int_and_spreads():
    b = bytearray(b"\xff" * 13)
    for n in range(14):
        h = fmt.mix(b, 0, n)
        assert 0 <= h < (1 << 30)
    seen = set()
    buckets = [0] * 16
    for i in range(2000):
        k = codec.clear_key(fmt.K_CARD, "%08X" % i, 1)  # sequential codes
        h = (k[0] << 8) | k[1]
        buckets[(h * 16) >> 16] += 1
        if i < 300:
            seen.add(h)
    assert min(buckets) > 80 and max(buckets) < 170, buckets
    assert len(seen) > 290


def test_record_roundtrip_and_largest_record():
    ctx = validate.Ctx("FULLH", site_key=KEY)
    validate_list.schedules([{"id": i, "name": "S%d" % i} for i in range(2, 18)], ctx)
    u = validate.user({
        "id": 4294967294, "name": "\u00e9" * 31 + "x", "phone": "+" + "9" * 30, "role": "admin",
        "cards": ["%02X" % i * 10 for i in range(5)], "pin": "12345678", "qr": "q" * 32, "ble": "ab" * 20,
        "plates": [{"plate": "%dXXXXXXXXX" % i, "from": "2026-01-01", "to": "2105-12-31"} for i in range(5)],
        "relays": list(range(1, 9)), "floors": list(range(1, 33)), "web_relay": 255,
        "relay_schedule_activation": True, "valid_from": "1970-01-01T00:01", "valid_to": "2105-12-31T23:59",
        "schedules": ["S%d" % i for i in range(2, 18)]}, ctx, "u")
    assert u is not None
    rec = codec.encode_record(u, 7)
    assert len(rec) <= fmt.MAX_RECORD and rec[0] & 0x80  # two-byte length prefix
    assert fmt.rec_len(rec, 0) == (len(rec), 2)
    r = Record()
    r.take(rec, 0, len(rec), 7)
    assert r.id == 4294967294 and r.name == u["name"] and r.phone == u["phone"] and r.role == 1
    assert r.relays == 255 and r.floors == 0xFFFFFFFF and r.web_relay == 255 and r.rsa
    assert r.valid_from == 60 and r.cards == u["cards"] and len(r.plates) == 5
    assert r.has_pin and r.has_qr and r.has_ble and list(r.schedules) == list(range(2, 18))
    keys = codec.record_keys(rec, 0, 7, [])
    assert len(keys) == 10 and keys[0] == (fmt.K_CARD, codec.clear_key(fmt.K_CARD, u["cards"][0], 7))
    assert keys[5] == (fmt.K_PLATE, codec.clear_key(fmt.K_PLATE, "0XXXXXXXXX", 7))


def test_file_layout_head_tail_and_checksum():
    p = _tmp("layout")
    try:
        ctx = validate.Ctx(site_key=KEY)
        us = [validate.user({"id": i, "cards": ["%08X" % i], "pin": "%04d" % i}, ctx, "u") for i in range(1, 30)]
        info = build.build_file(p, [], us, 1, 0xABCDEF01, ctx.keyed, 1700000000)
        with open(p, "rb") as f:
            data = f.read()
        assert len(data) == info["size"]
        magic, version, fid, _f, _z, serial, created, _r, hcrc = struct.unpack(fmt.HEAD, data[:fmt.HEAD_SIZE])
        assert (magic, version, fid, serial, created) == (b"DCUT", 1, 1, 0xABCDEF01, 1700000000)
        assert hcrc == crc32(data[:28]) & 0xFFFFFFFF
        tail = struct.unpack(fmt.TAIL, data[-fmt.TAIL_SIZE:])
        assert tail[0] == b"DCUt" and tail[1] == 29 and tail[-2] == len(data)
        assert tail[-1] == crc32(data[:-4]) & 0xFFFFFFFF == info["crc"]
        b = Base(p)
        assert b.users == 29 and b.ix_n[fmt.K_CARD] == 29 and b.ix_n[fmt.K_PIN] == 29
        assert b.keycheck == fmt.key_check(ctx.keyed)
        b.verify()
        b.close()
        for pos in (3, 40, len(data) - 60, len(data) - 2):  # damage anywhere is caught
            bad = bytearray(data)
            bad[pos] ^= 1
            with open(p, "wb") as f:
                f.write(bad)
            try:
                b = Base(p)
                try:
                    b.verify()
                finally:
                    b.close()
            except ValueError:
                continue
            raise AssertionError("damage at %d not detected" % pos)
    finally:
        try:
            os.remove(p)
        except OSError:
            pass


def test_writer_refuses_unsorted_or_duplicate_keys_and_ids():
    p = _tmp("order")
    try:
        with open(p, "wb") as f:
            w = writer.Writer(f, 1, 1)
            w.begin_records()
            w.record(b"\x07\x02\x00\x00\x00\x00\x00", 0, 7, 2)
            try:
                w.record(b"\x07\x01\x00\x00\x00\x00\x00", 0, 7, 1)
            except ValueError:
                pass
            else:
                raise AssertionError("records out of order accepted")
            w.end_records()
            w.begin_index(fmt.K_CARD, 3, 512)
            k = codec.clear_key(fmt.K_CARD, "04A1B2C3", 1)
            w.entry(k, 0, 0)
            for bad in (k, bytes(len(k))):
                try:
                    w.entry(bad, 0, 0)
                except ValueError:
                    continue
                raise AssertionError("duplicate/unsorted key accepted")
    finally:
        os.remove(p)


def test_bucket_sizing_keeps_fanouts_small():
    assert writer.buckets(0, 9, 512) == 0 and writer.buckets(1, 9, 512) == 1
    # 50,000 users x (5 cards + PIN + plate): all fan-outs together stay near FANOUT_RAM
    total = 250000 * 9 + 50000 * 11 + 50000 * 13
    t = writer.bucket_target(total)
    fan = 2 * (writer.buckets(250000, 9, t) + writer.buckets(50000, 11, t) + writer.buckets(50000, 13, t))
    assert fan <= writer.FANOUT_RAM + 6, fan
    assert writer.bucket_target(1000) == writer.TARGET_MIN


def test_local_time_conversion():
    assert sitetime.parse_time("1970-01-01", False, "UTC0") == 0
    assert sitetime.parse_time("2026-03-29T02:30", False, "UTC0") == 1774751400
    assert sitetime.parse_time("2024-02-29", True, "UTC0") == 1709251199
    for bad in ("2026-02-29", "2026-1-01", "2026-01-01T24:00", "2026-01-01X10:00", "20260101", 5):
        assert sitetime.parse_time(bad, False, "UTC0") == -1, bad
    assert sitetime.parse_time(5, False, "UTC0", True) == 5
    assert sitetime.unix_to_local(1774751400, "UTC0") == "2026-03-29T02:30"
    for days in (0, 59, 60, 365, 10957, 11016, 20000, 49709):
        assert sitetime._days(*sitetime.civil(days)) == days
    cet = "CET-1CEST,M3.5.0,M10.5.0/3"
    assert sitetime.parse_time("2026-01-15T12:00", False, cet) == 1768474800  # 11:00 UTC (CET)
    assert sitetime.parse_time("2026-07-01T12:00", False, cet) == 1782900000  # 10:00 UTC (CEST)
    assert sitetime.parse_time("2026-03-29T02:30", False, cet) == 1774747800  # skipped hour
    assert sitetime.parse_time("2026-10-25", True, cet) == 1792969199  # 23:59:59 CET
    assert sitetime.unix_to_local(1782900000, cet) == "2026-07-01T12:00"
    for bad in ("Europe/Berlin", "CET-1CEST", "", "XYZ"):
        try:
            sitetime.check_tz(bad)
        except ValueError:
            continue
        raise AssertionError("accepted TZ %r" % bad)

"""eventlog: ring of 32-byte records on flash (MicroPython and CPython)."""
import os
import struct
from binascii import crc32, hexlify

import eventcodes as C
import eventlog as E

UID4 = b"\x04\xa1\xb2\xc3"
UID7 = b"\x04\x78\x2e\x21\x80\x1d\x80"


def _tmpdir(tag):
    suffix = hexlify(os.urandom(4)).decode()
    return "/tmp/doorctl-test-eventlog-%s-%s" % (tag, suffix)


def _seg(path, k):
    return "%s/%04d" % (path, k)


def _read(p):
    with open(p, "rb") as f:
        return f.read()


def _write(p, data):
    with open(p, "wb") as f:
        f.write(data)


def _patch(p, off, data):
    with open(p, "r+b") as f:
        f.seek(off)
        f.write(data)


def _fill(log, n, t0=1700000000):
    for i in range(n):
        log.append(t0 + i, C.KIND_CARD, C.RESULT_GRANTED, C.REASON_OK, UID4, 1, user=i + 1, relays=1)
    return log.last_seq


def _seqs(events):
    return [e.seq for e in events]


def _all(log):
    return _seqs(log.read(0, log.capacity + 10))


class _Log:
    """A fresh log in a temp dir (`with _Log(tag, capacity=..) as t`: t.log, t.path, t.reopen()),
    closed and removed afterwards."""

    def __init__(self, tag, **kw):
        self.path = _tmpdir(tag)
        self.kw = kw
        self.log = None

    def reopen(self, **kw):
        if self.log is not None:
            self.log.close()
        self.log = None
        self.log = E.EventLog(self.path, **(kw or self.kw))
        return self.log

    def __enter__(self):
        E.remove(self.path)
        self.reopen()
        return self

    def __exit__(self, *exc):
        if self.log is not None:
            self.log.close()
        E.remove(self.path)


def test_record_layout_on_flash():
    assert E.RECORD_SIZE == 32
    assert struct.calcsize("<IIIBBBBBB10sI") == 32
    with _Log("layout") as t:
        seq = t.log.append(1700000000, C.KIND_CARD, C.RESULT_DENIED, C.REASON_EXPIRED, UID7, 7,
                           user=4242, relays=3)
        assert seq == 1
        raw = _read(_seg(t.path, 0))
        assert len(raw) == 32
        assert struct.unpack("<IIIBBBBBB", raw[:18]) == (1, 1700000000, 4242, 1, 2, 4, 3, 7, 7)
        assert raw[18:25] == UID7 and raw[25:28] == b"\0\0\0"
        assert struct.unpack("<I", raw[28:])[0] == crc32(raw[:28])
        meta = _read(t.path + "/meta")
        assert len(meta) == 32 and meta[:4] == b"DCEL"
        assert struct.unpack("<4sBBHI", meta[:12]) == (b"DCEL", 1, 32, 128, 1000)


def test_append_read_values():
    with _Log("values") as t:
        log = t.log
        assert log.last_seq == 0 and len(log) == 0 and log.first_seq == 0 and log.read() == []
        log.append(1, C.KIND_CARD, C.RESULT_GRANTED, C.REASON_OK, b"\x01\x02\x03\x00", 2, user=5)
        log.append(2, C.KIND_PIN, C.RESULT_DENIED, C.REASON_UNKNOWN_CREDENTIAL, "123456")
        log.append(3, C.KIND_PLATE, C.RESULT_GRANTED, C.REASON_OK, "ABC123XYZ-LONG", user=9, relays=2)
        log.append(0, C.KIND_EXIT, C.RESULT_GRANTED, C.REASON_OK, relays=1)
        log.append(5, C.KIND_BLE, C.RESULT_DENIED, C.REASON_SCHEDULE, bytearray(b"\x00\xff\x10"))
        ev = log.read()
        assert _seqs(ev) == [1, 2, 3, 4, 5]
        assert ev[0].value == b"\x01\x02\x03\x00" and ev[0].fmt == 2 and ev[0].user == 5
        assert ev[1].value == b""  # a PIN is never stored
        assert ev[2].value == b"ABC123XYZ-" and ev[2].relays == 2  # truncated to 10 bytes
        assert ev[3].time == 0 and ev[3].kind == C.KIND_EXIT
        assert ev[4].value == b"\x00\xff\x10"
        assert tuple(ev[0]) == (1, 1, 1, 1, 0, 2, b"\x01\x02\x03\x00", 5, 0)
        assert len(log) == 5 and log.first_seq == 1


def test_wraparound_and_since_cursor():
    with _Log("wrap", capacity=10, per_file=3) as t:
        log = t.log
        assert _fill(log, 27) == 27
        assert len(log) == 10 and log.first_seq == 18
        assert _all(log) == list(range(18, 28))
        assert _seqs(log.read(since=0, limit=3)) == [18, 19, 20]
        assert _seqs(log.read(since=19, limit=4)) == [20, 21, 22, 23]  # crosses the wrap (slot 9 -> 0)
        assert _seqs(log.read(since=26)) == [27]
        assert log.read(since=27) == [] and log.read(since=99) == [] and log.read(0, 0) == []
        assert _seqs(log.tail(3)) == [25, 26, 27]
        # a server pulling 4 at a time while events keep coming gets every retained seq once
        got = []
        cursor = 0
        for _round in range(6):
            batch = log.read(cursor, 4)
            got += _seqs(batch)
            if batch:
                cursor = batch[-1].seq
            _fill(log, 2)
        got += _seqs(log.read(cursor, 100))
        assert got == list(range(18, 40)), got
        # the files never grow past the ring: 3 + 3 + 3 + 1 slots
        sizes = [len(_read(_seg(t.path, k))) for k in range(4)]
        assert sizes == [96, 96, 96, 32], sizes


def test_reopen_finds_head_everywhere():
    for cap, per_file in ((1, 1), (2, 1), (5, 2), (7, 3), (8, 8), (10, 4)):
        with _Log("reopen", capacity=cap, per_file=per_file) as t:
            for n in range(0, 3 * cap + 2):
                if n:
                    _fill(t.log, 1)
                log = t.reopen()
                assert log.last_seq == n, (cap, per_file, n, log.last_seq)
                assert _all(log) == list(range(max(1, n - cap + 1), n + 1))
                assert log.issues == []


def test_head_found_by_binary_search_at_20000():
    with _Log("big", capacity=20000) as t:
        _fill(t.log, 20037)
        t.log.close()
        total = 0
        for k in range(157):
            total += len(_read(_seg(t.path, k)))
        assert total == 20000 * 32  # 640,000 bytes
        log = t.reopen()
        assert log.reads <= 40, log.reads  # ~log2(20000) record reads, not 20,000
        assert log.last_seq == 20037 and len(log) == 20000 and log.first_seq == 38
        assert _seqs(log.read(0, 3)) == [38, 39, 40]
        assert _seqs(log.read(19995, 10)) == list(range(19996, 20006))  # across the wrap
        assert _seqs(log.tail(2)) == [20036, 20037]
        assert log.append(1, C.KIND_SYSTEM, C.RESULT_INFO, C.REASON_BOOT) == 20038
        assert t.reopen().last_seq == 20038


def test_head_found_quickly_in_the_first_lap():
    with _Log("lap1", capacity=20000) as t:
        _fill(t.log, 300)
        log = t.reopen()
        assert log.last_seq == 300 and log.reads <= 40, log.reads
        assert _seqs(log.tail(2)) == [299, 300]


def test_torn_last_record_first_lap():
    with _Log("torn1", capacity=10, per_file=4) as t:
        _fill(t.log, 6)
        t.log.close()
        p = _seg(t.path, 1)
        _write(p, _read(p)[:-12])  # power cut in the middle of writing seq 6 (slot 5)
        log = t.reopen()
        assert log.last_seq == 5 and _all(log) == [1, 2, 3, 4, 5]
        assert log.append(9, C.KIND_SYSTEM, C.RESULT_INFO, C.REASON_BOOT) == 6
        assert _all(log) == [1, 2, 3, 4, 5, 6]
        assert len(_read(p)) == 64


def test_torn_last_record_after_wrap():
    for n in (23, 21, 30):  # head in the middle, at slot 0, at the last slot
        with _Log("torn2", capacity=10, per_file=4) as t:
            _fill(t.log, n)
            t.log.close()
            slot = (n - 1) % 10
            _patch(_seg(t.path, slot // 4), (slot % 4) * 32 + 8, b"\xde\xad")  # half-written
            log = t.reopen()
            assert log.last_seq == n - 1, (n, log.last_seq)
            # the torn write had already destroyed the oldest event (seq n - 10) in that slot
            assert _all(log) == list(range(n - 9, n)), _all(log)
            assert log.append(1, C.KIND_SYSTEM, C.RESULT_INFO, C.REASON_BOOT) == n
            assert _seqs(log.tail(2)) == [n - 1, n]
            assert t.reopen().last_seq == n


def test_damaged_records_are_skipped():
    with _Log("holes", capacity=12, per_file=4) as t:
        _fill(t.log, 18)  # slots 0-5 hold 13-18, 6-11 hold 7-12
        for slot in (2, 7, 8):  # seqs 15, 8, 9
            _patch(_seg(t.path, slot // 4), (slot % 4) * 32 + 20, b"\xff")
        log = t.reopen()
        assert log.last_seq == 18
        assert _all(log) == [7, 10, 11, 12, 13, 14, 16, 17, 18]
        assert _seqs(log.read(7, 2)) == [10, 11]
        rep = log.check()
        assert rep["events"] == 9 and rep["damaged"] == 3 and rep["damaged_seqs"] == [8, 9, 15]


def test_records_from_a_stale_lap_are_not_returned():
    with _Log("stale", capacity=6, per_file=3) as t:
        _fill(t.log, 8)  # slot 2 still holds seq 3 from the first lap
        assert _all(t.log) == [3, 4, 5, 6, 7, 8]
        assert t.log.read(8) == []
        assert t.log.check()["damaged"] == 0


def test_garbage_meta_is_reported_and_repaired():
    with _Log("meta", capacity=10, per_file=4) as t:
        _fill(t.log, 7)
        t.log.close()
        meta = t.path + "/meta"
        for bad in (b"", b"x" * 5, b"\x00" * 32, os.urandom(32), b"DCEL" + b"\x00" * 28, b"x" * 33):
            _write(meta, bad)
            try:
                E.EventLog(t.path, capacity=10, per_file=4, strict=True)
                raise AssertionError("strict open accepted a damaged meta file")
            except E.EventLogError as e:
                assert "meta" in str(e)
            log = t.reopen()
            assert len(log.issues) == 1 and "meta" in log.issues[0], log.issues
            assert log.last_seq == 7 and _all(log) == list(range(1, 8))
            assert t.reopen().issues == []  # repaired
        os.remove(meta)
        log = t.reopen()
        assert "missing" in log.issues[0] and log.last_seq == 7


def test_garbage_segments_never_crash():
    with _Log("garbage", capacity=40, per_file=8) as t:
        _fill(t.log, 50)  # slots 0-9 hold 41-50, slots 10-39 hold 11-40
        t.log.close()
        _write(_seg(t.path, 1), os.urandom(8 * 32))  # slots 8-15: seqs 49, 50, 11-16
        _write(_seg(t.path, 3), os.urandom(77))  # wrong size: slots 24-31 (seqs 25-32) gone
        log = t.reopen()
        assert log.last_seq == 48, log.last_seq
        want = list(range(17, 25)) + list(range(33, 49))
        assert _all(log) == want, _all(log)
        assert log.append(1, C.KIND_SYSTEM, C.RESULT_INFO, C.REASON_BOOT) == 49
        assert log.append(1, C.KIND_SYSTEM, C.RESULT_INFO, C.REASON_BOOT) == 50
        assert t.reopen().last_seq == 50
        t.log.close()
        for k in range(5):  # everything garbage: an empty log that starts again at 1
            _write(_seg(t.path, k), os.urandom(8 * 32))
        log = t.reopen()
        assert log.last_seq == 0 and log.read() == []
        assert log.append(1, C.KIND_SYSTEM, C.RESULT_INFO, C.REASON_BOOT) == 1
        assert _all(log) == [1]
        assert t.reopen().last_seq == 1


def test_capacity_mismatch_keeps_the_log():
    with _Log("cap", capacity=10, per_file=4) as t:
        _fill(t.log, 12)
        t.log.close()
        try:
            E.EventLog(t.path, capacity=20000, strict=True)
            raise AssertionError("strict open accepted another capacity")
        except E.EventLogError as e:
            assert "capacity" in str(e)
        log = t.reopen(capacity=20000)
        assert log.capacity == 10 and log.per_file == 4 and "capacity" in log.issues[0]
        assert log.last_seq == 12 and _all(log) == list(range(3, 13))


def test_not_a_log_and_bad_arguments():
    p = _tmpdir("file")
    _write(p, b"hello")
    try:
        E.EventLog(p)
        raise AssertionError("opened a plain file")
    except E.EventLogError as e:
        assert p in str(e)
    os.remove(p)
    for cap, pf in ((0, 1), (E.MAX_CAPACITY + 1, 128), (10, 0), ("10", 1)):
        try:
            E.EventLog(p, capacity=cap, per_file=pf)
            raise AssertionError("accepted %r %r" % (cap, pf))
        except E.EventLogError:
            pass


def test_newer_version_is_refused():
    with _Log("ver", capacity=10) as t:
        t.log.close()
        meta = bytearray(_read(t.path + "/meta"))
        meta[4] = 2
        struct.pack_into("<I", meta, 28, crc32(bytes(meta[:28])))
        _write(t.path + "/meta", meta)
        try:
            E.EventLog(t.path, capacity=10)
            raise AssertionError("opened a newer log")
        except E.EventLogError as e:
            assert "newer" in str(e)


def test_single_ring_file_mode():
    with _Log("one", capacity=9, per_file=9) as t:
        _fill(t.log, 14)
        names = sorted(n for n in os.listdir(t.path) if n != "meta")
        assert names == ["0000"]
        assert len(_read(_seg(t.path, 0))) == 9 * 32
        log = t.reopen()
        assert log.last_seq == 14 and _all(log) == list(range(6, 15))


def test_names_and_codes():
    assert E.KINDS[:10] == ("system", "card", "pin", "qr", "ble", "plate", "exit", "api", "remote", "door")
    assert E.RESULTS == ("info", "granted", "denied")
    for name in ("ok", "unknown_credential", "no_relay_rights", "schedule", "expired", "not_yet_valid",
                 "disabled", "clock_not_set", "lockout", "reader_error", "remote_denied", "remote_timeout"):
        assert E.reason_name(E.reason_code(name)) == name
    assert len(set(E.REASONS)) == len(E.REASONS)
    assert E.REASONS[C.REASON_DOOR_FORCED] == "door_forced"
    assert E.KINDS[C.KIND_PLATE] == "plate" and E.RESULTS[C.RESULT_DENIED] == "denied"
    assert E.kind_name(200) == "kind_200" and E.reason_name(250) == "reason_250"
    assert E.result_name(9) == "result_9"
    assert E.kind_code("card") == C.KIND_CARD and E.result_code("granted") == 1 and E.kind_code(3) == 3
    try:
        E.kind_code("face")
        raise AssertionError("unknown kind accepted")
    except ValueError as e:
        assert "face" in str(e)


def test_to_dict():
    with _Log("dict") as t:
        log = t.log
        log.append(1700000000, C.KIND_CARD, C.RESULT_GRANTED, C.REASON_OK, UID4, 3, user=77, relays=1)
        log.append(1700000001, C.KIND_CARD, C.RESULT_DENIED, C.REASON_UNKNOWN_CREDENTIAL, UID7, 0)
        log.append(1700000002, C.KIND_CARD, C.RESULT_DENIED, C.REASON_EXPIRED, UID4, 6)
        log.append(1700000003, C.KIND_PLATE, C.RESULT_GRANTED, C.REASON_OK, "B-AB 123")
        log.append(1700000004, C.KIND_BLE, C.RESULT_DENIED, C.REASON_SCHEDULE, b"\xc3\xc0\xff\xee\x00\x10\x01", 1)
        log.append(1700000005, C.KIND_PIN, C.RESULT_DENIED, C.REASON_LOCKOUT, "9999")
        log.append(0, C.KIND_DOOR, C.RESULT_INFO, 99, relays=2)
        d = [E.to_dict(ev) for ev in log.read()]
        assert d[0] == {"seq": 1, "time": 1700000000, "kind": "card", "result": "granted", "reason": "ok",
                        "code": "0077705923", "user": 77, "relays": [1]}
        assert d[1]["code"] == "04782E21801D80" and d[1]["reason"] == "unknown_credential"
        assert d[2]["code"] == "17841220" and d[2]["result"] == "denied"
        assert d[3]["code"] == "B-AB 123" and d[3]["kind"] == "plate"
        assert d[4]["code"] == "C0FFEE001001" and d[4]["rssi"] == -61 and d[4]["ble"] == "address"
        assert d[5]["code"] == "" and d[5]["kind"] == "pin" and d[5]["reason"] == "lockout"
        assert d[6]["kind"] == "door" and d[6]["reason"] == "reason_99" and d[6]["time"] == 0
        assert d[6]["door"] == 2 and "relays" not in d[6]
        assert E.relay_list(0) == [] and E.relay_list(5) == [1, 3] and E.relay_list(0x80) == [8]


def test_random_damage_never_crashes():
    rnd = os.urandom(400)
    with _Log("fuzz", capacity=24, per_file=5) as t:
        for round_ in range(12):
            _fill(t.log, rnd[round_] % 40)
            t.log.close()
            r = rnd[100 + round_]
            k = r % 6
            name = "meta" if k == 5 else "%04d" % k
            p = t.path + "/" + name
            size = rnd[200 + round_] % 200
            if r & 0x80:
                _write(p, os.urandom(size))  # replace with garbage of any size
            else:
                try:
                    _patch(p, size % 160, os.urandom(1 + size % 7))  # flip a few bytes
                except OSError:
                    pass
            log = t.reopen()
            last = log.last_seq
            got = _all(log)
            assert got == sorted(got) and len(set(got)) == len(got)
            assert all(log.first_seq <= s <= last for s in got)
            assert log.check()["events"] == len(got)
            assert log.append(1, C.KIND_SYSTEM, C.RESULT_INFO, C.REASON_BOOT) == last + 1
            assert t.reopen().last_seq == last + 1

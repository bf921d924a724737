"""Event-log code that runs only while a log is opened, checked or removed (see eventlog.py).

eventlog imports this module for the call and drops it again (unload.forget), so none of it stays
in the ESP32's heap. Opening: validate the geometry, adopt or (re)write the `meta` file, then
find the head (newest record) by binary search over the ring: ~log2(capacity) record reads.
"""
import os
import struct
from binascii import crc32

from micropython import const

from eventlog import EventLogError

_RS = const(32)  # eventlog.RECORD_SIZE
_MAX_CAPACITY = const(1000000)  # eventlog.MAX_CAPACITY
_MAX_SEGMENTS = const(10000)  # eventlog.MAX_SEGMENTS
_VERSION = const(1)  # eventlog.VERSION
_CRC_AT = const(28)
_S_IFDIR = const(0x4000)
_MAGIC = b"DCEL"
_META = "meta"  # eventlog.META_NAME


def _stat_mode(path):
    try:
        return os.stat(path)[0]
    except OSError:
        return None


def _parse_meta(b):
    """(capacity, per_file) from meta bytes, or a string saying what is wrong."""
    if len(b) != _RS:
        return "meta file is %d bytes, expected %d" % (len(b), _RS)
    magic, ver, rsize, per_file, capacity, _res, crc = struct.unpack("<4sBBHI16sI", b)
    if magic != _MAGIC:
        return "meta file has no event-log magic"
    if crc != crc32(memoryview(b)[:_CRC_AT]):
        return "meta file checksum mismatch"
    if ver > _VERSION:
        raise EventLogError("event log version %d is newer than this firmware (%d)" % (ver, _VERSION))
    if ver < 1 or rsize != _RS or not 1 <= capacity <= _MAX_CAPACITY or not 1 <= per_file <= capacity \
            or (capacity + per_file - 1) // per_file > _MAX_SEGMENTS:
        return "meta file has an invalid geometry"
    return capacity, per_file


def _geometry(path, capacity, per_file, strict, issues):
    """The log's (capacity, per_file): adopted from its meta file, or the asked ones, written."""
    mode = _stat_mode(path)
    if mode is None:
        os.mkdir(path)
    elif not mode & _S_IFDIR:
        raise EventLogError("%s exists and is not an event-log directory" % path)
    meta = path + "/" + _META
    try:
        with open(meta, "rb") as f:
            got = _parse_meta(f.read(_RS + 1))
    except OSError:
        got = None
        if mode is not None and os.listdir(path):
            got = "meta file missing"
    if isinstance(got, tuple):
        if got != (capacity, per_file):
            msg = "log has capacity %d, %d per file; asked for %d, %d: kept the log's" % (
                got[0], got[1], capacity, per_file)
            if strict:
                raise EventLogError(path + ": " + msg)
            issues.append(msg)
        return got
    if got is not None:  # damaged meta in an existing directory
        if strict:
            raise EventLogError(path + ": " + got)
        issues.append(got + ": rewritten with capacity %d, %d per file" % (capacity, per_file))
    b = bytearray(_RS)
    struct.pack_into("<4sBBHI", b, 0, _MAGIC, _VERSION, _RS, per_file, capacity)
    struct.pack_into("<I", b, _CRC_AT, crc32(memoryview(b)[:_CRC_AT]))
    tmp = meta + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b)
    try:
        os.rename(tmp, meta)  # replaces atomically on LittleFS and POSIX
    except OSError:  # filesystems whose rename won't replace (FAT)
        os.remove(meta)
        os.rename(tmp, meta)
    return capacity, per_file


def open_log(log, capacity, per_file, strict):
    """Check the arguments, set log.capacity/per_file from the meta file, find the head."""
    if not isinstance(capacity, int) or not 1 <= capacity <= _MAX_CAPACITY:
        raise EventLogError("capacity must be 1..%d, got %r" % (_MAX_CAPACITY, capacity))
    if not isinstance(per_file, int) or not 1 <= per_file <= 65535:
        raise EventLogError("per_file must be 1..65535, got %r" % (per_file,))
    per_file = min(per_file, capacity)
    if (capacity + per_file - 1) // per_file > _MAX_SEGMENTS:
        raise EventLogError("capacity / per_file must be at most %d files" % _MAX_SEGMENTS)
    log.capacity, log.per_file = _geometry(log.path, capacity, per_file, strict, log.issues)
    # Head: seqs increase around the ring with one step down at the head, so binary search on
    # "is this slot's record from the newest lap" (damaged slots are stepped over by _scan).
    n = log.capacity
    r, s = _scan(log, 0, n)  # first valid slot: normally slot 0
    if s > 0:
        lap = (s - 1) // n
        lo, hi = r, n  # slot lo is in the newest lap; slots >= hi are not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            j, sj = _scan(log, mid, hi)
            if sj > 0 and (sj - 1) // n == lap:
                lo, s = j, sj
            else:
                hi = mid
        log.last_seq = s
        log.first_seq = max(1, s - n + 1)


def _list_segments(log):
    present = bytearray((log.capacity + log.per_file - 1) // log.per_file)
    odd = []
    for name in os.listdir(log.path):
        if len(name) == 4 and name.isdigit() and int(name) < len(present):
            present[int(name)] = 1
        elif name != _META and name != _META + ".tmp":
            odd.append(name)
    if odd:
        log.issues.append("ignored %d unexpected files (%s)" % (len(odd), ", ".join(odd[:3])))
    return present


def _scan(log, slot, end):
    """(slot, seq) of the first valid record in [slot, end), or (end, 0) if none. Damaged slots
    are stepped over; the unwritten rest of a segment and absent segment files are jumped over
    without reading (in the first lap: everything past the newest record)."""
    pf = log.per_file
    buf = log._buf
    while slot < end:
        k = slot // pf
        off = (slot - k * pf) * _RS
        f = log._seg(k, False)
        if f is None or off >= log._fsize:
            # never written: go to the next present segment
            present = log._present
            if present is None:  # only in the first lap (or after damage): list once
                present = log._present = _list_segments(log)
            k += 1
            while k < len(present) and not present[k]:
                k += 1
            slot = k * pf
            continue
        log.reads += 1
        if off + _RS <= log._fsize:  # else: torn tail
            f.seek(off)
            if f.readinto(buf) == _RS:
                s = log._valid(buf, 0, slot, log._crcv)
                if s:
                    return slot, s
        slot += 1
    return end, 0


def remove(path):
    """Delete the log directory at `path` and everything in it (no error if it doesn't exist)."""
    path = path.rstrip("/") or "/"
    mode = _stat_mode(path)
    if mode is None:
        return
    if not mode & _S_IFDIR:
        raise EventLogError("%s is not an event-log directory" % path)
    for name in os.listdir(path):
        os.remove(path + "/" + name)
    os.rmdir(path)


def check(log, max_report):
    """See EventLog.check."""
    good = 0
    bad = []
    nbad = 0
    expect = log.first_seq
    since = expect - 1 if expect else 0
    while True:
        batch = log.read(since, 64)
        if not batch:
            break
        for ev in batch:
            while expect < ev[0]:
                nbad += 1
                if len(bad) < max_report:
                    bad.append(expect)
                expect += 1
            expect = ev[0] + 1
            good += 1
        since = batch[-1][0]
    while expect and expect <= log.last_seq:
        nbad += 1
        if len(bad) < max_report:
            bad.append(expect)
        expect += 1
    return {"events": good, "damaged": nbad, "damaged_seqs": bad, "issues": log.issues}

"""Streaming table writer: one pass, no seeking back (LittleFS rewrites a file from the first
changed block to its end, so patching a header at offset 0 would copy the whole table).

Order: head | schedules | records | leaf array | index 1..5 | fan-outs | tail (counts, section
table, CRC-32 of every byte before it). Used by the host builder and by device compaction.
"""
import struct
from array import array
from binascii import crc32

from micropython import const

from usertable import codec, fmt

_WBUF = const(1024)
FANOUT_RAM = const(4096)  # aim: all fan-out tables together fit in this many bytes
TARGET_MIN = const(512)  # never aim for buckets smaller than this (bytes)
_MAX_BUCKETS = const(16383)  # (h16 * B) must stay below 2**30


def bucket_target(total_index_bytes):
    """Average bytes per bucket for a table whose indexes hold `total_index_bytes`."""
    t = total_index_bytes * 2 // FANOUT_RAM
    return t if t > TARGET_MIN else TARGET_MIN


def buckets(n, entry, target):
    if n <= 0:
        return 0
    b = (n * entry + target - 1) // target
    return 1 if b < 1 else (_MAX_BUCKETS if b > _MAX_BUCKETS else b)


class Writer:
    def __init__(self, f, serial, fid, created=0, keycheck=None):
        self.f = f
        self.fid = fid
        self.crc = 0
        self.pos = 0
        self._buf = bytearray(_WBUF)
        self._n = 0
        self.users = 0
        self.maxrec = 0
        self.sched = (0, 0)
        self.rec_off = 0
        self.rec_len = 0
        self._last_uid = -1
        self._last_leaf = -fmt.PAGE
        self.leaf_uid = array("I")
        self.leaf_off = array("I")
        self.keycheck = keycheck
        self.ix = {}  # kind -> [off, n, buckets, key width, counts]
        self._cur = None
        self._prev = bytearray(16)
        self._put(codec.pack_head(serial, fid, created))

    # -- raw output ------------------------------------------------------------------------
    def _flush(self):
        if self._n:
            mv = memoryview(self._buf)[:self._n]
            self.f.write(mv)
            self.crc = crc32(mv, self.crc)
            self._n = 0

    def _put(self, data):
        n = len(data)
        if self._n + n > _WBUF:
            self._flush()
        if n > _WBUF:
            self.f.write(data)
            self.crc = crc32(data, self.crc)
        else:
            self._buf[self._n:self._n + n] = data
            self._n += n
        self.pos += n

    def schedules(self, data):
        self.sched = (self.pos, len(data))
        self._put(data)

    # -- records (ascending user id) -------------------------------------------------------
    def begin_records(self):
        self.rec_off = self.pos

    def rel(self):
        """Offset the next record will have inside the records section (its index ref)."""
        return self.pos - self.rec_off

    def record(self, src, off, n, uid):
        if uid <= self._last_uid:
            raise ValueError("records out of order: user %d after %d" % (uid, self._last_uid))
        rel = self.pos - self.rec_off
        if rel + n > fmt.MAX_REFS:
            raise ValueError("records section over 16 MiB")
        if rel - self._last_leaf >= fmt.PAGE:
            self.leaf_uid.append(uid)
            self.leaf_off.append(rel)
            self._last_leaf = rel
        self._last_uid = uid
        if n > self.maxrec:
            self.maxrec = n
        self.users += 1
        if off == 0 and n == len(src):
            self._put(src)
        else:
            self._put(memoryview(src)[off:off + n])

    def end_records(self):
        self.rec_len = self.pos - self.rec_off

    # -- indexes (entries in ascending key order) ------------------------------------------
    def begin_index(self, kind, n_est, target):
        kw = fmt.key_width(kind, self.fid)
        nb = buckets(n_est, kw + fmt.REF, target)
        self._cur = [self.pos, 0, nb, kw, array("H", bytes(2 * nb)), kind]
        self.ix[kind] = self._cur

    def entry(self, src, off, ref):
        """Append key src[off:off+kw] with record offset `ref`."""
        cur = self._cur
        kw = cur[3]
        prev = self._prev
        if cur[1]:
            i = 0
            d = 0
            while i < kw:
                d = src[off + i] - prev[i]
                if d:
                    break
                i += 1
            if d <= 0:
                raise ValueError("%s index: %s key" % (fmt.KIND_NAMES[cur[5]], "duplicate" if d == 0 else "unsorted"))
        for i in range(kw):
            prev[i] = src[off + i]
        if cur[2]:
            b = (((src[off] << 8) | src[off + 1]) * cur[2]) >> 16
            c = cur[4]
            if c[b] == 0xFFFF:
                raise ValueError("index bucket overflow")
            c[b] += 1
        cur[1] += 1
        if self._n + kw + fmt.REF > _WBUF:
            self._flush()
        buf = self._buf
        n = self._n
        for i in range(kw):
            buf[n + i] = src[off + i]
        n += kw
        buf[n] = ref & 0xFF
        buf[n + 1] = (ref >> 8) & 0xFF
        buf[n + 2] = ref >> 16
        self._n = n + 3
        self.pos += kw + fmt.REF

    def end_index(self):
        cur = self._cur
        if cur[1] > cur[2] * 0xFFFF:
            raise ValueError("index too large")
        self._cur = None

    # -- finish ----------------------------------------------------------------------------
    def finish(self):
        """Write leaf array, fan-outs and tail; returns (size, crc)."""
        leaf_off = self.pos
        one = bytearray(fmt.LEAF)
        for i in range(len(self.leaf_uid)):
            fmt.put_u32(one, 0, self.leaf_uid[i])
            fmt.put_u32(one, 4, self.leaf_off[i])
            self._put(one)
        parts = []
        for kind in fmt.KINDS:
            cur = self.ix.get(kind)
            if cur is None:
                parts += [0, 0, 0, fmt.key_width(kind, self.fid), 2, 0, 0]
                continue
            off, n, nb, kw, counts = cur[0], cur[1], cur[2], cur[3], cur[4]
            if n == 0:
                nb = 0
            item = 2
            maxb = 0
            if nb:
                q = n // nb
                r = n % nb
                start = 0
                for b in range(nb):
                    dev = start - (b * q + (b * r) // nb)
                    if dev > 32767 or dev < -32768:
                        item = 4
                    c = counts[b]
                    if c > maxb:
                        maxb = c
                    start += c
            fo_off = self.pos
            if nb:
                q = n // nb
                r = n % nb
                start = 0
                two = bytearray(item)
                for b in range(nb):
                    dev = start - (b * q + (b * r) // nb)
                    if item == 2:
                        struct.pack_into("<h", two, 0, dev)
                    else:
                        struct.pack_into("<i", two, 0, dev)
                    self._put(two)
                    start += counts[b]
            parts += [off, n, nb, kw, item, fo_off, maxb]
        size = self.pos + fmt.TAIL_SIZE
        flags = fmt.TAIL_FLAG_KEYCHECK if self.keycheck else 0
        tail = struct.pack(fmt.TAIL[:-1], fmt.TAIL_MAGIC, self.users, self.sched[0], self.sched[1],
                           self.rec_off, self.rec_len, leaf_off, len(self.leaf_uid), self.maxrec,
                           flags, self.keycheck or bytes(4), *(parts + [bytes(6), size]))
        self._put(tail)
        self._flush()
        crc = self.crc & 0xFFFFFFFF
        last = struct.pack("<I", crc)
        self.f.write(last)
        self.pos += 4
        return self.pos, crc

"""Reading a user table file without loading it: RAM holds the fan-out tables, a root of the id
leaf array and one read buffer; a lookup is one bucket read plus one record read. `Base` is an
open table file (lookups, the id index, sequential scans, the checksum), `Record` one user read
from it or from the journal (with its export forms). Shared by the device and the host tools.

`reads` / `bytes_read` count file reads so tests and benchmarks can check the <= 2 bound.
"""
import struct
from binascii import crc32
from array import array

from micropython import const

from usertable import fmt

JBUF = const(320)  # record buffer: also holds a whole journal entry (header + record + secrets)
ALWAYS = b"\x00"


def bsearch(buf, count, e, key, kw):
    """Index of the entry (width e, key kw bytes at its start) equal to key[0:kw] among
    `count` sorted entries at buf[0:], or -1. Allocation-free."""
    lo = 0
    hi = count
    while lo < hi:
        mid = (lo + hi) >> 1
        p = mid * e
        i = 0
        d = 0
        while i < kw:
            d = buf[p + i] - key[i]
            if d:
                break
            i += 1
        if i == kw:
            return mid
        if d < 0:
            lo = mid + 1
        else:
            hi = mid
    return -1


def lower_bound(buf, count, e, key, kw):
    """Index of the first of `count` sorted entries at buf whose key is >= key[0:kw]."""
    lo = 0
    hi = count
    while lo < hi:
        mid = (lo + hi) >> 1
        p = mid * e
        i = 0
        d = 0
        while i < kw:
            d = buf[p + i] - key[i]
            if d:
                break
            i += 1
        if d < 0:
            lo = mid + 1
        else:
            hi = mid
    return lo


def ref_at(buf, p):
    return buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16)


class Record:
    """One user as the engine sees it (docs/user-model.md). Reused by lookups: its content is
    valid until the next lookup into the same record (pass `rec=` to keep two at once).

    Scalars are decoded at lookup; name, phone, schedules, cards and plates are read from the
    record bytes when accessed (they allocate; scalars don't).
    """

    def __init__(self):
        self._buf = bytearray(JBUF)
        self._jwin = memoryview(self._buf)
        self._win = None
        self._wlen = -1
        self._fid = 1
        self.id = 0
        self.role = 0
        self.rsa = False
        self.relays = 0
        self.floors = 0
        self.web_relay = 0
        self.valid_from = 0
        self.valid_to = 0
        self.plate_from = 0
        self.plate_to = 0
        self.has_pin = False
        self.has_qr = False
        self.has_ble = False
        self.ncards = 0
        self.nplates = 0
        self.source = 0  # 0 base table, 1 journal
        self.ref = -1  # record offset in the base table (source 0)
        self._o = 0
        self._len = 0
        self._name = 0
        self._nlen = 0
        self._phone = 0
        self._plen = 0
        self._sched = 0
        self._nsched = 0
        self._scache = ALWAYS
        self._cards = 0
        self._plates = 0

    def _window(self, n):
        if self._wlen != n:
            self._win = memoryview(self._buf)[:n]
            self._wlen = n
        return self._win

    def read_from(self, f, pos, n, at, fid, source, ref):
        """Load the record at `at` of the `n` bytes (at most JBUF) read from `f` at `pos` (one
        read, no allocation); returns the bytes read. `source` 0: base table, 1: journal."""
        f.seek(pos)
        got = f.readinto(self._jwin if n >= JBUF else self._window(n))
        self._load(at, fid)
        self.source = source
        self.ref = ref
        return got

    def take(self, buf, at, n, fid, ref=-1):
        """Load the base-table record that is buf[at:at + n] (a copy, without allocating)."""
        rb = self._buf
        for j in range(n):
            rb[j] = buf[at + j]
        self._load(0, fid)
        self.source = 0
        self.ref = ref

    def _load(self, o, fid):
        b = self._buf
        x = b[o]
        if x & 0x80:
            n = ((x & 0x7F) << 8) | b[o + 1]
            i = o + 2
        else:
            n = x
            i = o + 1
        self._o = o
        self._len = n
        self._fid = fid
        self.id = fmt.u32(b, i)
        f0 = b[i + 4]
        f1 = b[i + 5]
        i += 6
        self.role = f0 & fmt.F_ADMIN
        self.rsa = (f0 & fmt.F_RSA) != 0
        self.has_pin = (f0 & fmt.F_PIN) != 0
        self.has_qr = (f0 & fmt.F_QR) != 0
        self.has_ble = (f0 & fmt.F_BLE) != 0
        if f0 & fmt.F_EXTRA:
            self.relays = b[i]
            self.floors = fmt.u32(b, i + 1)
            self.web_relay = b[i + 5]
            i += 6
        else:
            self.relays = 1
            self.floors = 0
            self.web_relay = 0
        if f0 & fmt.F_VALID:
            self.valid_from = fmt.u32(b, i)
            self.valid_to = fmt.u32(b, i + 4)
            i += 8
        else:
            self.valid_from = 0
            self.valid_to = 0
        if f0 & fmt.F_SCHED:
            self._nsched = b[i]
            self._sched = i + 1
            i += 1 + b[i]
        else:
            self._nsched = 0
        if f1 & fmt.F1_NAME:
            self._nlen = b[i]
            self._name = i + 1
            i += 1 + b[i]
        else:
            self._nlen = 0
        if f1 & fmt.F1_PHONE:
            self._plen = b[i]
            self._phone = i + 1
            i += 1 + b[i]
        else:
            self._plen = 0
        self.ncards = f1 & 7
        self.nplates = (f1 >> 3) & 7
        self._cards = i
        self._plates = i + self.ncards * fmt.CARD_WIDTH[fid]
        self.plate_from = 0
        self.plate_to = 0

    def _match_plate(self, key):
        """Set plate_from/plate_to from the plate whose packed form is key[2:10]."""
        b = self._buf
        i = self._plates
        for _ in range(self.nplates):
            same = True
            for j in range(fmt.PLATE_LEN - 1):
                if b[i + j] != key[2 + j]:
                    same = False
                    break
            last = b[i + fmt.PLATE_LEN - 1]
            if same and (last & 0xF0) == key[1 + fmt.PLATE_LEN]:
                if last & 1:
                    self.plate_from = fmt.u32(b, i + fmt.PLATE_LEN)
                    self.plate_to = fmt.u32(b, i + fmt.PLATE_LEN + 4)
                return True
            i += fmt.PLATE_LEN + (8 if last & 1 else 0)
        return False

    @property
    def name(self):
        return bytes(self._buf[self._name:self._name + self._nlen]).decode() if self._nlen else ""

    @property
    def phone(self):
        return bytes(self._buf[self._phone:self._phone + self._plen]).decode() if self._plen else ""

    @property
    def schedules(self):
        """Schedule ids (bytes). The default (Always only) is a shared constant, and the last
        custom set is cached per record, so users sharing a schedule set allocate nothing."""
        n = self._nsched
        if not n:
            return ALWAYS
        b = self._buf
        o = self._sched
        c = self._scache
        if len(c) == n:
            i = 0
            while i < n and c[i] == b[o + i]:
                i += 1
            if i == n:
                return c
        c = bytes(b[o:o + n])
        self._scache = c
        return c

    @property
    def cards(self):
        """Card codes (list of text; allocates)."""
        w = fmt.CARD_WIDTH[self._fid]
        return [fmt.unpack_card(self._buf, self._cards + k * w, self._fid) for k in range(self.ncards)]

    @property
    def plates(self):
        """[(plate, from, to)] with 0 = unbounded (allocates)."""
        out = []
        b = self._buf
        i = self._plates
        for _ in range(self.nplates):
            p = fmt.unpack_plate(b, i)
            if b[i + fmt.PLATE_LEN - 1] & 1:
                out.append((p, fmt.u32(b, i + fmt.PLATE_LEN), fmt.u32(b, i + fmt.PLATE_LEN + 4)))
                i += fmt.PLATE_LEN + 8
            else:
                out.append((p, 0, 0))
                i += fmt.PLATE_LEN
        return out

    def raw(self):
        """The record's bytes (copy)."""
        return bytes(self._buf[self._o:self._o + self._len])

    def to_dict(self):
        """Export form (no secrets): document fields with unix times, plus has_pin/qr/ble
        (sitetime.local gives it the site's local times)."""
        pl = []
        for p, t0, t1 in self.plates:
            d = {"plate": p}
            if t0:
                d["from"] = t0
            if t1:
                d["to"] = t1
            pl.append(d)
        return {
            "id": self.id, "name": self.name, "role": "admin" if self.role else "user",
            "phone": self.phone, "cards": self.cards, "plates": pl,
            "relays": [i + 1 for i in range(8) if self.relays >> i & 1],
            "floors": [i + 1 for i in range(32) if self.floors >> i & 1],
            "web_relay": self.web_relay, "relay_schedule_activation": self.rsa,
            "valid_from": self.valid_from, "valid_to": self.valid_to,
            "schedules": list(self.schedules),
            "has_pin": self.has_pin, "has_qr": self.has_qr, "has_ble": self.has_ble,
        }

    def json(self, tz, sep=""):
        """`sep` + the export form as JSON text with the site's local times (to_dict +
        sitetime.local), as a tuple of pieces of a few dozen bytes each, written from the record
        without that dict and its lists, and without one text of the whole user (in a fragmented
        heap small pieces are found where a 300-byte block is not). All of it is read from the
        record at once (a shared Record may hold another user by the time the pieces are sent)."""
        import json

        pl = ""
        if self.nplates:
            out = []
            for p, t0, t1 in self.plates:
                s = '{"plate": ' + json.dumps(p)
                if t0:
                    s += ', "from": ' + _when(t0, tz)
                if t1:
                    s += ', "to": ' + _when(t1, tz)
                out.append(s + "}")
            pl = ", ".join(out)
        return ('%s{"id": %d, "name": ' % (sep, self.id), json.dumps(self.name),
                ', "role": "%s", "phone": ' % ("admin" if self.role else "user"), json.dumps(self.phone),
                ', "cards": ', json.dumps(self.cards), ', "plates": [', pl,
                '], "relays": ' + _bits(self.relays, 8), ', "floors": ' + _bits(self.floors, 32),
                ', "web_relay": %d, "relay_schedule_activation": %s' % (self.web_relay, _tf(self.rsa)),
                ', "valid_from": ' + _when(self.valid_from, tz), ', "valid_to": ' + _when(self.valid_to, tz),
                ', "schedules": ' + json.dumps(list(self.schedules)),
                ', "has_pin": %s, "has_qr": %s, "has_ble": %s}' % (_tf(self.has_pin), _tf(self.has_qr),
                                                                   _tf(self.has_ble)))


def _when(t, tz):
    """A unix time as JSON: the site's local time text, null for 0 (unbounded)."""
    if not t:
        return "null"
    from usertable import sitetime

    return '"%s"' % sitetime.unix_to_local(t, tz)


def _bits(x, n):
    """JSON list of the numbers (from 1) of the bits set in x (relays, floors)."""
    return "[" + ", ".join(str(i + 1) for i in range(n) if x >> i & 1) + "]"


def _tf(v):
    return "true" if v else "false"


class Base:
    """An open table file. Raises ValueError (with the reason) for anything not a valid table."""

    def __init__(self, path, buf=None, fit=True):
        """`buf`: a lookup buffer to use if it is large enough (another Base's, handed over: a
        table swap then needs no second ~2 KB block, which a busy heap may not have); with `fit`
        one of the right size is made instead if `buf` is much larger and the heap has it."""
        self.path = path
        self.f = open(path, "rb")
        try:
            self._open(buf, fit)
        except Exception:
            self.f.close()
            raise

    def _open(self, buf, fit):
        f = self.f
        size = f.seek(0, 2)
        if size < fmt.HEAD_SIZE + fmt.TAIL_SIZE:
            raise ValueError("truncated (%d bytes)" % size)
        f.seek(0)
        head = f.read(fmt.HEAD_SIZE)
        self.version, self.fid, self.serial, self.created = fmt.unpack_head(head)
        f.seek(size - fmt.TAIL_SIZE)
        t = struct.unpack(fmt.TAIL, f.read(fmt.TAIL_SIZE))
        if t[0] != fmt.TAIL_MAGIC or t[-2] != size:
            raise ValueError("tail damaged or size mismatch (truncated?)")
        self.size = size
        self.crc = t[-1]
        self.users = t[1]
        self.sched_off = t[2]
        self.sched_len = t[3]
        self.rec_off = t[4]
        self.rec_len = t[5]
        self.leaf_off = t[6]
        self.leaf_n = t[7]
        self.maxrec = t[8]
        self.keycheck = t[10] if t[9] & fmt.TAIL_FLAG_KEYCHECK else None
        self.reads = 0
        self.bytes_read = 0
        nk = fmt.NKINDS
        self.ix_off = [0] * nk
        self.ix_n = [0] * nk
        self.ix_b = [0] * nk
        self.ix_e = [0] * nk
        self.ix_q = [0] * nk
        self.ix_r = [0] * nk
        self.ix_dev = [None] * nk
        self.ix_maxb = [0] * nk
        span = fmt.PAGE + self.maxrec + 8  # a leaf span is < PAGE + one record
        if span > self.rec_len + 8:
            span = self.rec_len + 8
        bufsize = span
        ram = 0
        for k in fmt.KINDS:
            p = 11 + (k - 1) * 7
            off, n, nb, kw, item, fo_off, maxb = t[p:p + 7]
            if kw != fmt.key_width(k, self.fid) or (n and not nb):
                raise ValueError("bad %s index geometry" % fmt.KIND_NAMES[k])
            self.ix_off[k] = off
            self.ix_n[k] = n
            self.ix_b[k] = nb
            self.ix_e[k] = kw + fmt.REF
            self.ix_maxb[k] = maxb
            if nb:
                self.ix_q[k] = n // nb
                self.ix_r[k] = n % nb
                dev = array("h" if item == 2 else "i", bytes(item * nb))
                f.seek(fo_off)
                f.readinto(dev)
                self.ix_dev[k] = dev
                ram += item * nb
            need = maxb * (kw + fmt.REF)
            if need > bufsize:
                bufsize = need
        nroot = (self.leaf_n + fmt.LEAF_CHUNK - 1) // fmt.LEAF_CHUNK
        leafwin = min(self.leaf_n, fmt.LEAF_CHUNK) * fmt.LEAF
        if leafwin > bufsize:
            bufsize = leafwin
        self.root = array("I", bytes(4 * nroot))
        four = bytearray(4)
        for c in range(nroot):
            f.seek(self.leaf_off + c * fmt.LEAF_CHUNK * fmt.LEAF)
            f.readinto(four)
            self.root[c] = fmt.u32(four, 0)
        if buf is None or len(buf) < bufsize:
            buf = bytearray(bufsize)
        elif fit and len(buf) > bufsize + (bufsize >> 2):  # (a smaller table after a large one)
            try:
                buf = bytearray(bufsize)
            except MemoryError:
                pass
        self.buf = buf
        mv = memoryview(buf)
        self.ix_win = [None] * nk
        for k in fmt.KINDS:
            if self.ix_n[k]:
                self.ix_win[k] = mv[:self.ix_maxb[k] * self.ix_e[k]]
        self.span_win = mv[:span]
        self.leaf_win = mv[:leafwin]
        self.ram = ram + 4 * nroot + bufsize  # resident bytes (fan-outs, root, buffer)

    def close(self):
        if self.f is not None:
            self.f.close()
            self.f = None

    def verify(self):
        """Full checksum check (reads the whole file); raises ValueError if it fails."""
        for _ in self.verify_steps():
            pass

    def verify_steps(self):
        """verify() in steps of 1 KiB (a generator; a small buffer because a push arrives while
        the heap is busy)."""
        f = self.f
        f.seek(0)
        crc = 0
        left = self.size - 4
        buf = bytearray(1024)
        mv = memoryview(buf)
        while left > 0:
            n = f.readinto(buf) if left >= len(buf) else f.readinto(mv[:left])
            if not n:
                raise ValueError("short read")
            crc = crc32(mv[:n], crc)
            left -= n
            yield
        if crc & 0xFFFFFFFF != self.crc:
            raise ValueError("checksum mismatch")

    def schedules_bytes(self):
        self.f.seek(self.sched_off)
        return self.f.read(self.sched_len)

    # -- credential lookup -----------------------------------------------------------------
    def _bounds(self, k, b):
        nb = self.ix_b[k]
        if b >= nb:
            return self.ix_n[k]
        return b * self.ix_q[k] + (b * self.ix_r[k]) // nb + self.ix_dev[k][b]

    def find(self, k, key):
        """Record offset for key[0:kw] in index k, or -1. At most one read (none if the bucket
        is empty)."""
        n = self.ix_n[k]
        if not n:
            return -1
        b = (((key[0] << 8) | key[1]) * self.ix_b[k]) >> 16
        s = self._bounds(k, b)
        cnt = self._bounds(k, b + 1) - s
        if cnt <= 0:
            return -1
        e = self.ix_e[k]
        f = self.f
        f.seek(self.ix_off[k] + s * e)
        got = f.readinto(self.ix_win[k])
        self.reads += 1
        self.bytes_read += got
        kw = e - fmt.REF
        i = bsearch(self.buf, cnt, e, key, kw)
        if i < 0:
            return -1
        return ref_at(self.buf, i * e + kw)

    def read_record(self, ref, rec):
        """Load the record at `ref` into rec (one read)."""
        self.bytes_read += rec.read_from(self.f, self.rec_off + ref, self.maxrec, 0, self.fid, 0, ref)
        self.reads += 1

    # -- by user id: root (RAM) -> leaf chunk (read 1) -> span of records (read 2) -----------
    def _span(self, uid):
        """Read the span of records where `uid` would be into self.buf (self._end: bytes of it
        that are records); returns the span's record offset, or -1 if the table is empty or
        uid is below its first id. No allocation. Shared by locate and first_after."""
        root = self.root
        if not self.leaf_n or uid < root[0]:
            return -1
        lo = 0
        hi = len(root)
        while hi - lo > 1:
            mid = (lo + hi) >> 1
            if root[mid] <= uid:
                lo = mid
            else:
                hi = mid
        f = self.f
        f.seek(self.leaf_off + lo * fmt.LEAF_CHUNK * fmt.LEAF)
        self.bytes_read += f.readinto(self.leaf_win)
        self.reads += 1
        buf = self.buf
        cnt = self.leaf_n - lo * fmt.LEAF_CHUNK
        if cnt > fmt.LEAF_CHUNK:
            cnt = fmt.LEAF_CHUNK
        a = 0
        b = cnt
        while b - a > 1:
            mid = (a + b) >> 1
            if fmt.u32(buf, mid * fmt.LEAF) <= uid:
                a = mid
            else:
                b = mid
        pos = fmt.u32(buf, a * fmt.LEAF + 4)
        # the next leaf entry (id > uid) is less than a span away: the record is in this span
        f.seek(self.rec_off + pos)
        got = f.readinto(self.span_win)
        self.reads += 1
        self.bytes_read += got
        end = self.rec_len - pos
        self._end = got if got < end else end
        return pos

    def _skip(self, key, past):
        """Index in the span _span read of its first record with id >= key (> key if `past`),
        self._u that record's id; if the span has none, where its records end (a record cut
        off by the span window starts there) and self._u = -1."""
        buf = self.buf
        end = self._end
        i = 0
        while i + 6 <= end:
            x = buf[i]
            if x & 0x80:
                n = ((x & 0x7F) << 8) | buf[i + 1]
                u = fmt.u32(buf, i + 2)
            else:
                n = x
                u = fmt.u32(buf, i + 1)
            if u > key or (u == key and not past):
                self._u = u
                return i
            i += n
        self._u = -1
        return i

    def locate(self, uid):
        """Record offset of `uid`, or -1 (no allocation: by_id is a lookup too). Two reads; the
        span stays in self.buf with the record at self._at."""
        pos = self._span(uid)
        if pos < 0:
            return -1
        i = self._skip(uid, False)
        if self._u != uid:
            return -1
        self._at = i
        return pos + i

    def by_id(self, uid, rec):
        ref = self.locate(uid)
        if ref < 0:
            return False
        b = self.buf
        i = self._at
        x = b[i]
        rec.take(b, i, ((x & 0x7F) << 8) | b[i + 1] if x & 0x80 else x, self.fid, ref)
        return True

    def first_after(self, after):
        """Offset of the first record with id > after (rec_len if none): the start of a cursor
        page. Two reads into self.buf (the lookup buffer: no allocation)."""
        pos = self._span(after)
        if pos < 0:
            return 0
        return pos + self._skip(after, True)

    # -- sequential access (export, compaction, key recovery) ---------------------------------
    def scan(self, buf=None):
        """Yield (ref, buf, at, length, uid) for every record in id order; the record's bytes
        are buf[at:at+length] until the next step."""
        if buf is None:
            buf = bytearray(max(1024, self.maxrec + 8))
        f = self.f
        pos = 0
        total = self.rec_len
        while pos < total:
            f.seek(self.rec_off + pos)
            got = f.readinto(buf)
            if got > total - pos:
                got = total - pos
            i = 0
            while i + 1 < got:
                x = buf[i]
                if x & 0x80:
                    n = ((x & 0x7F) << 8) | buf[i + 1]
                    u = i + 2
                else:
                    n = x
                    u = i + 1
                if n < 7:
                    raise ValueError("bad record at %d" % (pos + i))
                if i + n > got:
                    break
                yield pos + i, buf, i, n, fmt.u32(buf, u)
                i += n
            if i == 0:
                raise ValueError("record at %d larger than buffer" % pos)
            pos += i

    def entries(self, k, buf=None):
        """Yield (buf, at) for every entry of index k in key order (chunked reads)."""
        n = self.ix_n[k]
        if not n:
            return
        e = self.ix_e[k]
        if buf is None:
            buf = bytearray(e * 64)
        per = len(buf) // e
        done = 0
        f = self.f
        while done < n:
            cnt = n - done
            if cnt > per:
                cnt = per
            f.seek(self.ix_off[k] + done * e)
            f.readinto(buf)
            for i in range(cnt):
                yield buf, i * e
            done += cnt

    def key_of(self, k, ref, out):
        """Copy into `out` the key of the index-k entry pointing at record `ref` (full scan:
        edits only, to keep an existing PIN/QR/BLE whose value is not known)."""
        kw = self.ix_e[k] - fmt.REF
        for buf, p in self.entries(k, bytearray(self.ix_e[k] * 128)):
            if ref_at(buf, p + kw) == ref:
                for i in range(kw):
                    out[i] = buf[p + i]
                return True
        return False

"""Append-only journal of single-user edits (users.jnl), consulted before the base table.

Head (20 bytes, "<4sBBHIII"): magic b"DCUJ", version 1, 0, 0, serial and CRC of the base table
it applies to, CRC-32 of the head. A journal whose identity differs from the live table is
stale (the table was replaced or compacted after it) and is ignored, then reset on the next
write. Entries ("<HBBI" + payload + CRC-32): total length, op (1 put, 2 delete), secret flags
(1 PIN, 2 QR, 4 BLE), user id; a put carries the encoded record then the 8-byte keyed hashes
of the flagged secrets. Reading stops at the first entry whose length or CRC is wrong (a torn
append); the next write first rewrites the good prefix atomically. The latest entry for a user
wins. RAM: sorted lists of live user ids/offsets and, per credential kind, a sorted bytearray
of (key, entry offset), updated in place on each append -- bounded by the compaction threshold.
The UserTable owns its Journal: lookups, edits and compaction read it through these methods.
"""
import os
import struct
from binascii import crc32

from micropython import const

from usertable import fmt
from usertable.reader import JBUF, bsearch, lower_bound, ref_at

MAGIC = b"DCUJ"
VERSION = const(1)
HEAD = "<4sBBHIII"
HEAD_SIZE = const(20)
EH = const(8)  # entry head: "<HBBI"
OP_PUT = const(1)
OP_DEL = const(2)
SECRET_KINDS = (fmt.K_PIN, fmt.K_QR, fmt.K_BLE)  # flag bit i <-> SECRET_KINDS[i]


def replace_file(tmp, path):
    try:
        os.rename(tmp, path)
    except OSError:  # a VFS that refuses to rename over an existing file
        os.remove(path)
        os.rename(tmp, path)


def remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


class Journal:
    def __init__(self, path, serial, crc, fid):
        self.path = path
        self.serial = serial
        self.crc = crc
        self.fid = fid
        self.reads = 0
        self.bytes_read = 0
        self.f = None
        self._scratch = bytearray(16)  # one key + entry offset being inserted
        self._load()

    def close(self):
        if self.f is not None:
            self.f.close()
            self.f = None

    def _head(self):
        h = struct.pack(HEAD[:-1], MAGIC, VERSION, 0, 0, self.serial, self.crc)
        return h + struct.pack("<I", crc32(h) & 0xFFFFFFFF)

    def _load(self):
        """(Re)read the file and rebuild the RAM index."""
        self.close()
        self.total = 0  # entries in the file, superseded ones included
        self.size = 0
        self.valid = False  # head present and for the live table
        self.torn = False  # bytes after the last good entry
        self.n = 0
        self.uids = []  # live users, ascending (a list: small ints cost nothing per element)
        self.offs = []  # file offset of each live user's latest entry
        self.ops = bytearray()
        self.kb = [None] * fmt.NKINDS  # per kind: sorted (key + 3-byte entry offset) entries
        self.kn = [0] * fmt.NKINDS
        for k in fmt.KINDS:
            self.kb[k] = bytearray()
        try:
            f = open(self.path, "rb")
        except OSError:
            f = None
        if f is not None:
            try:
                self._scan(f)
            finally:
                f.close()
        if self.n:
            self.f = open(self.path, "rb")

    def _scan(self, f):
        head = f.read(HEAD_SIZE)
        if len(head) != HEAD_SIZE or head != self._head():
            return
        self.valid = True
        buf = bytearray(JBUF)
        off = HEAD_SIZE
        while True:
            f.seek(off)
            got = f.readinto(buf)
            if not got:
                break
            n = self._entry_len(buf, got)
            if not n:
                self.torn = True
                break
            self._apply(buf, off)
            self.total += 1
            off += n
        self.size = off

    def _entry_len(self, buf, got):
        """Length of the well-formed entry at buf[0:got], or 0 (torn or damaged)."""
        if got < EH + 4:
            return 0
        n = buf[0] | (buf[1] << 8)
        if n < EH + 4 or n > got:
            return 0
        if crc32(memoryview(buf)[:n - 4]) & 0xFFFFFFFF != fmt.u32(buf, n - 4):
            return 0
        op = buf[2]
        if op == OP_DEL:
            return n if n == EH + 4 else 0
        if op != OP_PUT:
            return 0
        sfl = buf[3]
        rl = fmt.rec_len(buf, EH)[0]
        if rl < 7 or fmt.u32(buf, EH + (2 if buf[EH] & 0x80 else 1)) != fmt.u32(buf, 4):
            return 0
        extra = ((sfl & 1) + (sfl >> 1 & 1) + (sfl >> 2 & 1)) * fmt.HASH_LEN
        return n if EH + rl + extra + 4 == n else 0

    def _apply(self, buf, off):
        """Make the entry in buf (at file offset `off`) its user's live one, in RAM."""
        op = buf[2]
        uid = fmt.u32(buf, 4)
        u = self.uids
        lo = 0
        hi = self.n
        while lo < hi:
            mid = (lo + hi) >> 1
            if u[mid] < uid:
                lo = mid + 1
            else:
                hi = mid
        if lo < self.n and u[lo] == uid:
            if self.ops[lo] == OP_PUT:
                self._drop(self.offs[lo])
            self.offs[lo] = off
            self.ops[lo] = op
        else:
            u.insert(lo, uid)
            self.offs.insert(lo, off)
            self.ops[lo:lo] = bytes((op,))
            self.n += 1
        if op == OP_PUT:
            self._add(buf, off)

    def _add(self, buf, off):
        """Insert the credential keys of the put entry in buf into the sorted RAM arrays."""
        s = self._scratch
        i = fmt.cards_at(buf, EH)
        f1 = buf[EH + (2 if buf[EH] & 0x80 else 1) + 5]
        w = fmt.CARD_WIDTH[self.fid]
        for _ in range(f1 & 7):
            for j in range(w):
                s[2 + j] = buf[i + j]
            fmt.prefix(s, w)
            self._insert(fmt.K_CARD, 2 + w, off)
            i += w
        for _ in range((f1 >> 3) & 7):
            for j in range(fmt.PLATE_LEN):
                s[2 + j] = buf[i + j]
            s[1 + fmt.PLATE_LEN] &= 0xF0
            fmt.prefix(s, fmt.PLATE_LEN)
            self._insert(fmt.K_PLATE, 2 + fmt.PLATE_LEN, off)
            i += fmt.PLATE_LEN + (8 if buf[i + fmt.PLATE_LEN - 1] & 1 else 0)
        p = EH + fmt.rec_len(buf, EH)[0]
        sfl = buf[3]
        for b in range(3):
            if sfl >> b & 1:
                for j in range(fmt.HASH_LEN):
                    s[j] = buf[p + j]
                self._insert(SECRET_KINDS[b], fmt.HASH_LEN, off)
                p += fmt.HASH_LEN

    def _insert(self, k, kw, off):
        s = self._scratch
        s[kw] = off & 0xFF
        s[kw + 1] = (off >> 8) & 0xFF
        s[kw + 2] = off >> 16
        e = kw + 3
        kb = self.kb[k]
        pos = lower_bound(kb, self.kn[k], e, s, kw) * e
        kb[pos:pos] = s[:e]
        self.kn[k] += 1

    def _drop(self, off):
        """Remove the keys of the entry at `off` (its user got a newer entry)."""
        for k in fmt.KINDS:
            kb = self.kb[k]
            e = fmt.key_width(k, self.fid) + 3
            i = 0
            while i < self.kn[k]:
                p = i * e
                if ref_at(kb, p + e - 3) == off:
                    kb[p:p + e] = b""
                    self.kn[k] -= 1
                else:
                    i += 1

    # -- lookups (RAM index; a hit costs one read) -----------------------------------------
    def find(self, k, key, kw):
        """Journal offset of the live entry holding credential key[0:kw] of kind k, or -1."""
        cnt = self.kn[k]
        if not cnt:
            return -1
        kb = self.kb[k]
        i = bsearch(kb, cnt, kw + 3, key, kw)
        if i < 0:
            return -1
        return ref_at(kb, i * (kw + 3) + kw)

    def uid_index(self, uid):
        """Position of `uid` among the live entries, or -1."""
        u = self.uids
        lo = 0
        hi = self.n
        while lo < hi:
            mid = (lo + hi) >> 1
            x = u[mid]
            if x < uid:
                lo = mid + 1
            elif x > uid:
                hi = mid
            else:
                return mid
        return -1

    def read(self, off, rec):
        """Load the put entry at `off` into rec (one read)."""
        self.bytes_read += rec.read_from(self.f, off, JBUF, EH, self.fid, 1, off)
        self.reads += 1

    def entry(self, off, buf):
        """Read the entry at `off` into buf (JBUF bytes); returns (record length, secret flags):
        the record is buf[EH:EH + length], the flagged secrets' keys follow it."""
        f = self.f
        f.seek(off)
        f.readinto(buf)
        return fmt.rec_len(buf, EH)[0], buf[3]

    def secret(self, off, kind, out):
        """Copy into `out` the keyed hash of secret `kind` (K_PIN, K_QR, K_BLE) of the put entry
        at `off`; False if it has none."""
        buf = bytearray(JBUF)
        n, sfl = self.entry(off, buf)
        p = EH + n
        for i in range(3):
            if sfl >> i & 1:
                if SECRET_KINDS[i] == kind:
                    out[0:fmt.HASH_LEN] = buf[p:p + fmt.HASH_LEN]
                    return True
                p += fmt.HASH_LEN
        return False

    # -- writing ---------------------------------------------------------------------------
    def _rewrite(self):
        """Fresh head for the live table, keeping the good entries of a torn journal; atomic."""
        tmp = self.path + ".tmp"
        keep = self.valid and self.torn
        self.close()
        with open(tmp, "wb") as out:
            out.write(self._head())
            if keep:
                with open(self.path, "rb") as f:
                    f.seek(HEAD_SIZE)
                    left = self.size - HEAD_SIZE
                    while left > 0:
                        chunk = f.read(512 if left > 512 else left)
                        if not chunk:
                            break
                        out.write(chunk)
                        left -= len(chunk)
        replace_file(tmp, self.path)
        if not keep:
            self._load()  # a stale journal's entries are gone: start empty
        self.valid = True
        self.torn = False

    def append(self, op, uid, payload=b"", sflags=0):
        """Append one entry in a single write (after resetting a stale or torn journal)."""
        if not self.valid or self.torn:
            self._rewrite()
        n = EH + len(payload) + 4
        if n > JBUF:
            raise ValueError("journal entry too large")
        e = struct.pack("<HBBI", n, op, sflags, uid) + payload
        e += struct.pack("<I", crc32(e) & 0xFFFFFFFF)
        self.close()
        with open(self.path, "ab") as f:
            f.write(e)
        self._apply(e, self.size)  # RAM index updated in place: no re-read of the journal
        self.total += 1
        self.size += n
        self.f = open(self.path, "rb")

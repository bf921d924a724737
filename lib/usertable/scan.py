"""Sequential reading of a table file (export, compaction, recovering an existing PIN/QR/BLE
key) and raw reading of a journal entry: cold code, loaded with the operation that needs it.
"""
from usertable import fmt
from usertable.journal import EH
from usertable.reader import ref_at


def scan(b, buf=None):
    """Yield (ref, buf, at, length, uid) for every record in id order; the record's bytes are
    buf[at:at+length] until the next step."""
    if buf is None:
        buf = bytearray(max(1024, b.maxrec + 8))
    f = b.f
    pos = 0
    total = b.rec_len
    while pos < total:
        f.seek(b.rec_off + pos)
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


def entries(b, k, buf=None):
    """Yield (buf, at) for every entry of index k in key order (chunked reads)."""
    n = b.ix_n[k]
    if not n:
        return
    e = b.ix_e[k]
    if buf is None:
        buf = bytearray(e * 64)
    per = len(buf) // e
    done = 0
    f = b.f
    while done < n:
        cnt = n - done
        if cnt > per:
            cnt = per
        f.seek(b.ix_off[k] + done * e)
        f.readinto(buf)
        for i in range(cnt):
            yield buf, i * e
        done += cnt


def key_of(b, k, ref, out):
    """Copy into `out` the key of the index-k entry pointing at record `ref` (full scan: edits
    only, to keep an existing PIN/QR/BLE whose value is not known)."""
    kw = b.ix_e[k] - fmt.REF
    for buf, p in entries(b, k, bytearray(b.ix_e[k] * 128)):
        if ref_at(buf, p + kw) == ref:
            for i in range(kw):
                out[i] = buf[p + i]
            return True
    return False


def journal_entry(j, off, buf):
    """Read the journal entry at `off` into buf; returns (record length, secret flags)."""
    f = j.f
    f.seek(off)
    f.readinto(buf)
    n, _ = fmt.rec_len(buf, EH)
    return n, buf[3]

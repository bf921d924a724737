"""Compaction of a UserTable: merge the journal into a new table file (streaming), verify it,
swap it in. Cold code (UserTable.compact / compact_async), loaded with the writer and the
sequential readers only for that.
"""
from array import array

from usertable import fmt
from usertable.journal import EH, OP_PUT, remove
from usertable.reader import JBUF, Base, ref_at, verify_steps
from usertable.scan import entries, journal_entry, scan


def _cmp(a, pa, b, pb, n):
    for i in range(n):
        d = a[pa + i] - b[pb + i]
        if d:
            return d
    return 0


def _sorted_has(arr, v):
    lo = 0
    hi = len(arr)
    while lo < hi:
        mid = (lo + hi) >> 1
        x = arr[mid]
        if x < v:
            lo = mid + 1
        elif x > v:
            hi = mid
        else:
            return True
    return False


def _delta(bp_off, bp_d, r):
    """Cumulative size change of the records before-or-at old offset r."""
    lo = 0
    hi = len(bp_off)
    while lo < hi:
        mid = (lo + hi) >> 1
        if bp_off[mid] <= r:
            lo = mid + 1
        else:
            hi = mid
    return bp_d[lo - 1] if lo else 0


def compact(t, created=0):
    """Merge the journal into a new table (streaming: RAM bounded by the journal size, not
    the table), verify it, swap it in atomically and reset the journal."""
    for _ in compact_steps(t, created):
        pass


def compact_steps(t, created=0):
    """compact() as a generator that yields every few hundred records/entries/KiB, so an
    asyncio task can let the loop run in between (UserTable.compact_async). The table stays
    readable throughout; the swap at the end is not interrupted."""
    b = t._base
    j = t._j
    tmp = t.path + ".tmp"
    ops = [(j.uids[i], j.ops[i], j.offs[i]) for i in range(j.n)]  # ascending ids
    if t._keyed is not None and t.secrets_ok:
        keycheck = fmt.key_check(t._keyed)
    else:
        keycheck = b.keycheck
    serial = (b.serial + 1) & 0xFFFFFFFF or 1
    t._busy = True
    try:
        try:
            with open(tmp, "wb") as f:
                for _ in _merge(t, f, b, j, ops, serial, keycheck, created):
                    yield
            nb = Base(tmp)
            try:
                for _ in verify_steps(nb):
                    yield
            finally:
                nb.close()
        except Exception:
            remove(tmp)
            raise
        t._swap(tmp)
    finally:
        t._busy = False


def _merge(t, f, b, j, ops, serial, keycheck, created):
    from usertable.writer import Writer, bucket_target

    w = Writer(f, serial, t.fid, created, keycheck)
    w.schedules(b.schedules_bytes())
    w.begin_records()
    jbuf = bytearray(JBUF)
    newref = {}  # journal offset -> record offset in the new table
    bp_off = array("I")
    bp_d = array("i")
    dead = array("I")
    delta = 0
    k = 0
    n = len(ops)
    steps = 0
    for ref, buf, at, ln, uid in scan(b):
        while k < n and ops[k][0] <= uid:
            ouid, op, joff = ops[k]
            if ouid == uid:
                dead.append(ref)
                delta -= ln
            if op == OP_PUT:
                rl = journal_entry(j, joff, jbuf)[0]
                newref[joff] = w.rel()
                w.record(jbuf, EH, rl, ouid)
                delta += rl
            bp_off.append(ref)
            bp_d.append(delta)
            k += 1
        if not dead or dead[-1] != ref:
            w.record(buf, at, ln, uid)
        steps += 1
        if not steps & 127:
            yield
    while k < n:
        ouid, op, joff = ops[k]
        if op == OP_PUT:
            rl = journal_entry(j, joff, jbuf)[0]
            newref[joff] = w.rel()
            w.record(jbuf, EH, rl, ouid)
        k += 1
    w.end_records()
    total = 0
    for kind in fmt.KINDS:
        total += (b.ix_n[kind] + j.kn[kind]) * (fmt.key_width(kind, t.fid) + fmt.REF)
    target = bucket_target(total)
    chunk = bytearray(1024)
    for kind in fmt.KINDS:
        kw = fmt.key_width(kind, t.fid)
        e = kw + fmt.REF
        w.begin_index(kind, b.ix_n[kind] + j.kn[kind], target)
        jk = j.kb[kind]
        jn = j.kn[kind]
        ji = 0
        for buf, p in entries(b, kind, chunk):
            r = ref_at(buf, p + kw)
            if dead and _sorted_has(dead, r):
                continue
            while ji < jn and _cmp(jk, ji * e, buf, p, kw) < 0:
                w.entry(jk, ji * e, newref[ref_at(jk, ji * e + kw)])
                ji += 1
            w.entry(buf, p, r + _delta(bp_off, bp_d, r))
            steps += 1
            if not steps & 511:
                yield
        while ji < jn:
            w.entry(jk, ji * e, newref[ref_at(jk, ji * e + kw)])
            ji += 1
        w.end_index()
    w.finish()

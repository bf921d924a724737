"""Edits, compaction, install and export of a UserTable: cold code, imported when needed and
dropped again (table.UserTable._cold), so a device that mostly looks users up doesn't keep it
in RAM. Functions take the table as `t`.
"""
import struct
from array import array
from binascii import crc32


import cardfmt
from configerror import ConfigError
from usertable import codec, fmt
from usertable.journal import EH, HEAD_SIZE, OP_DEL, OP_PUT, SECRET_KINDS, remove, replace_file
from usertable.reader import JBUF, Base, Record, ref_at, verify_steps

_SECRET_FIELDS = ("pin", "qr", "ble")  # order of SECRET_KINDS


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


def stats(t):
    b = t._base
    out = {"users": t._count, "serial": b.serial, "card_format": t.card_format,
           "size": b.size, "records_bytes": b.rec_len, "max_record": b.maxrec,
           "journal_entries": t._j.total, "journal_bytes": t._j.size,
           "ram": b.ram, "secrets": t.secrets_ok}
    for k in fmt.KINDS:
        out[fmt.KIND_NAMES[k] + "_entries"] = b.ix_n[k]
        out[fmt.KIND_NAMES[k] + "_buckets"] = b.ix_b[k]
    return out


# -- export ----------------------------------------------------------------------------


def iter_users(t):
    """Yield every user as a dict (no secrets: has_pin/has_qr/has_ble) in id order."""
    j = t._j
    rec = Record()
    k = 0
    n = j.n
    for _ref, buf, at, ln, uid in scan(t._base):
        skip = False
        while k < n and j.uids[k] <= uid:
            if j.uids[k] == uid:
                skip = True
            if j.ops[k] == OP_PUT:
                j.read(j.offs[k], rec)
                yield codec.record_dict(rec)
            k += 1
        if not skip:
            rb = rec._buf
            for i in range(ln):
                rb[i] = buf[at + i]
            rec._load(0, t.fid)
            yield codec.record_dict(rec)
    while k < n:
        if j.ops[k] == OP_PUT:
            j.read(j.offs[k], rec)
            yield codec.record_dict(rec)
        k += 1


def users(t, offset=0, limit=50):
    """A page of users (dicts without secrets) in id order."""
    out = []
    for d in iter_users(t):
        if offset > 0:
            offset -= 1
            continue
        if len(out) >= limit:
            break
        out.append(d)
    return out


# -- edits -----------------------------------------------------------------------------


def _ctx(t):
    from usertable import validate

    ctx = validate.Ctx(t.fid, t.tz, t.relay_ids, None, False, t.path, True)
    if t.secrets_ok:
        ctx.keyed = t._keyed
    ctx.use_schedules(t.schedules)
    return ctx


def _owner(t, kind, key, rec):
    kb = t._kb
    for i in range(len(key)):
        kb[i] = key[i]
    r = t._lookup(kind, len(key), rec)
    return None if r is None else r.id


def add_or_replace(t, user):
    """Add or replace one user (document form, docs/user-model.md; times may also be unix
    seconds). A PIN/QR/BLE key absent from `user` keeps the user's existing one; null or ""
    removes it. Raises ConfigError naming the field. Returns the user id."""
    ctx = _ctx(t)
    from usertable.validate import user as check_user

    nu = check_user(user, ctx, "user")
    if nu is None:  # only reachable in collect mode; kept for safety
        raise ConfigError(t.path, "user", "invalid user")
    uid = nu["id"]
    if t._tmp is None:
        t._tmp = Record()
    tmp = t._tmp
    old = t.by_id(uid, tmp)
    secrets = b""
    sfl = 0
    skeys = []
    for i in range(3):
        kind = SECRET_KINDS[i]
        field = _SECRET_FIELDS[i]
        key = None
        if nu[field] is not None:
            key = codec.keyed_key(t._keyed, kind, nu[field])
        elif field not in user and old is not None and getattr(old, "has_" + field):
            out = bytearray(fmt.HASH_LEN)
            ok = journal_secret(t._j, old.ref, kind, out) if old.source else key_of(t._base, kind, old.ref, out)
            if ok:
                key = bytes(out)
                nu[field] = True  # flag only: encode_record sets the "has" bit
        if key is not None:
            secrets += key
            sfl |= 1 << i
            skeys.append((kind, key, field))
    rec = codec.encode_record(nu, t.fid)
    keys = []
    codec.record_keys(rec, 0, t.fid, keys)
    ci = 0
    pi = 0
    for kind, key in keys:
        if kind == fmt.K_CARD:
            field = "user.cards[%d]" % ci
            what = "card " + nu["cards"][ci]
            ci += 1
        else:
            field = "user.plates[%d]" % pi
            what = "plate " + nu["plates"][pi][0]
            pi += 1
        owner = _owner(t, kind, key, tmp)
        if owner is not None and owner != uid:
            raise ConfigError(t.path, field, "%s already belongs to user %d" % (what, owner))
    for kind, key, field in skeys:
        owner = _owner(t, kind, key, tmp)
        if owner is not None and owner != uid:
            raise ConfigError(t.path, "user." + field, "this %s already belongs to user %d"
                              % (fmt.KIND_NAMES[kind].upper(), owner))
    t._j.append(OP_PUT, uid, rec + secrets, sfl)
    t._after_edit()
    return uid


def delete(t, uid):
    """Remove user `uid`; False if there is no such user."""
    if t._tmp is None:
        t._tmp = Record()
    if t.by_id(uid, t._tmp) is None:
        return False
    t._j.append(OP_DEL, uid)
    t._after_edit()
    return True


# -- compaction ------------------------------------------------------------------------


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
        _swap(t, tmp)
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


def _swap(t, path):
    """Make the verified table file `path` live: rename over the table, then drop the
    journal (a stale journal is ignored anyway, so a power cut in between is safe)."""
    t._close_files()
    try:
        replace_file(path, t.path)
        remove(t.jpath)
    finally:
        t._open()


# -- reading a table file sequentially (export, compaction, key recovery) ---------------
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


# -- writing the journal ----------------------------------------------------------------
def journal_entry(j, off, buf):
    """Read the entry at `off` into buf; returns (record length, secret flags)."""
    f = j.f
    f.seek(off)
    f.readinto(buf)
    n, _ = fmt.rec_len(buf, EH)
    return n, buf[3]


def journal_secret(j, off, kind, out):
    """Copy the keyed hash of secret `kind` of the put entry at `off` into out; False if none."""
    buf = bytearray(JBUF)
    n, sfl = journal_entry(j, off, buf)
    p = EH + n
    for i in range(3):
        if sfl >> i & 1:
            if SECRET_KINDS[i] == kind:
                out[0:fmt.HASH_LEN] = buf[p:p + fmt.HASH_LEN]
                return True
            p += fmt.HASH_LEN
    return False


def _journal_rewrite(j):
    """Fresh head for the live table, keeping the good entries of a torn journal; atomic."""
    tmp = j.path + ".tmp"
    keep = j.valid and j.torn
    j.close()
    with open(tmp, "wb") as out:
        out.write(j._head())
        if keep:
            with open(j.path, "rb") as f:
                f.seek(HEAD_SIZE)
                left = j.size - HEAD_SIZE
                while left > 0:
                    chunk = f.read(512 if left > 512 else left)
                    if not chunk:
                        break
                    out.write(chunk)
                    left -= len(chunk)
    replace_file(tmp, j.path)
    if not keep:
        j._load()  # a stale journal's entries are gone: start empty
    j.valid = True
    j.torn = False


def journal_append(j, op, uid, payload=b"", sflags=0):
    """Append one entry in a single write (after resetting a stale or torn journal)."""
    if not j.valid or j.torn:
        _journal_rewrite(j)
    n = EH + len(payload) + 4
    if n > JBUF:
        raise ValueError("journal entry too large")
    e = struct.pack("<HBBI", n, op, sflags, uid) + payload
    e += struct.pack("<I", crc32(e) & 0xFFFFFFFF)
    j.close()
    with open(j.path, "ab") as f:
        f.write(e)
    j._apply(e, j.size)  # RAM index updated in place: no re-read of the journal
    j.total += 1
    j.size += n
    j.f = open(j.path, "rb")

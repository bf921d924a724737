"""Cursor pages of a UserTable (GET /api/v1/users?after=ID&limit=N&q=TEXT): the users with
id > after in id order, journal applied. Cold code.

The first record is found through the id index, as by_id finds one (root in RAM -> the leaf
chunk holding `after` -> the span of records from its last leaf entry at or before `after`: two
reads), not by reading the table from its start: a page deep in a 20,000-user table costs what
the first page costs. A search reads at most `budget` records per page and says where it stopped.

Heap: several pages may be streamed at once, each suspended between users while its text is
sent, so a page holds nothing between steps but its position (ints): every step reads its user
afresh, from flash into one Record shared by all pages (the step is synchronous: no other task
runs between the read and the user's dict).
"""
from micropython import const

from usertable import decode, fmt
from usertable.journal import OP_PUT
from usertable.reader import Record

BUDGET = const(500)  # records a search page reads at most (~1 s of an ESP32)
PAUSE = const(16)  # a search lets other tasks run every PAUSE records (card taps)
_rec = None  # the Record every page reads into (created with the first page)


def prepare():
    """Have what a page needs in the heap before its answer starts (the shared Record; the code
    is this module's imports), so that a lack of heap is a clean 503, not a page cut short."""
    global _rec
    if _rec is None:
        _rec = Record()


def first(b, after):
    """Offset of the first record of table file `b` with id > after (b.rec_len if none). Two
    reads into b.buf (the lookup buffer: no allocation; nothing else runs until this returns)."""
    root = b.root
    if not b.leaf_n or after < root[0]:
        return 0
    lo = 0
    hi = len(root)
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if root[mid] <= after:
            lo = mid
        else:
            hi = mid
    f = b.f
    f.seek(b.leaf_off + lo * fmt.LEAF_CHUNK * fmt.LEAF)
    b.bytes_read += f.readinto(b.leaf_win)
    b.reads += 1
    buf = b.buf
    cnt = b.leaf_n - lo * fmt.LEAF_CHUNK
    if cnt > fmt.LEAF_CHUNK:
        cnt = fmt.LEAF_CHUNK
    a = 0
    z = cnt
    while z - a > 1:
        mid = (a + z) >> 1
        if fmt.u32(buf, mid * fmt.LEAF) <= after:
            a = mid
        else:
            z = mid
    pos = fmt.u32(buf, a * fmt.LEAF + 4)
    # the next leaf entry (id > after) is less than a span away: the record is in this span
    f.seek(b.rec_off + pos)
    got = f.readinto(b.span_win)
    b.reads += 1
    b.bytes_read += got
    end = b.rec_len - pos
    if got < end:
        end = got
    i = 0
    while i + 6 <= end:
        x = buf[i]
        if x & 0x80:
            n = ((x & 0x7F) << 8) | buf[i + 1]
            u = fmt.u32(buf, i + 2)
        else:
            n = x
            u = fmt.u32(buf, i + 1)
        if u > after:
            break
        i += n
    return pos + i


def records(t, rec, after=0):
    """Load every live user with id > after into `rec` in turn, in id order (yields rec): base
    records from first(after) on, one read each, merged with the journal (a journal put
    replaces or adds its user, a delete hides it). Nothing in `rec` is relied on across a
    yield, so `rec` may be shared with other walks."""
    b = t._base
    j = t._j
    jn = j.n
    u = j.uids
    k = 0
    hi = jn
    while k < hi:  # the first journal user with id > after
        mid = (k + hi) >> 1
        if u[mid] <= after:
            k = mid + 1
        else:
            hi = mid
    pos = first(b, after) if after else 0
    end = b.rec_len
    while True:
        uid = -1
        while pos < end:
            b.read_record(pos, rec)
            if rec.id > after:
                uid = rec.id
                break
            pos += rec._len
        if k < jn and (uid < 0 or u[k] <= uid):  # the journal's user comes first
            if u[k] == uid:
                pos += rec._len  # edited or deleted: the base record doesn't count
            off = j.offs[k]
            k += 1
            if j.ops[k - 1] == OP_PUT:
                j.read(off, rec)
                yield rec
            continue
        if uid < 0:
            return
        pos += rec._len
        yield rec


def matches(rec, q, digits):
    """Search rule of the users list: id or card code containing `q` (digits / hex), or a name
    containing it, ignoring case (q is lower case)."""
    if digits and q in str(rec.id):
        return True
    if q in rec.name.lower():
        return True
    for c in decode.record_cards(rec):
        if q in c.lower():
            return True
    return False


def page(t, after, limit, q="", budget=BUDGET):
    """One page for streaming. Yields None where other tasks may run (every PAUSE records a
    search reads), a dict (no secrets: has_pin/has_qr/has_ble) for each user on the page, and
    last an int: the cursor to continue from (`after=` of the next page), or -1 when no user
    follows.

    The cursor is the id of the last user read. A page ends after `limit` users; a search
    (q, matched as `matches`) also ends after reading `budget` records, with fewer users (maybe
    none) and a cursor: the client continues from there. A page during which the table was
    swapped or a user edited ends at the last user read, with its cursor (the next page reads
    the new state)."""
    prepare()
    q = q.lower()
    digits = q.isdigit()
    b = t._base
    j = t._j
    jt = j.total
    last = after
    n = 0
    got = 0
    for r in records(t, _rec, after):
        if got == limit or (q and n == budget):
            yield last  # more users follow
            return
        n += 1
        last = r.id
        if q and not matches(r, q, digits):
            if n % PAUSE:
                continue
            yield None
        else:
            got += 1
            yield decode.record_dict(r)
        if t._base is not b or t._j is not j or j.total != jt:
            yield last  # changed meanwhile: stop here, the cursor carries on
            return
    yield -1


def local(d, tz):
    """An exported user dict (decode.record_dict) with its unix times as the site's local time
    text "YYYY-MM-DDTHH:MM" (None where unbounded); the time code (usertable.sitetime) is
    loaded only for a user with times (forget it when done)."""
    if not (d["valid_from"] or d["valid_to"]):
        d["valid_from"] = d["valid_to"] = None
        if not d["plates"]:
            return d
    from usertable import sitetime

    for k in ("valid_from", "valid_to"):
        d[k] = sitetime.unix_to_local(d[k], tz) if d[k] else None
    for p in d["plates"]:
        for k in ("from", "to"):
            if p.get(k):
                p[k] = sitetime.unix_to_local(p[k], tz)
    return d


def text(t, users, tail, total=None):
    """JSON text of a walk of users (page() or export.walk()), a user at a time, for a streamed
    answer: '{"users": [' then each dict the walk yields (times as local text), then `tail`
    formatted with the int the walk yields last (-1 = null) and `total` if given; an empty
    piece where the walk yields None (the server lets other tasks run there). The table's cold
    code is dropped when the last such text still being written ends (t.streams)."""
    import json

    t.streams += 1
    try:
        yield '{"users": ['
        sep = ""
        last = -1
        for x in users:
            if x is None:
                yield b""
            elif isinstance(x, dict):
                yield sep + json.dumps(local(x, t.tz))
                sep = ", "
            else:
                last = x
            x = None
        if total is None:
            yield tail % last
        else:
            yield tail % ("null" if last < 0 else str(last), total)
    finally:
        t.streams -= 1
        if not t.streams:
            from unload import forget
            from usertable.table import _COLD

            forget(*_COLD)

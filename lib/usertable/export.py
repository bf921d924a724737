"""Users of a UserTable as dicts in id order, journal applied, read from the first user on
(the export; users()/search() by offset): cold code. Cursor pages: usertable.page."""
from usertable import decode
from usertable.journal import OP_PUT
from usertable.reader import Record
from usertable.scan import scan


def _records(t, rec):
    """Load every live user into `rec` in turn, in id order (yields rec)."""
    j = t._j
    k = 0
    n = j.n
    for _ref, buf, at, ln, uid in scan(t._base):
        skip = False
        while k < n and j.uids[k] <= uid:
            if j.uids[k] == uid:
                skip = True
            if j.ops[k] == OP_PUT:
                j.read(j.offs[k], rec)
                yield rec
            k += 1
        if not skip:
            rb = rec._buf
            for i in range(ln):
                rb[i] = buf[at + i]
            rec._load(0, t.fid)
            yield rec
    while k < n:
        if j.ops[k] == OP_PUT:
            j.read(j.offs[k], rec)
            yield rec
        k += 1


def iter_users(t):
    """Yield every user as a dict (no secrets: has_pin/has_qr/has_ble) in id order."""
    for rec in _records(t, Record()):
        yield decode.record_dict(rec)


def users(t, offset=0, limit=50):
    """A page of users (dicts without secrets) in id order; the users before `offset` are
    skipped without building their dicts."""
    return [x for x in walk(t, "", offset, limit, 0) if isinstance(x, dict)]


def search(t, q, offset=0, limit=50):
    """(page, total): users whose id, name or card code contain `q` (case ignored), in id
    order; one pass over the table, a dict built only for the users on the page."""
    out = []
    total = 0
    for x in walk(t, q, offset, limit, 0):
        if isinstance(x, dict):
            out.append(x)
        elif x is not None:
            total = x
    return out, total


def walk(t, q, offset, limit, pause=64):
    """A page of users for streaming: yields None after every `pause` records read (an event
    loop runs other tasks there: a page deep in a large table reads many), a dict for each
    user on the page (no secrets), and last the number of users matching `q` ("" = all)."""
    q = q.lower()
    if q:
        from usertable.page import matches  # the search rule (usertable.page: loaded for a search only)

    digits = q.isdigit()
    total = 0
    n = 0
    rec = Record()
    for r in _records(t, rec):
        n += 1
        if pause and n % pause == 0:
            yield None
        if q and not matches(r, q, digits):
            continue
        total += 1
        if offset < total <= offset + limit:
            yield decode.record_dict(r)
        elif not q and total > offset + limit:
            total = t.count  # no search: the rest needn't be read
            break
    yield total


def user(t, uid, tz=None):
    """One user as a dict (no secrets), or None; times as the site's local text if `tz`."""
    rec = t.by_id(uid, Record())
    if rec is None:
        return None
    d = decode.record_dict(rec)
    return d if tz is None else decode.local(d, tz)

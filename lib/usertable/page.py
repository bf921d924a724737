"""Cursor pages of a UserTable (GET /api/v1/users?after=ID&limit=N&q=TEXT): the users with
id > after in id order, journal applied. Cold code.

The first record is found through the id index, as by_id finds one (root in RAM -> the leaf
chunk holding `after` -> the span of records from its last leaf entry at or before `after`: two
reads), not by reading the table from its start: a page deep in a 20,000-user table costs what
the first page costs. A search reads at most `budget` records per page and says where it stopped.

Heap: several pages may be streamed at once, each suspended between users while its text is
sent, so a page holds nothing between steps but its position (ints): every step reads its user
afresh, from flash into the table's second Record (t._tmp, shared by all pages and the edits:
the step is synchronous, no other task runs between the read and the user's text), and a user's
text is made of small pieces (record_json), not one block: after a while of traffic the heap has
many small holes and few large ones.
"""
from micropython import const

from usertable import decode, fmt
from usertable.journal import OP_PUT
from usertable.reader import Record

BUDGET = const(500)  # records a search page reads at most (~1 s of an ESP32)
_PAUSE = const(16)  # a search lets other tasks run every _PAUSE records (card taps)
_TRIES = const(4)  # a user's text is tried this often (with a pause between) when the heap is full


def prepare(t):
    """Have what a page needs in the heap before its answer starts (the code is this module's
    imports; the Record is the table's second one, t._tmp, which single-user edits use too and
    which stays: a page or an edit reads into it and is done with it in one step, never across
    a pause), so that a lack of heap is a clean 503, not a page cut short."""
    if t._tmp is None:
        t._tmp = Record()
    return t._tmp


def first(b, after):
    """Offset of the first record of table file `b` with id > after (b.rec_len if none). Two
    reads into b.buf (the lookup buffer: no allocation; nothing else runs until this returns)."""
    pos = b._span(after)
    if pos < 0:
        return 0
    return pos + b._skip(after, True)


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
    """One page for streaming. Yields None where other tasks may run (every _PAUSE records a
    search reads), the Record of each user on the page (shared: valid until the next step;
    decode.record_dict gives its export form), and last an int: the cursor to continue from
    (`after=` of the next page), or -1 when no user follows. (Records, not dicts: a generator
    waiting to be resumed still holds the last value it yielded.)

    The cursor is the id of the last user read. A page ends after `limit` users; a search
    (q, matched as `matches`) also ends after reading `budget` records, with fewer users (maybe
    none) and a cursor: the client continues from there. A page during which the table was
    swapped or a user edited ends at the last user read, with its cursor (the next page reads
    the new state)."""
    q = q.lower()
    digits = q.isdigit()
    b = t._base
    j = t._j
    jt = j.total
    last = after
    n = 0
    got = 0
    for r in records(t, prepare(t), after):
        if got == limit or (q and n == budget):
            yield last  # more users follow
            return
        n += 1
        last = r.id
        if q and not matches(r, q, digits):
            if n % _PAUSE:
                continue
            yield None
        else:
            got += 1
            yield r
        if t._base is not b or t._j is not j or j.total != jt:
            yield last  # changed meanwhile: stop here, the cursor carries on
            return
    yield -1


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


def record_json(rec, tz, sep=""):
    """`sep` + the export form of Record rec as JSON text, as a tuple of pieces of a few dozen
    bytes each: decode.record_dict with its times as the site's local text (decode.local), written
    from the record without that dict and its lists, and without one text of the whole user (in
    a fragmented heap small pieces are found where a 300-byte block is not). All of it is read
    from the record at once (the Record is shared: it may hold another user by the time the
    pieces are sent). The device tests check that both forms are equal."""
    import json

    pl = ""
    if rec.nplates:
        out = []
        for p, t0, t1 in decode.record_plates(rec):
            s = '{"plate": ' + json.dumps(p)
            if t0:
                s += ', "from": ' + _when(t0, tz)
            if t1:
                s += ', "to": ' + _when(t1, tz)
            out.append(s + "}")
        pl = ", ".join(out)
    return ('%s{"id": %d, "name": ' % (sep, rec.id), json.dumps(rec.name),
            ', "role": "%s", "phone": ' % ("admin" if rec.role else "user"), json.dumps(rec.phone),
            ', "cards": ', json.dumps(decode.record_cards(rec)), ', "plates": [', pl,
            '], "relays": ' + _bits(rec.relays, 8), ', "floors": ' + _bits(rec.floors, 32),
            ', "web_relay": %d, "relay_schedule_activation": %s' % (rec.web_relay, _tf(rec.rsa)),
            ', "valid_from": ' + _when(rec.valid_from, tz), ', "valid_to": ' + _when(rec.valid_to, tz),
            ', "schedules": ' + json.dumps(list(rec.schedules)),
            ', "has_pin": %s, "has_qr": %s, "has_ble": %s}' % (_tf(rec.has_pin), _tf(rec.has_qr), _tf(rec.has_ble)))


def text(t, users, tail, total=None, keep=False):
    """JSON text of a walk of users (page() or export.walk()), a user at a time, for a streamed
    answer: '{"users": [' then each user the walk yields (a Record or an export dict; times as
    local text), then `tail` formatted with the int the walk yields last (-1 = null) and `total`
    if given; an empty piece where the walk yields None (the server lets other tasks run
    there). A user read from a Record comes as a tuple of small texts (httpd writes them
    together). The table's cold code is dropped when the last such text still being written
    ends (t.streams), unless `keep` (the HTTP API keeps it for the next page while the heap
    has room, and drops it itself)."""
    import json

    t.streams += 1
    try:
        yield b""  # (a caller may start it at once, so that t.streams counts it)
        yield '{"users": ['
        sep = ""
        last = -1
        for x in users:
            if x is None:
                yield b""
            elif isinstance(x, int):
                last = x
            elif isinstance(x, dict):  # export.walk
                x = (sep + json.dumps(decode.local(x, t.tz))).encode()
                sep = ", "
                yield x
            else:  # a Record: its pieces, written together
                # no heap for a user's text: a pause lets the door's work finish and free its
                # heap (the Record stays as it is meanwhile: only the HTTP API's handlers use
                # t._tmp, and the server runs them one at a time)
                for _ in range(_TRIES):
                    try:
                        x = record_json(x, t.tz, sep)
                        break
                    except MemoryError:
                        yield b""
                else:
                    raise MemoryError  # (the page ends cut short: the client sees it, asks again)
                sep = ", "
                yield x
            x = None
        if total is None:
            yield tail % last
        else:
            yield tail % ("null" if last < 0 else str(last), total)
    finally:
        t.streams -= 1
        if not t.streams and not keep:
            from unload import forget
            from usertable.table import _COLD

            forget(*_COLD)

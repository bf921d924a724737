"""UserTable.page: cursor pages (GET /api/v1/users?after=ID) through the id index, with the
journal's adds, edits and deletes, bounded searches, and the JSON text of a page (MicroPython
and CPython)."""
import json
import os
import sys
from binascii import hexlify

from usertable import codec, fmt, sitetime, validate
from usertable.reader import Record
from usertable.table import UserTable
from usertable.writer import Writer, bucket_target

MICROPYTHON = sys.implementation.name == "micropython"


def _dir(tag):
    d = "/tmp/doorctl-test-userpage-%s-%s" % (tag, hexlify(os.urandom(4)).decode())
    os.mkdir(d)
    return d


def _rm(d):
    for n in os.listdir(d):
        os.remove(d + "/" + n)
    os.rmdir(d)


def _make(d, ids):
    """A table of users with these ids, written a record at a time (a device's heap can't hold
    700 user dicts); names long enough that the records span many leaf entries of the id index
    (one per 2 KiB of records). Every 100th id has a card: 0x10000000 + id."""
    ctx = validate.Ctx("8HN")
    u = validate.user({"id": 1}, ctx, "u")
    assert not ctx.errors, ctx.errors
    keys = []
    with open(d + "/users.tbl", "wb") as f:
        w = Writer(f, 1, ctx.fid, 0, None)
        w.schedules(b"[]")
        w.begin_records()
        for i in ids:
            u["id"] = i
            u["name"] = "Tenant %d of a building with a long name" % i
            u["cards"] = ["%08X" % (0x10000000 + i)] if i % 100 == 0 else []
            rec = codec.encode_record(u, ctx.fid)
            if u["cards"]:
                keys.append((codec.clear_key(fmt.K_CARD, u["cards"][0], ctx.fid), w.rel()))
            w.record(rec, 0, len(rec), i)
        w.end_records()
        keys.sort()
        for k in fmt.KINDS:
            n = len(keys) if k == fmt.K_CARD else 0
            w.begin_index(k, n, bucket_target(n * (fmt.key_width(k, ctx.fid) + fmt.REF)))
            for key, ref in keys if n else ():
                w.entry(key, 0, ref)
            w.end_index()
        w.finish()
    return UserTable.open(d, card_format="8HN", auto_compact=False)


def _walk(t, after, limit, q=""):
    """(ids on the page, cursor) of one page."""
    ids = []
    cursor = None
    for x in t.page(after, limit, q):
        if isinstance(x, Record):
            ids.append(x.id)
        elif x is not None:
            cursor = x
    return ids, cursor


def _join(src):
    """The text a json_text() generator gives, as the server writes it (tuples: pieces)."""
    out = []
    for x in src:
        for p in x if isinstance(x, tuple) else (x,):
            out.append(p.decode() if isinstance(p, bytes) else p)
    return "".join(out)


def _all(t, limit, q=""):
    """Every id, walking page by page from the start; also the number of pages."""
    out = []
    after = 0
    pages = 0
    while True:
        ids, cursor = _walk(t, after, limit, q)
        pages += 1
        out += ids
        if cursor < 0:
            return out, pages
        assert cursor > after, (after, cursor)
        after = cursor


IDS = list(range(3, 3 * 700, 3))  # 699 users, ids 3, 6, ..., 2097: several leaf entries


def test_pages_by_cursor_give_every_user_once_in_id_order():
    d = _dir("walk")
    try:
        t = _make(d, IDS)
        assert t._base.leaf_n > 3  # the cursor goes through the id index
        ids, pages = _all(t, 50)
        assert ids == IDS and pages == 14
        assert _walk(t, 0, 3) == ([3, 6, 9], 9)
        assert _walk(t, 1000, 2) == ([1002, 1005], 1005)  # between ids
        assert _walk(t, 1002, 2) == ([1005, 1008], 1008)  # at an id
        assert _walk(t, 2091, 5) == ([2094, 2097], -1)  # the last page: no cursor
        assert _walk(t, 2094, 1) == ([2097], -1)  # exactly the last user
        assert _walk(t, 2097, 5) == ([], -1)  # after the last id
        assert _walk(t, 0xFFFFFFFF, 5) == ([], -1)
        for after in (0, 1, 2, 3, 400, 511, 1500, 2000, 2096):  # every leaf position
            want = [i for i in IDS if i > after][:7]
            assert _walk(t, after, 7)[0] == want, after
        t.close()
    finally:
        _rm(d)


def test_page_reads_from_the_cursor_not_from_the_start():
    d = _dir("reads")
    try:
        t = _make(d, IDS)
        r0 = t.reads
        _walk(t, 0, 5)
        first = t.reads - r0
        r0 = t.reads
        _walk(t, 2000, 5)
        deep = t.reads - r0
        # one read per record (5 + the one that says more follow) plus 2 for the index
        assert first == 6 and deep == 6 + 2, (first, deep)
        t.close()
    finally:
        _rm(d)


def test_journal_adds_edits_and_deletes_show_in_the_walk():
    d = _dir("journal")
    try:
        t = _make(d, IDS)
        t.add_or_replace({"id": 1, "name": "First", "cards": ["0A000001"]})  # before every base id
        t.add_or_replace({"id": 1001, "name": "Between", "cards": ["0A000002"]})  # new, between
        t.add_or_replace({"id": 1002, "name": "Edited", "cards": ["0A000003"]})  # replaces a base user
        assert t.delete(1005) and t.delete(3)
        t.add_or_replace({"id": 5000, "name": "Last", "cards": ["0A000004"]})  # after every base id
        want = sorted([1, 1001, 5000] + [i for i in IDS if i not in (3, 1005)])
        for limit in (1, 7, 200):
            assert _all(t, limit)[0] == want, limit
        assert _walk(t, 999, 4) == ([1001, 1002, 1008, 1011], 1011)
        page_ = [(x.id, x.name) for x in t.page(1000, 2) if isinstance(x, Record)]
        assert page_ == [(1001, "Between"), (1002, "Edited")]
        assert _walk(t, 2097, 5) == ([5000], -1)
        t.close()
    finally:
        _rm(d)


def test_search_continues_after_the_cursor_and_stops_after_its_budget():
    d = _dir("search")
    try:
        t = _make(d, IDS)
        # "tenant 10" is in the names of ids 10x and 10xx (name match, case ignored)
        want = [i for i in IDS if str(i).startswith("10")]
        got, pages = _all(t, 4, "TENANT 10")
        assert got == want and pages > 1
        assert _walk(t, 0, 3, "tenant 10") == (want[:3], want[2])
        assert _walk(t, want[2], 3, "tenant 10")[0] == want[3:6]
        # user 1800's card 10000708: not among the first 500 users, which one search page reads
        assert _walk(t, 0, 5, "10000708") == ([], 1500)
        assert _all(t, 5, "10000708") == ([1800], 2)
        assert _all(t, 5, "1000012c") == ([300], 2)  # user 300's card, case ignored
        assert _walk(t, 0, 3, "99") == ([99, 399, 699], 699)  # digits: ids too
        # budget: a search reading at most 10 records answers where it stopped
        out = []
        cursor = None
        for x in t.page(0, 50, "nobody", budget=10):
            if isinstance(x, Record):
                out.append(x.id)
            elif x is not None:
                cursor = x
        assert out == [] and cursor == IDS[9]
        # the walk goes on from there and ends
        assert _walk(t, 2000, 50, "nobody") == ([], -1)
        t.close()
    finally:
        _rm(d)


def test_page_text_is_one_json_document():
    d = _dir("text")
    try:
        t = _make(d, IDS[:30])
        src = t.json_text(t.page(30, 3), '], "next": %s, "total": %d}', t.count)
        doc = json.loads(_join(src))
        assert [u["id"] for u in doc["users"]] == [33, 36, 39] and doc["next"] == 39 and doc["total"] == 30
        assert doc["users"][0]["name"].startswith("Tenant 33") and doc["users"][0]["valid_from"] is None
        src = t.json_text(t.page(90, 3), '], "next": %s, "total": %d}', t.count)
        doc = json.loads(_join(src))
        assert doc == {"users": [], "next": None, "total": 30}
        # two pages written at once (they share the table's second Record, a step at a time)
        a = t.json_text(t.page(0, 2), '], "next": %s, "total": %d}', 0)
        b = t.json_text(t.page(9, 2), '], "next": %s, "total": %d}', 0)
        pa = [next(a)]
        pb = [next(b)]
        for x, y in zip(a, b):
            pa.append(x)
            pb.append(y)
        pa += list(a)
        pb += list(b)
        assert [u["id"] for u in json.loads(_join(pa))["users"]] == [3, 6]
        assert [u["id"] for u in json.loads(_join(pb))["users"]] == [12, 15]
        # the export: every user by offset, as dicts with local times
        doc = json.loads(_join(t.json_text(t.walk(), '], "total": %d}')))
        assert [u["id"] for u in doc["users"]] == IDS[:30] and doc["total"] == 30
        t.close()
    finally:
        _rm(d)


def test_a_page_during_an_edit_ends_at_its_cursor():
    d = _dir("edit")
    try:
        t = _make(d, IDS)
        g = t.page(0, 10)
        got = [next(g).id, next(g).id]
        t.add_or_replace({"id": 4, "name": "Meanwhile", "cards": ["0A000009"]})
        rest = list(g)
        assert got == [3, 6] and rest == [6]  # stopped, cursor 6
        assert _walk(t, 6, 3)[0] == [9, 12, 15]
        t.close()
    finally:
        _rm(d)


def test_record_json_is_the_export_form_with_local_times():
    """Record.json (a page's users, written without a dict) equals the export dict with local
    times (Record.to_dict + sitetime.local: GET /api/v1/users/ID, the export)."""
    from usertable import build, validate_list

    d = _dir("json")
    try:
        key = bytes(range(32))
        tz = "CET-1CEST,M3.5.0,M10.5.0/3"
        ctx = validate.Ctx("8HN", tz, [1, 2, 3], key, True, "users.json")
        sched = validate_list.schedules([{"id": 2, "name": "Office", "weekly": [
            {"days": "mon-fri", "from": "08:00", "to": "18:00"}]}], ctx)
        docs = [{"id": 1},
                {"id": 2, "name": 'Zoë "Q" \\ Brandt', "phone": "+44 1234", "cards": ["04A1B2C3", "0A0B0C0D"],
                 "pin": "4711", "qr": "QR-2", "relays": [1, 3], "floors": [1, 17, 32], "role": "admin",
                 "valid_from": "2026-03-29T01:30", "valid_to": "2030-07-01", "schedules": ["Office", 1],
                 "web_relay": 2, "relay_schedule_activation": True,
                 "plates": ["AB12CDE", {"plate": "x-y 9", "from": "2026-07-01T12:00"},
                            {"plate": "LAST1", "to": "2027-01-01"}]},
                {"id": 4294967294, "name": "Ünïcødé ✓", "ble": "a1b2c3d4e5f6", "relays": [2]}]
        users = [validate.user(u, ctx, "u") for u in docs]
        assert not ctx.errors, ctx.errors
        build.build_file(d + "/users.tbl", sched, users, ctx.fid, 1, ctx.keyed)
        t = UserTable.open(d, site_key=key, card_format="8HN", tz=tz, auto_compact=False)
        seen = []
        for r in t.page(0, 10):
            if isinstance(r, Record):
                want = sitetime.local(r.to_dict(), tz)
                got = json.loads("".join(r.json(tz, ", "))[2:])
                assert got == t.user_dict(r.id, tz)
                assert got == want, (got, want)
                seen.append(got)
        assert [u["id"] for u in seen] == [1, 2, 4294967294]
        two = seen[1]
        assert two["valid_from"] == "2026-03-29T01:30" and two["plates"][1] == {"plate": "XY9", "from": "2026-07-01T12:00"}
        assert two["has_pin"] and two["has_qr"] and not two["has_ble"] and seen[2]["has_ble"]
        assert "pin" not in two and "4711" not in json.dumps(seen)
        t.close()
    finally:
        _rm(d)

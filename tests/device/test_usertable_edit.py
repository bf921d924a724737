"""usertable: single-user edits, deletes, pages and compaction load no module after their first
use and drop none (the table never unloads code: what is resident doesn't depend on the heap's
history), an edit stays within its heap budget, and text times are converted with the site's
rule (MicroPython and CPython)."""
import os
import sys
from binascii import hexlify

from configerror import ConfigError
from usertable import sitetime, validate
from usertable.journal import Journal
from usertable.table import UserTable

KEY = bytes(range(32))
MICROPYTHON = sys.implementation.name == "micropython"
CET = "CET-1CEST,M3.5.0,M10.5.0/3"


def _dir(tag):
    d = "/tmp/doorctl-test-usercold-%s-%s" % (tag, hexlify(os.urandom(4)).decode())
    os.mkdir(d)
    return d


def _rm(d):
    for n in os.listdir(d):
        os.remove(d + "/" + n)
    os.rmdir(d)


def _open(d):
    """The table in d (an empty one is created first)."""
    return UserTable.open(d, site_key=KEY, card_format="8HN", tz=CET, relay_ids=(1, 2), auto_compact=False)


def _modules():
    return sorted(m for m in sys.modules if m.split(".")[0] not in ("asyncio", "encodings"))


def _user(uid, card, **kw):
    u = {"id": uid, "name": "User %d" % uid, "cards": [card, "%08X" % (int(card, 16) + 1)], "pin": "%04d" % uid,
         "plates": [{"plate": "PL%d" % uid, "from": "2026-07-01T12:00", "to": "2026-10-25"}], "relays": [1],
         "valid_from": "2026-01-15T12:00", "valid_to": "2026-10-25"}
    u.update(kw)
    return u


def test_edits_deletes_pages_and_compaction_load_and_drop_nothing_once_used():
    d = _dir("left")
    try:
        t = _open(d)
        steps = (("add", lambda: t.add_or_replace(_user(7, "04A10001"))),
                 ("add another", lambda: t.add_or_replace(_user(8, "04A10011", pin=None))),
                 ("replace, PIN kept", lambda: t.add_or_replace({"id": 7, "cards": ["04A10001"]})),
                 ("refused", lambda: t.add_or_replace({"id": 9, "cards": ["04A10001"]})),
                 ("delete", lambda: t.delete(8)),
                 ("delete missing", lambda: t.delete(99)),
                 ("users page", lambda: t.users(0, 10)),
                 ("cursor page", lambda: list(t.json_text(t.page(0, 10), "]%s%d}", 0))),
                 ("one user", lambda: t.user_dict(7, CET)),
                 ("stats", t.stats),
                 ("compact", t.compact))
        for rnd in range(2):
            if rnd:
                before = _modules()
            for name, fn in steps:
                try:
                    fn()
                except ConfigError:
                    assert name == "refused"
                if rnd:
                    assert _modules() == before, (name, [m for m in _modules() if m not in before],
                                                  [m for m in before if m not in sys.modules])
            assert t.count == 1 and t.by_pin("0007").id == 7 and t.by_card("04A10011") is None
            assert [u["id"] for u in t.users(0, 10)] == [7]
        t.close()
    finally:
        _rm(d)


def test_text_times_use_the_site_rule_and_errors_name_the_field():
    d = _dir("times")
    try:
        t = _open(d)
        doc = _user(7, "04A10001")
        t.add_or_replace(doc)
        assert doc["valid_from"] == "2026-01-15T12:00" and doc["plates"][0]["to"] == "2026-10-25"  # not changed
        r = t.by_id(7)
        assert r.valid_from == 1768474800  # 11:00 UTC (CET)
        assert r.valid_to == 1792969199  # 23:59:59 CET
        r = t.by_plate("PL7")
        assert r.id == 7 and r.plate_from == 1782900000 and r.plate_to == 1792969199  # CEST, CET
        t.add_or_replace({"id": 8, "cards": ["04A10021"], "valid_from": 1767225600})  # seconds as given
        t.add_or_replace({"id": 10, "cards": ["04A10041"], "valid_to": "1970-01-01"})
        assert t.by_id(8).valid_from == 1767225600 and t.by_id(10).valid_to == 82799  # 23:59:59 CET
        for bad, field, text in (({"valid_from": "2026-02-30"}, "user.valid_from", "'2026-02-30'"),
                                 ({"valid_from": "1970-01-01"}, "user.valid_from", "'1970-01-01'"),  # before 1970 UTC
                                 ({"valid_from": "2026-07-01", "valid_to": "2026-06-30"}, "user.valid_to", "before"),
                                 ({"plates": [{"plate": "X1", "to": "2026-13-01"}]}, "user.plates[0].to", "'2026-13-01'"),
                                 ({"cards": ["xyz"], "valid_from": "2026-02-30"}, "user.cards[0]", "xyz")):
            u = {"id": 9, "cards": ["04A10031"]}
            u.update(bad)
            try:
                t.add_or_replace(u)
            except ConfigError as e:
                assert e.field == field and text in str(e), (bad, str(e))
            else:
                raise AssertionError("accepted %r" % (bad,))
        assert t.by_id(9) is None and t.count == 3
        t.close()
    finally:
        _rm(d)


def test_an_edit_stays_within_its_heap_budget():
    """MicroPython (the unix port: 64-bit, about twice an ESP32's bytes) with the ESP32's heap:
    the heap an add_or_replace needs beyond what was free before it (the lowest free heap,
    live data only, sampled as each stage -- local times, checks, journal append -- ends) is at
    most 16 KB, and 24 KB with text dates at a daylight-saving site (docs/user-table.md;
    bench/useredit_heap.py)."""
    if not MICROPYTHON:
        return
    import gc

    d = _dir("heap")
    low = [0]

    def sampled(fn):
        def spy(*args):
            r = fn(*args)
            gc.collect()
            low[0] = min(low[0], gc.mem_free())
            return r
        return spy

    stages = ((sitetime, "unix_times"), (validate, "table_user"))
    real = [getattr(m, n) for m, n in stages]
    append = Journal.append
    try:
        t = _open(d)
        plain = _user(7, "04A10001", valid_from=None, valid_to=None, plates=["PL7"])
        dated = _user(7, "04A10001")
        for doc, budget in ((plain, 16000), (dated, 24000)):
            t.add_or_replace(doc)  # its first use loads its code and interns names: once, for good
            gc.collect()
            before = low[0] = gc.mem_free()
            for (m, n), fn in zip(stages, real):
                setattr(m, n, sampled(fn))
            Journal.append = sampled(append)
            try:
                t.add_or_replace(doc)
            finally:
                for (m, n), fn in zip(stages, real):
                    setattr(m, n, fn)
                Journal.append = append
            assert 0 < before - low[0] <= budget, (doc, before - low[0])
        t.close()
    finally:
        for (m, n), fn in zip(stages, real):
            setattr(m, n, fn)
        Journal.append = append
        _rm(d)

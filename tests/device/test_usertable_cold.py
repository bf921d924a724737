"""usertable: single-user edits, deletes and pages leave none of their cold code loaded, an
edit's stages (local times, checks, journal append) never hold each other's code, an edit stays
within its heap budget, and text times are converted with the site's rule as before
(MicroPython and CPython)."""
import os
import sys
from binascii import hexlify

import unload
from configerror import ConfigError
from usertable import table
from usertable.table import UserTable

KEY = bytes(range(32))
MICROPYTHON = sys.implementation.name == "micropython"
CET = "CET-1CEST,M3.5.0,M10.5.0/3"
COLD = table._COLD + ("tzrule",)


def _dir(tag):
    d = "/tmp/doorctl-test-usercold-%s-%s" % (tag, hexlify(os.urandom(4)).decode())
    os.mkdir(d)
    return d


def _rm(d):
    for n in os.listdir(d):
        os.remove(d + "/" + n)
    os.rmdir(d)


def _open(d):
    """The table in d, created first if needed (creating one leaves the writer's codec loaded):
    then none of the cold code is loaded, as on a device that only looked users up so far."""
    UserTable.open(d).close()
    unload.forget(*COLD)
    return UserTable.open(d, site_key=KEY, card_format="8HN", tz=CET, relay_ids=(1, 2), auto_compact=False)


def _loaded():
    return [m for m in COLD if m in sys.modules]


def _user(uid, card, **kw):
    u = {"id": uid, "name": "User %d" % uid, "cards": [card, "%08X" % (int(card, 16) + 1)], "pin": "%04d" % uid,
         "plates": [{"plate": "PL%d" % uid, "from": "2026-07-01T12:00", "to": "2026-10-25"}], "relays": [1],
         "valid_from": "2026-01-15T12:00", "valid_to": "2026-10-25"}
    u.update(kw)
    return u


def test_edits_deletes_and_pages_leave_no_cold_code_loaded():
    d = _dir("left")
    try:
        t = _open(d)
        assert _loaded() == []
        steps = (("add", lambda: t.add_or_replace(_user(7, "04A10001"))),
                 ("add another", lambda: t.add_or_replace(_user(8, "04A10011", pin=None))),
                 ("replace, PIN kept", lambda: t.add_or_replace({"id": 7, "cards": ["04A10001"]})),
                 ("refused", lambda: t.add_or_replace({"id": 9, "cards": ["04A10001"]})),
                 ("delete", lambda: t.delete(8)),
                 ("delete missing", lambda: t.delete(99)),
                 ("users page", lambda: t.users(0, 10)),
                 ("stats", t.stats),
                 ("compact", t.compact))
        for name, fn in steps:
            try:
                fn()
            except ConfigError:
                assert name == "refused"
            assert _loaded() == [], (name, _loaded())
        assert t.count == 1 and t.by_pin("0007").id == 7 and t.by_card("04A10011") is None
        assert [u["id"] for u in t.users(0, 10)] == [7]
        t.close()
    finally:
        _rm(d)


def test_edit_stages_never_hold_each_others_code():
    seen = []
    forget = unload.forget

    def spy(*names):  # the table drops each stage's code with forget(*_COLD)
        seen.append(_loaded())
        forget(*names)

    d = _dir("stages")
    try:
        t = _open(d)
        unload.forget = spy
        try:
            t.add_or_replace(_user(7, "04A10001"))
        finally:
            unload.forget = forget
        assert len(seen) == 3, seen
        times, checks, append = seen
        assert "usertable.sitetime" in times, times
        assert "usertable.validate" in checks and "plates" in checks, checks
        assert "usertable.edit" in append and "usertable.codec" in append, append
        for stage, other in ((times, ("usertable.validate", "plates", "usertable.edit", "usertable.codec")),
                             (checks, ("usertable.sitetime", "tzrule", "usertable.edit", "usertable.codec")),
                             (append, ("usertable.sitetime", "tzrule", "usertable.validate", "plates"))):
            for m in other:
                assert m not in stage, (m, stage)
        t.close()
    finally:
        unload.forget = forget
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
    live data only, sampled whenever a stage drops its code) is at most 16 KB, and 24 KB with
    text dates at a daylight-saving site (docs/user-table.md; bench/useredit_heap.py)."""
    if not MICROPYTHON:
        return
    import gc

    d = _dir("heap")
    forget = unload.forget
    low = [0]

    def spy(*names):
        gc.collect()
        low[0] = min(low[0], gc.mem_free())
        forget(*names)

    try:
        t = _open(d)
        plain = _user(7, "04A10001", valid_from=None, valid_to=None, plates=["PL7"])
        dated = _user(7, "04A10001")
        for doc, budget in ((plain, 16000), (dated, 24000)):
            t.add_or_replace(doc)  # its first use also interns names: once, for good
            gc.collect()
            before = low[0] = gc.mem_free()
            unload.forget = spy
            try:
                t.add_or_replace(doc)
            finally:
                unload.forget = forget
            assert 0 < before - low[0] <= budget, (doc, before - low[0])
        t.close()
    finally:
        unload.forget = forget
        _rm(d)


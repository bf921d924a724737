"""The users API (docs/http-api.md "Users") against the simulator: the real firmware, its user
table in a LittleFS image, under the ESP32's heap."""
import time
from urllib.parse import urlencode

import pytest

from httpclient import Api, admin_session
from simproc import FAST_CONFIG, Sim

SITE_KEY = "5a" * 32


def query(**kw):
    return urlencode(kw)
PIN = "493817"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = Sim(tmp_path_factory.mktemp("users"), config=FAST_CONFIG,
            http=True, secrets={"site_key": SITE_KEY})
    yield s
    s.stop()
    print(s.output[-4000:])


@pytest.fixture(scope="module")
def admin(sim):
    return admin_session(sim.http)


def test_users_routes_need_authentication(sim):
    anon = Api(sim.http)
    for method, path in (("GET", "/api/v1/users"), ("GET", "/api/v1/users/1001"), ("POST", "/api/v1/users"),
                         ("PUT", "/api/v1/users/1001"), ("DELETE", "/api/v1/users/1001")):
        st, doc = anon.request(method, path, body={"id": 1001} if method in ("POST", "PUT") else None)
        assert st == 401, (method, path, st, doc)
    assert sim.state(0)["users"] == 2  # nothing changed


def test_add_get_edit_delete_round_trip(sim, admin):
    user = {"id": 42, "name": "Zoë Brandt", "cards": ["0a0b0c0d"], "pin": PIN, "relays": [2],
            "valid_from": "2026-03-29T01:30", "valid_to": "2030-07-01",
            "plates": [{"plate": "b-xy 123", "to": "2031-01-01T12:00"}]}
    st, doc = admin.post("/api/v1/users", user)
    assert st == 201, doc
    assert doc["id"] == 42 and doc["name"] == "Zoë Brandt" and doc["cards"] == ["0A0B0C0D"]
    assert doc["has_pin"] is True and "pin" not in doc
    # local time of the site (CET/CEST) in, the same local time out; a bare end date = its last minute
    assert (doc["valid_from"], doc["valid_to"]) == ("2026-03-29T01:30", "2030-07-01T23:59")
    assert doc["plates"] == [{"plate": "BXY123", "to": "2031-01-01T12:00"}]
    assert admin.get("/api/v1/users/42") == (200, doc)

    # PUT: the PIN left out is kept, the rest replaced
    st, doc = admin.put("/api/v1/users/42", {"name": "Zoe Brandt", "cards": ["0A0B0C0E"], "relays": [1, 2]})
    assert st == 200, doc
    assert (doc["name"], doc["cards"], doc["relays"], doc["has_pin"]) == ("Zoe Brandt", ["0A0B0C0E"], [1, 2], True)
    assert doc["valid_to"] is None and doc["plates"] == []
    st, doc = admin.put("/api/v1/users/42", {"cards": ["0A0B0C0E"], "pin": None})
    assert st == 200 and doc["has_pin"] is False

    assert admin.delete("/api/v1/users/42") == (200, {"deleted": 42})
    assert admin.get("/api/v1/users/42")[0] == 404
    assert admin.delete("/api/v1/users/42")[0] == 404
    assert admin.put("/api/v1/users/42", {"name": "x"})[0] == 404


def test_added_card_opens_the_door_and_deleted_one_does_not(sim, admin):
    assert admin.post("/api/v1/users", {"id": 7, "name": "Gate", "cards": ["11223344"], "relays": [1]})[0] == 201
    sim.call("tap", uid="11223344", ms=100)
    st = sim.wait_for(lambda s: any(e["code"] == "11223344" for e in s["events"]))
    ev = [e for e in st["events"] if e["code"] == "11223344"][-1]
    assert (ev["result"], ev["user"], ev["relays"]) == ("granted", 7, [1])
    assert admin.delete("/api/v1/users/7")[0] == 200
    time.sleep(0.5)  # card gone long enough for the watcher to see a new tap
    sim.call("tap", uid="11223344", ms=100)
    st = sim.wait_for(lambda s: [e["result"] for e in s["events"] if e["code"] == "11223344"][-2:] == ["granted", "denied"])


def test_bad_users_are_refused_with_the_field_and_nothing_changes(sim, admin):
    before = admin.get("/api/v1/users")[1]
    cases = [
        ({"id": 50, "cards": ["zz"]}, "cards[0]"),
        ({"id": 50, "pin": "12ab"}, "pin"),
        ({"id": 50, "relays": [9]}, "relays"),
        ({"id": 50, "valid_from": "2026-13-01"}, "valid_from"),
        ({"id": 50, "colour": "red"}, "colour"),
        ({"id": 0}, "id"),
        ({"id": "50"}, "id"),
        ({"name": "no id"}, "id"),
    ]
    for body, field in cases:
        st, doc = admin.post("/api/v1/users", body)
        assert st == 400 and doc["field"] == field, (body, st, doc)
    # a card already held by someone else is refused too, naming the card
    st, doc = admin.post("/api/v1/users", {"id": 51, "cards": ["04A1B2C3"]})
    assert st == 400 and doc["field"].startswith("cards"), doc
    assert admin.post("/api/v1/users", {"id": 1001, "name": "dup"})[0] == 409
    assert admin.put("/api/v1/users/1001", {"id": 1002})[1]["field"] == "id"
    assert admin.get("/api/v1/users")[1] == before


def test_pages_and_search(sim, admin):
    for i in range(12):
        body = {"id": 300 + i, "name": "Tenant %02d" % i, "cards": ["AB%06X" % (0x100 + i)], "relays": [1]}
        r = admin.post("/api/v1/users", body)
        assert r[0] == 201, (r, sim.call("heap"))
    st, doc = admin.get("/api/v1/users?" + query(limit=5))
    assert st == 200 and doc["total"] == 14 and [u["id"] for u in doc["users"]] == [300, 301, 302, 303, 304]
    assert doc["next"] == 304
    doc = admin.get("/api/v1/users?" + query(after=309, limit=5))[1]
    assert [u["id"] for u in doc["users"]] == [310, 311, 1001, 1002] and doc["next"] is None
    doc = admin.get("/api/v1/users?" + query(q="TENANT 0", limit=2, after=300))[1]
    assert [u["id"] for u in doc["users"]] == [301, 302] and doc["next"] == 302, doc  # name, case ignored
    doc = admin.get("/api/v1/users?" + query(q="ab00010b"))[1]
    assert [u["id"] for u in doc["users"]] == [311] and doc["next"] is None  # card code
    doc = admin.get("/api/v1/users?" + query(q="1002"))[1]
    assert [u["id"] for u in doc["users"]] == [1002]  # id
    assert admin.get("/api/v1/users?" + query(q="nobody"))[1] == {"users": [], "next": None, "total": 14}
    assert admin.get("/api/v1/users?limit=500")[1]["field"] == "limit"
    assert admin.get("/api/v1/users?" + query(q="x" * 40))[1]["field"] == "q"
    for i in range(12):
        assert admin.delete("/api/v1/users/%d" % (300 + i))[0] == 200


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A simulator whose table has 240 users (ids 5, 10, ..., 1200): many pages."""
    users = [{"id": 5 * i, "name": "Resident %d" % (5 * i), "cards": ["%08X" % (0x0C000000 + i)]}
             for i in range(1, 241)]
    s = Sim(tmp_path_factory.mktemp("bigusers"), config=FAST_CONFIG, http=True, users={"users": users})
    yield s, admin_session(s.http)
    s.stop()
    print(s.output[-4000:])


def walk(admin, limit, **kw):
    """Every user id, page by page from the start; also the number of pages."""
    ids, pages, after = [], 0, 0
    while True:
        st, doc = admin.get("/api/v1/users?" + query(after=after, limit=limit, **kw))
        assert st == 200, doc
        pages += 1
        ids += [u["id"] for u in doc["users"]]
        assert len(doc["users"]) <= limit
        if doc["next"] is None:
            return ids, pages
        assert doc["next"] > after
        after = doc["next"]


def test_cursor_pages_give_every_user_once_in_id_order(big):
    sim, admin = big
    ids, pages = walk(admin, 37)
    assert ids == [5 * i for i in range(1, 241)] and pages == 7
    st, doc = admin.get("/api/v1/users?" + query(after=597, limit=3))  # between two ids
    assert [u["id"] for u in doc["users"]] == [600, 605, 610] and doc["next"] == 610 and doc["total"] == 240
    assert doc["users"][0] == admin.get("/api/v1/users/600")[1]  # the same form as one user


def test_cursor_walk_follows_adds_and_deletes(big):
    sim, admin = big
    assert admin.post("/api/v1/users", {"id": 2, "name": "Before all"})[0] == 201
    assert admin.post("/api/v1/users", {"id": 601, "name": "In between"})[0] == 201
    assert admin.post("/api/v1/users", {"id": 5000, "name": "After all"})[0] == 201
    assert admin.put("/api/v1/users/600", {"name": "Renamed"})[0] == 200
    for uid in (5, 605, 1200):
        assert admin.delete("/api/v1/users/%d" % uid)[0] == 200
    want = sorted({5 * i for i in range(1, 241)} - {5, 605, 1200} | {2, 601, 5000})
    for limit in (1, 50, 200):
        assert walk(admin, limit)[0] == want, limit
    doc = admin.get("/api/v1/users?" + query(after=595, limit=3))[1]
    assert [(u["id"], u["name"]) for u in doc["users"]] == [(600, "Renamed"), (601, "In between"), (610, "Resident 610")]
    assert doc["total"] == 240
    for uid in (2, 601, 5000):  # as it was
        assert admin.delete("/api/v1/users/%d" % uid)[0] == 200
    for uid in (5, 605, 1200):
        assert admin.post("/api/v1/users", {"id": uid, "name": "Resident %d" % uid,
                                            "cards": ["%08X" % (0x0C000000 + uid // 5)]})[0] == 201


def test_cursor_after_the_last_id_and_bad_cursors(big):
    sim, admin = big
    for after in (1200, 1201, 4294967295):
        assert admin.get("/api/v1/users?" + query(after=after))[1] == {"users": [], "next": None, "total": 240}
    for bad in ("-1", "abc", "4294967296", "1.5", ""):
        st, doc = admin.get("/api/v1/users?after=" + bad)
        assert st == 400 and doc["field"] == "after", (bad, st, doc)
    st, doc = admin.get("/api/v1/users?offset=40")  # the old paging: told what replaced it
    assert st == 400 and doc["field"] == "offset" and "after" in doc["error"]


def test_search_continues_from_the_cursor(big):
    sim, admin = big
    # "resident 11" is in the names of users 110-115 and 1100-1195: walked 4 at a time
    want = [i for i in range(5, 1201, 5) if str(i).startswith("11")]
    ids, pages = walk(admin, 4, q="RESIDENT 11")
    assert ids == want and pages >= 4
    doc = admin.get("/api/v1/users?" + query(after=110, limit=2, q="resident 11"))[1]
    assert [u["id"] for u in doc["users"]] == [115, 1100] and doc["next"] == 1100
    doc = admin.get("/api/v1/users?" + query(q="0c0000f0"))[1]  # user 1200's card
    assert [u["id"] for u in doc["users"]] == [1200] and doc["next"] is None
    assert admin.get("/api/v1/users?" + query(q="0c0000f0", after=1200))[1]["users"] == []


def test_no_secret_in_any_answer_or_log(sim, admin):
    assert admin.post("/api/v1/users", {"id": 60, "pin": PIN, "qr": "QR-SECRET-60"})[0] == 201
    texts = [repr(admin.get("/api/v1/users/60")[1]), repr(admin.get("/api/v1/users?q=60")[1]),
             repr(sim.state(20)), sim.output]
    for t in texts:
        assert PIN not in t and "QR-SECRET-60" not in t
    assert admin.delete("/api/v1/users/60")[0] == 200


def test_export_lists_every_user_without_secrets(sim, admin):
    assert admin.post("/api/v1/users", {"id": 61, "name": "Exported", "cards": ["0C0C0C0C"], "pin": PIN})[0] == 201
    st, doc = admin.get("/api/v1/users/export")
    assert st == 200, doc
    page = admin.get("/api/v1/users?limit=200")[1]
    assert doc["total"] == page["total"] == len(doc["users"]) and doc["users"] == page["users"]
    mine = [u for u in doc["users"] if u["id"] == 61][0]
    assert mine["has_pin"] is True and "pin" not in mine and PIN not in repr(doc)
    assert admin.delete("/api/v1/users/61")[0] == 200

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
    st, doc = admin.get("/api/v1/users?" + query(offset=0, limit=5))
    assert st == 200 and doc["total"] == 14 and [u["id"] for u in doc["users"]] == [300, 301, 302, 303, 304]
    doc = admin.get("/api/v1/users?" + query(offset=10, limit=5))[1]
    assert [u["id"] for u in doc["users"]] == [310, 311, 1001, 1002]
    doc = admin.get("/api/v1/users?" + query(q="TENANT 0", limit=2, offset=1))[1]
    assert doc["total"] == 10 and [u["id"] for u in doc["users"]] == [301, 302], doc  # name, case ignored
    doc = admin.get("/api/v1/users?" + query(q="ab00010b"))[1]
    assert [u["id"] for u in doc["users"]] == [311]  # card code
    doc = admin.get("/api/v1/users?" + query(q="1002"))[1]
    assert [u["id"] for u in doc["users"]] == [1002]  # id
    assert admin.get("/api/v1/users?" + query(q="nobody"))[1] == {"users": [], "total": 0, "offset": 0}
    assert admin.get("/api/v1/users?limit=500")[1]["field"] == "limit"
    assert admin.get("/api/v1/users?" + query(q="x" * 40))[1]["field"] == "q"
    for i in range(12):
        assert admin.delete("/api/v1/users/%d" % (300 + i))[0] == 200


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

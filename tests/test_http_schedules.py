"""Schedules and holidays (`GET`/`PUT /api/v1/schedules`) and the Wi-Fi network and password
(`GET`/`PUT /api/v1/network/wifi`) against the real firmware in the simulator (docs/http-api.md)."""
import calendar
import json
import time

import pytest

from httpclient import Api, admin_session
from simproc import Sim

MONDAY_10 = calendar.timegm((2026, 11, 23, 10, 0, 0))  # a Monday (site time zone UTC)
MONDAY_20 = calendar.timegm((2026, 11, 23, 20, 0, 0))  # after office hours
OFFICE = {"id": 2, "name": "Office", "weekly": [{"days": "mon-fri", "from": "08:00", "to": "18:00"}]}
NIGHT = {"id": 3, "name": "Night", "weekly": [{"days": "fri-sun", "from": "22:00", "to": "06:00"}],
         "dates": [{"from": "2026-01-01", "to": "2026-12-31"}], "holidays": ["2026-12-25"]}
USERS = {"schedules": [OFFICE, NIGHT],
         "users": [{"id": 1, "cards": ["0A000001"], "relays": [1]},
                   {"id": 4, "cards": ["0A000004"], "relays": [1], "schedules": ["Office"]}]}
CONFIG = {"relays": {"1": {"hold_ms": 300}, "2": {"hold_ms": 300}}, "reader": {"removal_ms": 150},
          "access": {"interval_same_s": 0, "interval_other_s": 0}}
WIFI_PASSWORD = "Corr3ct horse battery"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = Sim(tmp_path_factory.mktemp("schedules"), config=CONFIG, users=USERS, http=True, demo=False)
    s.wait_for(lambda st: st["reader"]["status"] == "ok", timeout=10)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def admin(sim):
    return admin_session(sim.http)


def tap(sim, card):
    """Tap `card`; returns the event it produced."""
    last = sim.state(1)["last_seq"]
    sim.call("tap", uid=card, ms=80)
    st = sim.wait_for(lambda st: st["last_seq"] > last and st["events"][-1]["kind"] == "card", events=3)
    time.sleep(0.2)  # (the card is gone long enough for the next tap to be a new one)
    return [e for e in st["events"] if e["seq"] > last and e["kind"] == "card"][-1]


def test_routes_need_the_admin(sim):
    anon = Api(sim.http)
    for method, path in (("GET", "/api/v1/schedules"), ("PUT", "/api/v1/schedules"),
                         ("GET", "/api/v1/network/wifi"), ("PUT", "/api/v1/network/wifi")):
        st, doc = anon.request(method, path, body={} if method == "PUT" else None)
        assert st == 401, (method, path, st, doc)


def test_get_gives_the_document_form(admin):
    st, doc = admin.get("/api/v1/schedules")
    assert st == 200
    assert doc == {"schedules": [dict(OFFICE, dates=[], holidays=[]), NIGHT]}


def test_each_mistake_is_refused_naming_its_field_and_nothing_changes(sim, admin):
    serial = admin.get("/api/v1/status")[1]["table"]["serial"]
    bad = [
        ({"schedules": [OFFICE, dict(NIGHT, weekly=[{"days": "fri-sun", "from": "25:00", "to": "06:00"}])]},
         "schedules[1].weekly[0].from", "HH:MM"),
        ({"schedules": [dict(OFFICE, weekly=[{"days": "someday", "from": "08:00", "to": "18:00"}])]},
         "schedules[0].weekly[0].days", "mon-fri"),
        ({"schedules": [OFFICE, dict(NIGHT, id=2)]}, "schedules[1].id", "used twice"),
        ({"schedules": [OFFICE, dict(NIGHT, name="office")]}, "schedules[1].name", "already used"),
        ({"schedules": [dict(OFFICE, id=1)]}, "schedules[0].id", "2-255"),
        ({"schedules": [dict(OFFICE, holidays=["2026-02-30"])]}, "schedules[0].holidays[0]", "YYYY-MM-DD"),
        ({"schedules": [dict(OFFICE, dates=[{"from": "2026-05-01", "to": "2026-04-01"}])]}, "schedules[0].dates[0]", "before"),
        ({"schedules": [dict(OFFICE, colour="red")]}, "schedules[0].colour", "unknown field"),
        ({"schedules": [dict(OFFICE, weekly=[{"days": "mon", "from": "08:00", "to": "09:00"}] * 33)]},
         "schedules[0].weekly", "at most 32"),
        ({"schedules": {"id": 2}}, "schedules", "list"),
        ({"schedule": []}, "schedule", "unknown field"),
    ]
    for body, field, words in bad:
        st, doc = admin.put("/api/v1/schedules", body)
        assert st == 400 and doc["field"] == field and words in doc["error"], (body, st, doc)
    assert admin.get("/api/v1/status")[1]["table"]["serial"] == serial  # no table written
    assert admin.get("/api/v1/schedules")[1]["schedules"][0]["weekly"] == OFFICE["weekly"]


def test_a_wider_schedule_opens_at_once_and_holidays_close(sim, admin):
    sim.call("clock", set=MONDAY_20)
    ev = tap(sim, "0A000004")
    assert (ev["result"], ev["reason"], ev["user"]) == ("denied", "schedule", 4)
    # an edit still in the journal is merged into the new table, not lost
    assert admin.post("/api/v1/users", {"id": 9, "cards": ["0A000009"], "relays": [1], "schedules": ["Night"]})[0] == 201
    before = admin.get("/api/v1/status")[1]["table"]
    assert before["journal"] == 1
    wide = dict(OFFICE, weekly=[{"days": "mon-fri", "from": "08:00", "to": "22:00"}])
    st, doc = admin.put("/api/v1/schedules", {"schedules": [wide, NIGHT]})
    assert st == 200, doc
    assert doc["schedules"][0]["weekly"] == wide["weekly"]
    ev = tap(sim, "0A000004")  # the same tap, at the same time: granted now
    assert (ev["result"], ev["user"]) == ("granted", 4)
    after = admin.get("/api/v1/status")[1]["table"]
    assert after["serial"] == before["serial"] + 1 and after["journal"] == 0
    assert admin.get("/api/v1/users/9")[1]["schedules"] == [3]
    assert admin.put("/api/v1/schedules", {"schedules": [wide, NIGHT]}) == (200, doc)  # the same set again:
    assert admin.get("/api/v1/status")[1]["table"]["serial"] == after["serial"]  # no table written
    # today a holiday of Office: closed all day
    st, doc = admin.put("/api/v1/schedules", {"schedules": [dict(wide, holidays=["2026-11-23"]), NIGHT]})
    assert st == 200 and doc["schedules"][0]["holidays"] == ["2026-11-23"]
    sim.call("clock", set=MONDAY_10)
    ev = tap(sim, "0A000004")
    assert (ev["result"], ev["reason"]) == ("denied", "schedule")
    assert tap(sim, "0A000001")["result"] == "granted"  # Always: holidays are a schedule's own
    assert admin.put("/api/v1/schedules", {"schedules": [wide, NIGHT]})[0] == 200
    assert tap(sim, "0A000004")["result"] == "granted"


def test_a_schedule_in_use_is_not_removed(sim, admin):
    st, doc = admin.put("/api/v1/schedules", {"schedules": [OFFICE]})  # Night: user 9 has it
    assert st == 409 and doc["field"] == "schedules"
    assert "schedule 3 (Night)" in doc["error"] and "user 9" in doc["error"]
    assert len(admin.get("/api/v1/schedules")[1]["schedules"]) == 2
    # a relay held open during a schedule: the schedule can't go, nor be renamed, before the relay changes
    assert admin.patch("/api/v1/config", {"relays": {"2": {"schedule": "Office"}}})[0] == 200
    try:
        st, doc = admin.put("/api/v1/schedules", {"schedules": [dict(OFFICE, name="Daytime"), NIGHT]})
        assert st == 409 and "relay 2" in doc["error"] and "relays.2.schedule" in doc["error"]
    finally:
        assert admin.patch("/api/v1/config", {"relays": {"2": {"schedule": ""}}})[0] == 200
    assert admin.delete("/api/v1/users/9")[0] == 200
    st, doc = admin.put("/api/v1/schedules", {"schedules": [OFFICE]})
    assert st == 200 and [s["name"] for s in doc["schedules"]] == ["Office"]
    # a user can't be given a schedule that is gone
    st, doc = admin.post("/api/v1/users", {"id": 10, "cards": ["0A00000A"], "schedules": ["Night"]})
    assert st == 400 and doc["field"] == "schedules"
    assert admin.put("/api/v1/schedules", {"schedules": [OFFICE, NIGHT]})[0] == 200


def restarted(s):
    """The simulator `s` (stopped) started again on its flash; signed in."""
    again = Sim(s.tmpdir, flash=s.flash, http=True, demo=False)
    admin = Api(again.http)
    admin.login("s3cret-door")
    return again, admin


def test_schedules_survive_a_restart(tmp_path):
    s = Sim(tmp_path, config=CONFIG, users=USERS, http=True, demo=False)
    try:
        admin = admin_session(s.http)
        late = dict(OFFICE, weekly=[{"days": "sat", "from": "09:00", "to": "12:00"}], holidays=["2026-12-26"])
        assert admin.put("/api/v1/schedules", {"schedules": [late]})[0] == 200
    finally:
        s.stop()
    s, admin = restarted(s)
    try:
        assert admin.get("/api/v1/schedules")[1] == {"schedules": [dict(late, dates=[])]}
    finally:
        s.stop()


# --- Wi-Fi ------------------------------------------------------------------------------------

def read_flash_file(image, name):
    from littlefs import LittleFS

    data = bytearray(open(image, "rb").read())
    fs = LittleFS(block_size=4096, block_count=len(data) // 4096, read_size=32, prog_size=32,
                  lookahead_size=32, mount=False)
    fs.context.buffer = data
    fs.mount()
    with fs.open(name, "r") as f:
        return f.read()


def test_wifi_password_is_write_only(tmp_path):
    s = Sim(tmp_path, config=CONFIG, http=True)
    try:
        admin = admin_session(s.http)
        assert admin.get("/api/v1/network/wifi") == (200, {"ssid": "", "password_set": False})
        for pw in ("short", "x" * 64, "caf\u00e9-latte-9", "tab\there-ok"):
            st, doc = admin.put("/api/v1/network/wifi", {"ssid": "site-wifi", "password": pw})
            assert st == 400 and doc["field"] == "password" and "8-63" in doc["error"], (pw, doc)
            assert pw not in json.dumps(doc)
        st, doc = admin.put("/api/v1/network/wifi", {"ssid": "x" * 33, "password": WIFI_PASSWORD})
        assert st == 400 and doc["field"] == "ssid"
        assert admin.put("/api/v1/network/wifi", {"password": WIFI_PASSWORD})[1]["field"] == "ssid"
        assert admin.get("/api/v1/network/wifi")[1] == {"ssid": "", "password_set": False}  # nothing stored

        st, doc = admin.put("/api/v1/network/wifi", {"ssid": "site-wifi", "password": WIFI_PASSWORD})
        assert st == 200 and doc == {"ssid": "site-wifi", "password_set": True}
        assert admin.last_headers.get("Restart-Required") == "network"
        assert admin.get("/api/v1/config")[1]["network"]["ssid"] == "site-wifi"
        # a new network without its password is refused; the same network keeps the stored one
        st, doc = admin.put("/api/v1/network/wifi", {"ssid": "other-net"})
        assert st == 400 and doc["field"] == "password"
        assert admin.put("/api/v1/network/wifi", {"ssid": "site-wifi"})[1] == {"ssid": "site-wifi", "password_set": True}

        seen = ""
        for path in ("/api/v1/network/wifi", "/api/v1/config", "/api/v1/status", "/api/v1/events?since=0&limit=200",
                     "/api/v1/users/export", "/api/v1/alarms", "/api/v1/relays", "/api/v1/schedules"):
            st, doc = admin.get(path)
            assert st == 200, path
            seen += json.dumps(doc)
        seen += json.dumps([e for e in s.state(200)["events"]])
        assert WIFI_PASSWORD not in seen and "Corr3ct" not in seen
    finally:
        s.stop()
    assert WIFI_PASSWORD not in s.output and "Corr3ct" not in s.output  # nor on the console
    assert json.loads(read_flash_file(s.flash, "secrets.json"))["wifi_password"] == WIFI_PASSWORD

    s, admin = restarted(s)  # still set after a restart; "" makes it an open network
    try:
        assert admin.get("/api/v1/network/wifi")[1] == {"ssid": "site-wifi", "password_set": True}
        st, doc = admin.put("/api/v1/network/wifi", {"ssid": "cafe-open", "password": ""})
        assert st == 200 and doc == {"ssid": "cafe-open", "password_set": False}
    finally:
        s.stop()
    assert WIFI_PASSWORD not in s.output
    assert "wifi_password" not in json.loads(read_flash_file(s.flash, "secrets.json"))

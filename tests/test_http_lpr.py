"""Licence plates from an LPR camera: POST /api/v1/lpr on the real firmware in the simulator
(ESP32 heap), decided by the access engine over the user table, the gate relay opened and the
event logged; the camera's own account; LPR disabled. docs/http-api.md "Licence plates"."""
import calendar
import os
import subprocess
import sys

import pytest

from httpclient import Api, admin_session
from simproc import FAST_CONFIG, Sim, SimError

DOORCTL = os.path.join(os.path.dirname(sys.executable), "doorctl")

JUNE_15 = calendar.timegm((2026, 6, 15, 12, 0, 0))  # inside the visitor's window (site TZ UTC)
MAY_1 = calendar.timegm((2026, 5, 1, 12, 0, 0))
JULY_1 = calendar.timegm((2026, 7, 1, 12, 0, 0))

USERS = {"users": [
    {"id": 501, "name": "Van", "plates": [{"plate": "AB12CDE"}], "relays": [1]},  # long-term vehicle
    {"id": 502, "name": "Visitor", "relays": [1, 2],
     "plates": [{"plate": "XY99ZZZ", "from": "2026-06-01T00:00", "to": "2026-06-30T23:59"}]},
    {"id": 503, "name": "Yard", "plates": [{"plate": "R2D2"}], "relays": [2]},
]}
CONFIG = dict(FAST_CONFIG, lpr={"enabled": True, "relay": 1})


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = Sim(tmp_path_factory.mktemp("lpr"), config=CONFIG, users=USERS, http=True)
    s.call("clock", set=JUNE_15)
    yield s
    s.stop()
    print(s.output[-4000:])


@pytest.fixture(scope="module")
def admin(sim):
    return admin_session(sim.http)


def pulses(sim):
    rel = sim.state(0)["relays"]
    return {k: rel[k]["pulses"] for k in rel}


def post(api, sim, body):
    """POST /api/v1/lpr; returns (status, answer, relay pulses since, new events)."""
    before, last = pulses(sim), sim.state(0)["last_seq"]
    st, doc = api.post("/api/v1/lpr", body)
    after = pulses(sim)
    evs = sim.call("events", since=last)["events"]
    return st, doc, {k: after[k] - before[k] for k in after}, evs


def test_known_plate_in_any_spelling_opens_the_gate_relay(sim, admin):
    st, doc, opened, evs = post(admin, sim, {"plate": "ab 12-cde", "camera": "gate-1"})
    assert st == 200, doc
    assert doc == {"granted": True, "reason": "ok", "relays": [1], "user": 501, "plate": "AB12CDE"}
    assert opened == {"1": 1, "2": 0}
    assert [(e["kind"], e["code"], e["user"], e["result"], e["reason"], e["relays"]) for e in evs] == [
        ("plate", "AB12CDE", 501, "granted", "ok", [1])]


def test_gate_relay_restricts_what_a_plate_opens(sim, admin):
    # the visitor may open relays 1 and 2: the camera's gate is relay 1 only
    st, doc, opened, _ = post(admin, sim, {"plate": "XY 99 ZZZ"})
    assert (st, doc["granted"], doc["relays"], opened) == (200, True, [1], {"1": 1, "2": 0})
    # a user without rights on the gate relay is denied there, granted where the request says
    st, doc, opened, evs = post(admin, sim, {"plate": "r2d2"})
    assert (doc["granted"], doc["reason"], doc["user"], opened) == (False, "no_relay_rights", 503, {"1": 0, "2": 0})
    assert (evs[-1]["kind"], evs[-1]["reason"], evs[-1]["code"]) == ("plate", "no_relay_rights", "R2D2")
    st, doc, opened, _ = post(admin, sim, {"plate": "R2-D2", "relay": 2})
    assert (doc["granted"], doc["relays"], opened) == (True, [2], {"1": 0, "2": 1})


def test_unknown_plate_is_denied_and_logged(sim, admin):
    st, doc, opened, evs = post(admin, sim, {"plate": "ZZ 000"})
    assert st == 200  # a decision, not an HTTP error
    assert doc == {"granted": False, "reason": "unknown_credential", "relays": [], "user": None, "plate": "ZZ000"}
    assert opened == {"1": 0, "2": 0}
    assert [(e["kind"], e["code"], e["result"], e["reason"]) for e in evs] == [
        ("plate", "ZZ000", "denied", "unknown_credential")]


def test_plate_window(sim, admin):
    try:
        for now, reason in ((MAY_1, "not_yet_valid"), (JULY_1, "expired")):
            sim.call("clock", set=now)
            st, doc, opened, evs = post(admin, sim, {"plate": "XY99ZZZ"})
            assert (st, doc["granted"], doc["reason"], doc["user"]) == (200, False, reason, 502)
            assert opened == {"1": 0, "2": 0}
            assert (evs[-1]["result"], evs[-1]["reason"]) == ("denied", reason)
            # the long-term vehicle has no window
            assert post(admin, sim, {"plate": "AB12CDE"})[1]["granted"] is True
    finally:
        sim.call("clock", set=JUNE_15)


@pytest.mark.parametrize("body, field", [
    ({"plate": "AB-12 CDÉ"}, "plate"),  # not A-Z/0-9
    ({"plate": " - "}, "plate"),  # nothing left
    ({"plate": "ABCDEFGHIJK"}, "plate"),  # 11 characters
    ({"plate": 12345}, "plate"),
    ({}, "plate"),
    ({"plate": "AB12CDE", "relay": 3}, "relay"),  # not on this board
    ({"plate": "AB12CDE", "relay": True}, "relay"),
    ({"plate": "AB12CDE", "camera": "x" * 33}, "camera"),
    ({"plate": "AB12CDE", "image": "/9j/4AAQ"}, "image"),  # unknown field
])
def test_bad_input_names_the_field_and_opens_nothing(sim, admin, body, field):
    st, doc, opened, evs = post(admin, sim, body)
    assert (st, doc["field"]) == (400, field), doc
    assert opened == {"1": 0, "2": 0} and evs == []


def test_needs_authentication(sim, admin):
    anon = Api(sim.http)
    st, doc, opened, evs = post(anon, sim, {"plate": "AB12CDE"})
    assert (st, doc["error"]) == (401, "authentication required")
    assert opened == {"1": 0, "2": 0} and evs == []
    basic = Api(sim.http)
    basic.basic = "admin:s3cret-door"  # the admin account works with Basic too
    assert post(basic, sim, {"plate": "AB12CDE"})[1]["granted"] is True


def test_camera_account(sim, admin):
    cam = Api(sim.http)
    cam.basic = "gatecam:cam-pass-1"
    assert cam.post("/api/v1/lpr", {"plate": "AB12CDE"})[0] == 401  # no camera account yet
    for body, field in (({"username": "admin", "password": "cam-pass-1"}, "username"),
                        ({"username": "a:b", "password": "cam-pass-1"}, "username"),
                        ({"username": "gatecam", "password": "short"}, "password"),
                        ({"username": "gatecam"}, "password")):
        st, doc = admin.post("/api/v1/lpr/camera", body)
        assert (st, doc["field"]) == (400, field)
    st, doc = admin.post("/api/v1/lpr/camera", {"username": "gatecam", "password": "cam-pass-1"})
    assert (st, doc) == (200, {"username": "gatecam"})
    st, doc, opened, evs = post(cam, sim, {"plate": "ab12cde"})
    assert (st, doc["granted"], opened["1"]) == (200, True, 1)
    assert post(cam, sim, {"plate": "ab12cde"})[1]["granted"] is True  # again (Basic header cached)
    st, doc, opened, evs = post(cam, sim, {"plate": "ab12cde", "relay": 2})  # only the gate relay
    assert (st, doc["field"], opened, evs) == (403, "relay", {"1": 0, "2": 0}, [])
    assert post(cam, sim, {"plate": "ab12cde", "relay": 1})[1]["granted"] is True
    # good for nothing else: not the status, not the camera account, not a relay
    for method, path, body in (("GET", "/api/v1/status", None), ("POST", "/api/v1/lpr/camera", {"username": ""}),
                               ("POST", "/api/v1/relays/1/open", {})):
        st, doc = cam.request(method, path, body=body)
        assert st == 403 and "may only post plates" in doc["error"], (path, st, doc)
    cfg = admin.get("/api/v1/config")[1]
    assert cfg["lpr"]["username"] == "gatecam" and "cam-pass-1" not in repr(cfg)
    wrong = Api(sim.http)
    wrong.basic = "gatecam:wrong-pass"
    st, doc, opened, evs = post(wrong, sim, {"plate": "AB12CDE"})
    assert st == 401 and opened == {"1": 0, "2": 0}
    assert [(e["kind"], e["reason"]) for e in evs] == [("api", "auth_failed")]
    # a new password: the old header (cached) no longer works; removing the account ends it
    assert admin.post("/api/v1/lpr/camera", {"username": "gatecam", "password": "cam-pass-2"})[0] == 200
    assert cam.post("/api/v1/lpr", {"plate": "AB12CDE"})[0] == 401
    cam.basic = "gatecam:cam-pass-2"
    assert cam.post("/api/v1/lpr", {"plate": "AB12CDE"})[0] == 200
    # renamed through the config: the old password doesn't come along (a new one must be set)
    assert admin.patch("/api/v1/config", {"lpr": {"username": "gatecam2"}})[0] == 200
    for basic in ("gatecam:cam-pass-2", "gatecam2:cam-pass-2"):
        cam.basic = basic
        assert cam.post("/api/v1/lpr", {"plate": "AB12CDE"})[0] == 401, basic
    assert admin.post("/api/v1/lpr/camera", {"username": "gatecam2", "password": "cam-pass-3"})[0] == 200
    cam.basic = "gatecam2:cam-pass-3"
    assert cam.post("/api/v1/lpr", {"plate": "AB12CDE"})[0] == 200
    assert admin.post("/api/v1/lpr/camera", {"username": ""}) == (200, {"username": ""})
    assert cam.post("/api/v1/lpr", {"plate": "AB12CDE"})[0] == 401
    assert admin.get("/api/v1/config")[1]["lpr"]["username"] == ""


def test_disabled_lpr_is_refused(sim, admin):
    st, doc = admin.patch("/api/v1/config", {"lpr": {"relay": 5}})
    assert (st, doc["field"]) == (400, "lpr.relay")
    assert admin.patch("/api/v1/config", {"lpr": {"enabled": False}})[0] == 200
    try:
        st, doc, opened, evs = post(admin, sim, {"plate": "AB12CDE"})
        assert st == 403 and "disabled" in doc["error"]
        assert opened == {"1": 0, "2": 0} and evs == []
        with pytest.raises(SimError, match="disabled"):
            sim.call("plate", plate="AB12CDE")
    finally:
        assert admin.patch("/api/v1/config", {"lpr": {"enabled": True}})[0] == 200


def test_doorctl_sim_plate(sim):
    """`doorctl sim plate TEXT`: a camera's read through the simulator's control channel (the
    route's own code, without the HTTP request)."""
    before = pulses(sim)
    r = subprocess.run([DOORCTL, "sim", "plate", "ab-12 cde", "--control", sim.control],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "plate AB12CDE granted (ok) relays [1]"
    assert pulses(sim)["1"] == before["1"] + 1
    assert sim.state(1)["events"][-1]["code"] == "AB12CDE"
    r = subprocess.run([DOORCTL, "sim", "plate", "AB!", "--control", sim.control],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "plate" in r.stderr and "Traceback" not in r.stderr

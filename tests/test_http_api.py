"""The device HTTP API, served by the real firmware in the simulator (MicroPython, ESP32 heap)."""
import base64
import json
import time

import pytest

import httpclient
from httpclient import Api, admin_session, query
from simproc import FAST_CONFIG, Sim

CHALLENGE = b'\r\nWWW-Authenticate: Basic realm="doorctl"\r\n'


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = Sim(tmp_path_factory.mktemp("api"), config=FAST_CONFIG, http=True)
    yield s
    s.stop()
    print(s.output[-4000:])


@pytest.fixture(scope="module")
def admin(sim):
    return admin_session(sim.http)


def test_every_route_needs_authentication(sim):
    anon = Api(sim.http)
    for path in ("/api/v1/status", "/api/v1/config", "/api/v1/events", "/api/v1/relays"):
        st, doc = anon.get(path)
        assert st == 401 and doc["error"] == "authentication required", path
    assert anon.post("/api/v1/relays/1/open", {})[0] == 401
    assert anon.post("/api/relay/trig", {"target": "relay", "action": "trig", "data": {"num": 1}})[0] == 401
    st, doc = anon.get("/fcgi/do?" + query(action="OpenDoor", UserName="admin", Password="admin", DoorNum=1))
    assert st == 403  # Open Relay Via HTTP is disabled by default
    assert not sim.state()["relays"]["1"]["on"]


def test_first_boot_password_only_changes_itself(sim, admin):
    # `admin` fixture already changed it: the first-boot password no longer works
    api = Api(sim.http)
    st, _ = api.post("/api/v1/login", {"username": "admin", "password": "admin"})
    assert st == 401
    assert admin.get("/api/v1/status")[0] == 200


def test_first_boot_flow(tmp_path):
    s = Sim(tmp_path, http=True)
    try:
        api = Api(s.http)
        doc = api.login("admin")
        assert doc["password_change_required"] is True
        st, doc = api.get("/api/v1/status")
        assert st == 403 and "must be changed" in doc["error"]
        st, doc = api.post("/api/v1/password", {"old": "admin", "new": "short"})
        assert st == 400 and doc["field"] == "new"
        st, doc = api.post("/api/v1/password", {"old": "admin", "new": "admin"})
        assert st == 400
        assert api.post("/api/v1/password", {"old": "admin", "new": "long-enough-1"})[0] == 200
        assert api.get("/api/v1/status")[0] == 401  # tokens revoked by the change
        api.login("long-enough-1")
        assert api.get("/api/v1/status")[0] == 200
    finally:
        s.stop()
    s2 = Sim(tmp_path, flash=s.flash, http=True)  # the new password survives a restart
    try:
        Api(s2.http).login("long-enough-1")
    finally:
        s2.stop()


def test_basic_auth(sim, admin):
    api = Api(sim.http)
    api.basic = "admin:s3cret-door"
    assert api.get("/api/v1/status")[0] == 200
    wrong = base64.b64encode(b"admin:wrong")
    out = raw(sim, b"GET /api/v1/status HTTP/1.1\r\nAuthorization: Basic %s\r\n\r\n" % wrong)
    assert out.startswith(b"HTTP/1.1 429 ") or out.startswith(b"HTTP/1.1 401 ")


def test_basic_challenge_only_on_vendor_routes(sim, admin):
    """A browser that answers a Basic challenge keeps sending the password with every request to
    the device, those other web sites make it send included: the API never asks for it; the
    vendor's routes do (their clients expect the challenge), and they check the origin."""
    for auth in (b"", b"Authorization: Digest x\r\n", b"Authorization: Bearer 00\r\n"):
        out = raw(sim, b"GET /api/v1/status HTTP/1.1\r\n" + auth + b"\r\n")
        assert out.startswith(b"HTTP/1.1 401 "), out
        assert b"www-authenticate" not in out.lower(), out
    body = b'{"target": "relay", "action": "trig", "data": {"num": 1}}'
    for path in (b"/api/relay/trig", b"/api/v1/lpr"):
        out = raw(sim, b"POST %s HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                  % (path, len(body), body))
        assert out.startswith(b"HTTP/1.1 401 ") and CHALLENGE in out, out


def test_status_has_no_secrets(sim, admin):
    st, doc = admin.get("/api/v1/status")
    assert st == 200
    for key in ("version", "uptime_s", "heap_free", "users", "reader", "clock", "events"):
        assert key in doc
    text = repr(doc) + repr(admin.get("/api/v1/config")[1])
    for word in ("hash", "password", "pbkdf2", "site_key"):
        assert word not in text


def test_open_relay_and_event(sim, admin):
    st, doc = admin.post("/api/v1/relays/2/open", {"seconds": 1})
    assert st == 200
    st_ = sim.wait_for(lambda s: s["relays"]["2"]["on"])
    ev = st_["events"][-1]
    assert (ev["kind"], ev["result"], ev["relays"], ev["code"]) == ("api", "granted", [2], "admin")
    assert admin.post("/api/v1/relays/9/open", {})[0] == 404
    assert admin.post("/api/v1/relays/1/open", {"seconds": -1})[1]["field"] == "seconds"
    st, doc = admin.post("/api/relay/trig", {"target": "relay", "action": "trig", "data": {"num": 1, "delay": 1}})
    assert st == 200 and doc["retcode"] == 0
    sim.wait_for(lambda s: s["relays"]["1"]["on"])


def test_events_by_cursor(sim, admin):
    st, doc = admin.get("/api/v1/events?since=0&limit=2")
    assert st == 200 and len(doc["events"]) <= 2
    last = doc["last_seq"]
    st, doc = admin.get("/api/v1/events?" + query(since=last))
    assert doc["events"] == []
    assert admin.get("/api/v1/events?limit=0")[1]["field"] == "limit"
    assert admin.get("/api/v1/events?since=x")[1]["field"] == "since"


def test_events_stream_page_by_page_in_order(sim, admin):
    """Event pages are streamed a few events at a time: every event arrives once, in order,
    whole, however the pages cut the log."""
    for _ in range(11):
        assert admin.post("/api/v1/relays/2/open", {})[0] == 200
    st, whole = admin.get("/api/v1/events?since=0&limit=200")
    assert st == 200 and len(whole["events"]) >= 11
    seqs = [e["seq"] for e in whole["events"]]
    assert seqs == list(range(1, whole["last_seq"] + 1))  # none lost or doubled (the ring is not full)
    assert whole["events"][-1]["kind"] == "api" and whole["events"][-1]["relays"] == [2]
    got, since = [], 0
    while True:
        st, doc = admin.get("/api/v1/events?" + query(since=since, limit=3))
        assert st == 200 and len(doc["events"]) <= 3
        if not doc["events"]:
            break
        got += doc["events"]
        since = doc["events"][-1]["seq"]
    assert got == whole["events"]


def test_config_update_validated_and_atomic(sim, admin):
    st, before = admin.get("/api/v1/config")
    st, doc = admin.patch("/api/v1/config", {"relays": {"1": {"hold_ms": 5}}})
    assert st == 400 and doc["field"] == "relays.1.hold_ms"
    st, doc = admin.patch("/api/v1/config", {"relays": {"1": {"hold_ms": 700}}, "inputs": {"exit": {"trigger": "sideways"}}})
    assert st == 400 and doc["field"] == "inputs.exit.trigger"
    assert admin.get("/api/v1/config")[1] == before  # nothing applied
    st, doc = admin.patch("/api/v1/config", {"bogus": 1})
    assert st == 400 and doc["field"] == "bogus"
    st, doc = admin.patch("/api/v1/config", {"relays": {"1": {"schedule": "Nope"}}})  # no such schedule in the table
    assert st == 400 and "schedule" in doc["field"], doc
    assert admin.get("/api/v1/config")[1] == before  # refused whole: nothing stored or live
    st, doc = admin.patch("/api/v1/config", {"relays": {"1": {"hold_ms": 700}}})
    assert st == 200 and doc["relays"]["1"]["hold_ms"] == 700 and doc["relays"]["2"] == before["relays"]["2"]
    assert admin.get("/api/v1/status")[1]["restart_required"] is False
    # a card format change is stored but runs only after a restart: the answer and status say so
    fmt = before["card"]["format"]
    st, doc = admin.patch("/api/v1/config", {"card": {"format": "10D" if fmt != "10D" else "8HN"}})
    assert st == 200 and admin.last_headers.get("Restart-Required") == "card.format"
    assert admin.get("/api/v1/status")[1]["restart_required"] is True
    assert admin.patch("/api/v1/config", {"card": {"format": fmt}})[0] == 200
    assert admin.get("/api/v1/status")[1]["restart_required"] is False


def test_vendor_open_door(sim, admin):
    assert admin.post("/api/v1/http-open", {"enabled": True, "username": "opener", "password": "gate-pass-1"})[0] == 200
    anon = Api(sim.http)
    url = "/fcgi/do?" + query(action="OpenDoor", UserName="opener", Password="gate-pass-1", DoorNum=2)
    st, doc = anon.get(url)
    assert st == 200 and doc["retcode"] == 0
    sim.wait_for(lambda s: s["relays"]["2"]["on"])
    st, _ = anon.get("/fcgi/do?" + query(action="OpenDoor", UserName="opener", Password="nope", DoorNum=2))
    assert st == 401
    assert anon.get("/fcgi/do?" + query(action="Reboot"))[0] == 400
    cfg = admin.get("/api/v1/config")[1]
    assert "gate-pass-1" not in repr(cfg)


def test_head_never_opens_the_door(sim, admin):
    """HEAD on the vendor OpenDoor route, with valid credentials: 405 with `Allow: GET` and the
    handler never runs (no relay pulse, no event); the same request as GET does open."""
    assert admin.post("/api/v1/http-open", {"enabled": True, "username": "opener", "password": "gate-pass-1"})[0] == 200
    url = "/fcgi/do?" + query(action="OpenDoor", UserName="opener", Password="gate-pass-1", DoorNum=1)
    before = sim.wait_for(lambda s: not s["relays"]["1"]["on"])
    head, body = split(raw(sim, b"HEAD %s HTTP/1.1\r\nHost: x\r\n\r\n" % url.encode()))
    assert head.startswith(b"HTTP/1.1 405 ") and body == b"", head
    assert b"\r\nAllow: GET\r\n" in head + b"\r\n", head
    time.sleep(0.5)
    after = sim.state()
    assert not after["relays"]["1"]["on"]
    assert after["relays"]["1"]["pulses"] == before["relays"]["1"]["pulses"]
    assert after["last_seq"] == before["last_seq"]
    st, doc = Api(sim.http).get(url)
    assert st == 200 and doc["retcode"] == 0
    sim.wait_for(lambda s: s["relays"]["1"]["pulses"] > before["relays"]["1"]["pulses"])


def test_failed_logins_lock_out_with_growing_delay(sim):
    api = Api(sim.http)
    codes = [api.post("/api/v1/login", {"username": "admin", "password": "guess%d" % i})[0] for i in range(6)]
    assert codes[0] == 401 and 429 in codes
    st, doc = api.post("/api/v1/login", {"username": "admin", "password": "s3cret-door"})
    assert st == 429 and "retry in" in doc["error"]  # even the right password waits


def raw(sim, data, read=True, timeout=8, source=None):
    return httpclient.raw(sim.http, data, read, timeout, source)


def test_malformed_requests_get_4xx_and_change_nothing(sim, admin):
    before = admin.get("/api/v1/config")[1]
    assert raw(sim, b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert raw(sim, b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nNoColonHeader\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert raw(sim, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 431 ")
    assert raw(sim, b"POST /api/v1/login HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").startswith(b"HTTP/1.1 411 ")
    assert raw(sim, b"GET /api/v1/status HTTP/1.1\r\nContent-Length: -5\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    st, doc = admin.request("PATCH", "/api/v1/config", raw=b"{not json", headers={"Content-Type": "application/json"})
    assert st == 400
    st, doc = admin.request("PATCH", "/api/v1/config", raw=b"[1, 2]", headers={"Content-Type": "application/json"})
    assert st == 400
    st, doc = admin.request("PATCH", "/api/v1/config", raw=b"{}")  # no Content-Type: not JSON
    assert st == 415
    st, doc = admin.request("PATCH", "/api/v1/config", raw=b"{" + b" " * 20000 + b"}")
    assert st == 413
    assert admin.get("/../../etc/passwd")[0] == 400  # one spelling of a path: no dot segments
    assert admin.get("/api/v1/../../../etc/passwd")[0] == 400
    # a body shorter than its Content-Length: the request times out, the server lives on
    out = raw(sim, b"PATCH /api/v1/config HTTP/1.1\r\nContent-Length: 100\r\n\r\n{}", timeout=15)
    assert out.startswith(b"HTTP/1.1 408 ") or out.startswith(b"HTTP/1.1 401 ")
    assert admin.get("/api/v1/config")[1] == before
    assert admin.get("/api/v1/status")[0] == 200


def test_slowloris_does_not_block_others(sim, admin):
    slow = [raw(sim, b"GET /api/v1/status HTTP/1.1\r\nX-Slow: ", read=False) for _ in range(2)]
    try:
        t0 = time.time()
        assert admin.get("/api/v1/status")[0] == 200  # served while two connections dangle
        assert time.time() - t0 < 5
        for s in slow:  # past the header timeout (5 s) the server answers 408 and drops them
            s.settimeout(max(0.5, t0 + 8 - time.time()))
            assert s.recv(100).startswith(b"HTTP/1.1 408 ")
        assert time.time() - t0 >= 4.5  # (the timeout, not a refusal at once)
    finally:
        for s in slow:
            s.close()


def test_fifth_client_gets_a_clean_busy_answer(sim, admin):
    """Four connections hold every slot; the fifth is answered 503 busy and closed in order
    (its request read first: closing with it unread would reset the connection and the
    client would see no answer at all)."""
    slow = [raw(sim, b"GET /api/v1/status HTTP/1.1\r\nX-Slow: ", read=False) for _ in range(4)]
    try:
        time.sleep(0.3)
        for _ in range(3):
            out = raw(sim, b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 600 + b"\r\n\r\n")
            assert out.startswith(b"HTTP/1.1 503 "), out[:200]
            assert split(out)[1] == b'{"error": "busy"}'
    finally:
        for s in slow:
            s.close()
    time.sleep(0.3)
    assert admin.get("/api/v1/status")[0] == 200  # the slots are free again


def split(out):
    head, _, body = out.partition(b"\r\n\r\n")
    return head, body


def test_head_answers_like_get_without_body(sim, admin):
    bearer = b"Authorization: Bearer " + admin.token.encode() + b"\r\n"
    get = raw(sim, b"GET /api/v1/config HTTP/1.1\r\n" + bearer + b"\r\n")
    head, body = split(get)
    assert get.startswith(b"HTTP/1.1 200 ") and b"\r\nContent-Length: %d\r\n" % len(body) in head + b"\r\n"
    assert raw(sim, b"HEAD /api/v1/config HTTP/1.1\r\n" + bearer + b"\r\n") == head + b"\r\n\r\n"
    # errors too: same status and headers as the GET, no body
    for path, auth, status in (("/api/v1/config", b"", b"401"), ("/api/v1/login", bearer, b"405"),
                               ("/api/v1/nothing", bearer, b"404")):
        get = raw(sim, b"GET %s HTTP/1.1\r\n%s\r\n" % (path.encode(), auth))
        head, body = split(get)
        assert get.startswith(b"HTTP/1.1 " + status) and body, get
        assert raw(sim, b"HEAD %s HTTP/1.1\r\n%s\r\n" % (path.encode(), auth)) == head + b"\r\n\r\n"
    # a 405 names the methods the path has
    for req, allow in ((b"GET /api/v1/login", b"POST"), (b"PUT /api/v1/config", b"GET, HEAD, PATCH")):
        head, _ = split(raw(sim, req + b" HTTP/1.1\r\n" + bearer + b"\r\n"))
        assert head.startswith(b"HTTP/1.1 405 ") and b"\r\nAllow: " + allow + b"\r\n" in head + b"\r\n", head


def test_missing_content_length_is_an_empty_body(sim, admin):
    bearer = b"Authorization: Bearer " + admin.token.encode() + b"\r\n"
    t0 = time.time()
    for req in (b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\n\r\n",
                b"PATCH /api/v1/config HTTP/1.1\r\n" + bearer + b"\r\n"):
        # (from an address of its own: earlier tests locked this one's sign-in out)
        head, body = split(raw(sim, req, source="127.0.9.1"))
        assert head.startswith(b"HTTP/1.1 400 "), head  # not 411, not a wait for a body
        assert json.loads(body)["error"] == "body is empty or not valid JSON"
    # a route whose body is optional takes the empty body as "no options"
    head, body = split(raw(sim, b"POST /api/v1/relays/1/open HTTP/1.1\r\n" + bearer + b"\r\n"))
    assert head.startswith(b"HTTP/1.1 200 ") and json.loads(body) == {"relay": 1, "on": True}
    assert time.time() - t0 < 4
    # a chunked body stays refused
    out = raw(sim, b"PATCH /api/v1/config HTTP/1.1\r\n" + bearer
              + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 411 ")

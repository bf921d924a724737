"""The device HTTP API attacked the way an outsider on the LAN would (docs/security.md): every
promise there has its attack here, against the real firmware in the simulator.

- Path spellings: every route of docs/openapi.json, in a dozen spellings (`//`, dot segments,
  %-escapes, trailing slash, case, backslash, absolute form), without credentials, on a first-boot
  device and on one with its password set: nothing is answered 2xx, nothing opens or changes.
- Cross-site requests (header level here; in a real browser in test_attacks_browser.py).
- The sign-in lockout: the third wrong password locks an address; failing from many others never
  unlocks it (the overflow); the exit button held 10 s lets the admin back in.
- Deep and huge JSON before sign-in: refused before parsing, counted as failed sign-ins.
- User names don't leak by timing: a wrong name costs the hashing a wrong password does.
- A slow connection flood while cards are tapped: every tap opens, the process and the control
  channel live on, the heap is left as it was (tests/test_attacks_flood.py).
"""
import base64
import json
import statistics
import time

import pytest

from httpclient import Api, admin_session, raw
from simproc import ROOT, Sim

PASSWORD = "s3cret-door"
CONFIG = {"relays": {"1": {"hold_ms": 400}, "2": {"hold_ms": 400}}, "reader": {"removal_ms": 150}}
OPENAPI = json.load(open(ROOT + "/docs/openapi.json"))
BODIES = {  # a body each acting route would accept from the admin: only credentials are missing
    ("post", "/api/v1/password"): {"old": "admin", "new": "attacker-pass-1"},
    ("post", "/api/v1/http-open"): {"enabled": True, "username": "x", "password": "attacker-pass-1"},
    ("patch", "/api/v1/config"): {"relays": {"1": {"hold_ms": 60000}}},
    ("post", "/api/v1/relays/{num}/open"): {},
    ("post", "/api/v1/users"): {"id": 4242, "cards": ["0BADC0DE"], "relays": [1, 2]},
    ("put", "/api/v1/users/{uid}"): {},
    ("post", "/api/relay/trig"): {"target": "relay", "action": "trig", "data": {"num": 2}},
    ("post", "/api/v1/lpr"): {"plate": "AB12CDE"},
    ("post", "/api/v1/lpr/camera"): {"username": "cam", "password": "attacker-pass-1"},
    ("post", "/api/v1/login"): {"username": "admin", "password": "wrong-guess"},
    ("put", "/api/v1/schedules"): {"schedules": [{"id": 9, "name": "Attack"}]},
    ("put", "/api/v1/network/wifi"): {"ssid": "evil-twin", "password": "attacker-pass-1"},
}


def operations():
    for path, item in OPENAPI["paths"].items():
        for method in item:
            yield method, path


def concrete(path):
    return path.replace("{num}", "1").replace("{uid}", "1001")


def spellings(path):
    """Other spellings of `path` that a lax server might map to the same route."""
    first, _, rest = path[1:].partition("/")
    out = ["/" + path, path.replace("/", "//", 2), "/." + path, "/x/.." + path, path + "/", path + "/.",
           path + "/x/..", "/%s/./%s" % (first, rest), "/%%%02X%s" % (ord(first[0]), path[2:]),
           path.replace("/", "%2F"), "/" + first + "%2F" + rest, path.replace("/", "\\"),
           path.upper(), path + "%00", path + "#frag", "http://door.local" + path]
    if "v1" in path:
        out.append(path.replace("v1", "v%31"))
    return out


def request(hostport, method, target, body=None, headers=(), source=None, half_close=False):
    """(status, body bytes) of one request sent exactly as given (no client normalisation).
    half_close: the client then shuts its side for writing (httpclient.raw): a refused request's
    body is drained at once, where the device would wait 200 ms for more (_DRAIN_READ_MS) on
    each of the hundreds of spellings; the answers are the same."""
    data = json.dumps(body).encode() if body is not None else b""
    head = "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n" % (method.upper(), target, hostport, len(data))
    if body is not None:
        head += "Content-Type: application/json\r\n"
    for h in headers:
        head += h + "\r\n"
    out = raw(hostport, head.encode() + b"\r\n" + data, source=source, half_close=half_close)
    status = int(out.split(b" ", 2)[1]) if out.startswith(b"HTTP/1.1 ") else 0
    return status, out.partition(b"\r\n\r\n")[2]


def sim_with_api(tmp_path, first_boot, name="attack"):
    s = Sim(tmp_path, config=CONFIG, http=True)
    if not first_boot:
        admin_session(s.http, PASSWORD)
    return s


def untouched(sim, before):
    """Nothing the attacks tried happened: no relay pulsed, no API grant logged, demo user 1001
    still has its card (an unauthenticated PUT once wiped it), config as it was."""
    st = sim.state(50)
    for rid in ("1", "2"):
        assert st["relays"][rid]["pulses"] == before["relays"][rid]["pulses"], st["relays"]
    evs = sim.call("events", since=before["last_seq"], limit=200)["events"]
    assert not [e for e in evs if e["result"] == "granted"], evs
    admin = Api(sim.http)
    admin.basic = "admin:" + PASSWORD
    if admin.get("/api/v1/status")[0] == 200:
        assert admin.get("/api/v1/users/1001")[1]["cards"] == ["04A1B2C3"]
        assert admin.get("/api/v1/users/4242")[0] == 404
        assert admin.get("/api/v1/config")[1]["relays"]["1"]["hold_ms"] == 400
        assert "Attack" not in json.dumps(admin.get("/api/v1/schedules")[1])
        assert admin.get("/api/v1/network/wifi")[1] == {"ssid": "", "password_set": False}


@pytest.mark.parametrize("first_boot", [True, False], ids=["first-boot", "password-set"])
def test_no_spelling_of_any_route_opens_without_credentials(tmp_path, first_boot):
    sim = sim_with_api(tmp_path, first_boot)
    try:
        before = sim.state(0)
        tried = 0
        for method, path in operations():
            body = BODIES.get((method, path))
            target = concrete(path)
            open_route = (OPENAPI["paths"][path][method].get("security") == [])
            st, out = request(sim.http, method, target, body, half_close=True)
            if not open_route:
                assert st == 401, (method, target, st, out)
            for other in spellings(target):
                st, out = request(sim.http, method, other, body, half_close=True)
                tried += 1
                assert st in (400, 401, 404, 405), (method, other, st, out)
        assert tried > 300
        untouched(sim, before)
        assert "Traceback" not in sim.output
    finally:
        sim.stop()


def test_first_boot_password_opens_nothing_but_its_own_change(tmp_path):
    sim = sim_with_api(tmp_path, first_boot=True)
    try:
        before = sim.state(0)
        basic = "Authorization: Basic " + base64.b64encode(b"admin:admin").decode()
        for method, path in operations():
            if path in ("/api/v1/password", "/api/v1/login", "/fcgi/do"):
                continue
            for target in [concrete(path)] + spellings(concrete(path))[:6]:
                st, out = request(sim.http, method, target, BODIES.get((method, path)), [basic], half_close=True)
                assert st in (400, 403, 404, 405), (method, target, st, out)
        untouched(sim, before)
    finally:
        sim.stop()


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = sim_with_api(tmp_path_factory.mktemp("attacks"), first_boot=False)
    yield s
    s.stop()


def basic_header(password=PASSWORD, user="admin"):
    return "Authorization: Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def test_cross_site_requests_refused_even_with_the_password(sim):
    """What a browser adds to a request another web site makes it send: refused before the
    route runs, though the request carries the right password (a browser that cached it)."""
    before = sim.state(0)
    trig = {"target": "relay", "action": "trig", "data": {"num": 2}}
    for extra in (["Origin: http://evil.example"], ["Origin: null"], ["Sec-Fetch-Site: cross-site"],
                  ["Sec-Fetch-Site: same-site"], ["Origin: http://%s.evil.example" % sim.http.split(":")[0]],
                  ["Origin: https://%s" % sim.http + ".evil"], ["Sec-Fetch-Site: cross-site", "Origin: http://" + sim.http]):
        for method, target, body in (("POST", "/api/v1/relays/1/open", {}), ("POST", "/api/relay/trig", trig),
                                     ("PATCH", "/api/v1/config", {"relays": {"1": {"hold_ms": 60000}}}),
                                     ("DELETE", "/api/v1/users/1001", None), ("POST", "/api/v1/login",
                                                                              {"username": "admin", "password": PASSWORD})):
            st, out = request(sim.http, method, target, body, [basic_header()] + extra)
            assert st == 403 and b"cross-site" in out, (extra, method, target, st, out)
    # an HTML form can only send text/plain, urlencoded or multipart bodies: never taken as JSON
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        st, out = request(sim.http, "POST", "/api/relay/trig", None,
                          [basic_header(), "Content-Type: " + ctype])
        assert st in (400, 415), (ctype, st, out)
        data = json.dumps(trig).encode()
        out = raw(sim.http, b"POST /api/relay/trig HTTP/1.1\r\n%s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s"
                  % (basic_header().encode(), ctype.encode(), len(data), data))
        assert out.startswith(b"HTTP/1.1 415 "), (ctype, out)
    untouched(sim, before)
    # the device's own pages (same origin) and clients that are not browsers still work
    for extra in (["Origin: http://" + sim.http, "Sec-Fetch-Site: same-origin"], []):
        st, out = request(sim.http, "POST", "/api/relay/trig", trig, [basic_header()] + extra)
        assert st == 200, (extra, st, out)
    sim.wait_for(lambda s: s["relays"]["2"]["pulses"] == before["relays"]["2"]["pulses"] + 2)


def login_from(sim, source, password):
    return request(sim.http, "POST", "/api/v1/login", {"username": "admin", "password": password},
                   source=source)[0]


def test_lockout_after_three_and_no_eviction_from_many_addresses(tmp_path):
    sim = sim_with_api(tmp_path, first_boot=False)
    try:
        attacker = "127.0.0.5"
        assert [login_from(sim, attacker, "guess-%d" % i) for i in range(4)] == [401, 401, 401, 429]
        # failures from 20 other addresses: the attacker's slot must not be given away
        others = ["127.0.1.%d" % i for i in range(1, 21)]
        codes = [login_from(sim, a, "guess") for a in others for _ in range(2)]
        assert 429 in codes  # the overflow: untracked addresses share one growing delay
        assert login_from(sim, attacker, PASSWORD) == 429  # still locked, right password or not
        assert login_from(sim, "127.0.2.1", PASSWORD) == 429  # a new address waits too (global delay)
        # someone inside holds the exit button 10 s: the lockout is cleared, the admin gets in
        last = sim.state(0)["last_seq"]
        sim.call("press", input="exit", ms=10500)
        ev = sim.wait_for(lambda s: any(e["reason"] == "lockout_cleared" for e in s["events"]), timeout=20,
                          events=5)
        assert [e for e in ev["events"] if e["reason"] == "lockout_cleared"][0]["seq"] > last
        assert login_from(sim, attacker, PASSWORD) == 200
        # a short press (an ordinary exit) clears nothing
        login_from(sim, "127.0.3.1", "x")
        login_from(sim, "127.0.3.1", "x")
        assert login_from(sim, "127.0.3.1", "x") == 401
        sim.call("press", input="exit", ms=300)
        time.sleep(1)
        assert login_from(sim, "127.0.3.1", PASSWORD) == 429
    finally:
        sim.stop()


def test_deep_and_huge_json_before_sign_in(tmp_path):
    sim = sim_with_api(tmp_path, first_boot=False)
    try:
        deep = b"[" * 200 + b"]" * 200
        admin = Api(sim.http)  # signed in: refused on every route that takes JSON
        admin.basic = "admin:" + PASSWORD
        for path, method in (("/api/v1/config", "PATCH"), ("/api/v1/users", "POST"), ("/api/v1/users/1001", "PUT"),
                             ("/api/relay/trig", "POST"), ("/api/v1/http-open", "POST")):
            st, doc = admin.request(method, path, raw=b'{"a": ' + deep + b"}",
                                    headers={"Content-Type": "application/json"})
            assert st == 400 and "deep" in doc["error"], (path, st, doc)
        codes = []
        for _ in range(3):  # before sign-in
            out = raw(sim.http, b"POST /api/v1/login HTTP/1.1\r\nContent-Type: application/json\r\n"
                                b"Content-Length: %d\r\n\r\n%s" % (len(deep), deep))
            codes.append(int(out.split(b" ")[1]))
            assert b"out of memory" not in out, out
        assert codes == [400, 400, 400]  # refused before parsing, and each counted as a failure
        assert login_from(sim, "127.0.0.1", PASSWORD) == 429
        huge = b'{"username": "' + b"a" * 20000 + b'"}'
        out = raw(sim.http, b"POST /api/v1/login HTTP/1.1\r\nContent-Type: application/json\r\n"
                            b"Content-Length: %d\r\n\r\n%s" % (len(huge), huge), source="127.0.0.9")
        assert out.startswith(b"HTTP/1.1 413 "), out[:200]
        assert "Traceback" not in sim.output and "MemoryError" not in sim.output
    finally:
        sim.stop()


def test_user_names_do_not_leak_by_timing(tmp_path):
    """A wrong user name takes as long as a wrong password (login, Basic, /fcgi/do). After each
    wrong attempt a right sign-in from the same address clears its count: the lockout never
    answers for the device (a 429 is fast whatever the name)."""
    sim = sim_with_api(tmp_path, first_boot=False)
    try:
        admin = Api(sim.http)
        admin.basic = "admin:" + PASSWORD
        assert admin.post("/api/v1/http-open", {"enabled": True, "username": "opener",
                                                "password": "opener-pass-1"})[0] == 200

        def timed(send):
            t0 = time.perf_counter()
            st = send()
            dt = time.perf_counter() - t0
            assert st == 401, st
            assert login_from(sim, "127.0.0.1", PASSWORD) == 200
            return dt

        def login(user):
            return lambda: request(sim.http, "POST", "/api/v1/login", {"username": user, "password": "nope"})[0]

        def basic(user):
            return lambda: request(sim.http, "GET", "/api/v1/status", None, [basic_header("nope", user)])[0]

        def fcgi(user):
            return lambda: request(sim.http, "GET", "/fcgi/do?action=OpenDoor&UserName=%s&Password=nope" % user)[0]

        for make, right in ((login, "admin"), (basic, "admin"), (fcgi, "opener")):
            wrong_user, wrong_pw = [], []
            for _ in range(6):  # interleaved: load on the machine hits both alike
                wrong_user.append(timed(make("nobody")))
                wrong_pw.append(timed(make(right)))
            a, b = statistics.median(wrong_user), statistics.median(wrong_pw)
            assert a > 0.5 * b, (make.__name__, a, b)
    finally:
        sim.stop()

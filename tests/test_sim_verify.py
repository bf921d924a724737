"""Third-party verification (seed 004) in the running firmware: the simulator's door sends
credentials to the reference server (`doorctl verify-server`'s VerifyServer, in this process) and
acts on its answers - General (QR), Customize Any Method (card, PIN), two-factor in both orders
with the wrong-order prompt and the step timeout, remote-only vs remote-with-local-fallback when
the server is unreachable, the 3 s-style timeout (shortened here), the one-deep queue and the
busy refusal, the URL as documented, and the server's prompt shown with `return_value`.

Most simulators here run the `sim-readers` board (PN532, Wiegand, keypad) without the device
HTTP API (`--http off`); the last tests run the PN532-only `sim` board with the API on, where
verification is set at start (URL with a 5-digit port) and switched on, to two-factor and off
through `PATCH /api/v1/config`. These boards are psram boards (docs/memory.md)."""
import os
import socket
import time

import pytest

from simproc import ROOT, Sim

from doorctl import verify_server as vs

SITE_KEY = "5a" * 32
USERS = {"users": [
    {"id": 2001, "name": "Local user", "cards": ["00D507D0"], "pin": "4711", "relays": [1]},
]}
BASE = {"relays": {"1": {"hold_ms": 200}, "2": {"hold_ms": 200}}, "reader": {"removal_ms": 150},
        "access": {"interval_same_s": 0, "interval_other_s": 0}, "device": {"id": "gate 1/A"}}
GRANT = ["04A1B2C3", "1234", "CAFE0001", "SLOW0001", "QRGOOD01"]


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def server():
    rules = {"allow": GRANT, "prompts": {"granted": "Hello from server", "denied": "Not you"},
             "rules": [{"value": "0BADC0DE", "delay_ms": 2500, "grant": True},  # beyond the timeout
                       {"value": "5EC0DD01", "delay_ms": 800, "grant": True}]}  # slow but in time
    with vs.VerifyServer(rules) as s:
        yield s


def start(tmp_path_factory, name, verify, board="sim-readers"):
    cfg = dict(BASE)
    cfg["verify"] = verify
    return Sim(tmp_path_factory.mktemp(name), config=cfg, users=USERS, demo=False,
               board=os.path.join(ROOT, "boards", board + ".json"), secrets={"site_key": SITE_KEY})


def events_after(sim, last, n=1, timeout=6.0):
    st = sim.wait_for(lambda st: len([e for e in st["events"] if e["seq"] > last]) >= n, timeout=timeout,
                      events=4)
    return [e for e in st["events"] if e["seq"] > last]


def tap(sim, uid, ms=100):
    last = sim.state(0)["last_seq"]
    sim.call("tap", uid=uid, ms=ms)
    return last


def requests_since(server, n0):
    return [r["target"] for r in server.requests[n0:]]


# --- Customize, Any Method: card and PIN go to the server ----------------------------------------
@pytest.fixture(scope="module")
def any_sim(tmp_path_factory, server):
    s = start(tmp_path_factory, "any", {
        "mode": "customize", "auth_mode": "any", "timeout_ms": 1500, "prompt": "return_value",
        "url": server.url + "/api/visitor/scan?codeKey={QRCode}/{Card}/{Pin}&deviceId={DeviceID}&t={Token}",
        "methods": {"qr": "local", "card": "remote", "pin": "remote"}})
    yield s
    s.stop()
    print(s.output[-3000:])


def test_card_granted_by_the_server_opens_the_relay(any_sim, server):
    n0 = len(server.requests)
    pulses = any_sim.state(0)["relays"]["1"]["pulses"]
    last = tap(any_sim, "04A1B2C3")
    ev = events_after(any_sim, last)[0]
    assert (ev["kind"], ev["result"], ev["reason"], ev["code"], ev["relays"]) == ("card", "granted", "ok", "04A1B2C3", [1])
    st = any_sim.state(0)
    assert st["relays"]["1"]["pulses"] == pulses + 1
    assert st["prompt"] == "Hello from server"  # verify.prompt = return_value
    # the URL as documented: card in the configured format, empty QR and PIN, DeviceID encoded
    assert requests_since(server, n0) == ["/api/visitor/scan?codeKey=/04A1B2C3/&deviceId=gate%201%2FA&t=04A1B2C3"]


def test_card_denied_by_the_server_and_the_local_table_is_not_asked(any_sim, server):
    pulses = any_sim.state(0)["relays"]["1"]["pulses"]
    last = tap(any_sim, "00D507D0")  # a local user, but the server says no
    ev = events_after(any_sim, last)[0]
    assert (ev["result"], ev["reason"], ev["code"]) == ("denied", "remote_denied", "00D507D0")
    st = any_sim.state(0)
    assert st["relays"]["1"]["pulses"] == pulses and st["prompt"] == "Not you"


def test_pin_goes_to_the_server_and_is_never_logged(any_sim, server):
    n0 = len(server.requests)
    last = any_sim.state(0)["last_seq"]
    any_sim.call("keys", keys="1234#")
    ev = events_after(any_sim, last)[0]
    assert (ev["kind"], ev["result"], ev["reason"]) == ("pin", "granted", "ok")
    assert "1234" not in str(ev)
    assert requests_since(server, n0) == ["/api/visitor/scan?codeKey=//1234&deviceId=gate%201%2FA&t=1234"]
    last = any_sim.state(0)["last_seq"]
    any_sim.call("keys", keys="4711#")  # the local user's PIN: the server decides, and denies
    ev = events_after(any_sim, last)[0]
    assert (ev["kind"], ev["result"], ev["reason"]) == ("pin", "denied", "remote_denied")


def test_no_answer_within_the_timeout_is_denied(any_sim, server):
    last = tap(any_sim, "0BADC0DE")  # the server grants, after 2.5 s; the door waits 1.5 s
    ev = events_after(any_sim, last)[0]
    assert (ev["result"], ev["reason"]) == ("denied", "remote_timeout")
    assert any_sim.state(0)["prompt"] == "Server timeout"
    time.sleep(1.2)  # let the server finish that request


def test_pending_request_queues_one_and_refuses_more(any_sim, server):
    pulses = any_sim.state(0)["relays"]["1"]["pulses"]
    last = tap(any_sim, "5EC0DD01")  # 0.8 s at the server
    time.sleep(0.15)
    assert any_sim.state(0)["prompt"] == "Verifying..."
    any_sim.call("tap", uid="CAFE0001", ms=100)  # queued
    time.sleep(0.15)
    any_sim.call("tap", uid="DEADBEEF", ms=100)  # refused: busy
    evs = events_after(any_sim, last, 3)
    got = {e["code"]: (e["result"], e["reason"]) for e in evs}
    assert got == {"DEADBEEF": ("denied", "busy"), "5EC0DD01": ("granted", "ok"), "CAFE0001": ("granted", "ok")}
    assert evs[0]["code"] == "DEADBEEF"  # refused at once, before the pending answers
    assert any_sim.state(0)["relays"]["1"]["pulses"] == pulses + 2


# --- the server unreachable: remote only (the vendor's) vs remote with local fallback --------------
@pytest.fixture(scope="module")
def down_sim(tmp_path_factory):
    s = start(tmp_path_factory, "down", {
        "mode": "customize", "timeout_ms": 1000,
        "url": "http://127.0.0.1:%d/scan?c={Card}&p={Pin}" % closed_port(),
        "methods": {"qr": "local", "card": "remote_fallback", "pin": "remote"}})
    yield s
    s.stop()


def test_unreachable_server_falls_back_to_the_table_only_where_configured(down_sim):
    last = tap(down_sim, "00D507D0")  # card: remote_fallback -> the local table grants user 2001
    ev = events_after(down_sim, last)[0]
    assert (ev["result"], ev["reason"], ev["user"]) == ("granted", "ok", 2001)
    last = tap(down_sim, "04A1B2C3")  # not in the table: the fallback denies
    ev = events_after(down_sim, last)[0]
    assert (ev["result"], ev["reason"]) == ("denied", "unknown_credential")
    last = down_sim.state(0)["last_seq"]
    down_sim.call("keys", keys="4711#")  # PIN: remote only, fails closed
    ev = events_after(down_sim, last)[0]
    assert (ev["kind"], ev["result"], ev["reason"]) == ("pin", "denied", "remote_error")
    assert down_sim.state(0)["prompt"] == "Server unreachable"


# --- two-factor -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def card_pin_sim(tmp_path_factory, server):
    s = start(tmp_path_factory, "cardpin", {
        "mode": "customize", "auth_mode": "card_pin", "step_timeout_ms": 2000,
        "url": server.url + "/api/visitor/scan?codeKey={Token}/{Type}&deviceId={DeviceID}"})
    yield s
    s.stop()


def test_card_then_pin(card_pin_sim, server):
    sim = card_pin_sim
    n0 = len(server.requests)
    pulses = sim.state(0)["relays"]["1"]["pulses"]
    last = tap(sim, "04A1B2C3")
    sim.wait_for(lambda st: st["prompt"] == "Enter PIN")
    assert sim.state(0)["last_seq"] == last and sim.state(0)["relays"]["1"]["pulses"] == pulses  # no event yet
    sim.call("keys", keys="1234#")
    ev = events_after(sim, last)[0]
    assert (ev["kind"], ev["result"], ev["code"], ev["relays"]) == ("card", "granted", "04A1B2C3", [1])
    assert requests_since(server, n0) == ["/api/visitor/scan?codeKey=04A1B2C3/1&deviceId=gate%201%2FA",
                                          "/api/visitor/scan?codeKey=1234/1&deviceId=gate%201%2FA"]
    assert sim.state(0)["relays"]["1"]["pulses"] == pulses + 1


def test_wrong_order_is_prompted_and_not_sent(card_pin_sim, server):
    sim = card_pin_sim
    n0 = len(server.requests)
    last = sim.state(0)["last_seq"]
    sim.call("keys", keys="1234#")
    sim.wait_for(lambda st: st["prompt"] == "Present card first")
    time.sleep(0.3)
    assert len(server.requests) == n0 and sim.state(0)["last_seq"] == last


def test_no_second_factor_within_the_step_timeout(card_pin_sim, server):
    sim = card_pin_sim
    last = tap(sim, "04A1B2C3")
    sim.wait_for(lambda st: st["prompt"] == "Enter PIN")
    ev = events_after(sim, last, timeout=6.0)[0]  # after step_timeout_ms (2 s), with no PIN
    assert (ev["kind"], ev["result"], ev["reason"], ev["code"]) == ("card", "denied", "factor_timeout", "04A1B2C3")


def test_pin_then_card(tmp_path_factory, server):
    sim = start(tmp_path_factory, "pincard", {
        "mode": "customize", "auth_mode": "pin_card",
        "url": server.url + "/api/visitor/scan?codeKey={Token}/{Type}"})
    try:
        n0 = len(server.requests)
        last = sim.state(0)["last_seq"]
        sim.call("keys", keys="1234#")
        sim.wait_for(lambda st: st["prompt"] == "Present card")
        sim.call("tap", uid="04A1B2C3", ms=100)
        ev = events_after(sim, last)[0]
        assert (ev["kind"], ev["result"], ev["code"]) == ("card", "granted", "04A1B2C3")
        assert requests_since(server, n0) == ["/api/visitor/scan?codeKey=1234/2", "/api/visitor/scan?codeKey=04A1B2C3/2"]
    finally:
        sim.stop()


# --- General: QR codes only --------------------------------------------------------------------------
def test_general_mode_sends_qr_codes_and_keeps_cards_local(tmp_path_factory, server):
    sim = start(tmp_path_factory, "general", {
        "mode": "general", "url": server.url + "/api/visitor/scan?codeKey={QRCode}&deviceId={DeviceID}"},
        board="sim-qr")
    try:
        n0 = len(server.requests)
        last = sim.state(0)["last_seq"]
        sim.call("qr", text="QRGOOD01")
        ev = events_after(sim, last)[0]
        assert (ev["kind"], ev["result"], ev["reason"]) == ("qr", "granted", "ok")
        assert "QRGOOD01" not in str(ev)
        last = sim.state(0)["last_seq"]
        sim.call("qr", text="a b&c")
        ev = events_after(sim, last)[0]
        assert (ev["kind"], ev["result"], ev["reason"]) == ("qr", "denied", "remote_denied")
        last = tap(sim, "00D507D0")  # cards stay with the local table in General mode
        ev = events_after(sim, last)[0]
        assert (ev["result"], ev["user"]) == ("granted", 2001)
        assert requests_since(server, n0) == ["/api/visitor/scan?codeKey=QRGOOD01&deviceId=gate%201%2FA",
                                              "/api/visitor/scan?codeKey=a%20b%26c&deviceId=gate%201%2FA"]
    finally:
        sim.stop()


# --- with the device HTTP API on (the PN532-only board) --------------------------------------------
ANY_URL = "/api/visitor/scan?codeKey={QRCode}/{Card}/{Pin}&deviceId={DeviceID}&t={Token}"


def http_sim(tmp_path_factory, name, verify=None, heap=None):
    cfg = dict(BASE)
    if verify is not None:
        cfg["verify"] = verify
    return Sim(tmp_path_factory.mktemp(name), config=cfg, users=USERS, demo=False, http=True,
               secrets={"site_key": SITE_KEY}, heap=heap)


def test_verification_at_start_with_the_http_api_on(tmp_path_factory, server):
    assert server.port > 9999  # a 5-digit port once kept this set-up from starting (name pool growth)
    s = http_sim(tmp_path_factory, "httpon", {"mode": "customize", "timeout_ms": 1500,
                                               "url": server.url + ANY_URL,
                                               "methods": {"qr": "remote", "card": "remote", "pin": "remote"}})
    try:
        for uid, result in (("04A1B2C3", "granted"), ("00D507D0", "denied")):
            n0 = len(server.requests)
            last = tap(s, uid, ms=400)
            ev = events_after(s, last)[0]
            assert (ev["code"], ev["result"]) == (uid, result), ev
            assert requests_since(server, n0) == ["/api/visitor/scan?codeKey=/%s/&deviceId=gate%%201%%2FA&t=%s" % (uid, uid)]
    finally:
        s.stop()
        print(s.output[-3000:])


def test_two_hundred_verifications_with_the_http_api_on(tmp_path_factory, server):
    """The memory issue's scenario on the psram board (a lean board refuses verification and the
    HTTP API at configuration: tests/test_profile_lean.py): verification on with cards remote,
    the HTTP API on, 200 cards verified one after another, known and unknown in turn. Every
    decision's event is in the log, in order, the control channel and the API answer throughout,
    and nothing runs out of memory (once, the fourth verification's event was lost that way)."""
    from httpclient import admin_session

    s = http_sim(tmp_path_factory, "twohundred", {"mode": "customize", "timeout_ms": 1500, "url": server.url + ANY_URL,
                                                   "methods": {"card": "remote"}})
    try:
        api = admin_session(s.http)
        n0 = len(server.requests)
        first = s.state(0)["last_seq"]
        for i in range(200):
            last = tap(s, "04A1B2C3" if i % 2 == 0 else "0BADBAD%d" % (i % 10), ms=60)
            ev = events_after(s, last)[0]
            assert (ev["kind"], ev["result"]) == ("card", "denied" if i % 2 else "granted"), (i, ev)
            if i % 25 == 0:
                st, doc = api.get("/api/v1/status")
                assert st == 200 and doc["profile"] == "psram", (st, doc)
        assert len(server.requests) - n0 == 200
        evs, cur, more = [], first, True
        while more:  # page by page
            page = s.call("events", since=cur)
            evs += [e for e in page["events"] if e["kind"] == "card"]
            cur, more = page["next"], page["more"]
        assert len(evs) == 200 and [e["result"] for e in evs] == ["granted", "denied"] * 100
        assert [e["seq"] for e in evs] == sorted(e["seq"] for e in evs)
        assert "MemoryError" not in s.output and "out of memory" not in s.output
    finally:
        s.stop()


def test_verification_switched_on_changed_and_off_through_the_api(tmp_path_factory, server):
    """The config change paths (doorapp/config/changes.py): off -> on, a refused change while on (the
    running setting comes back), a change of mode while on, on -> off."""
    from httpclient import admin_session

    s = http_sim(tmp_path_factory, "httppatch")
    try:
        api = admin_session(s.http)
        assert "doorapp.verify.verifier" not in s.call("modules")["modules"]
        st, doc = api.patch("/api/v1/config", {"verify": {
            "mode": "customize", "timeout_ms": 1500, "url": server.url + ANY_URL,
            "methods": {"qr": "remote", "card": "remote", "pin": "remote"}}})
        assert st == 200, doc
        assert doc["verify"]["mode"] == "customize"
        n0 = len(server.requests)
        last = tap(s, "04A1B2C3", ms=400)
        ev = events_after(s, last)[0]
        assert (ev["result"], ev["reason"], ev["relays"]) == ("granted", "ok", [1])
        assert len(server.requests) == n0 + 1
        # a refused change: 400 naming the field, the stored setting runs on
        st, doc = api.patch("/api/v1/config", {"verify": {"url": server.url + "/x?c={Kard}"}})
        assert (st, doc["field"]) == (400, "verify.url"), doc
        st, doc = api.patch("/api/v1/config", {"verify": {"relays": [7]}})
        assert (st, doc["field"]) == (400, "verify.relays"), doc
        last = tap(s, "CAFE0001", ms=400)  # (another card: the first may still count as present)
        ev = events_after(s, last)[0]
        assert (ev["result"], ev["reason"]) == ("granted", "ok")
        assert api.get("/api/v1/config")[1]["verify"]["url"] == server.url + ANY_URL
        # two-factor while on: the card waits for the PIN (this board has no keypad)
        st, doc = api.patch("/api/v1/config", {"verify": {"auth_mode": "card_pin", "step_timeout_ms": 2000,
                                                          "url": server.url + "/scan?t={Token}&y={Type}"}})
        assert st == 200, doc
        n0 = len(server.requests)
        last = tap(s, "04A1B2C3", ms=400)
        s.wait_for(lambda st: st["prompt"] == "Enter PIN")
        assert requests_since(server, n0) == ["/scan?t=04A1B2C3&y=1"]
        ev = events_after(s, last)[0]  # no PIN in time
        assert (ev["result"], ev["reason"]) == ("denied", "factor_timeout")
        # off: the table decides again
        st, doc = api.patch("/api/v1/config", {"verify": {"mode": "off"}})
        assert st == 200, doc
        n0 = len(server.requests)
        last = tap(s, "00D507D0", ms=400)
        ev = events_after(s, last)[0]
        assert (ev["result"], ev["user"]) == ("granted", 2001) and len(server.requests) == n0
    finally:
        s.stop()
        print(s.output[-3000:])

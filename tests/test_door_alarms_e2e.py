"""Door alarms, input actions and web relays end to end: the firmware in the simulator (psram
board), a local HTTP server standing in for the site's server or an IP relay board."""
import http.server
import threading
import time
import urllib.parse

import pytest

from httpclient import admin_session
from simproc import Sim


class Recorder(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_GET(self):
        Recorder.seen.append(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query),
                                  path=urllib.parse.urlsplit(self.path).path))
        self.send_response(200 if not self.path.startswith("/fail") else 500)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()


def config(base):
    return {
        "relays": {"1": {"hold_ms": 400}, "2": {"hold_ms": 400}}, "reader": {"removal_ms": 150},
        "device": {"id": "front"},
        "inputs": {
            "door": {"http_url": base + "/door?d={DeviceID}&i={Input}&e={Event}&t={Time}", "door_opened_timeout_s": 2},
            "exit": {"http_url": base + "/exit?e={Event}&i={Input}"},
        },
        "web_relays": {"3": {"url": base + "/relay/0?turn=on&u={UserID}"}, "4": {"url": base + "/fail"}},
    }


USERS = [{"id": 1001, "name": "Ann", "cards": ["04A1B2C3"], "web_relay": 3},
         {"id": 1002, "name": "Bob", "cards": ["01020304"], "web_relay": 4}]


def wait(pred, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def door_reasons(sim):
    return [e["reason"] for e in sim.call("events", since=0)["events"] if e["kind"] == "door"]


def test_forced_door_latches_across_a_restart_until_the_admin_clears_it(tmp_path, server):
    Recorder.seen = []
    sim = Sim(tmp_path, config=config(server), users=USERS, http=True)
    try:
        sim.call("door", state="open")  # nobody was let in
        st = sim.wait_for(lambda s: s["alarms"].get("door", {}).get("forced"))
        assert not any(r["on"] for r in st["relays"].values())  # an alarm opens nothing
        from doorctl.cli import format_state

        assert "alarms:  door=FORCED (latched" in format_state(st)
        assert wait(lambda: any(r.get("e") == "forced" for r in Recorder.seen))
        forced = [r for r in Recorder.seen if r.get("e") == "forced"][0]
        assert forced["path"] == "/door" and forced["d"] == "front" and forced["i"] == "door" and int(forced["t"]) > 0
        sim.call("door", state="closed")
        sim.wait_for(lambda s: not s["inputs"]["door"]["active"])
        flash = sim.flash
    finally:
        sim.stop()
    sim = Sim(tmp_path, config=config(server), users=USERS, http=True, flash=flash, demo=False)
    try:
        assert sim.state(0)["alarms"]["door"] == {"held_open": False, "forced": True}  # still latched
        admin = admin_session(sim.http)
        st, doc = admin.get("/api/v1/alarms")
        assert st == 200 and doc == {"door": {"held_open": False, "forced": True}}
        assert admin.post("/api/v1/alarms/clear", {"input": "nope"})[0] == 404
        st, doc = admin.post("/api/v1/alarms/clear", {"input": "door"})
        assert st == 200 and doc["cleared"] == ["door"] and not doc["alarms"]["door"]["forced"]
        assert door_reasons(sim)[-1] == "alarm_cleared"
    finally:
        sim.stop()


def test_actions_web_relays_and_held_open(tmp_path, server):
    Recorder.seen = []
    sim = Sim(tmp_path, config=config(server), users=USERS, http=True)
    try:
        sim.call("press", input="exit", ms=100)  # Execute Relay and its HTTP GET
        sim.wait_for(lambda s: s["relays"]["1"]["on"])
        assert wait(lambda: any(r["path"] == "/exit" for r in Recorder.seen))
        assert [r for r in Recorder.seen if r["path"] == "/exit"][0] == {"path": "/exit", "e": "triggered", "i": "exit"}
        sim.call("door", state="open")  # let in by the exit press: not forced
        sim.wait_for(lambda s: s["alarms"]["door"]["held_open"], timeout=6)
        assert wait(lambda: any(r.get("e") == "held_open" for r in Recorder.seen))
        sim.call("door", state="closed")
        sim.wait_for(lambda s: not s["alarms"]["door"]["held_open"])
        reasons = door_reasons(sim)
        assert "door_forced" not in reasons
        assert reasons[-4:] == ["door_opened", "door_held_open", "door_closed", "alarm_cleared"], reasons
        last = sim.state(0)["last_seq"]
        sim.call("tap", uid="04A1B2C3", ms=200)  # Ann: web relay 3
        assert wait(lambda: any(r["path"] == "/relay/0" for r in Recorder.seen))
        assert [r for r in Recorder.seen if r["path"] == "/relay/0"][0] == {"path": "/relay/0", "turn": "on", "u": "1001"}
        time.sleep(0.5)
        sim.call("tap", uid="01020304", ms=200)  # Bob: web relay 4 answers 500
        ev = sim.wait_for(lambda s: any(e["reason"] == "action_failed" for e in s["events"]))["events"]
        failed = [e for e in ev if e["reason"] == "action_failed"][0]
        assert failed["kind"] == "system" and failed["code"] == "web 4" and "/fail" not in str(failed)
        cards = [e for e in sim.call("events", since=last)["events"] if e["kind"] == "card"]
        assert [e["result"] for e in cards] == ["granted", "granted"]  # a failed action never changes a decision
    finally:
        sim.stop()


def test_action_delay_modes(tmp_path, server):
    """Exit button with a 1 s action delay: unconditional opens after the delay even though the
    button was let go; still_triggered opens only if it is still pressed then. The HTTP action
    waits with the relay."""
    Recorder.seen = []
    cfg = config(server)
    cfg["inputs"]["exit"].update({"action_delay_s": 1, "delay_mode": "unconditional"})
    sim = Sim(tmp_path, config=cfg, users=USERS, http=True)
    try:
        pulses = lambda: sim.state(0)["relays"]["1"]["pulses"]  # noqa: E731
        sim.call("press", input="exit", ms=100)
        time.sleep(0.7)
        assert pulses() == 0 and not any(r["path"] == "/exit" for r in Recorder.seen)  # not yet
        sim.wait_for(lambda s: s["relays"]["1"]["pulses"] == 1, timeout=3)  # then, unconditionally
        assert wait(lambda: any(r["path"] == "/exit" for r in Recorder.seen))
        admin = admin_session(sim.http)
        st, doc = admin.patch("/api/v1/config", {"inputs": {"exit": {"delay_mode": "still_triggered"}}})
        assert st == 200, doc
        sim.call("press", input="exit", ms=100)  # let go before the delay is over: nothing
        time.sleep(1.6)
        assert pulses() == 1
        sim.call("input", input="exit", active=True)  # held past it: opens
        sim.wait_for(lambda s: s["relays"]["1"]["pulses"] == 2, timeout=3)
        sim.call("input", input="exit", active=False)
        exits = [e for e in sim.call("events", since=0)["events"] if e["kind"] == "exit"]
        assert len(exits) == 2 and all(e["result"] == "granted" for e in exits)
    finally:
        sim.stop()

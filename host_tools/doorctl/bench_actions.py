"""`make bench`, inputs part: card tap -> relay with and without door actions at work. With
them, each cycle is a granted tap whose user has a web relay, an exit press and a door opened
and closed, each sending an HTTP GET (3 per cycle) to a server that answers after 300 ms, and
the Wiegand output sending every granted card: the GETs and frames must not delay a decision
or a relay (docs/inputs.md, docs/wiegand-out.md). Taps timed by polling relay 1 every 2 ms
through the control channel (psram simulator board)."""
import http.server
import os
import sys
import tempfile
import threading
import time

from doorctl import paths
from doorctl.bench import pct, tap_to_relay

CYCLES = 100
SERVER_DELAY_S = 0.3


class _Slow(http.server.BaseHTTPRequestHandler):
    calls = 0

    def do_GET(self):
        time.sleep(SERVER_DELAY_S)
        _Slow.calls += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def _cycles(sim, actions):
    lat = []
    for _ in range(CYCLES):
        t = tap_to_relay(sim)
        if t is not None:
            lat.append(t)
        if actions:
            sim.call("press", input="exit", ms=60)
            time.sleep(0.1)
            sim.call("door", state="open")
            time.sleep(0.1)
            sim.call("door", state="closed")
        time.sleep(1.0 if actions else 0.3)  # (the GETs answered: they go out one after another)
    return {"cycles": CYCLES, "opened": len(lat), "p50_ms": round(1000 * pct(lat, 50), 1),
            "p99_ms": round(1000 * pct(lat, 99), 1)}


def run():
    sys.path.insert(0, os.path.join(paths.ROOT, "tests"))
    from simproc import Sim

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d" % srv.server_address[1]
    users = [{"id": 1001, "name": "Ann", "cards": ["04A1B2C3"], "web_relay": 1}]
    plain = {"relays": {"1": {"hold_ms": 100}, "2": {"hold_ms": 100}}, "reader": {"removal_ms": 150},
             "inputs": {"exit": {"relay": 2}}}
    busy = dict(plain, inputs={"exit": {"relay": 2, "http_url": base + "/exit?e={Event}"},
                               "door": {"http_url": base + "/door?e={Event}"}},
                web_relays={"1": {"url": base + "/relay?u={UserID}"}},
                wiegand_out={"enabled": True, "format": "w34"})
    res = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, cfg in (("plain", plain), ("actions", busy)):
                d = os.path.join(tmp, name)
                os.makedirs(d)
                sim = Sim(d, config=cfg, users=users)
                try:
                    sim.wait_for(lambda st: st["reader"]["status"] == "ok", timeout=10)
                    res[name] = _cycles(sim, name == "actions")
                    time.sleep(2.0)  # the last GETs answered
                    if name == "actions":
                        res[name]["sender"] = sim.state(0)["actions"]
                finally:
                    sim.stop()
    finally:
        srv.shutdown()
    res["http_calls"] = _Slow.calls
    return res


def rows(r):
    p, a = r["plain"], r["actions"]
    yield ("Inputs: card tap -> relay, plain / with 3 HTTP actions per cycle (web relay, exit, door; server answers "
           "after %d ms) and Wiegand output on every grant (%d cycles, psram simulator)" % (1000 * SERVER_DELAY_S, a["cycles"]),
           "p50 %.1f / %.1f ms, p99 %.1f / %.1f ms; %d of %d HTTP calls answered, %d failed, %d dropped" % (
               p["p50_ms"], a["p50_ms"], p["p99_ms"], a["p99_ms"], r["http_calls"], 3 * a["cycles"],
               a["sender"]["failed"], a["sender"]["dropped"]))


if __name__ == "__main__":
    import json

    r = run()
    print(json.dumps(r, indent=2))
    for row in rows(r):
        print("%s: %s" % row)

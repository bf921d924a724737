"""Benchmark: the device HTTP API under load with a 20,000-user table (issue #4's quality bars).

Runs the real firmware in the simulator (MicroPython unix port, the psram profile's heap, HTTP on)
with a 20,000-user table (ids 1..20000, one 8-hex-digit card each, relays [1]) built on the host
as for a board, signs in as admin, then:

1. load: LOAD_THREADS client threads for LOAD_S seconds, each looping over GET /api/v1/status,
   a users page by cursor GET /api/v1/users?after=<random id>&limit=20, a search from a random
   cursor GET /api/v1/users?after=<random id>&limit=20&q=<3 random digits> (it ends after 20
   matches or the device's search budget of records, answering where it stopped),
   GET /api/v1/events?since=0&limit=20 and GET /api/v1/relays (Bearer token, one request per
   connection as the device serves them): requests/s, p50/p99 latency of the answered requests,
   and every non-2xx answer counted by status (503 "out of memory" / "busy" shown, never
   retried or hidden), 2xx users answers whose body is not a whole page (streamed answers can
   be cut short), requests that got no answer at all (connection closed, or nothing within
   REQ_TIMEOUT_S), and whether the HTTP server still answers after the load;
2. meanwhile a card of a table user is tapped every TAP_EVERY_S over the control channel and
   tap -> relay on is timed by polling relay 1 (control `relay`) every TAP_POLL_S (so the figure
   includes that polling granularity); taps that do not open within TAP_TIMEOUT_S count;
3. after the load: `doorctl push` of a second 20,000-user table with another serial
   (cmd_push.push_table), timed, then GET /api/v1/status must report the new serial; if the
   HTTP server no longer answered after the load (the process alive), that is recorded and the
   push runs on the simulator restarted on the same flash (marked so in the row);
4. the simulator's heap (control `heap`: free, used, largest block) after the load and after
   the push.

Failures of the device (non-2xx, no answer, failed push, missed taps, lines of the device's
log that tell of an exception) are recorded in the result; a crash of the simulator raises.
Times are unix-port wall time on the host (an ESP32 is much slower).

    run() -> dict           rows(result) -> [(measure, text)]
    python -m doorctl.bench_http [--seconds S] [--users N] [--update]   (--update: store the
    result as bench/results.json's bench_http and rewrite docs/benchmarks.md's bench rows from it;
    the simulator's whole output: build/bench_http-device.log)
"""
import http.client
import json
import os
import random
import socket
import sys
import tempfile
import threading
import time

from doorctl import paths

HEAP = "1000000w"  # the psram profile (doorctl.profiles)
USERS = 20000
LOAD_THREADS = 4
LOAD_S = 10.0
TAP_EVERY_S = 0.25
TAP_MS = 60
TAP_TIMEOUT_S = 2.0
TAP_POLL_S = 0.002  # between polls of the relay (a poll costs the device heap and time too)
PAGE = 20
PASSWORD = "s3cret-door"
SERIAL_1, SERIAL_2 = 4001, 4002
CARD_BASE_1, CARD_BASE_2 = 0x10000000, 0x20000000
CONFIG = {"relays": {"1": {"hold_ms": 100}}, "reader": {"removal_ms": 150}}
REQ_TIMEOUT_S = 5.0  # per request; a healthy answer takes milliseconds
ROUTES = ("status", "users", "search", "events", "relays")
PAGE_ROUTES = ("users", "search")


def _say(text):
    print(text, file=sys.stderr, flush=True)


def _tests_path():
    tests = os.path.join(paths.ROOT, "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)


def _build(d, name, n, serial, base):
    """users.json of users 1..n (card "%08X" % (base + id), relays [1]) -> a table file."""
    from doorctl import simprep

    src = os.path.join(d, name + ".json")
    with open(src, "w") as f:
        json.dump({"users": [{"id": i, "cards": ["%08X" % (base + i)], "relays": [1]} for i in range(1, n + 1)]}, f)
    out = os.path.join(d, name + ".tbl")
    t0 = time.monotonic()
    simprep.build_table(src, out, serial=serial)
    return out, time.monotonic() - t0


def _pct(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def _ms(seconds):
    return None if seconds is None else round(seconds * 1000.0, 2)


class _Sim:
    """Wraps simproc.Sim for the bench: one control call at a time; a dropped control connection
    is reopened (counted) while the process lives; a dead process raises (crashed())."""

    def __init__(self, sim):
        self.sim = sim
        self.lock = threading.Lock()
        self.reconnects = 0

    def alive(self):
        return self.sim.proc is not None and self.sim.proc.poll() is None

    def crashed(self, where):
        return RuntimeError("the simulator died (%s, exit code %s); its output ends:\n%s"
                            % (where, self.sim.proc.poll() if self.sim.proc else None, self.tail()))

    def tail(self):
        try:
            if self.sim.proc and self.sim.proc.poll() is not None and self.sim.proc.stdout:
                self.sim.output += self.sim.proc.stdout.read()
        except (OSError, ValueError):
            pass
        return self.sim.output[-4000:]

    def call(self, cmd, **args):
        from doorctl.simctl import SimClient, SimError

        with self.lock:
            try:
                return self.sim.call(cmd, **args)
            except (SimError, OSError, ValueError) as e:
                if not self.alive():
                    raise self.crashed("control %s" % cmd)
                if isinstance(e, SimError) and "closed the connection" not in str(e):
                    raise  # the command itself failed: the connection is still in step
            self.sim.client.close()  # dropped or out of step (a timeout): a new connection, once
            self.reconnects += 1
            self.sim.client = SimClient(self.sim.control)
            try:
                return self.sim.call(cmd, **args)
            except (SimError, OSError, ValueError):
                if not self.alive():
                    raise self.crashed("control %s" % cmd)
                raise


# --- 1. HTTP load ---------------------------------------------------------------------------
class _Load:
    def __init__(self, hostport, token, users, seed):
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)
        self.token = token
        self.users = users
        self.seed = seed
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.lat = {r: [] for r in ROUTES}  # seconds of 2xx answers
        self.lat_all = []  # seconds of every answered request (any status)
        self.status = {}  # "503" -> n (non-2xx only)
        self.by_route = {r: {"ok": 0, "non_2xx": 0, "conn_errors": 0, "bad_body": 0} for r in ROUTES}
        self.errors_503 = {}  # error text of 503 answers -> n
        self.conn_errors = {}  # exception class -> n
        self.answered = 0
        self.t0 = time.monotonic()
        self.first_timeout_s = None  # load time of the first request that got no answer in time
        self.last_ok_s = None  # load time of the last 2xx answer

    def _path(self, route, rnd):
        if route == "users":
            return "/api/v1/users?after=%d&limit=%d" % (rnd.randrange(0, self.users), PAGE)
        if route == "search":
            return "/api/v1/users?after=%d&limit=%d&q=%03d" % (rnd.randrange(0, self.users), PAGE,
                                                               rnd.randrange(1000))
        if route == "events":
            return "/api/v1/events?since=0&limit=%d" % PAGE
        return "/api/v1/" + route

    def _one(self, path):
        c = http.client.HTTPConnection(self.host, self.port, timeout=REQ_TIMEOUT_S)
        try:
            c.request("GET", path, headers={"Authorization": "Bearer " + self.token})
            r = c.getresponse()
            body = r.read()
        finally:
            c.close()
        return r.status, body

    def worker(self, k):
        rnd = random.Random(self.seed + k)
        i = k  # threads start on different routes
        while not self.stop.is_set():
            route = ROUTES[i % len(ROUTES)]
            i += 1
            t0 = time.monotonic()
            try:
                status, body = self._one(self._path(route, rnd))
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    name = e.__class__.__name__
                    self.conn_errors[name] = self.conn_errors.get(name, 0) + 1
                    self.by_route[route]["conn_errors"] += 1
                    if isinstance(e, (TimeoutError, socket.timeout)) and self.first_timeout_s is None:
                        self.first_timeout_s = round(time.monotonic() - self.t0 - REQ_TIMEOUT_S, 2)
                time.sleep(0.01)  # the device may be gone: the main thread checks
                continue
            dt = time.monotonic() - t0
            with self.lock:
                self.answered += 1
                self.lat_all.append(dt)
                if 200 <= status < 300 and route in PAGE_ROUTES and not _whole_page(body):
                    self.by_route[route]["bad_body"] += 1  # a streamed page cut short
                elif 200 <= status < 300:
                    self.lat[route].append(dt)
                    self.last_ok_s = round(time.monotonic() - self.t0, 2)
                    self.by_route[route]["ok"] += 1
                else:
                    self.by_route[route]["non_2xx"] += 1
                    self.status[str(status)] = self.status.get(str(status), 0) + 1
                    if status == 503:
                        try:
                            text = json.loads(body).get("error", "?")
                        except (ValueError, AttributeError):
                            text = body[:60].decode("utf-8", "replace")
                        self.errors_503[text] = self.errors_503.get(text, 0) + 1

    def result(self, seconds):
        ok = [x for r in ROUTES for x in self.lat[r]]
        return {
            "threads": LOAD_THREADS, "seconds": round(seconds, 2), "requests": self.answered,
            "requests_per_s": round(self.answered / seconds, 1) if seconds else None,
            "ok": len(ok), "ok_per_s": round(len(ok) / seconds, 1) if seconds else None,
            "p50_ms": _ms(_pct(ok, 50)), "p99_ms": _ms(_pct(ok, 99)), "max_ms": _ms(max(ok) if ok else None),
            "all_p50_ms": _ms(_pct(self.lat_all, 50)), "all_p99_ms": _ms(_pct(self.lat_all, 99)),
            "bad_body": sum(v["bad_body"] for v in self.by_route.values()),
            "non_2xx": sum(self.status.values()), "non_2xx_by_status": dict(sorted(self.status.items())),
            "errors_503": self.errors_503, "conn_errors": self.conn_errors,
            "first_timeout_s": self.first_timeout_s, "last_ok_s": self.last_ok_s,
            "by_route": {r: dict(self.by_route[r], p50_ms=_ms(_pct(self.lat[r], 50)),
                                 p99_ms=_ms(_pct(self.lat[r], 99))) for r in ROUTES},
        }


def _whole_page(body):
    """A users answer that is a whole page: JSON with users and next."""
    try:
        doc = json.loads(body)
        return isinstance(doc["users"], list) and "next" in doc
    except (ValueError, KeyError, TypeError):
        return False


# --- 2. taps during the load ----------------------------------------------------------------
def _relay(sim):
    """(on, pulses) of relay 1 (control `relay`: a light poll, not the whole `state`)."""
    r = sim.call("relay", num=1)
    return bool(r["on"]), int(r["pulses"])


def _taps(sim, stop, users, seed, out):
    """Tap a table user's card every TAP_EVERY_S until `stop`; time tap -> relay 1 on (its pulse
    count going up, or seen on). A control-channel failure is counted and the taps go on (a dead
    simulator raises; 5 failures in a row, 0.05 s more apart each time, end the taps; a control
    command the simulator answers "out of memory" is counted and the taps go on); a relay
    poll answered "out of memory" is polled again (counted in state_oom), the tap still timed."""
    from doorctl.simctl import SimError

    rnd = random.Random(seed)
    lat, missed, polls, errors, misses = [], 0, 0, {}, []
    streak = oom = 0
    t_begin = time.monotonic()
    out.update(every_s=TAP_EVERY_S, timeout_s=TAP_TIMEOUT_S, poll_s=TAP_POLL_S)
    while not stop.is_set():
        t_start = time.monotonic()
        uid = "%08X" % (CARD_BASE_1 + rnd.randint(1, users))
        try:
            _, before = _relay(sim)
            t0 = time.monotonic()
            sim.call("tap", uid=uid, ms=TAP_MS)
            opened = None
            while True:
                try:
                    on, pulses = _relay(sim)
                except SimError as e:
                    if "memory" not in str(e) or time.monotonic() - t0 > TAP_TIMEOUT_S:
                        raise
                    oom += 1
                    time.sleep(0.005)
                    continue
                polls += 1
                now = time.monotonic()
                if pulses > before or on:
                    opened = now - t0
                    break
                if now - t0 > TAP_TIMEOUT_S:
                    break
                time.sleep(TAP_POLL_S)
        except RuntimeError:
            raise  # the simulator died
        except Exception as e:
            name = "%s: %s" % (e.__class__.__name__, str(e)[:80])
            errors[name] = errors.get(name, 0) + 1
            if isinstance(e, SimError) and "memory" in str(e):  # the simulator is there, short of heap
                stop.wait(0.05)
                continue
            streak += 1
            if streak >= 5:
                break  # the control channel is gone for good
            stop.wait(0.05 * streak)
            continue
        streak = 0
        if opened is None:
            missed += 1
            if len(misses) < 5:  # what the device made of it
                try:
                    st = sim.call("state", events=2)["state"]
                    misses.append({"at_s": round(t0 - t_begin, 2), "card": uid, "reader": st["reader"]["status"],
                                   "reader_errors": st["reader"].get("errors"), "cards_read": st["reader"].get("cards"),
                                   "last_events": [(e["code"], e["result"], e["reason"]) for e in st["events"]]})
                except RuntimeError:
                    raise
                except Exception as e:
                    misses.append({"at_s": round(t0 - t_begin, 2), "card": uid, "state": repr(e)})
        else:
            lat.append(opened)
        wait = TAP_EVERY_S - (time.monotonic() - t_start)
        if wait > 0:
            stop.wait(wait)
    out.update({"taps": len(lat) + missed, "opened": len(lat), "missed": missed, "errors": errors, "misses": misses,
                "p50_ms": _ms(_pct(lat, 50)), "p99_ms": _ms(_pct(lat, 99)), "max_ms": _ms(max(lat) if lat else None),
                "state_polls": polls, "state_oom": oom})


def _heap(sim, res, key):
    try:
        h = sim.call("heap")
    except RuntimeError:
        raise  # the simulator died
    except Exception as e:
        res["errors"].append("heap (%s): %s: %s" % (key, e.__class__.__name__, e))
        return
    res[key] = {"free": h["free"], "used": h["used"], "largest": h.get("largest")}


def _http_alive(hostport, token):
    """GET /api/v1/status answered at all (any status) within REQ_TIMEOUT_S?"""
    host, port = hostport.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=REQ_TIMEOUT_S)
    try:
        c.request("GET", "/api/v1/status", headers={"Authorization": "Bearer " + token})
        r = c.getresponse()
        r.read()
        return "HTTP %d" % r.status
    except (OSError, http.client.HTTPException) as e:
        return None if isinstance(e, (TimeoutError, socket.timeout)) else "%s" % e.__class__.__name__
    finally:
        c.close()


def _start(d, tbl=None):
    from simproc import Sim

    t0 = time.monotonic()
    # the psram board (lean boards have no HTTP API: docs/memory.md)
    sim0 = Sim(d, config=CONFIG, http=True, users=tbl, heap=HEAP)
    sim = _Sim(sim0)
    try:
        sim0.wait_for(lambda s: s["reader"]["status"] == "ok", timeout=30, events=0)
    except BaseException:
        sim0.stop()
        raise
    return sim, time.monotonic() - t0


def _log_errors(output):
    """Lines of the simulator's output that tell of an exception (the device's own log)."""
    keep = ("Error", "Traceback", "exception", "failed")
    return [ln for ln in output.splitlines() if any(k in ln for k in keep)][:20]


def _load(sim, res, users, load_s, seed):
    """Parts 1 and 2: the HTTP load with taps alongside."""
    from httpclient import admin_session

    api = admin_session(sim.sim.http, PASSWORD)
    _heap(sim, res, "heap_before")
    _say("http bench: %d threads x %.0f s of HTTP, a tap every %.2f s ..." % (LOAD_THREADS, load_s, TAP_EVERY_S))
    load = _Load(sim.sim.http, api.token, users, seed)
    workers = [threading.Thread(target=load.worker, args=(k,), daemon=True) for k in range(LOAD_THREADS)]
    taps, tap_crash = {}, []
    tap_done = threading.Event()

    def tapper():
        try:
            _taps(sim, tap_done, users, seed, taps)
        except BaseException as e:  # the simulator died: re-raised below
            tap_crash.append(e)

    tapper_thread = threading.Thread(target=tapper, daemon=True)
    load.t0 = t0 = time.monotonic()
    for t in workers:
        t.start()
    tapper_thread.start()
    while time.monotonic() - t0 < load_s and sim.alive() and tapper_thread.is_alive():
        time.sleep(0.1)
    load.stop.set()
    tap_done.set()
    elapsed = time.monotonic() - t0
    for t in workers:
        t.join(REQ_TIMEOUT_S + 5)
    tapper_thread.join(TAP_TIMEOUT_S + 15)
    if not sim.alive():
        raise sim.crashed("during the HTTP load")
    if tap_crash:
        raise tap_crash[0]
    res["load"] = load.result(elapsed)
    res["taps"] = taps
    if taps.get("errors"):
        res["errors"].append("taps: control channel errors %s" % _counts(taps["errors"]))
    _heap(sim, res, "heap_after_load")
    alive = _http_alive(sim.sim.http, api.token)
    res["load"]["http_after_load"] = alive or "no answer within %g s" % REQ_TIMEOUT_S
    if alive is None:
        res["errors"].append("the device's HTTP server stopped answering during the load (first request timed "
                             "out at ~%s s); the simulator process is still running" % load.first_timeout_s)
    return alive is not None


def _push(sim, res, tbl2):
    """Part 3: push the second table, then read the serial back from GET /api/v1/status."""
    from httpclient import Api

    from doorctl import cmd_push

    table = cmd_push.load_table(tbl2)
    push = cmd_push.push_table(sim.sim.url, table, PASSWORD, timeout=120)
    if not sim.alive():
        raise sim.crashed("during the table push")
    p = res["push"] = {"ok": push["ok"], "seconds": push["seconds"], "bytes": table.size, "users": table.users,
                       "serial_sent": table.serial, "serial_reported": push["serial"],
                       "users_reported": push["users"], "error": push["error"],
                       "serial_matches": push["serial"] == table.serial,
                       "after_restart": res.get("restarted_for_push", False)}
    if not push["ok"]:
        res["errors"].append("push: %s" % push["error"])
    check = Api(sim.sim.http, timeout=REQ_TIMEOUT_S)
    try:
        check.login(PASSWORD)
        status, doc = check.get("/api/v1/status")
    except (OSError, http.client.HTTPException, AssertionError) as e:
        if not sim.alive():
            raise sim.crashed("status after the push")
        status, doc = None, "%s: %s" % (e.__class__.__name__, e)
    if status == 200 and isinstance(doc, dict):
        p.update(status_serial=doc["table"]["serial"], status_users=doc["users"],
                 serial_changed=doc["table"]["serial"] == table.serial != SERIAL_1)
    else:
        p.update(status_serial=None, status_users=None, serial_changed=False)
        res["errors"].append("status after push: %s %s" % (status, str(doc)[:200]))
    if not p["serial_changed"] and status == 200:
        res["errors"].append("status after push shows serial %s, not %d" % (p["status_serial"], table.serial))


def run(users=USERS, load_s=LOAD_S, seed=4):
    """All figures as one JSON-able dict."""
    _tests_path()
    res = {"users": users, "heap": HEAP, "config": CONFIG, "errors": [], "restarted_for_push": False}
    with tempfile.TemporaryDirectory() as d:
        _say("http bench: building two %d-user tables ..." % users)
        tbl1, s1 = _build(d, "users1", users, SERIAL_1, CARD_BASE_1)
        tbl2, _ = _build(d, "users2", users, SERIAL_2, CARD_BASE_2)
        res["build_s"] = round(s1, 2)
        _say("http bench: starting the simulator ...")
        sim, start_s = _start(d, tbl1)
        res["start_s"] = round(start_s, 2)
        log = ""
        try:
            st = sim.call("state", events=0)["state"]
            if st["users"] != users or st["table"]["serial"] != SERIAL_1:
                raise RuntimeError("simulator did not load the table: %d users, serial %s"
                                   % (st["users"], st["table"]["serial"]))
            http_ok = _load(sim, res, users, load_s, seed)
            res["control_reconnects"] = sim.reconnects
            if not http_ok:  # the push figure is still wanted: on the same flash, after a restart
                _say("http bench: HTTP server not answering; restarting the simulator for the push ...")
                sim.sim.stop()
                log += sim.sim.output
                res["restarted_for_push"] = True
                sim, _ = _start(d)
            _say("http bench: pushing a second %d-user table ..." % users)
            _push(sim, res, tbl2)
            _heap(sim, res, "heap_after_push")
            if not sim.alive():
                raise sim.crashed("at the end")
        finally:
            sim.sim.stop()
            log += sim.sim.output
        res["sim_log_errors"] = _log_errors(log)
        _save_log(log)
    return res


def _save_log(log):
    """The simulator's whole output of the last run, for whoever looks into its errors
    (build/, not kept in git: the result keeps the first lines that tell of one)."""
    out = os.path.join(paths.ROOT, "build", "bench_http-device.log")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write(log)


# --- rows -----------------------------------------------------------------------------------
def _f(v):
    return "-" if v is None else "%s" % v


def _counts(d):
    return ", ".join("%s x%d" % (k, v) for k, v in sorted(d.items())) or "none"


def _heap_text(h):
    return "%d B free, %d B used, largest free block %d B" % (h["free"], h["used"], h["largest"] or 0)


def rows(result):
    n = format(result["users"], ",")
    out = []
    ld = result.get("load")
    if ld:
        text = "%.1f answers/s (%.1f/s 2xx); 2xx p50 %s ms, p99 %s ms; non-2xx: %d" % (
            ld["requests_per_s"], ld["ok_per_s"], _f(ld["p50_ms"]), _f(ld["p99_ms"]), ld["non_2xx"])
        if ld["non_2xx"]:
            text += " (%s)" % _counts(ld["non_2xx_by_status"])
        if ld["errors_503"]:
            text += "; 503 reasons: %s" % _counts(ld["errors_503"])
        if ld["conn_errors"]:
            text += "; no answer: %s" % _counts(ld["conn_errors"])
        if ld.get("first_timeout_s") is not None:
            text += "; HTTP stopped answering at ~%.1f s, after the load: %s" % (ld["first_timeout_s"],
                                                                             ld["http_after_load"])
        if ld.get("bad_body"):
            text += "; 2xx users answers cut short: %d" % ld["bad_body"]
        out.append(("HTTP under load, %s users: %d threads x %.0f s, GET status / users page of %d after a "
                    "random cursor / search (3 random digits) from a random cursor / events / relays, one "
                    "request per connection" % (n, ld["threads"], ld["seconds"], PAGE), text))
        per = "; ".join("%s %d ok, %d non-2xx, %d unanswered, p50 %s ms, p99 %s ms" % (
            r, v["ok"], v["non_2xx"], v["conn_errors"], _f(v["p50_ms"]), _f(v["p99_ms"]))
            + (", %d cut short" % v["bad_body"] if v.get("bad_body") else "")
            for r, v in ld["by_route"].items())
        out.append(("HTTP under load, per route", per))
    tp = result.get("taps")
    if tp:
        text = "%d taps: p50 %s ms, p99 %s ms, max %s ms; %d did not open within %g s" % (
            tp["taps"], _f(tp["p50_ms"]), _f(tp["p99_ms"]), _f(tp["max_ms"]), tp["missed"], tp["timeout_s"])
        if tp.get("misses"):
            text += " (at %s s into the load)" % ", ".join("%.1f" % m["at_s"] for m in tp["misses"])
        if tp.get("errors"):
            text += "; control channel errors: %s" % _counts(tp["errors"])
        if tp.get("state_oom"):
            text += "; relay poll answered out of memory %d times (polled again)" % tp["state_oom"]
        out.append(("Tap -> relay on during the HTTP load (control-channel tap, relay 1 polled every %g ms over "
                    "the control channel: includes that granularity), a tap every %d ms"
                    % (tp.get("poll_s", TAP_POLL_S) * 1000, tp["every_s"] * 1000), text))
    p = result.get("push")
    if p:
        if p["ok"]:
            text = "%.2f s for %d B; serial reported %s (%s), status then shows serial %s (%s)" % (
                p["seconds"], p["bytes"], p["serial_reported"],
                "matches" if p["serial_matches"] else "DOES NOT match %d" % p["serial_sent"],
                p["status_serial"], "changed" if p["serial_changed"] else "NOT changed")
        else:
            text = "FAILED after %.2f s (%d B): %s" % (p["seconds"], p["bytes"], p["error"])
        when = ("after a simulator restart (its HTTP server had stopped answering)" if p["after_restart"]
                else "after the load")
        out.append(("Push of a second %s-user table (doorctl push, PUT /api/v1/users/table), %s" % (n, when), text))
    for key, what in (("heap_before", "before the load, signed in"),
                      ("heap_after_load", "after the HTTP load and taps"),
                      ("heap_after_push", "after the push" + (" (restarted simulator)"
                                                              if result.get("restarted_for_push") else ""))):
        if result.get(key):
            out.append(("Simulator heap %s (-X heapsize=%s, %s users)" % (what, result["heap"], n),
                        _heap_text(result[key])))
    if result.get("errors"):
        out.append(("HTTP bench: problems seen", "; ".join(result["errors"])))
    return out


def update(res):
    """Store `res` as bench/results.json's bench_http and rewrite docs/benchmarks.md's bench rows (the
    other benchmarks' figures are kept as they are)."""
    from doorctl import bench

    path = os.path.join(paths.ROOT, "bench", "results.json")
    with open(path) as f:
        all_res = json.load(f)
    all_res["bench_http"] = res
    with open(path, "w") as f:
        json.dump(all_res, f, indent=2, sort_keys=True)
    return bench.update_readme(bench.table(all_res))


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(prog="python -m doorctl.bench_http", description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=LOAD_S, help="length of the load (default %(default)s)")
    ap.add_argument("--users", type=int, default=USERS, help="users in the table (default %(default)s)")
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--update", action="store_true",
                    help="write the result into bench/results.json and docs/benchmarks.md's bench rows")
    a = ap.parse_args(argv)
    res = run(users=a.users, load_s=a.seconds, seed=a.seed)
    print(json.dumps(res, indent=2, sort_keys=True))
    for m, t in rows(res):
        print("| %s | %s |" % (m, t))
    if a.update:
        print("docs/benchmarks.md updated" if update(res) else "docs/benchmarks.md has no bench markers", file=sys.stderr)


if __name__ == "__main__":
    main()

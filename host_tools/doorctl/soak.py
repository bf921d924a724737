"""Soak: the real firmware in the simulator with every feature of its profile in use at once
(issue #15, item 3), counting what goes wrong.

One run starts the simulator on a board (`boards/sim.json`, psram; `boards/sim-lean.json`, lean;
the profile is the board file's, doorctl.profiles) with a user table of USERS users (+ the demo
user 1001) and loads it for `minutes` with its profile's feature set.

psram, every feature: the device HTTP API on, third-party verification in `customize` mode with
cards `remote`, and

- taps: a card every TAP_EVERY_S over the control channel, alternating a known card (a table
  user's, granted by the server) and an unknown one (denied by the server); every tap's UID is
  new within the run, so each event belongs to exactly one tap;
- the verification server: an in-process `doorctl verify-server` (doorctl.verify_server) that
  answers after a random 0-DELAY_MAX_MS ms and never answers NO_ANSWER of the requests (the
  door's 3 s timeout then denies: `remote_timeout`). The door sends one request at a time,
  queues one credential and refuses the others at once (`busy`, docs/verify.md): all of them
  are decisions with an event;
- 4 HTTP clients (HTTP Basic), each looping GET status / a users page after a random cursor /
  events after its own cursor / relays, one request per connection;
- a whole-table push (`doorctl push`'s code: PUT /api/v1/users/table) at FIRST_PUSH_S and then
  every PUSH_EVERY_S, a table built on the host with the same users and a new serial;
- the exit button every EXIT_EVERY_S (configured to relay 2, so relay 1 opens only for granted
  cards).

lean, the standalone door (lean boards refuse Wi-Fi with the HTTP API, third-party verification
and LPR: docs/memory.md): no HTTP (the simulator runs with `--http off`), no verification (no
`verify` in the config), no table pushes; the same taps, decided locally by the table the
simulator starts with (known: granted, unknown: denied), the exit button every EXIT_EVERY_S and
after each press the door opened (door sensor) for DOOR_OPEN_S and closed; a granted tap's relay
1 is polled every POLL_S from the tap until it opens.

Counted: MemoryErrors (lines of the simulator's output naming one, control answers "out of
memory", HTTP 503 "out of memory", the card reader's `no_heap` polls, "no heap" lines), events
lost (sequence gaps in the log read page by page over the control channel, exit presses without
an event, relay 1 pulses without a granted card event, lean: door sensor changes without an
event), events out of order (the server-decided events and the refused ones each in tap order;
lean: every card event in tap order, the door's opened/closed in turn), taps not decided (no
event within DECIDE_S: a tap queued behind a request the server never answers can wait 2 x 3 s;
lean: LEAN_DECIDE_S), wrong decisions (an unknown card granted, a known card denied by the
server; lean: a known card denied at all), every HTTP answer by status (503 "busy" = the
documented admission control, counted apart), streamed answers cut short, HTTP requests without
an answer, pushes and their retries, the heap (control `heap` every HEAP_EVERY_S: free and
largest block, min and median), and latencies: tap -> relay 1 on for granted taps (psram:
includes the server's random delay), the device's own share of it (server answer written ->
relay on; tap -> request at the server when none was in flight) and exit press -> relay 2 on.
Relays are polled over the control channel every POLL_S while an opening is due, so the figures
include that granularity. Times are unix-port wall time (an ESP32 is slower).

    run(board, minutes) -> dict     failures(result) -> [text]     rows(results) -> [(measure, ...)]
    python -m doorctl.soak --minutes 5 --board boards/sim.json [--board ...] [--json] [--update]
      exit code 0: every count as required; 1: a count is not (listed), or an error;
      --update: results into bench/soak.json and the README rows between the soak markers.
"""
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time

from doorctl import paths

USERS = 2000
TAP_EVERY_S = 0.25
TAP_MS = 120  # how long a card stays on the reader
EXIT_EVERY_S = 5.0
EXIT_MS = 200
PUSH_EVERY_S = 120.0
FIRST_PUSH_S = 30.0
HTTP_CLIENTS = 4
HTTP_ROUTES = ("status", "users", "events", "relays")
PAGE = 20
HEAP_EVERY_S = 5.0
EVENTS_EVERY_S = 2.0  # (each read loads the control channel's ctlmore: heap)
PROGRESS_S = 10.0
DECIDE_S = 8.0  # a tap's event must be there within this (queued behind an unanswered request: 2 x 3 s)
LEAN_DECIDE_S = 3.0  # lean: decided locally, nothing queued
DOOR_OPEN_S = 1.0  # lean: the door is opened after each exit press and closed this much later
VERIFY_TIMEOUT_MS = 3000
DELAY_MAX_MS = 2900
NO_ANSWER = 0.05
POLL_S = 0.002
ARM_EARLY_S = 0.03  # fast relay polling starts this long before a granting answer is due...
ARM_LATE_S = 1.0  # ...and ends this long after it
REQ_TIMEOUT_S = 10.0
PUSH_TIMEOUT_S = 90.0
PASSWORD = "s3cret-door"
KNOWN_BASE, UNKNOWN_BASE = 0xA0000000, 0xB0000000
DEMO_USER = {"id": 1001, "name": "Demo User", "cards": ["04A1B2C3"], "relays": [1]}
SERIAL_BASE = 7000
BOARDS = ("sim.json", "sim-lean.json")
RESULT_PATH = os.path.join("bench", "soak.json")
README_START = "<!-- soak:start -->"
README_END = "<!-- soak:end -->"


def config(verify_url=None):
    """The device config of a soak: fast relays, exit -> relay 2, no unlock intervals, cards
    verified by the server at `verify_url` (remote: an unreachable server denies); without one
    (lean, the standalone door) no `verify` section: cards are decided by the local table."""
    cfg = {
        "relays": {"1": {"hold_ms": 200}, "2": {"hold_ms": 200}},
        "reader": {"removal_ms": 150},
        "inputs": {"exit": {"relay": 2}},
        "access": {"interval_same_s": 0, "interval_other_s": 0},
    }
    if verify_url is not None:
        cfg["verify"] = {"mode": "customize", "auth_mode": "any", "timeout_ms": VERIFY_TIMEOUT_MS,
                         "url": verify_url + "/scan?card={Card}&device={DeviceID}",
                         "methods": {"qr": "local", "card": "remote", "pin": "local"}}
    return cfg


def known_card(i):
    return "%08X" % (KNOWN_BASE + i)


def _say(text):
    print(text, file=sys.stderr, flush=True)


def _tests_path():
    tests = os.path.join(paths.ROOT, "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)


def _pct(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def _ms(seconds):
    return None if seconds is None else round(seconds * 1000.0, 1)


def _lat(values):
    """{n, p50_ms, p99_ms, max_ms} of a list of seconds."""
    return {"n": len(values), "p50_ms": _ms(_pct(values, 50)), "p99_ms": _ms(_pct(values, 99)),
            "max_ms": _ms(max(values) if values else None)}


def get(host, port, path, auth, timeout=REQ_TIMEOUT_S):
    """One GET on its own connection, read until the device closes it (every answer of the
    device ends so: `Connection: close`) -> (status, body); a body shorter than its
    Content-Length is returned as read (the caller sees it cut short). ValueError: no HTTP
    answer. Waiting for the close, not only for the body, makes each client hold one
    connection at a time as the device counts them (its slot is free once it has closed)."""
    import socket

    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nConnection: close\r\n\r\n"
                   % (path, host, auth)).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, sep, body = data.partition(b"\r\n\r\n")
    line = head.split(b"\r\n", 1)[0].split()
    if not sep or len(line) < 2 or not line[0].startswith(b"HTTP/") or not line[1].isdigit():
        raise ValueError("no HTTP answer (%d bytes)" % len(data))
    for h in head.split(b"\r\n")[1:]:
        k, _, v = h.partition(b":")
        if k.strip().lower() == b"content-length" and v.strip().isdigit() and len(body) != int(v):
            body = body[:int(v)] if len(body) > int(v) else body + b"\x00"  # (not JSON: cut short)
    return int(line[1]), body


def _bump(d, key, n=1):
    d[key] = d.get(key, 0) + n


class Crashed(RuntimeError):
    pass


# --- the control channel, one connection per thread ----------------------------------------
class Ctl:
    """A control connection of its own (the simulator takes 6). "out of memory" answers are
    counted (per command) and raise OutOfMemory; any other failure (a dropped connection, an
    error answer) is counted, the connection made anew (an answer out of step is never read as
    the next one's) and Failed raised; a dead process raises Crashed."""

    class OutOfMemory(Exception):
        pass

    class Failed(Exception):
        pass

    def __init__(self, soak):
        from doorctl.simctl import SimClient

        self.soak = soak
        self.client = SimClient(soak.sim.control, timeout=REQ_TIMEOUT_S)

    def call(self, cmd, **args):
        from doorctl.simctl import SimClient, SimError

        try:
            return self.client.call(cmd, **args)
        except (SimError, OSError, ValueError) as e:
            if not self.soak.alive():
                raise Crashed("the simulator died (control %s)" % cmd)
            if isinstance(e, SimError) and "out of memory" in str(e):
                self.soak.count("control_oom", cmd)
                raise Ctl.OutOfMemory(cmd)
            self.soak.count("control_errors", "%s: %s" % (cmd, str(e)[:60] or e.__class__.__name__))
            self.client.close()
            try:
                self.client = SimClient(self.soak.sim.control, timeout=REQ_TIMEOUT_S)
            except SimError:
                time.sleep(0.5)
                self.client = SimClient(self.soak.sim.control, timeout=REQ_TIMEOUT_S)
            raise Ctl.Failed("%s: %s" % (cmd, e))

    def insist(self, cmd, timeout=5.0, **args):
        """call(), asked again after "out of memory" (the door's own work comes first) until
        `timeout`; returns (answer, time.time() when the answered call was sent)."""
        end = time.time() + timeout
        while True:
            t = time.time()
            try:
                return self.call(cmd, **args), t
            except Ctl.OutOfMemory:
                if time.time() > end:
                    raise
                time.sleep(0.02)

    def close(self):
        self.client.close()


# --- the run --------------------------------------------------------------------------------
class Soak:
    def __init__(self, board, seconds, seed=15, users=USERS, log=_say, heap=None):
        self.board = board
        self.heap_words = heap  # -X heapsize for the simulator (default: the board's profile's)
        self.profile = None
        self.standalone = False  # lean: the standalone door (no HTTP, no verification, no pushes)
        self.decide_s = DECIDE_S
        self.seconds = seconds
        self.seed = seed
        self.users = users
        self.say = log
        self.sim = None
        self.lock = threading.Lock()
        self.stop = threading.Event()  # taps, exits, pushes, HTTP clients
        self.stop_all = threading.Event()  # also the readers
        self.errors = []  # threads that ended with an exception
        self.counts = {}  # name -> {detail: n}
        self.taps = []  # {uid, known, t}
        self.presses = []  # {t, relay_s}
        self.doors = []  # lean: {t, state ("open"/"closed"), uncertain}
        self.events = {}  # seq -> event (+ "seen": time.time())
        self.seq_gaps = []  # (expected, got)
        self.cursor = 0
        self.arms = []  # (from, to): fast relay polling windows
        self.pulses = []  # (pulse number after the run's start, time seen, precise)
        self.heap = []  # (t, free, largest)
        self.http = {r: {} for r in HTTP_ROUTES}  # route -> {status or kind: n}
        self.http_lat = {r: [] for r in HTTP_ROUTES}
        self.http_event_gaps = 0
        self.http_odd = []  # (at_s, route, status, error, ms) of the first non-2xx answers
        self.pushes = []
        self.t0 = None

    # shared counters
    def count(self, name, detail, n=1):
        with self.lock:
            _bump(self.counts.setdefault(name, {}), detail, n)

    def alive(self):
        return self.sim is not None and self.sim.proc is not None and self.sim.proc.poll() is None

    def _thread(self, fn, *args):
        def body():
            try:
                fn(*args)
            except Crashed as e:
                self.errors.append(str(e))
                self.stop.set()
            except Exception as e:  # a harness thread must not die silently
                self.errors.append("%s: %s: %s" % (fn.__name__, e.__class__.__name__, e))
        t = threading.Thread(target=body, daemon=True, name=fn.__name__)
        t.start()
        return t

    # taps and the relay they open
    def tapper(self):
        ctl = Ctl(self)
        i = 0
        try:
            while not self.stop.is_set():
                t_next = time.time() + TAP_EVERY_S
                known = i % 2 == 0
                uid = known_card(1 + (i // 2) % self.users) if known else "%08X" % (UNKNOWN_BASE + i)
                i += 1
                t = time.time()
                uncertain = False
                arm = None
                if self.standalone and known:  # decided locally: relay 1 is due from the tap on
                    arm = [t, t + ARM_LATE_S]
                    with self.lock:
                        self.arms.append(arm)
                try:
                    _, t = ctl.insist("tap", uid=uid, ms=TAP_MS)
                except Ctl.OutOfMemory:
                    self.count("taps_not_sent", "out of memory")
                    if arm is not None:
                        with self.lock:
                            self.arms = [a for a in self.arms if a is not arm]
                    continue
                except Ctl.Failed:  # made or not: its event, if any, is its own (never "extra")
                    uncertain = True
                with self.lock:
                    self.taps.append({"uid": uid, "known": known, "t": t, "uncertain": uncertain})
                self.stop.wait(max(0.0, t_next - time.time()))
        finally:
            ctl.close()

    def on_request(self, entry):
        """The verification server's log hook (before its delay): a granting answer is due."""
        if entry.get("granted") and not entry.get("no_answer"):
            due = entry["time"] + entry["delay_ms"] / 1000.0
            with self.lock:
                self.arms.append((due - ARM_EARLY_S, due + ARM_LATE_S))

    def relay_watch(self, base):
        """Relay 1's pulses after `base`: polled every POLL_S in a window around each granting
        answer (lean: from each known tap until its pulse is seen; a precise time), else every
        0.25 s (counted, no time)."""
        ctl = Ctl(self)
        try:
            last = base
            slow_next = 0.0
            while not self.stop_all.is_set():
                now = time.time()
                with self.lock:
                    self.arms = [a for a in self.arms if a[1] > now]
                    fast = any(a[0] <= now for a in self.arms)
                if not fast and now < slow_next:
                    time.sleep(POLL_S)
                    continue
                try:
                    r = ctl.call("relay", num=1)
                except (Ctl.OutOfMemory, Ctl.Failed):
                    time.sleep(POLL_S)
                    continue
                t = time.time()
                if r["pulses"] > last:
                    precise = fast and r["pulses"] == last + 1
                    with self.lock:
                        for n in range(last + 1, r["pulses"] + 1):
                            self.pulses.append((n - base, t, precise))
                        if self.standalone:  # the earliest known taps' windows end with their pulses
                            del self.arms[:r["pulses"] - last]
                    last = r["pulses"]
                if not fast:
                    slow_next = t + 0.25
                else:
                    time.sleep(POLL_S)
        finally:
            ctl.close()

    def presser(self):
        """The exit button every EXIT_EVERY_S; press -> relay 2 on, polled every POLL_S (lean:
        then the door opened for DOOR_OPEN_S and closed, its sensor's events counted)."""
        ctl = Ctl(self)
        try:
            while not self.stop.wait(EXIT_EVERY_S - (DOOR_OPEN_S if self.standalone else 0.0)):
                try:
                    (r, _) = ctl.insist("relay", num=2)
                    before = r["pulses"]
                except (Ctl.OutOfMemory, Ctl.Failed):
                    continue
                t = time.time()
                uncertain = False
                try:
                    _, t = ctl.insist("press", input="exit", ms=EXIT_MS)
                except Ctl.OutOfMemory:
                    self.count("presses_not_sent", "out of memory")
                    continue
                except Ctl.Failed:
                    uncertain = True
                press = {"t": t, "relay_s": None, "uncertain": uncertain}
                with self.lock:
                    self.presses.append(press)
                while time.time() - t < 2.0:
                    try:
                        r = ctl.call("relay", num=2)
                    except (Ctl.OutOfMemory, Ctl.Failed):
                        time.sleep(POLL_S)
                        continue
                    if r["pulses"] > before:
                        press["relay_s"] = time.time() - t
                        break
                    time.sleep(POLL_S)
                if self.standalone:
                    self.door(ctl, "open")
                    time.sleep(DOOR_OPEN_S)  # (closed even when the load stops meanwhile)
                    self.door(ctl, "closed")
        finally:
            ctl.close()

    def door(self, ctl, state):
        """The door sensor: the door opened or closed (control `door`), counted."""
        uncertain = False
        t = time.time()
        try:
            _, t = ctl.insist("door", state=state)
        except Ctl.OutOfMemory:
            self.count("doors_not_sent", "out of memory")
            return
        except Ctl.Failed:
            uncertain = True
        with self.lock:
            self.doors.append({"t": t, "state": state, "uncertain": uncertain})

    # the event log, page by page
    def read_events(self, ctl):
        while True:
            try:
                page = ctl.call("events", since=self.cursor)
            except (Ctl.OutOfMemory, Ctl.Failed):
                return False
            now = time.time()
            with self.lock:
                for ev in page["events"]:
                    if ev["seq"] != self.cursor + 1:
                        self.seq_gaps.append((self.cursor + 1, ev["seq"]))
                    if ev["seq"] <= self.cursor:
                        continue  # (never expected: counted as a gap above)
                    ev["seen"] = now
                    self.events[ev["seq"]] = ev
                    self.cursor = ev["seq"]
                if not page["events"] and page["next"] > self.cursor:
                    self.seq_gaps.append((self.cursor + 1, page["next"] + 1))
                    self.cursor = page["next"]
            if not page["more"]:
                return True

    def event_reader(self):
        """The event log every EVENTS_EVERY_S and the heap every HEAP_EVERY_S (one control
        connection: the simulator takes 6, and the test's Sim holds one)."""
        ctl = Ctl(self)
        next_heap = time.time() + HEAP_EVERY_S
        try:
            while not self.stop_all.wait(EVENTS_EVERY_S):
                self.read_events(ctl)
                if time.time() < next_heap:
                    continue
                next_heap += HEAP_EVERY_S
                try:
                    h = ctl.call("heap")
                except (Ctl.OutOfMemory, Ctl.Failed):
                    continue
                with self.lock:
                    self.heap.append((time.time(), h["free"], h["largest"]))
        finally:
            ctl.close()

    # HTTP
    def http_client(self, k, auth, src=None, workdir=None):
        """One client: GET status / users / events / relays in turn, one connection at a time;
        client 0 also pushes the table when one is due (in its turn: 4 clients, 4 connections)."""
        rnd = random.Random(self.seed * 100 + k)
        host, port = self.sim.http.rsplit(":", 1)
        cursor = 0
        i = k
        pushes = 0
        while not self.stop.is_set():
            if src is not None and time.time() >= self.t0 + FIRST_PUSH_S + pushes * PUSH_EVERY_S:
                self.push(src, workdir, SERIAL_BASE + pushes)
                pushes += 1
                continue
            route = HTTP_ROUTES[i % len(HTTP_ROUTES)]
            i += 1
            if route == "users":
                path = "/api/v1/users?after=%d&limit=%d" % (rnd.randrange(0, self.users), PAGE)
            elif route == "events":
                path = "/api/v1/events?since=%d&limit=%d" % (cursor, PAGE)
            else:
                path = "/api/v1/" + route
            t0 = time.time()
            try:
                status, body = get(host, int(port), path, auth)
            except (OSError, ValueError) as e:
                if not self.alive():
                    raise Crashed("the simulator died (HTTP)")
                with self.lock:
                    _bump(self.http[route], "unanswered: " + e.__class__.__name__)
                time.sleep(0.05)
                continue
            dt = time.time() - t0
            doc = None
            try:
                doc = json.loads(body)
            except ValueError:
                pass
            with self.lock:
                if 200 <= status < 300:
                    if not isinstance(doc, dict) or (route == "users" and "next" not in doc) or \
                            (route == "events" and not isinstance(doc.get("events"), list)):
                        _bump(self.http[route], "cut short")  # a streamed answer ended early
                        continue
                    _bump(self.http[route], "2xx")
                    self.http_lat[route].append(dt)
                    if route == "events" and doc["events"]:
                        seqs = [e["seq"] for e in doc["events"]]
                        if seqs[0] != cursor + 1 or seqs != list(range(seqs[0], seqs[0] + len(seqs))):
                            self.http_event_gaps += 1
                        cursor = seqs[-1]
                else:
                    err = doc.get("error") if isinstance(doc, dict) else None
                    _bump(self.http[route], "%d %s" % (status, err or "?"))
                    if len(self.http_odd) < 50:  # when, and how long it took: what it coincided with
                        self.http_odd.append((round(t0 - self.t0, 2), route, status, err, round(dt * 1000, 1)))

    def push(self, src, workdir, serial):
        """`doorctl push` of a table of the same users with a new serial (built on the host)."""
        from doorctl import cmd_push, simprep

        out = os.path.join(workdir, "push%d.tbl" % serial)
        simprep.build_table(src, out, serial=serial)
        table = cmd_push.load_table(out)
        notes = []
        t = time.time()
        res = cmd_push.push_table(self.sim.url, table, PASSWORD, timeout=PUSH_TIMEOUT_S, retries=5,
                                  progress=lambda url, sent, total, note: notes.append(note) if note else None)
        if not self.alive():
            raise Crashed("the simulator died (table push)")
        with self.lock:
            self.pushes.append({"at_s": round(t - self.t0, 1), "ok": res["ok"], "seconds": res["seconds"],
                                "bytes": table.size, "serial": serial, "serial_reported": res["serial"],
                                "error": res["error"], "retries": notes})

    def progress(self):
        with self.lock:
            taps = len(self.taps)
            decided = len({e["code"] for e in self.events.values() if e["kind"] == "card"})
            ok = sum(v.get("2xx", 0) for v in self.http.values())
            busy = sum(n for v in self.http.values() for s, n in v.items() if s == "503 busy")
            other = sum(n for v in self.http.values() for s, n in v.items() if s not in ("2xx", "503 busy"))
            heap = min((h[1] for h in self.heap), default=None)
            oom = sum(self.counts.get("control_oom", {}).values())
        mem = self.sim.output.count("MemoryError") + oom
        if self.standalone:
            self.say("soak %s: %3.0f/%.0f s, taps %d (with an event %d), events %d, exit presses %d, door changes %d, "
                     "MemoryError %d, heap free min %s B (standalone door: no HTTP, no verification)"
                     % (self.profile, time.time() - self.t0, self.seconds, taps, decided, self.cursor,
                        len(self.presses), len(self.doors), mem, heap))
            return
        self.say("soak %s: %3.0f/%.0f s, taps %d (with an event %d), events %d, HTTP 2xx %d busy %d other %d, "
                 "pushes %d, MemoryError %d, heap free min %s B"
                 % (self.profile, time.time() - self.t0, self.seconds, taps, decided, self.cursor, ok, busy, other,
                    len(self.pushes), mem, heap))

    def run(self):
        _tests_path()
        from simproc import Sim
        from httpclient import admin_session

        from doorctl import profiles, simprep
        from doorctl import verify_server as vs

        self.profile = profiles.board_profile(self.board)
        self.standalone = self.profile == "lean"  # lean refuses HTTP and verification (docs/memory.md)
        self.decide_s = LEAN_DECIDE_S if self.standalone else DECIDE_S
        rules = {"allow": [known_card(i) for i in range(1, self.users + 1)] + DEMO_USER["cards"],
                 "delay_ms": 0, "delay_max_ms": DELAY_MAX_MS, "no_answer": NO_ANSWER, "seed": self.seed}
        verify = contextlib.nullcontext() if self.standalone else vs.VerifyServer(rules, log=self.on_request)
        with tempfile.TemporaryDirectory() as d, verify as server:
            self.server = server
            src = os.path.join(d, "users.json")
            with open(src, "w") as f:
                json.dump({"users": [DEMO_USER] + [{"id": 10000 + i, "name": "Soak %d" % i,
                                                    "cards": [known_card(i)], "relays": [1]}
                                                   for i in range(1, self.users + 1)]}, f)
            tbl = os.path.join(d, "users.tbl")
            simprep.build_table(src, tbl, serial=SERIAL_BASE - 1)
            self.heap_words = self.heap_words or profiles.heap_for_board(self.board)
            self.say("soak %s: starting the simulator (%s, -X heapsize=%s%s) ..."
                     % (self.profile, os.path.basename(self.board), self.heap_words,
                        "; the standalone door: no HTTP, no verification, no table pushes" if self.standalone else ""))
            try:
                self.sim = Sim(d, config=config(None if self.standalone else server.url), users=tbl, board=self.board,
                               http=not self.standalone, demo=False, heap=self.heap_words)
            except RuntimeError as e:  # the firmware did not start: that is the result
                return self.no_start(str(e))
            try:
                self.sim.wait_for(lambda s: s["reader"]["status"] == "ok", timeout=30, events=0)
                st0 = self.sim.state(0)
                if not self.standalone:
                    admin_session(self.sim.http, PASSWORD)
                    import base64
                    auth = "Basic " + base64.b64encode(("admin:" + PASSWORD).encode()).decode()
                ctl = Ctl(self)
                self.read_events(ctl)
                ctl.close()
                start_seq = self.cursor
                self.t0 = time.time()
                readers = [self._thread(self.relay_watch, st0["relays"]["1"]["pulses"]), self._thread(self.event_reader)]
                workers = [self._thread(self.tapper), self._thread(self.presser)]
                if not self.standalone:
                    workers.append(self._thread(self.http_client, 0, auth, src, d))
                    workers += [self._thread(self.http_client, k, auth) for k in range(1, HTTP_CLIENTS)]
                next_progress = self.t0 + PROGRESS_S
                while time.time() - self.t0 < self.seconds and not self.stop.is_set():
                    time.sleep(0.2)
                    if not self.alive():
                        self.errors.append("the simulator died")
                        break
                    if time.time() >= next_progress:
                        next_progress += PROGRESS_S
                        self.progress()
                elapsed = time.time() - self.t0
                self.stop.set()
                for t in workers:
                    t.join(PUSH_TIMEOUT_S + 10)
                if self.alive():  # the last taps' decisions (queued ones can take 2 x 3 s)
                    self.say("soak %s: load stopped; %.0f s for the last decisions ..." % (self.profile, self.decide_s))
                    time.sleep(self.decide_s)
                self.stop_all.set()
                for t in readers:
                    t.join(15)
                st1 = None
                ctl = Ctl(self)
                if self.alive():
                    end = time.time() + 30  # the load has stopped: the heap comes back
                    while not self.read_events(ctl) and time.time() < end:
                        time.sleep(0.2)
                    try:
                        st1 = ctl.insist("state", timeout=30, events=0)[0]["state"]
                    except (Ctl.OutOfMemory, Ctl.Failed) as e:
                        self.errors.append("state at the end: %s" % e)
                ctl.close()
            finally:
                self.sim.stop()
            requests = list(server.requests) if server is not None else []
        return self.result(elapsed, start_seq, st0, st1, requests)

    # --- the figures --------------------------------------------------------------------------
    def base(self):
        res = {"board": os.path.basename(self.board), "profile": self.profile, "heapsize": self.heap_words,
               "seed": self.seed, "users": self.users + 1, "errors": list(self.errors), "started": True}
        if self.standalone:
            res["features"] = "standalone"
            res["conditions"] = {"standalone": True, "http": "off", "verify": "off", "table_pushes": 0,
                                 "tap_every_s": TAP_EVERY_S, "tap_ms": TAP_MS, "exit_every_s": EXIT_EVERY_S,
                                 "door_open_s": DOOR_OPEN_S, "events_every_s": EVENTS_EVERY_S,
                                 "heap_every_s": HEAP_EVERY_S, "decide_s": LEAN_DECIDE_S, "poll_ms": POLL_S * 1000}
            return res
        res["features"] = "all"
        res["conditions"] = {"tap_every_s": TAP_EVERY_S, "tap_ms": TAP_MS, "exit_every_s": EXIT_EVERY_S,
                             "push_every_s": PUSH_EVERY_S, "first_push_s": FIRST_PUSH_S,
                             "http_clients": HTTP_CLIENTS, "verify_delay_ms": [0, DELAY_MAX_MS],
                             "verify_no_answer": NO_ANSWER, "verify_timeout_ms": VERIFY_TIMEOUT_MS,
                             "decide_s": DECIDE_S, "poll_ms": POLL_S * 1000}
        return res

    def no_start(self, text):
        """The result of a firmware that did not start (text: simproc's error with its output)."""
        lines = text.splitlines()
        mem = sum(1 for ln in lines if "MemoryError" in ln or "no heap" in ln)
        res = self.base()
        last = [ln.strip() for ln in lines if ln.strip()]
        said = [ln for ln in last if ln.startswith("doorctl:")]  # the firmware's own words
        where = [ln for ln in last if ln.startswith("File ")]
        error = " / ".join(said[:1] + [ln.split(", in ")[-1] for ln in where[-1:]]
                           + last[-1:]) if last else text
        res.update(started=False, seconds=0, start_output=lines[-12:], start_error=error,
                   memory_errors={"output_memoryerror_lines": mem, "total": mem})
        res["failures"] = failures(res)
        self.say("soak %s: the simulator did not start: %s" % (self.profile, res["start_error"]))
        return res

    def result(self, elapsed, start_seq, st0, st1, requests):
        res = self.base()
        res["seconds"] = round(elapsed, 1)
        evs = [self.events[s] for s in sorted(self.events) if s > start_seq]
        cards = [e for e in evs if e["kind"] == "card"]
        by_code = {}
        for e in cards:
            by_code.setdefault(e["code"], []).append(e)
        index = {t["uid"]: i for i, t in enumerate(self.taps)}

        # taps: one event each, in time, the right decision
        not_decided, late, extra, wrong = 0, 0, 0, []
        outcomes = {}
        uncertain = 0
        for t in self.taps:
            mine = by_code.get(t["uid"], [])
            if not mine:
                if t["uncertain"]:  # the control channel failed on it: perhaps never made
                    uncertain += 1
                else:
                    not_decided += 1
                continue
            extra += len(mine) - 1
            e = mine[0]
            # the event's time is the device's (host) clock in whole seconds, cut: never later than the decision
            if (e["time"] or e["seen"]) - t["t"] > self.decide_s:
                late += 1
                not_decided += 1
            key = "%s %s %s" % ("known" if t["known"] else "unknown", e["result"], e["reason"])
            _bump(outcomes, key)
            # a known card denied: by the server (psram: busy and timeouts are the documented queue); lean: at all
            denied = e["result"] != "granted" if self.standalone else e["reason"] == "remote_denied"
            if (not t["known"] and e["result"] == "granted") or (t["known"] and denied):
                wrong.append(key + " " + t["uid"])
        extra += sum(len(v) for k, v in by_code.items() if k not in index)  # card events of no tap
        # order: the refused ones among themselves, the others among themselves, in tap order
        out_of_order = 0
        for busy in (True, False):
            seq = [index[e["code"]] for e in cards if e["code"] in index and (e["reason"] == "busy") == busy]
            out_of_order += sum(1 for a, b in zip(seq, seq[1:]) if b < a)
        # events lost: gaps, exit presses without an event, relay 1 pulses without a granted card
        exits = [e for e in evs if e["kind"] == "exit"]
        granted = [e for e in cards if e["result"] == "granted"]
        gap_events = sum(max(1, got - exp) for exp, got in self.seq_gaps)
        pulses1 = len(self.pulses)
        sure = [p for p in self.presses if not p["uncertain"]]
        lost = {"seq_gaps": gap_events, "exit_presses_without_event": max(0, len(sure) - len(exits)),
                "relay_pulses_without_event": max(0, pulses1 - len(granted))}
        if self.standalone:  # the door sensor: each change its event, opened and closed in turn
            doors = [e for e in evs if e["kind"] == "door"]
            changes = [d for d in self.doors if not d["uncertain"]]
            lost["door_changes_without_event"] = max(0, len(changes) - len(doors))
            seen = [e["reason"] for e in doors]  # the door starts closed: opened first
            out_of_order += int(seen[:1] not in ([], ["door_opened"])) + sum(1 for a, b in zip(seen, seen[1:]) if a == b)
        res["taps"] = {"taps": len(self.taps), "not_decided": not_decided, "late": late, "extra_events": extra,
                       "uncertain_without_event": uncertain,
                       "wrong_decisions": len(wrong), "wrong": wrong[:10], "outcomes": dict(sorted(outcomes.items())),
                       "not_sent": self.counts.get("taps_not_sent", {})}
        res["events"] = {"read": len(evs), "card": len(cards), "exit": len(exits), "lost": sum(lost.values()),
                         "lost_by_kind": lost, "out_of_order": out_of_order, "gaps": self.seq_gaps[:10],
                         "granted_without_pulse": max(0, len(granted) - pulses1),
                         "other_kinds": sorted({"%s %s" % (e["kind"], e["reason"]) for e in evs
                                                if e["kind"] not in ("card", "exit")})}
        res["exits"] = {"presses": len(self.presses), "events": len(exits),
                        "uncertain": len(self.presses) - len(sure),
                        "not_sent": self.counts.get("presses_not_sent", {})}
        if self.standalone:
            res["doors"] = {"changes": len(self.doors), "events": len(doors),
                            "opened": sum(1 for e in doors if e["reason"] == "door_opened"),
                            "closed": sum(1 for e in doors if e["reason"] == "door_closed"),
                            "uncertain": len(self.doors) - len(changes),
                            "not_sent": self.counts.get("doors_not_sent", {})}

        # latencies
        t_tap = {t["uid"]: t["t"] for t in self.taps}
        answered = {}  # card -> time its granting answer was written
        for r in requests:
            card = dict(r["query"]).get("card")
            if r.get("granted") and r.get("answered"):
                answered[card] = r["answered"]
        tap_relay, answer_relay, imprecise = [], [], 0
        for e, (_n, t, precise) in zip(granted, self.pulses):
            if not precise:
                imprecise += 1
                continue
            if e["code"] in t_tap:
                tap_relay.append(t - t_tap[e["code"]])
            if e["code"] in answered:
                answer_relay.append(t - answered[e["code"]])
        # tap -> request, for taps made while no request was in flight (not queued)
        spans = sorted((r["time"], r.get("answered") or r["time"] + VERIFY_TIMEOUT_MS / 1000.0,
                        dict(r["query"]).get("card")) for r in requests)
        first_req = {}
        for start, _end, card in spans:
            first_req.setdefault(card, start)
        tap_request = []
        for t in self.taps:
            if t["uid"] not in first_req:
                continue
            busy = any(s <= t["t"] + 0.0 and e2 >= t["t"] - 0.05 for s, e2, c in spans if c != t["uid"])
            if not busy:
                tap_request.append(first_req[t["uid"]] - t["t"])
        # a queued tap's request: sent after the previous request's answer (the device's turnaround)
        handover = []
        for (s0, e0, c0), (s1, _e1, c1) in zip(spans, spans[1:]):
            prev = next((r for r in requests if r["time"] == s0), None)
            if prev is not None and prev.get("answered") and c1 in t_tap and t_tap[c1] < e0 <= s1:
                handover.append(s1 - e0)
        exit_relay = [p["relay_s"] for p in self.presses if p["relay_s"] is not None]
        exit_no_relay = len(sure) - len([p for p in sure if p["relay_s"] is not None])
        if self.standalone:  # no server: the tap -> relay figure is the device's own
            res["latency"] = {"tap_to_relay": _lat(tap_relay), "exit_to_relay": _lat(exit_relay),
                              "exit_no_relay": exit_no_relay, "pulses_without_time": imprecise}
        else:
            res["latency"] = {"tap_to_relay": _lat(tap_relay), "answer_to_relay": _lat(answer_relay),
                              "tap_to_request": _lat(tap_request), "answer_to_next_request": _lat(handover),
                              "exit_to_relay": _lat(exit_relay),
                              "exit_no_relay": exit_no_relay, "pulses_without_time": imprecise}
            res["server"] = {"requests": len(requests), "unanswered": sum(1 for r in requests if r.get("no_answer")),
                             "granted": sum(1 for r in requests if r.get("granted") and not r.get("no_answer"))}

        if not self.standalone:
            self.network_result(res)

        # memory
        out = self.sim.output
        lines = out.splitlines()
        reader0, reader1 = st0["reader"], (st1 or {}).get("reader", st0["reader"])
        mem = {"output_memoryerror_lines": sum(1 for ln in lines if "MemoryError" in ln),
               "output_no_heap_lines": sum(1 for ln in lines if "no heap" in ln),
               "control_oom": sum(self.counts.get("control_oom", {}).values()),
               "control_oom_by_command": self.counts.get("control_oom", {})}
        if not self.standalone:
            mem.update(http_oom_503=res["http"]["oom_503"], push_oom_503=res["pushes"]["oom_retries"])
        mem["reader_no_heap"] = reader1.get("no_heap", 0) - reader0.get("no_heap", 0)
        mem["total"] = sum(v for k, v in mem.items() if isinstance(v, int))
        res["memory_errors"] = mem
        free = [h[1] for h in self.heap]
        largest = [h[2] for h in self.heap]
        res["heap"] = {"samples": len(free), "free_min": min(free, default=None),
                       "free_median": int(statistics.median(free)) if free else None,
                       "largest_min": min(largest, default=None),
                       "largest_median": int(statistics.median(largest)) if largest else None,
                       "free_first": free[0] if free else None, "free_last": free[-1] if free else None,
                       "total": (st1 or st0).get("heap_free", 0) + (st1 or st0).get("heap_used", 0)}
        res["control_errors"] = self.counts.get("control_errors", {})
        res["sim_log"] = [ln for ln in lines if any(k in ln for k in ("Error", "Traceback", "no heap", "failed"))][:20]
        res["failures"] = failures(res)
        return res

    def network_result(self, res):
        """psram: the HTTP clients' answers and the table pushes into `res`."""
        # HTTP
        tot = {}
        for route, counts in self.http.items():
            for k, n in counts.items():
                _bump(tot, k, n)
        busy = tot.get("503 busy", 0)
        oom = tot.get("503 out of memory", 0)
        unanswered = sum(n for k, n in tot.items() if k.startswith("unanswered"))
        cut = tot.get("cut short", 0)
        other = sum(n for k, n in tot.items() if k not in ("2xx", "503 busy", "503 out of memory", "cut short")
                    and not k.startswith("unanswered"))
        res["http"] = {"requests": sum(tot.values()), "ok": tot.get("2xx", 0), "busy_503": busy, "oom_503": oom,
                       "other_non_2xx": other, "unanswered": unanswered, "cut_short": cut,
                       "non_2xx": busy + oom + other, "event_gaps": self.http_event_gaps,
                       "by_status": dict(sorted(tot.items())), "first_non_2xx": self.http_odd,
                       "by_route": {r: dict(self.http[r], **{"p50_ms": _ms(_pct(self.http_lat[r], 50)),
                                                            "p99_ms": _ms(_pct(self.http_lat[r], 99))})
                                    for r in HTTP_ROUTES},
                       "ok_p50_ms": _ms(_pct([x for v in self.http_lat.values() for x in v], 50)),
                       "ok_p99_ms": _ms(_pct([x for v in self.http_lat.values() for x in v], 99))}
        retries = [n for p in self.pushes for n in p["retries"]]
        res["pushes"] = {"pushes": len(self.pushes), "ok": sum(1 for p in self.pushes if p["ok"]),
                         "failed": [p for p in self.pushes if not p["ok"]],
                         "retries": len(retries),
                         "busy_retries": sum(1 for n in retries if ": busy (HTTP 503)" in n),
                         "oom_retries": sum(1 for n in retries if "out of memory (HTTP 503)" in n),
                         "seconds": [p["seconds"] for p in self.pushes],
                         "serial_mismatch": sum(1 for p in self.pushes if p["ok"] and p["serial_reported"] != p["serial"])}


def failures(res):
    """What the soak requires, not met: a list of one-line texts (empty = passed)."""
    out = list("harness: " + e for e in res["errors"])
    m = res["memory_errors"]
    if not res.get("started", True):
        return out + ["the firmware did not start (-X heapsize=%s): %s" % (res["heapsize"], res["start_error"]),
                      "MemoryErrors: %d (at start-up)" % m["total"]]
    if m["total"]:
        out.append("MemoryErrors: %d (%s)" % (m["total"], ", ".join("%s %d" % (k, v) for k, v in m.items()
                                                                      if isinstance(v, int) and v and k != "total")))
    ev = res["events"]
    if ev["lost"]:
        out.append("events lost: %d (%s)" % (ev["lost"], ", ".join("%s %d" % kv for kv in ev["lost_by_kind"].items() if kv[1])))
    if ev["out_of_order"]:
        out.append("events out of order: %d" % ev["out_of_order"])
    tp = res["taps"]
    if tp["not_decided"]:
        out.append("taps not decided within %g s: %d of %d (%d late)" % (res["conditions"]["decide_s"], tp["not_decided"],
                                                                           tp["taps"], tp["late"]))
    if tp["extra_events"]:
        out.append("card events beyond one per tap: %d" % tp["extra_events"])
    if tp["wrong_decisions"]:
        out.append("wrong decisions: %d (%s)" % (tp["wrong_decisions"], "; ".join(tp["wrong"][:3])))
    if res["control_errors"]:
        out.append("control channel errors: %d (%s)" % (sum(res["control_errors"].values()),
                                                        "; ".join(list(res["control_errors"])[:3])))
    if tp["not_sent"] or res["exits"]["not_sent"]:
        out.append("taps/presses the control channel could not make: %s %s" % (tp["not_sent"], res["exits"]["not_sent"]))
    if res.get("doors", {}).get("not_sent"):
        out.append("door changes the control channel could not make: %s" % res["doors"]["not_sent"])
    if res["latency"]["exit_no_relay"]:
        out.append("exit presses without relay 2 opening: %d" % res["latency"]["exit_no_relay"])
    if "http" not in res:  # lean: the standalone door, no HTTP and no table pushes
        return out
    h = res["http"]
    allowed_busy = res["profile"] == "lean"
    bad = h["oom_503"] + h["other_non_2xx"] + (0 if allowed_busy else h["busy_503"])
    if bad:
        out.append("HTTP non-2xx answers%s: %d (%s)" % (" other than 503 busy" if allowed_busy else "", bad,
                                                         ", ".join("%s x%d" % kv for kv in h["by_status"].items()
                                                                   if kv[0] != "2xx")))
    if h["unanswered"] or h["cut_short"]:
        out.append("HTTP requests without a whole answer: %d unanswered, %d cut short" % (h["unanswered"], h["cut_short"]))
    if h["event_gaps"]:
        out.append("HTTP events pages with a gap: %d" % h["event_gaps"])
    p = res["pushes"]
    if p["failed"] or p["serial_mismatch"]:
        out.append("table pushes failed: %d of %d (%s)" % (len(p["failed"]) + p["serial_mismatch"], p["pushes"],
                                                           "; ".join(str(f["error"]) for f in p["failed"][:2])))
    other_retries = p["retries"] - (p["busy_retries"] if allowed_busy else 0) - p["oom_retries"]
    if other_retries:
        out.append("table push retries%s: %d" % (" other than busy" if allowed_busy else "", other_retries))
    return out


def run(board, minutes, seed=15, log=_say, heap=None):
    return Soak(board, minutes * 60.0, seed=seed, log=log, heap=heap).run()


# --- README rows ------------------------------------------------------------------------------
def _f(v, unit=""):
    return "-" if v is None else "%s%s" % (v, unit)


def _latency(d):
    return "p50 %s, p99 %s, max %s (%d)" % (_f(d["p50_ms"], " ms"), _f(d["p99_ms"], " ms"), _f(d["max_ms"], " ms"), d["n"])


def _kv(d):
    return ", ".join("%s %d" % kv for kv in sorted(d.items()) if kv[1]) or "none"


def _standalone(r):
    return r.get("features") == "standalone"


def rows(results):
    """[(measure, text per profile...)] for the profiles in `results` (a dict profile -> result).
    A lean result (the standalone door) has no HTTP, verification or pushes: those cells say so."""
    profs = [p for p in ("psram", "lean") if p in results]
    get = [results[p] for p in profs]

    def row(name, fn, always=False, standalone=None):
        """`standalone`: the cell of a standalone-door result (a figure it has not)."""
        def cell(r):
            if not (always or r.get("started", True)):
                return "-"
            if standalone is not None and _standalone(r):
                return standalone
            return fn(r)
        return tuple([name] + [cell(r) for r in get])

    def run(r):
        if not r.get("started", True):
            return "did not start (`-X heapsize=%s`): `%s`" % (r["heapsize"], r["start_error"])
        if _standalone(r):
            return "%s s, %d taps, %d exit presses, %d door sensor changes; the standalone door: no HTTP, " \
                   "no verification, no table pushes" % (r["seconds"], r["taps"]["taps"], r["exits"]["presses"],
                                                         r["doors"]["changes"])
        return "%s s, %d taps, %d exit presses, %d table pushes, %d HTTP requests, %d verify requests" % (
            r["seconds"], r["taps"]["taps"], r["exits"]["presses"], r["pushes"]["pushes"], r["http"]["requests"],
            r["server"]["requests"])

    def inputs(r):
        text = "%d (%d events)" % (r["exits"]["presses"], r["exits"]["events"])
        d = r.get("doors")
        return text + (" / %d (%d events: %d opened, %d closed)" % (d["changes"], d["events"], d["opened"], d["closed"])
                       if d else " / not used")

    decide = []
    for r in get:
        v = r["conditions"].get("decide_s", DECIDE_S)
        decide.append(v)
    within = "%g s" % decide[0] if len(set(decide)) <= 1 else \
        " / ".join("%g s (`%s`)" % (v, p) for v, p in zip(decide, profs))
    no_http, no_verify = "none: no HTTP (standalone door)", "none: no verification (standalone door)"
    mem = lambda r: "%d%s" % (r["memory_errors"]["total"], " (%s)" % _kv({k: v for k, v in r["memory_errors"].items()
                                                                          if isinstance(v, int) and k != "total"})
                             if r["memory_errors"]["total"] else "")
    return [
        row("Run", run, always=True),
        row("MemoryErrors", mem, always=True),
        row("Events lost / out of order", lambda r: "%d / %d (%d events read page by page)"
            % (r["events"]["lost"], r["events"]["out_of_order"], r["events"]["read"])),
        row("Taps not decided within %s" % within, lambda r: "%d of %d%s" % (
            r["taps"]["not_decided"], r["taps"]["taps"],
            "; %d extra events" % r["taps"]["extra_events"] if r["taps"]["extra_events"] else "")),
        row("Wrong decisions (unknown granted, known denied by the server; standalone: known denied)",
            lambda r: "%d" % r["taps"]["wrong_decisions"]),
        row("Decisions", lambda r: _kv(r["taps"]["outcomes"])),
        row("Exit presses / door sensor changes", inputs),
        row("HTTP answers (4 clients)", lambda r: "%d 2xx, %d 503 busy, %d 503 out of memory, %d other non-2xx, "
            "%d unanswered, %d cut short" % (r["http"]["ok"], r["http"]["busy_503"], r["http"]["oom_503"],
                                              r["http"]["other_non_2xx"], r["http"]["unanswered"], r["http"]["cut_short"]),
            standalone=no_http),
        row("HTTP 2xx latency", lambda r: "p50 %s, p99 %s" % (_f(r["http"]["ok_p50_ms"], " ms"), _f(r["http"]["ok_p99_ms"], " ms")),
            standalone=no_http),
        row("Table pushes (%d users)" % (USERS + 1), lambda r: "%d of %d ok, %d retries (%d busy); %s s"
            % (r["pushes"]["ok"], r["pushes"]["pushes"], r["pushes"]["retries"], r["pushes"]["busy_retries"],
               "/".join("%.2f" % s for s in r["pushes"]["seconds"]) or "-"),
            standalone="none: no HTTP (standalone door; its %d users are in the table it starts with)" % (USERS + 1)),
        row("Heap free min / median", lambda r: "%s / %s B of %s" % (_f(r["heap"]["free_min"]), _f(r["heap"]["free_median"]),
                                                                     _f(r["heap"]["total"]))),
        row("Largest free block min / median", lambda r: "%s / %s B" % (_f(r["heap"]["largest_min"]),
                                                                       _f(r["heap"]["largest_median"]))),
        row("Tap -> relay on, granted taps (psram: the server's 0-%d ms delay included; standalone: decided locally)"
            % DELAY_MAX_MS, lambda r: _latency(r["latency"]["tap_to_relay"])),
        row("Server's granting answer -> relay on (the device's share)", lambda r: _latency(r["latency"]["answer_to_relay"]),
            standalone=no_verify),
        row("Tap -> request at the server (no request in flight)", lambda r: _latency(r["latency"]["tap_to_request"]),
            standalone=no_verify),
        row("Server's answer -> the queued tap's request", lambda r: _latency(r["latency"]["answer_to_next_request"]),
            standalone=no_verify),
        row("Exit press -> relay 2 on (50 ms debounce)", lambda r: _latency(r["latency"]["exit_to_relay"])),
        row("Verdict", lambda r: "pass" if not r["failures"] else "FAIL: " + "; ".join(r["failures"]), always=True),
    ]


def conditions(r, date=None):
    """One profile's conditions, a sentence for below the rows."""
    c = r["conditions"]
    when = "Measured %s." % (date or r.get("date", "?"))
    if _standalone(r):
        return ("Conditions, `%s` (%s): the standalone door, lean's feature set (lean boards refuse Wi-Fi with the "
                "HTTP API, third-party verification and LPR: [docs/memory.md](docs/memory.md)), so no HTTP, no "
                "verification server, no table pushes; a tap every %d ms alternating a known card (one of the %d "
                "users of the table the simulator starts with: decided locally, granted) and an unknown one "
                "(denied), %d ms on the reader; the exit button every %g s, then the door opened for %g s and "
                "closed (door sensor); the event log read page by page over the control channel every %g s, the "
                "heap every %g s; relay 1 polled every %g ms from each known tap until it opens (included in the "
                "figures). %s"
                % (r["profile"], r["board"], c["tap_every_s"] * 1000, r["users"], c["tap_ms"], c["exit_every_s"],
                   c["door_open_s"], c["events_every_s"], c["heap_every_s"], c["poll_ms"], when))
    return ("Conditions, `%s` (%s), every feature at once: a tap every %d ms alternating a known and an unknown card "
            "(%d ms on the reader), every card verified by `doorctl verify-server` in-process (answers after 0-%d ms, "
            "%d%% never answered: the door's %d ms timeout denies), %d HTTP clients (Basic) looping GET status / users "
            "page / events / relays, a whole-table push (%d users) at %d s and every %d s, the exit button every %g s; "
            "relays polled over the control channel every %g ms around an expected opening (included in the "
            "figures). %s"
            % (r["profile"], r["board"], c["tap_every_s"] * 1000, c["tap_ms"], c["verify_delay_ms"][1],
               round(c["verify_no_answer"] * 100), c["verify_timeout_ms"], c["http_clients"], r["users"],
               c["first_push_s"], c["push_every_s"], c["exit_every_s"], c["poll_ms"], when))


def table(results, date=None):
    profs = [p for p in ("psram", "lean") if p in results]
    out = ["| measure | " + " | ".join("`%s` (%s)" % (p, results[p]["board"]) for p in profs) + " |",
           "|---|" + "---|" * len(profs)]
    out += ["| " + " | ".join(r) + " |" for r in rows(results)]
    for p in profs:
        out += ["", conditions(results[p], date)]
    out += ["", "Simulator: MicroPython unix port, `psram` `-X heapsize=1000000w`, `lean` `-X heapsize=112000w`; "
                "unix-port time. `make soak` (`python -m doorctl.soak`); the same run for 60 s per profile is "
                "`tests/test_soak.py`."]
    return "\n".join(out)


def update(results):
    """Merge `results` (profile -> result) into bench/soak.json and rewrite the README rows."""
    path = os.path.join(paths.ROOT, RESULT_PATH)
    try:
        with open(path) as f:
            stored = json.load(f)
    except (OSError, ValueError):
        stored = {}
    stored.update(results)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(stored, f, indent=2, sort_keys=True)
    from doorctl.docmarks import replace_between

    return replace_between(os.path.join(paths.ROOT, "README.md"), README_START, README_END, table(stored))


def main(argv=None):
    import argparse

    from doorctl.errors import CliError

    ap = argparse.ArgumentParser(prog="python -m doorctl.soak", description=__doc__.split("\n")[0],
                                 epilog="Each profile runs its own feature set: psram every feature (HTTP "
                                        "clients, verification server, table pushes, taps, exit presses); lean the "
                                        "standalone door (taps decided by the local table, exit presses, the door "
                                        "sensor; no HTTP, no verification, no table pushes: docs/memory.md). "
                                        "Exit code 0: every count as required in every profile; 1: not "
                                        "(each failure listed), or an error.")
    ap.add_argument("--minutes", type=float, default=5.0, help="length of the load per board (default %(default)s)")
    ap.add_argument("--board", action="append", metavar="PATH",
                    help="board file (repeatable; default boards/sim.json then boards/sim-lean.json)")
    ap.add_argument("--seed", type=int, default=15, help="random seed of the server and the clients")
    ap.add_argument("--heap", metavar="WORDS", help="the simulator's -X heapsize, e.g. 130000w (default: the "
                    "board's profile's, docs/memory.md): how much a profile would need")
    ap.add_argument("--json", action="store_true", help="print the results as one JSON document")
    ap.add_argument("--update", action="store_true",
                    help="store the results in bench/soak.json and the README's soak rows")
    a = ap.parse_args(argv)
    boards = a.board or [os.path.join(paths.BOARDS, b) for b in BOARDS]
    try:
        if a.minutes <= 0:
            raise CliError("--minutes must be above 0")
        if a.heap and a.update:
            raise CliError("--update records the profiles' own heaps: leave out --heap")
        for b in boards:
            if not os.path.isfile(b):
                raise CliError("no board file %s" % b)
        results = {}
        for b in boards:
            r = run(b, a.minutes, seed=a.seed, heap=a.heap)
            r["date"] = time.strftime("%Y-%m-%d")
            results[r["profile"]] = r
            _say("soak %s: %s" % (r["profile"], "passed" if not r["failures"] else
                                  "FAILED: " + "; ".join(r["failures"])))
    except (CliError, OSError, RuntimeError) as e:
        print("doorctl soak: error: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 1
    if a.json:
        print(json.dumps(results, indent=2, sort_keys=True))
    else:
        print(table(results, time.strftime("%Y-%m-%d")))
    if a.update:
        _say("bench/soak.json and README.md updated" if update(results) else
             "bench/soak.json updated; README.md has no soak markers")
    return 0 if all(not r["failures"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

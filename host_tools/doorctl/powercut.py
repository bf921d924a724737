"""`make powercut`: power cuts at random moments while the door changes its flash, counted.

The real firmware runs in the simulator (MicroPython unix port, HTTP API on) on one LittleFS
flash image for the whole run, so damage accumulates as on a board. Each trial runs one
operation, cuts the power with SIGKILL on the MicroPython process at a random moment during or
just after it, starts the firmware again on the same image and checks it (docs/powercut.md):

- push:   `doorctl push` of the other of two 2,000-user tables A and B (`PUT /api/v1/users/table`)
- edit:   `PUT /api/v1/users/ID` or `POST /api/v1/users` (a third of them followed by
          `GET /api/v1/users/table`, which merges the journal into the table file: a compaction)
- events: a burst of card taps (granted and denied) and door sensor changes (control channel)
- config: `PATCH /api/v1/config` between two configurations that differ in five sections
- start:  the firmware's own start-up after a cut (clean-up of what a cut left, opening the
          table and the event log, the reset-cause event)

Counted after every restart (each must stay 0):
- starts_failed:    the firmware did not start on the image, or its HTTP API did not answer
- tables_mixed:     the users the device exports are neither the state before the interrupted
                    operation nor the one after it (only "after" once the device had answered),
                    or users.tbl fails its checksum, or a pushed table reads back other bytes,
                    or a card of the live table is not found
- events_lost:      an acknowledged event (one the device reported) missing, changed or out of order
- configs_bad:      config.json on the image or `GET /api/v1/config` unreadable, or neither the
                    old nor the new configuration (only the new one once the device had answered)
- watchdog_resets:  the simulator's watchdog runner restarted the firmware behind the harness

    python -m doorctl.powercut [--trials 200] [--seed S] [--json]
                               [--out bench/powercut.json] [--readme]

Exit 0 when every count is 0, 1 otherwise, 2 on a usage error. One progress line per trial on
stderr; `--json` prints the result document on stdout.
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from doorctl import paths

USERS = 2000
PASSWORD = "powercut-door"
TABLES = {  # name -> (serial, first id, card base, relays)
    "A": (1001, 1, 0x10000000, [1]),
    "B": (2002, 501, 0x20000000, [1, 2]),
}
EDIT_CARD_BASE = 0x30000000  # cards given by edits (one new card per edit, never reused)
NEW_ID_BASE = 100000  # users added by POST
UNKNOWN_CARD = "0BADCAFE"
EVENT_CAPACITY = 256  # a small ring: the run wraps it many times (2 segment files of 128 slots)
# the two configurations a config trial switches between: five sections differ at once
CONFIGS = {
    "X": {"relays": {"1": {"hold_ms": 400}, "2": {"hold_ms": 400}}, "reader": {"removal_ms": 150},
          "device": {"name": "powercut-x"}, "inputs": {"exit": {"debounce_ms": 50}},
          "time": {"ntp_interval_s": 3600}},
    "Y": {"relays": {"1": {"hold_ms": 700}, "2": {"hold_ms": 900}}, "reader": {"removal_ms": 200},
          "device": {"name": "powercut-y"}, "inputs": {"exit": {"debounce_ms": 40}},
          "time": {"ntp_interval_s": 7200}},
}
KINDS = ("push", "edit", "events", "config", "start")
BURST = 8  # actions per events trial
BURST_GAP_S = 0.06  # between them (a tap shows its card for 30 ms)
# a cut lands at U(0, SPAN x the operation's uninterrupted duration) after it began: most in
# flight, some just after the answer (a burst's duration is mostly the harness's own pauses)
SPAN = {"push": 1.3, "edit": 1.3, "config": 1.3, "events": 1.15, "start": 1.3}
CALIBRATION_TRIES = 5  # calibration runs an operation again if it was refused even so
RETRIES = 3  # an operation refused for want of heap (503, the lean board) is tried again ...
RETRY_WAIT_S = 0.3  # ... after this pause (the cut is then timed from the last attempt)
MERGE_SHARE = 3  # one edit trial in MERGE_SHARE also downloads the table (journal merge)
COUNTS = ("starts_failed", "tables_mixed", "events_lost", "configs_bad", "watchdog_resets")
LEFTOVERS = ("users.tbl.new", "users.tbl.tmp", "users.jnl.tmp", "config.json.tmp", "secrets.json.tmp")
README_START = "<!-- powercut:start -->"
README_END = "<!-- powercut:end -->"
PSRAM_BOARD = os.path.join(paths.BOARDS, "sim.json")


class HarnessError(Exception):
    """The harness itself could not go on (not a finding about the firmware)."""


def _tests_path():
    tests = os.path.join(paths.ROOT, "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)


# --- the two tables and the expected user states -------------------------------------------
def build_table(workdir, name, n=USERS):
    """users.json of table `name` -> users.tbl built on the host (as `doorctl users build`)."""
    from doorctl import simprep

    serial, first, base, relays = TABLES[name]
    src = os.path.join(workdir, "%s.json" % name)
    with open(src, "w") as f:
        json.dump({"users": [{"id": i, "name": "%s user %d" % (name, i), "cards": ["%08X" % (base + i)],
                              "relays": relays} for i in range(first, first + n)]}, f)
    out = os.path.join(workdir, "%s.tbl" % name)
    simprep.build_table(src, out, serial=serial)
    return out


def table_users(path):
    """{id: user} of a table file as the device's export shows them, read on the host with the
    table library (checksum verified): the reference the device's answers are compared with."""
    paths.use_device_code()
    from usertable.reader import Base, Record

    b = Base(path)
    try:
        b.verify()
        rec = Record()
        out = {}
        for _ref, buf, at, ln, _uid in b.scan():
            rec._buf[0:ln] = buf[at:at + ln]
            rec._load(0, b.fid)
            d = rec.to_dict()
            for k in ("valid_from", "valid_to"):
                d[k] = d[k] or None  # unbounded: null in the API
            out[d["id"]] = d
        return out
    finally:
        b.close()


def table_file_ok(data, workdir):
    """(ok, serial or reason) of a table file's bytes: header, tail and checksum."""
    paths.use_device_code()
    from usertable.reader import Base

    p = os.path.join(workdir, "check.tbl")
    with open(p, "wb") as f:
        f.write(data)
    try:
        b = Base(p)
    except (OSError, ValueError) as e:
        return False, "not a table: %s" % e
    try:
        b.verify()
        return True, b.serial
    except ValueError as e:
        return False, "damaged: %s" % e
    finally:
        b.close()


class TableState:
    """Users the device should export: a pushed table (`base`) plus edits since."""

    def __init__(self, base, users, edits=0):
        self.base = base
        self.users = users
        self.edits = edits

    @property
    def label(self):
        return self.base + ("+%d edits" % self.edits if self.edits else "")

    def edited(self, user):
        users = dict(self.users)
        users[user["id"]] = user
        return TableState(self.base, users, self.edits + 1)


def table_diff(got, want):
    """A short text of how two {id: user} maps differ ('' if equal)."""
    if got == want:
        return ""
    extra = sorted(set(got) - set(want))
    missing = sorted(set(want) - set(got))
    changed = sorted(i for i in set(got) & set(want) if got[i] != want[i])
    parts = []
    for name, ids in (("unexpected", extra), ("missing", missing), ("different", changed)):
        if ids:
            parts.append("%d %s (e.g. %s)" % (len(ids), name, ids[:3]))
    return "; ".join(parts)


def merged(base, partial):
    """`base` with `partial` merged in section by section (what PATCH /api/v1/config does)."""
    out = json.loads(json.dumps(base))
    for k, v in partial.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merged(out[k], v)
        else:
            out[k] = v
    return out


def _leaves(doc, prefix=()):
    for k, v in doc.items():
        if isinstance(v, dict):
            yield from _leaves(v, prefix + (k,))
        else:
            yield prefix + (k,), v


def config_file_is(stored, full):
    """Is `stored` (config.json as on flash) the configuration `full` (as the device runs it)?
    The file may leave defaults out (the first one, installed from the host, does), but what it
    holds must all be `full`'s, including every field the harness changes (CONFIGS)."""
    if not isinstance(stored, dict) or merged(full, stored) != full:
        return False
    for path, _v in _leaves(CONFIGS["X"]):
        d = stored
        for k in path:
            if not isinstance(d, dict) or k not in d:
                return False
            d = d[k]
    return True


def match_state(got, states):
    """Index of the state in `states` whose users equal `got`, or -1."""
    for i, s in enumerate(states):
        if s is not None and got == s.users:
            return i
    return -1


# --- acknowledged events --------------------------------------------------------------------
class Ledger:
    """Every event the device has reported (control channel `events`, `GET /api/v1/events`):
    once reported, an event must stay in the log, unchanged and in order, until the ring
    overwrites it."""

    def __init__(self):
        self.acked = {}  # seq -> event dict
        self.total = 0  # events ever acknowledged
        self.lock = threading.Lock()

    def add(self, events):
        """Record reported events; returns texts of reports that contradict earlier ones."""
        bad = []
        with self.lock:
            for e in events:
                old = self.acked.get(e["seq"])
                if old is None:
                    self.total += 1
                elif old != e:
                    bad.append("event %d reported as %s, earlier as %s" % (e["seq"], _ev(e), _ev(old)))
                self.acked[e["seq"]] = e
        return bad

    def check(self, events, last_seq, capacity):
        """Compare a read of the log (oldest first, up to last_seq) with what was acknowledged;
        returns (missing or changed acknowledged events, problem texts)."""
        problems = []
        seqs = [e["seq"] for e in events]
        if any(b <= a for a, b in zip(seqs, seqs[1:])):
            problems.append("events out of order: %s" % seqs[:20])
        got = {e["seq"]: e for e in events}
        lost = 0
        first = last_seq - capacity + 1
        with self.lock:
            for seq in sorted(self.acked):
                if seq < first:
                    continue  # overwritten by the ring, as it should be
                e = got.get(seq)
                if e is None:
                    problems.append("acknowledged event %d (%s) missing (log ends at %d)"
                                    % (seq, _ev(self.acked[seq]), last_seq))
                elif e != self.acked[seq]:
                    problems.append("acknowledged event %d was %s, now %s" % (seq, _ev(self.acked[seq]), _ev(e)))
                else:
                    continue
                lost += 1
                del self.acked[seq]  # counted once (what is there now is acknowledged from now on)
        return lost, problems

    def forget_before(self, seq):
        with self.lock:
            for s in [s for s in self.acked if s < seq]:
                del self.acked[s]


def _call(client, cmd, **kw):
    """A control-channel call, asked again while the device is short of heap (its own work
    comes first: docs/memory.md)."""
    from doorctl.simctl import SimError

    for _ in range(100):
        try:
            return client.call(cmd, **kw)
        except SimError as e:
            if "out of memory" not in str(e):
                raise
            time.sleep(0.02)
    raise HarnessError("the simulator has had no heap for `%s` for two seconds" % cmd)


def _last_seq(client):
    """The newest event's seq, over the control channel."""
    return _call(client, "state", events=0)["state"]["last_seq"]


def _ev(e):
    return "%s/%s/%s%s" % (e.get("kind"), e.get("reason"), e.get("result"), " " + e["code"] if e.get("code") else "")


# --- one interrupted operation --------------------------------------------------------------
class Op:
    """An operation run in a worker thread; the main thread cuts the power meanwhile.

    t_start: when it began (a push: its first body chunk sent); t_ack: when the device had
    answered (events: when the poller had seen every event of the burst); t_done: the end of
    the whole operation (an edit's merge)."""

    def __init__(self, kind, run, detail):
        self.kind = kind
        self.detail = detail
        self._run = run
        self.started = threading.Event()
        self.t_start = self.t_ack = self.t_done = None
        self.answer = None
        self.error = None
        self.attempts = 0
        self.cancel = threading.Event()  # set at the cut: no more retries
        self.thread = threading.Thread(target=self._main, daemon=True)

    def begin(self):
        """An attempt begins (again after a refusal: the cut is timed from the last attempt)."""
        self.t_start = time.perf_counter()
        self.attempts += 1
        self.started.set()

    def ack(self, answer=None):
        self.t_ack = time.perf_counter()
        self.answer = answer

    def _main(self):
        try:
            self._run(self)
        except Exception as e:  # the power cut ends requests with all kinds of errors
            self.error = "%s: %s" % (e.__class__.__name__, e)
        finally:
            self.t_done = time.perf_counter()
            self.started.set()


class Harness:
    """One flash image, one board, many trials; `counts` and `trials` hold the findings."""

    def __init__(self, workdir, board=PSRAM_BOARD, seed=1, say=None, users=USERS, fresh_start=None):
        """`fresh_start`: cut the power once more after the checks, so that the operation runs
        on a freshly started device (default: on the lean board, where the heap the checks
        leave refuses config changes and merges for want of a block: 503, see docs/powercut.md)."""
        _tests_path()
        self.workdir = workdir
        self.board = board
        self.board_name = os.path.splitext(os.path.basename(board))[0]
        self.rnd = random.Random(seed)
        self.say = say or (lambda text: None)
        self.users = users
        self.image = os.path.join(workdir, "flash.img")
        self.sim = None
        self.api = None
        self.ledger = Ledger()
        self.counts = dict.fromkeys(COUNTS, 0)
        self.findings = []  # texts, with the trial
        self.trials = []
        # per kind: cuts before the answer (in flight), during an edit's merge after its answer,
        # after the answer, after a refusal (503); cuts that found a temp file being written;
        # what the start after the cut found: the old or the new state
        self.landed = {k: {"n": 0, "in_flight": 0, "in_merge": 0, "after": 0, "refused": 0, "mid_write": 0,
                           "new": 0, "old": 0} for k in KINDS}
        self.last_output = ""
        self.fresh_start = bool(fresh_start)
        self.idle_cuts = 0
        self.durations = {}
        self.failed_outputs = []
        self.next_card = 0
        self.next_id = 0
        self.tables = {}
        self.table_bytes = {}
        self.refs = {}
        self.configs = {}
        self.config_name = "X"
        self.state = None
        self._files = None  # the image's files at the last look

    # -- simulator ---------------------------------------------------------------------------
    def _start(self, first=False):
        from simproc import Sim

        kw = {}
        if first:
            cfg = json.loads(json.dumps(CONFIGS["X"]))
            cfg["events"] = {"capacity": EVENT_CAPACITY}
            kw = {"config": cfg}
        self.sim = Sim(self.workdir, flash=self.image, http=True, demo=False, board=self.board, **kw)
        return self.sim

    def _login(self, timeout=10.0):
        """The harness's own API client: HTTP Basic (no token: `doorctl push` signs in on every
        push, and the device keeps 4 tokens), tried until the device answers."""
        from httpclient import Api

        api = Api(self.sim.http)
        api.basic = "admin:" + PASSWORD
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.sim.proc is not None and self.sim.proc.poll() is not None:
                raise HarnessError("the firmware stopped (exit %s)" % self.sim.proc.returncode)
            try:
                st, doc = api.get("/api/v1/status")
                if st == 200:
                    return api
                last = "HTTP %d %s" % (st, doc)
            except OSError as e:
                last = str(e)
            time.sleep(0.1)
        raise HarnessError("the HTTP API did not answer within %.0f s: %s" % (timeout, last))

    def _get(self, path, tries=20):
        """GET that waits out a busy device (503) a little; returns (status, doc)."""
        for _ in range(tries):
            st, doc = self.api.get(path)
            if st != 503:
                return st, doc
            time.sleep(0.1)
        return st, doc

    def _kill(self):
        """Power cut: SIGKILL to the MicroPython process itself (not the emulator, not the
        runner). The watchdog runner sees its pipe end and does not restart it."""
        self.sim.proc.kill()
        self.sim.proc.wait()

    def _stop(self):
        """Tidy up the killed simulator's threads and emulator; counts a watchdog restart."""
        sim, self.sim = self.sim, None
        if sim is None:
            return
        resets = sim.resets
        try:
            sim.stop()
        except AssertionError:
            pass
        if resets or sim.resets:
            self._count("watchdog_resets", "the watchdog runner restarted the firmware %d times" % sim.resets)

    def _count(self, name, text, n=1):
        self.counts[name] += n
        self.findings.append("%s trial %d: %s: %s" % (self.board_name, len(self.trials) + 1, name, text))

    def close(self):
        if self.sim is not None:
            try:
                self.sim.stop()
            except AssertionError:
                pass
            self.sim = None

    # -- setup: tables, first start, reference states, calibration -----------------------------
    def setup(self, calibrate=True):
        """Tables, the first start (config X, the admin password), then calibration. Without
        `calibrate` only one push of table A (tests of the checks themselves)."""
        from httpclient import admin_session

        for name in TABLES:
            self.tables[name] = build_table(self.workdir, name, self.users)
            with open(self.tables[name], "rb") as f:
                self.table_bytes[name] = f.read()
            self.refs[name] = table_users(self.tables[name])
        self._start(first=True)
        admin_session(self.sim.http, PASSWORD)
        self.api = self._login()
        from doorctl import cmd_push

        self.loaded = {n: cmd_push.load_table(p) for n, p in self.tables.items()}
        st, doc = self._get("/api/v1/config")
        if st != 200 or merged(doc, CONFIGS["X"]) != doc:
            raise HarnessError("the first start runs another configuration than X: %s" % doc)
        self.configs = {"X": doc, "Y": merged(doc, CONFIGS["Y"])}
        # calibration: each operation a few times uninterrupted, in a trial's conditions (the
        # first operation after a start and the checks), cut only once it has ended; the cut
        # and the checks count as in any trial, the durations set the cuts' range
        self.state = TableState("-", {})  # before the first push: whatever the image had
        durs = {k: [] for k in KINDS + ("merge",)}
        plan = [("push", {})] * 4 + [("edit", {"merge": m}) for m in (False, True, False, True)] + \
            [("config", {})] * 4 + [("events", {})] * 2 + [("start", {})] * 3
        if not calibrate:
            plan = [("push", {"name": "A"})]
        for kind, kw in plan:
            for attempt in range(CALIBRATION_TRIES):
                op = self.trial(kind, calibrate=True, **kw)
                if op.t_ack is not None:
                    break
            else:
                raise HarnessError("calibration: %s failed %d times: %s\n%s" % (
                    kind, CALIBRATION_TRIES, op.error, self.last_output[-3000:]))
            durs[kind].append(op.t_ack - op.t_start)
            if op.detail.get("merge") and op.t_done is not None and not op.error:
                durs["merge"].append(op.t_done - op.t_ack)
        self.durations = {k: round(statistics.median(v) * 1000, 2) for k, v in durs.items() if v}
        self.say("%s: calibrated (uninterrupted, median ms): %s" % (self.board_name, ", ".join(
            "%s %.1f" % kv for kv in sorted(self.durations.items()))))

    def cut_and_check(self, tamper=None):
        """A power cut with no operation running, then the start and the checks; `tamper(image
        path)` may change the image in between (the tests show that the checks count what
        they are shown)."""
        rec = {"trial": len(self.trials) + 1, "kind": "idle", "cut_ms": 0.0, "acked": False, "in_flight": False}
        self._kill()
        self._stop()
        if tamper is not None:
            tamper(self.image)
        files = self._inspect(rec)
        self._restart(rec)
        self._check(rec, Op("idle", None, {}), False, files)
        self.trials.append(rec)
        return rec

    # -- the operations ----------------------------------------------------------------------
    def _op_push(self, name=None):
        from doorctl import cmd_push

        if name is None:
            name = "B" if self.state.base == "A" else "A"
        table = self.loaded[name]
        url = "http://" + self.sim.http
        after = TableState(name, self.refs[name])

        def run(op):
            def progress(_url, sent, total, note):
                if note is None and sent == min(cmd_push.CHUNK, total):
                    op.begin()  # the body is on its way (the sign-in before it is not the push)

            # a lean board may answer 503 (no heap): doorctl push's own retries
            res = cmd_push.push_table(url, table, PASSWORD, timeout=30, retries=RETRIES, progress=progress,
                                      cancel=op.cancel)
            if res["ok"]:
                if res["serial"] != table.serial or res["users"] != table.users:
                    raise HarnessError("push answered %s" % res)
                op.ack(res)
            else:
                op.error = res["error"]

        return Op("push", run, {"to": name, "before": self.state, "after": after})

    def _op_edit(self, merge=None):
        if merge is None:
            merge = self.rnd.randrange(MERGE_SHARE) == 0
        ids = sorted(self.state.users)
        add = not ids or self.rnd.random() < 0.5
        card = "%08X" % (EDIT_CARD_BASE + self.next_card)
        self.next_card += 1
        if add:
            uid = NEW_ID_BASE + self.next_id
            self.next_id += 1
        else:
            uid = self.rnd.choice(ids)
        doc = {"id": uid, "name": "edited %d" % self.next_card, "cards": [card], "relays": [1]}
        template = self.refs["A"][TABLES["A"][1]]
        want = dict(template, id=uid, name=doc["name"], cards=[card], relays=[1])
        before = self.state
        after = before.edited(want)
        api = self.api

        def run(op):
            for attempt in range(RETRIES + 1):
                op.begin()
                if add:
                    st, ans = api.post("/api/v1/users", doc)
                else:
                    st, ans = api.put("/api/v1/users/%d" % uid, doc)
                if st == 503 and attempt < RETRIES:  # no heap for it (lean): stored or not?
                    if op.cancel.wait(RETRY_WAIT_S):
                        return
                    st, ans = api.get("/api/v1/users/%d" % uid)
                    if st == 200 and ans == want:
                        break  # stored before the heap ran out (the answer is what failed)
                    continue
                break
            if st not in (200, 201):
                op.error = "HTTP %d %s" % (st, ans)
                return
            if ans != want:
                raise HarnessError("the edit answered %s, the model expected %s" % (ans, want))
            op.ack(ans)
            if merge:
                st, body = api.get("/api/v1/users/table")
                if st != 200:
                    op.error = "merge: HTTP %d" % st

        return Op("edit", run, {"method": "POST" if add else "PUT", "id": uid, "merge": merge,
                                "before": before, "after": after})

    def _op_config(self):
        to = "Y" if self.config_name == "X" else "X"
        api = self.api
        frm = self.config_name

        def run(op):
            for attempt in range(RETRIES + 1):
                op.begin()
                st, ans = api.patch("/api/v1/config", CONFIGS[to])
                if st != 503 or attempt == RETRIES or op.cancel.wait(RETRY_WAIT_S):
                    break  # (503: no heap for it; a PATCH is safe to repeat)
            if st != 200:
                op.error = "HTTP %d %s" % (st, ans)
                return
            if ans != self.configs[to]:
                raise HarnessError("config %s answered %s, the model expected %s" % (to, ans, self.configs[to]))
            op.ack(ans)

        return Op("config", run, {"from": frm, "to": to})

    def _op_events(self):
        """A burst of taps (a card of the live table: granted; an unknown card: denied) and door
        changes; a poller acknowledges events as the device reports them."""
        from doorctl.simctl import SimClient, SimError

        sim = self.sim
        ids = sorted(self.state.users)
        acts = []
        door_open = False
        for i in range(BURST):
            if i % 4 == 3:
                door_open = not door_open
                acts.append(("door", "open" if door_open else "closed"))
            elif i % 4 == 2 or not ids:
                acts.append(("tap", UNKNOWN_CARD))
            else:
                acts.append(("tap", self.state.users[self.rnd.choice(ids)]["cards"][0]))
        if door_open:
            acts.append(("door", "closed"))
        ledger = self.ledger
        start_seq = [None]

        def run(op):
            stop = threading.Event()
            seen = []

            def poll():
                try:
                    with SimClient(sim.control) as c:
                        cursor = start_seq[0]
                        while True:
                            ans = _call(c, "events", since=cursor, limit=16)
                            evs = ans["events"]
                            if evs:
                                bad = ledger.add(evs)
                                if bad:
                                    op.detail.setdefault("contradictions", []).extend(bad)
                                seen.extend(evs)
                                cursor = evs[-1]["seq"]
                                if len(seen) >= len(acts) and op.t_ack is None:
                                    op.ack(len(seen))
                            elif stop.is_set():
                                return
                            else:
                                time.sleep(0.005)
                except (OSError, SimError, ValueError, HarnessError):
                    return  # the power went

            with SimClient(sim.control) as c:
                start_seq[0] = _last_seq(c)
                poller = threading.Thread(target=poll, daemon=True)
                poller.start()
                try:
                    for i, (what, arg) in enumerate(acts):
                        if i:
                            time.sleep(BURST_GAP_S)
                        else:
                            op.begin()
                        if what == "tap":
                            _call(c, "tap", uid=arg, ms=30)
                        else:
                            _call(c, "door", state=arg)
                    deadline = time.perf_counter() + 3
                    while op.t_ack is None and time.perf_counter() < deadline and poller.is_alive():
                        time.sleep(0.005)
                finally:
                    stop.set()
                    poller.join(5)
            op.detail["acked"] = len(seen)
            if op.t_ack is None:
                op.error = "%d of %d events reported" % (len(seen), len(acts))

        return Op("events", run, {"actions": len(acts)})

    def _op_start(self):
        """The firmware's own start-up (removing what a cut left, opening the table and the log,
        the reset-cause event): a power cut with nothing running first, then the start, begun
        when the MicroPython process is launched and done once the HTTP API answers."""
        from doorctl import pn532_service
        from simproc import Sim

        self._kill()
        self._stop()
        self.idle_cuts += 1
        emu, spec = pn532_service.start()
        sim = Sim(self.workdir, flash=self.image, http=True, demo=False, board=self.board, pn532=spec, start=False)
        sim.emu_proc = emu  # stopped with it
        self.sim = sim

        def run(op):
            def launched():
                while sim.proc is None and not op.cancel.is_set() and op.t_done is None:
                    time.sleep(0.0002)
                if sim.proc is not None:
                    op.begin()

            watch = threading.Thread(target=launched, daemon=True)
            watch.start()
            try:
                sim.start()
                self.api = self._login()
            finally:
                watch.join(5)
            op.ack()

        return Op("start", run, {})

    # -- a trial -----------------------------------------------------------------------------
    def trial(self, kind, calibrate=False, **kw):
        """One operation, a power cut, a start on the same image, the checks. `calibrate`: the
        cut waits until the operation has ended (returns the Op: its durations)."""
        if self.fresh_start and kind != "start":  # the operation on a fresh start, not on the heap the checks left
            self._kill()
            self._stop()
            self._start()
            self.api = self._login()
            self.idle_cuts += 1
        op = getattr(self, "_op_" + kind)(**kw)
        span = delay = None
        if not calibrate:
            span = SPAN[kind] * (self.durations[kind] + (self.durations.get("merge", 0) if op.detail.get("merge")
                                                          else 0)) / 1000
            delay = self.rnd.uniform(0, span)
        op.thread.start()
        if not op.started.wait(20) or op.t_start is None:
            op.thread.join(5)
            raise HarnessError("%s did not begin: %s\n%s" % (kind, op.error, self.sim.output[-3000:]))
        if calibrate:
            op.thread.join(60)
        else:
            while True:
                target = op.t_start + delay  # (moves on if a refused attempt is made again)
                now = time.perf_counter()
                if now >= target:
                    break
                time.sleep(min(target - now, 0.002))
        t_kill = time.perf_counter()
        self.last_output = self.sim.output
        self._kill()
        op.cancel.set()
        op.thread.join(30)
        self._stop()
        acked = op.t_ack is not None and op.t_ack < t_kill
        rec = {"trial": len(self.trials) + 1, "kind": kind, "cut_ms": round((t_kill - op.t_start) * 1000, 2),
               "acked": acked, "in_flight": not acked and op.t_done is not None and op.t_done > t_kill}
        if span is not None:
            rec["span_ms"] = round(span * 1000, 2)
        if op.attempts > 1:
            rec["attempts"] = op.attempts
        if calibrate:
            rec["calibration"] = True
        if op.error and op.t_done is not None and op.t_done <= t_kill:
            # answered before the cut, but not done (e.g. 503: no heap for it), or an edit's
            # merge refused
            rec["merge_refused" if acked else "refused"] = op.error[:120]
        if kind == "edit":
            rec.update(method=op.detail["method"], merge=op.detail["merge"])
            if op.detail["merge"] and acked and (op.t_done is None or op.t_done > t_kill):
                rec["in_merge"] = True
        if kind == "events":
            rec["events_acked"] = op.detail.get("acked", 0)
            for text in op.detail.get("contradictions", ()):
                self._count("events_lost", text)
        # what the cut left on flash, read on the host before the firmware starts again
        files = self._inspect(rec)
        # restart on the same image and check everything
        self._restart(rec)
        self._check(rec, op, acked, files)
        if not calibrate:
            land = self.landed[kind]
            land["n"] += 1
            land["in_flight" if rec["in_flight"] else "in_merge" if rec.get("in_merge") else
                 "refused" if rec.get("refused") else "after"] += 1
            land["mid_write"] += bool(rec.get("mid_write"))
            if "outcome" in rec:
                land[rec["outcome"]] += 1
        self.trials.append(rec)
        return op if calibrate else rec

    def _inspect(self, rec):
        """The files on the image after the cut (host side, littlefs-python); a temp file that
        is new or changed since the last look means the cut came while one was being written
        (config.json.tmp is not removed at start: an old one stays until the next change)."""
        from doorctl import fsimage

        with open(self.image, "rb") as f:
            data = f.read()
        try:
            files = fsimage.read_image(data)
        except fsimage.FsImageError as e:
            rec["flash"] = "unmountable: %s" % e
            return None
        prev = self._files or {}
        left = [n for n in LEFTOVERS if n in files and files[n] != prev.get(n)]
        self._files = files
        rec["leftovers"] = left
        rec["mid_write"] = bool(left)
        return files

    def _restart(self, rec):
        t0 = time.monotonic()
        for attempt in (1, 2):
            try:
                self._start()
                self.api = self._login()
                rec["start_s"] = round(time.monotonic() - t0, 3)
                return True
            except (RuntimeError, HarnessError, OSError) as e:
                out = self.sim.output if self.sim is not None else str(e)
                self._stop()
                if attempt == 1:
                    self._count("starts_failed", "start on the image failed: %s" % str(e).splitlines()[0])
                    self.failed_outputs.append({"trial": rec["trial"], "output": out[-4000:]})
                    keep = os.path.join(self.workdir, "failed-start-%d.img" % rec["trial"])
                    shutil.copyfile(self.image, keep)
                    rec["start_failed"] = True
        raise HarnessError("the firmware does not start on the image any more (kept in %s)" % self.workdir)

    def _check(self, rec, op, acked, files):
        kind = op.kind
        # configuration: the file on the image, then what the device runs with
        old = self.configs[self.config_name]
        if kind == "config":
            allowed = [self.configs[op.detail["to"]]] if acked else [old, self.configs[op.detail["to"]]]
        else:
            allowed = [old]
        if files is not None:
            try:
                stored = json.loads(files["config.json"])
            except (KeyError, ValueError) as e:
                stored = None
                self._count("configs_bad", "config.json on flash unreadable: %r" % e)
            if stored is not None and not any(config_file_is(stored, c) for c in allowed):
                self._count("configs_bad", "config.json on flash is neither the old nor the new configuration: %s"
                            % json.dumps(stored)[:300])
        st, cfg = self._get("/api/v1/config")
        if st != 200 or not isinstance(cfg, dict):
            self._count("configs_bad", ("GET /api/v1/config: HTTP %d %r" % (st, cfg))[:200])
        elif cfg not in allowed:
            self._count("configs_bad", "the device runs a configuration that is neither %s" % (
                "the new one (acknowledged)" if acked and kind == "config" else "the old nor the new one"))
        else:
            name = [n for n, c in self.configs.items() if c == cfg][0]
            if kind == "config":
                rec["outcome"] = "new" if name == op.detail["to"] else "old"
            self.config_name = name
        # users
        if kind in ("push", "edit"):
            states = [op.detail["after"]] if acked else [op.detail["before"], op.detail["after"]]
        else:
            states = [self.state]
        if files is not None:
            ok, why = table_file_ok(files.get("users.tbl", b""), self.workdir)
            if not ok:
                self._count("tables_mixed", "users.tbl on flash: %s" % why)
        got = self._live_users()
        i = match_state(got, states)
        if i < 0:
            want = states[-1]
            self._count("tables_mixed", "the users are neither %s (%s)" % (
                " nor ".join(s.label for s in states), table_diff(got, want.users)))
            self.state = TableState("?", got)
        else:
            self.state = states[i]
            if kind in ("push", "edit"):
                rec["outcome"] = "new" if states[i] is op.detail["after"] else "old"
        rec["table"] = self.state.label
        self._check_bytes(rec)
        self._check_lookup(rec)
        # events: everything acknowledged so far
        self._check_events(rec)

    def _live_users(self):
        """{id: user} of GET /api/v1/users/export."""
        st, doc = self._get("/api/v1/users/export")
        if st != 200 or not isinstance(doc, dict) or not isinstance(doc.get("users"), list):
            raise HarnessError("GET /api/v1/users/export: HTTP %d" % st)
        got = {u["id"]: u for u in doc["users"]}
        if len(got) != doc.get("total") or len(got) != len(doc["users"]):
            self._count("tables_mixed", "export of %d users says total %s" % (len(doc["users"]), doc.get("total")))
        return got

    def _check_bytes(self, rec):
        """A pushed table with no edits since: the live table file is byte for byte the file
        pushed (journal empty, so the download merges nothing)."""
        s = self.state
        if s.base not in TABLES or s.edits:
            return
        st, status = self._get("/api/v1/status")
        if st != 200:
            raise HarnessError("GET /api/v1/status: HTTP %d" % st)
        t = status["table"]
        if t["journal"] or t["serial"] != TABLES[s.base][0]:
            return
        st, body = self._get("/api/v1/users/table")
        rec["bytes_checked"] = True
        if st != 200 or body != self.table_bytes[s.base]:
            self._count("tables_mixed", "the live table file is not the bytes of table %s pushed" % s.base)

    def _check_lookup(self, rec):
        """A card of a random live user opens for that user (the card index, not only the records)."""
        if not self.state.users:
            return
        uid = self.rnd.choice(sorted(self.state.users))
        card = self.state.users[uid]["cards"][0]
        c = self.sim.client
        since = _last_seq(c)
        _call(c, "tap", uid=card, ms=300)  # (a 30 ms tap went unseen once on a loaded machine)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            evs = _call(c, "events", since=since)["events"]
            for e in evs:
                if e["kind"] == "card" and e["code"] == card:
                    if e["result"] != "granted" or e["user"] != uid:
                        self._count("tables_mixed", "card %s of user %d: %s user %d" % (card, uid, e["reason"], e["user"]))
                    return
            time.sleep(0.02)
        self._count("tables_mixed", "a tap of card %s (user %d) logged nothing" % (card, uid))

    def _check_events(self, rec):
        st, doc = self._get("/api/v1/events?since=0&limit=1")
        if st != 200:
            raise HarnessError("GET /api/v1/events: HTTP %d" % st)
        last = doc["last_seq"]
        since = max(0, last - EVENT_CAPACITY)
        events = []
        while True:
            st, doc = self._get("/api/v1/events?since=%d&limit=200" % since)
            if st != 200:
                raise HarnessError("GET /api/v1/events: HTTP %d" % st)
            evs = [e for e in doc["events"] if e["seq"] <= last]
            events += evs
            if not evs or evs[-1]["seq"] >= last:
                break
            since = evs[-1]["seq"]
        lost, problems = self.ledger.check(events, last, EVENT_CAPACITY)
        for text in problems:
            self._count("events_lost", text, 0 if text.startswith("acknowledged") else 1)
        self.counts["events_lost"] += lost
        for text in self.ledger.add(events):
            self._count("events_lost", text)
        self.ledger.forget_before(last - EVENT_CAPACITY)
        rec["last_seq"] = last

    # -- the run -----------------------------------------------------------------------------
    def run(self, trials):
        deck = []
        for i in range(trials):
            if not deck:
                deck = list(KINDS)
                self.rnd.shuffle(deck)
            kind = deck.pop()
            t0 = time.monotonic()
            rec = self.trial(kind)
            rec["seconds"] = round(time.monotonic() - t0, 3)
            self.say(progress_line(self.board_name, i + 1, trials, rec))
        return self.result()

    def result(self):
        cal = sum(1 for t in self.trials if t.get("calibration"))
        return {"board": self.board_name, "trials": len(self.trials) - cal, "calibration_cuts": cal,
                "counts": dict(self.counts), "fresh_start": self.fresh_start, "idle_cuts": self.idle_cuts,
                "landed": self.landed, "durations_ms": self.durations, "findings": self.findings[:200],
                "failed_starts": self.failed_outputs, "users": self.users, "event_capacity": EVENT_CAPACITY,
                "acknowledged_events": self.ledger.total,
                "trial_log": self.trials}


def progress_line(board, i, n, rec):
    """One line per trial: what ran, where the cut landed, what the start after it found."""
    if rec["in_flight"]:
        where = "in flight"
    elif rec.get("in_merge"):
        where = "during the merge"
    elif rec.get("refused"):
        where = "after a refusal: %s" % rec["refused"][:40]
    else:
        where = {"events": "after the last event was reported", "start": "after the HTTP API answered"}.get(
            rec["kind"], "after the answer")
    extra = " %s%s" % (rec["method"], "+merge" if rec["merge"] else "") if rec["kind"] == "edit" else ""
    flash = (" [flash: %s]" % ", ".join(rec["leftovers"])) if rec.get("leftovers") else ""
    out = (", " + rec["outcome"]) if rec.get("outcome") else ""
    if rec.get("start_failed"):
        out = " (THE FIRST START FAILED)" + out
    return "%s %d/%d %s%s: cut %.1f ms in (%s)%s -> restarted%s, table %s, log to #%s (%.1f s)" % (
        board, i, n, rec["kind"], extra, rec["cut_ms"], where, flash, out, rec.get("table", "?"),
        rec.get("last_seq", "?"), rec.get("seconds", 0))


# --- several boards, the README rows ----------------------------------------------------------
def micropython_version():
    r = subprocess.run([paths.micropython_binary(), "-c",
                        "import sys; print('%d.%d.%d' % sys.implementation.version[:3])"],
                       capture_output=True, text=True)
    return r.stdout.strip()


def run_board(board, trials, seed, say, keep=None):
    workdir = keep or tempfile.mkdtemp(prefix="powercut-")
    if keep:
        os.makedirs(keep, exist_ok=True)
    h = Harness(workdir, board=board, seed=seed, say=say)
    try:
        h.setup()
        return h.run(trials)
    except HarnessError as e:
        res = h.result()
        res["error"] = str(e)
        return res
    finally:
        h.close()
        if not keep and not h.failed_outputs:
            shutil.rmtree(workdir, ignore_errors=True)


def totals(boards):
    out = dict.fromkeys(COUNTS, 0)
    for b in boards:
        for k in COUNTS:
            out[k] += b["counts"][k]
    return out


def ok(doc):
    return all(v == 0 for v in doc["totals"].values()) and not any(b.get("error") for b in doc["boards"])


def rows(doc):
    """README lines (Markdown) from a result document."""
    t = doc["totals"]
    n = sum(b["trials"] for b in doc["boards"])
    lines = ["| measure | result |", "|---|---|"]
    lines.append("| Power cuts (SIGKILL of the firmware), %d trials: %s | %s |" % (n, ", ".join(
        "%s %d" % (b["board"], b["trials"]) for b in doc["boards"]), "starts failed %d, tables neither old "
        "nor new whole %d, acknowledged events missing %d, config unreadable or mixed %d, watchdog restarts %d" % (
            t["starts_failed"], t["tables_mixed"], t["events_lost"], t["configs_bad"], t["watchdog_resets"])))
    for kind, what in (("push", "Table push of %s users (A <-> B)" % format(USERS, ",")),
                       ("edit", "User edit (PUT or POST; a third then merged by a table download)"),
                       ("events", "Event burst (%d taps and door changes)" % BURST),
                       ("config", "Config change (PATCH, 5 sections)"),
                       ("start", "Start of the firmware (after a cut with nothing running)")):
        land = {k: sum(b["landed"][kind][k] for b in doc["boards"]) for k in doc["boards"][0]["landed"][kind]}
        durs = ", ".join("%s %.1f ms" % (b["board"], b["durations_ms"].get(kind, 0)) + (
            "" if kind != "edit" else " + merge %.1f ms" % b["durations_ms"]["merge"] if "merge" in b["durations_ms"]
            else " (merges refused: 503)" if any(t.get("merge_refused") for t in b["trial_log"]) else "")
            for b in doc["boards"])
        res = "%d cuts: %d before the %s" % (land["n"], land["in_flight"], {
            "events": "last event was reported", "start": "HTTP API answered"}.get(kind, "answer"))
        if land["in_merge"]:
            res += ", %d during the merge after it" % land["in_merge"]
        res += ", %d after" % land["after"]
        if land["refused"]:
            res += ", %d after a refusal (503)" % land["refused"]
        if kind in ("push", "edit", "config"):
            res += "; the start after the cut found %d old, %d new" % (land["old"], land["new"])
        if land["mid_write"]:
            res += "; %d cut while a temp file was being written" % land["mid_write"]
        lines.append("| %s, uninterrupted %s | %s |" % (what, durs, res))
    acked = sum(b["acknowledged_events"] for b in doc["boards"])
    extra = sum(b["calibration_cuts"] + b["idle_cuts"] for b in doc["boards"])
    lean = [b["board"] for b in doc["boards"] if b["fresh_start"]]
    lines.append("")
    lines.append(
        "Measured %s, MicroPython %s unix port, seed %d. One LittleFS image (ESP32 geometry) per board for the "
        "whole run, event ring of %d; each trial cuts at a random moment in 0..%s x the operation's "
        "uninterrupted duration (measured first, as the first operation after a start), starts the firmware "
        "on the same image and runs every check (docs/powercut.md). %d events were acknowledged (reported by "
        "the device) and checked after every later cut until the ring overwrote them. Besides the trials, "
        "%d cuts after an operation had ended or with none running (calibration%s), checked the same way. "
        "A SIGKILL stops the process between two writes to the image; it can't tear one flash program "
        "as a real power cut can." % (
            doc["date"], doc["micropython"], doc["seed"], EVENT_CAPACITY,
            "/".join("%g" % SPAN[k] for k in KINDS) + " (%s)" % "/".join(KINDS), acked, extra,
            "; on %s also one before each operation, which then runs on a fresh start: the heap the checks "
            "leave there refuses config changes" % ", ".join(lean) if lean else ""))
    return "\n".join(lines)


def dump(doc):
    """The result document as JSON text: indented, but one line per trial record."""
    logs = []
    copy = dict(doc, boards=[])
    for b in doc["boards"]:
        copy["boards"].append(dict(b, trial_log="@trial_log%d@" % len(logs)))
        logs.append(b.get("trial_log", []))
    text = json.dumps(copy, indent=2, sort_keys=True)
    for i, log in enumerate(logs):
        body = ",\n".join("        " + json.dumps(t, sort_keys=True) for t in log)
        text = text.replace('"@trial_log%d@"' % i, "[\n%s\n      ]" % body if log else "[]")
    return text + "\n"


def update_readme(text, path=None):
    from doorctl.docmarks import replace_between

    return replace_between(path or os.path.join(paths.ROOT, "README.md"), README_START, README_END, text)


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m doorctl.powercut",
        description="Cut the simulator's power (SIGKILL) at random moments during table pushes, user edits, "
                    "event appends and config changes, restart it on the same flash image each time, and count "
                    "what did not survive whole (docs/powercut.md). Exit 0 if every count is 0, 1 if not, "
                    "2 on a usage error.")
    p.add_argument("--trials", type=int, default=200, metavar="N",
                   help="trials on the psram board boards/sim.json (default %(default)s)")
    p.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print the result document (JSON) on stdout")
    p.add_argument("--out", metavar="FILE", help="also write the result document to FILE")
    p.add_argument("--readme", action="store_true", help="write the figures into README.md (powercut markers)")
    p.add_argument("--keep", metavar="DIR", help="keep the work files (flash images, tables) in DIR")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    args = p.parse_args(argv)
    if args.trials < 1:
        p.error("--trials must be at least 1")

    def say(text):
        if not args.quiet:
            print(text, file=sys.stderr, flush=True)

    doc = {"date": time.strftime("%Y-%m-%d"), "micropython": micropython_version(), "seed": args.seed, "boards": []}
    plan = [(PSRAM_BOARD, args.trials)]  # (lean boards have no HTTP API, which the trials use: docs/memory.md)
    try:
        for i, (board, n) in enumerate(plan):
            keep = os.path.join(args.keep, os.path.splitext(os.path.basename(board))[0]) if args.keep else None
            doc["boards"].append(run_board(board, n, args.seed + i, say, keep))
    except KeyboardInterrupt:
        print("powercut: interrupted", file=sys.stderr)
        return 130
    doc["totals"] = totals(doc["boards"])
    doc["ok"] = ok(doc)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(dump(doc))
    text = rows(doc)
    if args.readme and update_readme(text):
        say("README.md updated")
    if args.json:
        print(dump(doc), end="")
    else:
        print(text)
    for b in doc["boards"]:
        if b.get("error"):
            print("powercut: %s: %s" % (b["board"], b["error"].splitlines()[0]), file=sys.stderr)
    for f in (x for b in doc["boards"] for x in b["findings"]):
        say("finding: " + f)
    return 0 if doc["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

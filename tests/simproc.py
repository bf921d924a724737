"""Start the real simulator as a subprocess (MicroPython unix port, ESP32 heap) for end-to-end tests."""
import json
import os
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "host_tools"))
from doorctl import paths  # noqa: E402
from doorctl import mpycache  # noqa: E402
from doorctl import pn532_service, profiles, simprep, simwatch  # noqa: E402
from doorctl.simctl import SimClient, SimError  # noqa: E402

FAST_CONFIG = {"relays": {"1": {"hold_ms": 400}, "2": {"hold_ms": 400}}, "reader": {"removal_ms": 150}}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Sim:
    """A running simulator; `client` talks to its control channel; its output is read all the
    time (a device that prints a lot must never block on a full pipe) and kept in `output`.

    Its watchdog is watched as `doorctl sim run` does (doorctl.simwatch): a watchdog reset
    restarts it on the same flash (`resets` counts them, `wait_restart()` waits for one).
    A reset the test did not ask for (`expect_resets`) fails stop()."""

    def __init__(self, tmpdir, config=None, users=None, flash=None, board=None, pn532=None,
                 extra=(), heap=None, demo=True, start=True, http=False, secrets=None, watchdog_ms=None,
                 expect_resets=False, https=False):
        self.tmpdir = str(tmpdir)
        self.flash = flash or os.path.join(self.tmpdir, "flash.img")
        self.control = "127.0.0.1:%d" % free_port()
        self.http = "127.0.0.1:%d" % free_port() if http else "off"
        self.url = "http://%s" % self.http if http else None
        # https: the API over TLS (config http.tls on, --tls DIR in extra); --http then redirects
        self.https = "127.0.0.1:%d" % free_port() if https else None
        self.https_url = "https://%s" % self.https if https else None
        board = board or os.path.join(paths.BOARDS, "sim.json")
        self.heap = heap or profiles.heap_for_board(board)  # the board's profile (docs/memory.md)
        self.argv = [paths.micropython_binary(), "-X", "heapsize=" + self.heap,
                     os.path.join(paths.FIRMWARE, "sim", "run.py"),
                     "--board", board,
                     "--flash", self.flash, "--control", self.control, "--http", self.http, "--quiet"]
        if https:
            self.argv += ["--https", self.https]
        self.emu_proc = None
        if not pn532 and start:  # the emulator in its own process, as `doorctl sim run` does
            self.emu_proc, pn532 = pn532_service.start()
        if pn532:
            self.argv += ["--pn532", pn532]
        cfg_path = sec_path = None
        if config is not None:
            cfg_path = self._write("config.json", config)
            self.argv += ["--config", cfg_path]
        if secrets is not None:
            sec_path = self._write("secrets.json", secrets)
            self.argv += ["--secrets", sec_path]
        src = None
        if users is not None:  # a list is built into a table on the host, as for a board
            src = users if isinstance(users, str) and users.endswith(".tbl") else self._write("users.json", users)
        self.argv += simprep.users_args(src, self.flash, self.tmpdir, cfg_path, sec_path, board, demo)
        self.argv += list(extra)
        self.watchdog_ms = watchdog_ms or 0
        self.proc = None
        self.client = None
        self._out = []
        self._reader = None
        self.resets = 0
        self.expect_resets = expect_resets
        self._ready = False  # the current process answers on its control channel
        self._stopping = False
        self._lock = threading.Lock()
        self._watch = None
        self.heartbeat = None
        if start:
            self.start()

    def _write(self, name, obj):
        path = os.path.join(self.tmpdir, name)
        with open(path, "w") as f:
            f.write(obj if isinstance(obj, str) else json.dumps(obj))
        return path

    def env(self):
        env = dict(os.environ)
        env["MICROPYPATH"] = mpycache.compiled_path(relative_to=ROOT)  # (the process runs in ROOT)
        return env

    def start(self, timeout=15, _tries=3):
        hb = simwatch.Heartbeat(self.watchdog_ms)
        with self._lock:
            if self._stopping:
                hb.close()
                return self
            self.proc = subprocess.Popen(simwatch.options_file(self.argv + hb.args(), self.tmpdir), env=self.env(), cwd=ROOT, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True, pass_fds=hb.fds())
        hb.started()
        self.heartbeat = hb  # the watchdog pipe of the running process (timeout_ms, feeds)
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self._out.append(line)
            if line.startswith("control channel:"):
                self._reader = threading.Thread(target=self._drain, args=(self.proc.stdout,), daemon=True)
                self._reader.start()
                self._watch = threading.Thread(target=self._follow, args=(hb, self.proc), daemon=True)
                self._watch.start()
                self.client = SimClient(self.control)
                self._ready = True
                return self
        hb.close()
        self.proc.wait(5)
        rest = self.proc.stdout.read()
        if "EADDRINUSE" in self.output + rest and _tries > 1:  # a free port taken meanwhile (tests side by side)
            self._new_ports()
            self._out = []
            return self.start(timeout, _tries - 1)
        raise RuntimeError("simulator did not start:\n" + self.output + rest)

    def _new_ports(self):
        old = (self.control, self.http, self.https)
        self.control = "127.0.0.1:%d" % free_port()
        if self.http != "off":
            self.http = "127.0.0.1:%d" % free_port()
            self.url = "http://%s" % self.http
        if self.https:
            self.https = "127.0.0.1:%d" % free_port()
            self.https_url = "https://%s" % self.https
        self.argv = [{old[0]: self.control, old[1]: self.http, old[2]: self.https}.get(a, a) for a in self.argv]

    def _follow(self, hb, proc):
        """The watchdog of one process; after a reset, the firmware again on the same flash."""
        if hb.follow(proc) != "watchdog" or self._stopping:
            return
        self._ready = False
        self._out.append(simwatch.reset_line(hb) + "\n")
        self.resets += 1
        self.argv = simwatch.restart_argv(self.argv)
        if self.client is not None:
            self.client.close()
        if self._reader is not None:
            self._reader.join(5)
        try:
            self.start()
        except RuntimeError as e:
            self._out.append("restart failed: %s\n" % e)

    def wait_restart(self, n=1, timeout=30.0):
        """Wait until the simulator has been reset by its watchdog n times in all and answers
        again; returns the seconds waited."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.resets >= n and self._ready:
                return time.time() - t0
            time.sleep(0.05)
        raise AssertionError("no watchdog restart (%d of %d) within %.0f s:\n%s" % (self.resets, n, timeout,
                                                                                  self.output[-3000:]))

    def _drain(self, stream):
        for line in stream:
            self._out.append(line)

    @property
    def output(self):
        return "".join(self._out)

    def call(self, cmd, **args):
        return self.client.call(cmd, **args)

    def state(self, events=10):
        return self.call("state", events=events)["state"]

    def wait_for(self, predicate, timeout=5.0, events=5):
        """Poll the state until predicate(state) is true; returns that state (or raises). A state
        answer that found no heap (the device busy, e.g. loading its verification client) is
        polled again: the test asks about the door, the door's own work comes first."""
        deadline = time.time() + timeout
        st = None
        while time.time() < deadline:
            try:
                st = self.state(events)
            except SimError as e:
                if "out of memory" not in str(e):
                    raise
                time.sleep(0.05)
                continue
            if predicate(st):
                return st
            time.sleep(0.01)
        raise AssertionError("timed out waiting; last state: %s" % json.dumps(st))

    def stop(self):
        with self._lock:
            self._stopping = True
        if self.client:
            self.client.close()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._reader is not None:
            self._reader.join(5)
            self._reader = None
        elif self.proc and self.proc.stdout:
            self._out.append(self.proc.stdout.read())
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        if self.emu_proc is not None and self.emu_proc.poll() is None:
            self.emu_proc.kill()
            self.emu_proc.wait()
        if self._watch is not None:
            self._watch.join(5)
        if self.resets and not self.expect_resets:
            raise AssertionError("the simulator was reset by its watchdog %d times:\n%s" % (
                self.resets, self.output[-3000:]))


def run_to_exit(argv, timeout=20):
    env = dict(os.environ)
    env["MICROPYPATH"] = mpycache.compiled_path(relative_to=ROOT)
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def tap_decided(sim, uid, ms=200, **card):
    """Tap a card (`card`: how the control channel describes it, e.g. desfire={...}) and return
    the event it was decided with, once relay 1 is off again and the card has been gone long
    enough (removal_ms) for the same UID to be a new tap."""
    last = sim.state(0)["last_seq"]
    sim.call("tap", uid=uid, ms=ms, **card)
    st = sim.wait_for(lambda s: s["last_seq"] > last, timeout=5)
    ev = [e for e in st["events"] if e["seq"] > last]
    sim.wait_for(lambda s: not s["relays"]["1"]["on"], timeout=5)
    time.sleep(0.5)
    return ev[0]

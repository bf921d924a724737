"""The simulator's watchdog, host side: what resets the simulated board when its firmware stops
feeding the watchdog (docs/watchdog.md).

On a board, machine.WDT is a hardware timer that a stuck program can't stop. A MicroPython
process can't watch itself that way: the unix port has no signals or timers that run while the
event loop is blocked (and no threads in our use), so the check runs in this process instead.
The firmware (lib/hal/sim.py `Board.watchdog`) gets the write end of a pipe (`--watchdog FD`);
arming writes `W<timeout_ms>` and a line end, each feed one byte. When no byte comes within
the timeout, the process is killed (SIGKILL: no clean-up, as a reset) and started again on the
same flash with `--reset-cause watchdog`. A pipe, not a file or a socket: nothing to clean up,
no port to pick, and the end of the process shows as the end of the pipe.

    code = run(argv, env)              # `doorctl sim run`: restarts until the simulator exits
    Heartbeat().follow(proc)           # one process: "exit" or "watchdog" (tests/simproc.py)
"""
import os
import select
import signal
import subprocess
import time

RESET_CAUSE = "--reset-cause"


class Heartbeat:
    """The pipe of one simulator process: pass `args()` and `fds()` to it, `started()` after."""

    def __init__(self, timeout_ms=0):
        self.r, self.w = os.pipe()
        self.ms = timeout_ms  # told to the firmware: its watchdog's timeout instead of its own (0: its own)
        self.timeout_ms = None  # set when the firmware arms its watchdog
        self.feeds = 0

    def args(self):
        return ["--watchdog", "%d:%d" % (self.w, self.ms) if self.ms else str(self.w)]

    def fds(self):
        return (self.w,)

    def started(self):
        """Call once the child has the write end: the pipe then ends when the child does."""
        os.close(self.w)
        self.w = None

    def close(self):
        """Give up the pipe without following (the process did not start)."""
        for fd in (self.r, self.w):
            if fd is not None:
                os.close(fd)
        self.r = self.w = None

    def follow(self, proc):
        """Watch `proc` until it exits ("exit") or misses its watchdog ("watchdog": it has been
        killed)."""
        buf = b""
        last = time.monotonic()
        try:
            while True:
                wait = 0.2
                if self.timeout_ms is not None:
                    left = self.timeout_ms / 1000 - (time.monotonic() - last)
                    if left <= 0:
                        _kill(proc)
                        return "watchdog"
                    wait = min(wait, left)
                ready, _, _ = select.select([self.r], [], [], wait)
                if not ready:
                    continue
                data = os.read(self.r, 4096)
                if not data:  # the process closed it: it ended (or is ending)
                    proc.wait()
                    return "exit"
                now = time.monotonic()
                buf += data
                while buf.startswith(b"W"):  # armed: W<timeout_ms>\n
                    line, nl, rest = buf.partition(b"\n")
                    if not nl:
                        break
                    self.timeout_ms = int(line[1:])
                    buf = rest
                n = buf.count(b".")
                if n:
                    self.feeds += n
                    buf = buf.replace(b".", b"")
                last = now  # the arming counts as a feed, as creating machine.WDT does
        finally:
            self.close()


def _kill(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait()


# installed on the flash at the first start: a reset doesn't install them again
_ONCE = ("--config", "--secrets", "--users", RESET_CAUSE)


def restart_argv(argv, cause="watchdog"):
    """The simulator's argv for a start after a reset: the flash keeps what the first start
    installed (config, secrets, users), and the firmware is told why it starts."""
    out = []
    i = 0
    while i < len(argv):
        if argv[i] in _ONCE and i + 1 < len(argv):
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out + [RESET_CAUSE, cause]


def options_file(argv, folder):
    """The simulator's argv with its options moved into a file (`run.py @FILE`, one option per
    line): each command-line argument becomes an interned name in the MicroPython heap for good,
    so passing them this way keeps the simulated board's heap what a board's would be, whatever
    the ports and paths."""
    at = next(i for i, a in enumerate(argv) if a.endswith("run.py")) + 1
    path = os.path.join(folder, "run-options.txt")
    with open(path, "w") as f:
        f.write("".join(a + "\n" for a in argv[at:]))
    return argv[:at] + ["@" + path]


def _flash_dir(argv):
    return os.path.dirname(os.path.abspath(argv[argv.index("--flash") + 1]))


def reset_line(hb):
    return "doorctl sim: watchdog reset (not fed for %.1f s): restarting on the same flash" % (hb.timeout_ms / 1000)


def run(argv, env=None, say=print, timeout_ms=0, cwd=None):
    """Run the simulator `argv` in the foreground, restarting it after each watchdog reset,
    until it exits; returns its exit code. `timeout_ms`: the firmware's watchdog timeout
    instead of its own. Ctrl-C reaches the simulator too (same process
    group): it stops, and so does this. SIGTERM is passed on."""
    proc = None

    def terminate(signum, frame):
        if proc is not None and proc.poll() is None:
            proc.terminate()

    old = signal.signal(signal.SIGTERM, terminate)
    try:
        while True:
            hb = Heartbeat(timeout_ms)
            proc = subprocess.Popen(options_file(argv + hb.args(), _flash_dir(argv)), env=env, pass_fds=hb.fds(),
                                    cwd=cwd)
            hb.started()
            try:
                how = hb.follow(proc)
            except KeyboardInterrupt:
                how = "exit"
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    _kill(proc)
            if how != "watchdog":
                return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
            say(reset_line(hb))
            argv = restart_argv(argv)
    finally:
        signal.signal(signal.SIGTERM, old)

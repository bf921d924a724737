"""The simulator's watchdog (board.watchdog() of hal/sim.py; simulator only)."""
import sys


class Watchdog:
    """The simulator's watchdog. A blocked event loop can't check itself, so the check runs
    outside this process: the runner (doorctl.simwatch, as `doorctl sim run` and the tests start
    the simulator) hands over the write end of a pipe (`--watchdog-fd`); arming writes
    `W<timeout_ms>` and a line end, every feed one byte. The runner kills the process when no
    byte came within the timeout (a reset: nothing is cleaned up) and starts the firmware again
    on the same flash with `--reset-cause watchdog`. Without a runner nothing watches."""

    def __init__(self, fd, timeout_ms):
        self.timeout_ms = timeout_ms
        self._f = None
        if fd is not None:
            self._f = open(fd, "wb")
            self._write(b"W%d\n" % timeout_ms)

    def _write(self, data):
        try:
            self._f.write(data)
        except OSError:  # the runner is gone: so is the power
            print("doorctl simulator: the watchdog's runner is gone: stopping")
            sys.exit(3)

    def feed(self):
        if self._f is not None:
            self._write(b".")

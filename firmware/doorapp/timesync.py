"""NTP time sync on a board: sets the RTC with the stock `ntptime` module, then marks the clock set.

Why a task with backoff: Wi-Fi comes and goes; a failed sync retries after 5 s, 10 s, 20 s ...
up to 10 min, a successful one repeats every `time.ntp_interval_s` (the ESP32 RTC drifts
seconds a day). While the network is down nothing is sent; it is checked again every 5 s.
`ntptime.settime()` is a blocking UDP exchange: it can stall the event loop for up to
`_TIMEOUT_S` (+ a DNS lookup) once per sync; acceptable next to a relay hold of seconds.

Started by doorapp/station.py on a board; the simulator uses the host clock and never loads this.
"""
from micropython import const

from compat import sleep_ms
from doorapp import clock

_FIRST_RETRY_S = const(5)
_MAX_RETRY_S = const(600)
NETWORK_POLL_S = const(5)
_TIMEOUT_S = const(1)


class TimeSync:
    """ntp: a module like ntptime (host, timeout, settime()); is_up() -> network connected;
    on_set(before, after): called after every successful sync (e.g. a clock_set event)."""

    def __init__(self, server, interval_s=3600, ntp=None, is_up=None, on_set=None):
        self.server = server
        self.interval_s = interval_s
        self.ntp = ntp
        self.is_up = is_up
        self.on_set = on_set
        self.retry_s = 0
        self.syncs = 0
        self.failures = 0
        self.last_error = ""
        self._sleep_ms = sleep_ms

    def step(self):
        """One attempt; returns the seconds to wait before the next one."""
        if self.is_up is not None and not self.is_up():
            return NETWORK_POLL_S
        before = clock.now()
        try:
            self.ntp.host = self.server
            self.ntp.timeout = _TIMEOUT_S
            self.ntp.settime()
        except Exception as e:  # OSError (timeout, DNS), anything the module raises
            self.failures += 1
            self.last_error = "%s: %s" % (type(e).__name__, e)
            self.retry_s = _FIRST_RETRY_S if not self.retry_s else min(self.retry_s * 2, _MAX_RETRY_S)
            return self.retry_s
        clock.mark_synced("ntp")
        self.syncs += 1
        self.retry_s = 0
        self.last_error = ""
        if self.on_set is not None:
            self.on_set(before, clock.now())
        return self.interval_s

    def state(self):
        return {"server": self.server, "syncs": self.syncs, "failures": self.failures,
                "retry_s": self.retry_s, "last_error": self.last_error}

    async def run(self):
        while True:
            await self._sleep_ms(self.step() * 1000)


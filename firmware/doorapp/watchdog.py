"""The hardware watchdog, fed only while the door shows progress, and the reset-cause event
at start (docs/watchdog.md). Loaded when the door is built, after the boot's name pool step.

The board's watchdog (`board.watchdog(ms)`: machine.WDT on an ESP32, the runner's on the
simulator) resets the device unless it is fed within TIMEOUT_MS. One task feeds it, once a
second, and only if every essential part has shown progress since the last feed:
- reader: the card watcher turned its loop (a poll, a failed poll or a re-init backoff of up to
  8 s all count: `CardWatcher.beat`);
- inputs: the sampling task ran (`doorapp.inputs.beat`);
- relays: none is still on more than _GRACE_MS after its hold ended (its timer task runs);
- event log: the last append did not fail with a flash error (`EventLog.failing`; left out for
  the rest of the boot when the reset-cause event at start could not be written, so a broken
  flash doesn't reset the door over and over).
A blocked event loop (a blocking call, a handler that never yields) stops this task as well:
nothing feeds and the board resets. No timer feeds whatever happens.
"""
from micropython import const

import eventlog
from compat import sleep_ms, ticks_ms
from doorapp import inputs

TIMEOUT_MS = const(30000)  # > the reader's 8 s re-init backoff and a table check on the ESP32
_CHECK_MS = const(1000)
_GRACE_MS = const(2000)


class Supervisor:
    def __init__(self, door, wdt):
        self.door = door
        self.wdt = wdt
        self.feeds = 0
        self.stalled = ""  # the part that kept the last check from feeding ("" = fed)
        self._relays = tuple(door.relays.values())
        self._log = None if door.log.failing else door.log
        self._reader = -1  # beats seen at the last feed
        self._inputs = inputs.beat

    def check(self, now):
        """The first part without progress since the last feed, or "" (all moved)."""
        w = self.door.watcher
        if w is None or w.beat == self._reader:
            return "reader"
        if inputs.beat == self._inputs:
            return "inputs"
        for r in self._relays:
            if r.overdue(now, _GRACE_MS):
                return "relays"
        if self._log is not None and self._log.failing:
            return "event log"
        return ""

    def tick(self, now):
        """Feed if check() found progress everywhere; returns check()'s answer."""
        s = self.stalled = self.check(now)
        if not s:
            self._reader = self.door.watcher.beat
            self._inputs = inputs.beat
            self.wdt.feed()
            self.feeds += 1
        return s

    async def run(self):
        while True:
            await sleep_ms(_CHECK_MS)
            self.tick(ticks_ms())


# board.reset_cause() names, in the order of their event reasons (eventlog.REASON_POWER_ON ...)
RESET_CAUSES = ("power_on", "hard_reset", "watchdog", "deep_sleep", "soft_reset", "brownout")


def log_reset_cause(door, cause):
    """One system event for why the device started (reason power_on, watchdog, ...; boot when
    the board can't tell), at start-up. A log that can't be written is reported and the door
    starts anyway (the supervisor then leaves the log out of its checks)."""
    reason = eventlog.REASON_BOOT
    if cause in RESET_CAUSES:
        reason = eventlog.REASON_POWER_ON + RESET_CAUSES.index(cause)
    try:
        door.record(eventlog.KIND_SYSTEM, None, reason, b"", 0, None, ())
    except OSError as e:
        print("doorctl: the event log can't be written:", e)

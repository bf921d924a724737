"""The hardware watchdog, fed only while the door shows progress, and the reset-cause event
(docs/watchdog.md). Loaded when the door starts running.

The board's watchdog (`board.watchdog(ms)`: machine.WDT on an ESP32, the runner's on the
simulator) resets the device unless it is fed within _TIMEOUT_MS. One task feeds it, once a
second, and only if every essential part has shown progress since the last feed:
- reader: the card watcher turned its loop (a poll, a failed poll or a re-init backoff of up to
  8 s all count: `polls + errors` of the CardWatcher);
- inputs: the sampling task ran (`doorapp.inputs.polls`);
- event log: the last append did not fail with a flash error (`EventLog.errors`; left out for
  the rest of the boot when the reset-cause event at start could not be written, so a broken
  flash doesn't reset the door over and over);
- relays: none is still on more than _GRACE_MS after its hold ended (its timer task runs).
A blocked event loop (a blocking call, a handler that never yields) stops this task as well:
nothing feeds and the board resets. No timer feeds whatever happens.
"""
from micropython import const

from compat import sleep_ms, ticks_diff, ticks_ms
from doorapp import inputs

# the event log's codes (lib/eventcodes.py names them)
_KIND_SYSTEM = const(0)
_REASON_BOOT = const(17)
_REASON_POWER_ON = const(28)

_TIMEOUT_MS = const(30000)  # > the reader's 8 s re-init backoff and a table check on the ESP32
_CHECK_MS = const(1000)
_GRACE_MS = const(2000)
# board.reset_cause() names, in the order of their reasons (eventcodes.REASON_POWER_ON on)
RESET_CAUSES = ("power_on", "hard_reset", "watchdog", "deep_sleep", "soft_reset", "brownout")


def run(door):
    """At the door's start (Door.run, before its first await): one system event for why the
    device started (reason power_on, watchdog, ...; boot when the board can't tell), then the
    board's watchdog armed; returns the coroutine of the task that feeds it (None: no
    watchdog). A log that can't be written is reported and the door starts anyway (start()
    then leaves the log out of the checks)."""
    cause = door.board.reset_cause()
    reason = _REASON_BOOT
    if cause in RESET_CAUSES:
        reason = _REASON_POWER_ON + RESET_CAUSES.index(cause)
    try:
        door.record(_KIND_SYSTEM, None, reason, b"", 0, None, ())
    except OSError as e:
        print("doorctl: the event log can't be written:", e)
    wdt = door.board.watchdog(_TIMEOUT_MS)
    return None if wdt is None else supervise(door, wdt)


def start(door):
    """What tick() compares with: the reader's and the inputs' counts at the last feed, the log
    (None when it failed to write at start: then it is left out), the relays."""
    return [0, inputs.polls, None if door.log.errors else door.log, tuple(door.relays.values())]


def tick(door, wdt, seen, now):
    """Feed `wdt` if every part moved since the last feed (`seen`: made by start(), updated
    here); returns the first part that did not ("reader", "inputs", "event log", "relays"), or
    "" after feeding."""
    w = door.watcher
    if w is None or w.polls + w.errors == seen[0]:
        return "reader"
    if inputs.polls == seen[1]:
        return "inputs"
    log = seen[2]
    if log is not None and log.errors:
        return "event log"
    for r in seen[3]:  # (Relay's own fields: no method of its own, no boot-time name)
        if r._open and ticks_diff(now, r._until) > _GRACE_MS:
            return "relays"
    seen[0] = w.polls + w.errors
    seen[1] = inputs.polls
    wdt.feed()
    return ""


async def supervise(door, wdt):
    seen = start(door)
    while True:
        await sleep_ms(_CHECK_MS)
        tick(door, wdt, seen, ticks_ms())

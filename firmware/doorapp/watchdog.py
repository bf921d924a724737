"""The hardware watchdog, fed only while the door shows progress (docs/watchdog.md). Loaded
when the door starts running (after the boot's name pool step).

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

from compat import sleep_ms, ticks_ms
from doorapp import inputs

TIMEOUT_MS = const(30000)  # > the reader's 8 s re-init backoff and a table check on the ESP32
_CHECK_MS = const(1000)
_GRACE_MS = const(2000)


def tick(door, wdt, seen, now):
    """Feed `wdt` if every part moved since the last feed (`seen`: what start() made, updated
    here); returns the first part that did not ("reader", "inputs", "event log", "relays"), or
    "" after feeding."""
    w = door.watcher
    if w is None or w.beat == seen[0]:
        return "reader"
    if inputs.beat == seen[1]:
        return "inputs"
    log = seen[2]
    if log is not None and log.failing:
        return "event log"
    for r in seen[3]:
        if r.overdue(now, _GRACE_MS):
            return "relays"
    seen[0] = w.beat
    seen[1] = inputs.beat
    wdt.feed()
    return ""


def start(door):
    """What tick() compares with: the beats at the last feed, the log (None when it failed to
    write at start: then it is left out), the relays."""
    return [-1, inputs.beat, None if door.log.failing else door.log, tuple(door.relays.values())]


async def supervise(door, wdt):
    seen = start(door)
    while True:
        await sleep_ms(_CHECK_MS)
        tick(door, wdt, seen, ticks_ms())

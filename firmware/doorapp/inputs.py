"""Exit buttons, door sensors and other inputs: sampled, debounced, reported on change.

ESP32 pin IRQs are soft (scheduled, queue of 8) and bouncing contacts flood them, so inputs are
sampled by one task every _POLL_MS; `make bench` reports the exit-button-to-relay latency this
gives.
"""
from micropython import const

from compat import sleep_ms, ticks_diff, ticks_ms

_POLL_MS = const(5)


class Input:
    def __init__(self, name, kind, pin, trigger_level, debounce_ms, relay, on_change):
        self.name = name
        self.kind = kind
        self.relay = relay
        self._pin = pin
        self._level = 1 if trigger_level == "high" else 0
        self._debounce = debounce_ms
        self._on_change = on_change
        self.active = pin.value() == self._level  # state at boot: no event
        self._raw = self.active
        self._since = ticks_ms()

    def sample(self, now):
        raw = self._pin.value() == self._level
        if raw != self._raw:
            self._raw = raw
            self._since = now
        if raw != self.active and ticks_diff(now, self._since) >= self._debounce:
            self.active = raw
            self._on_change(self, raw)

    def level(self):
        return self._pin.value()


polls = 0  # sampling rounds made (wraps): the watchdog's sign that this task runs


async def poll(inputs):
    global polls
    while True:
        polls = (polls + 1) & 0xFFFF
        now = ticks_ms()
        for i in inputs:
            i.sample(now)
        await sleep_ms(_POLL_MS)

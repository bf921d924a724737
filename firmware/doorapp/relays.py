"""Relays: pulse for a hold time; a re-trigger while open extends the hold, never shortens it."""
import asyncio

from compat import sleep_ms, ticks_add, ticks_diff, ticks_ms


class Relay:
    def __init__(self, rid, out, hold_ms):
        self.id = rid
        self.hold_ms = hold_ms
        self._out = out
        self._until = 0
        self._open = False
        self._wake = asyncio.Event()
        self.pulses = 0

    def pulse(self, ms=0):
        """Energise now (same loop turn as the decision) and keep it on for ms (default hold)."""
        until = ticks_add(ticks_ms(), ms or self.hold_ms)
        self.pulses += 1
        if self._open:
            if ticks_diff(until, self._until) > 0:
                self._until = until
            return
        self._until = until
        self._open = True
        self._out.on()
        self._wake.set()

    def release(self):
        """De-energise now (end of a schedule, API close, benchmarks)."""
        if self._open:
            self._until = ticks_ms()
            self._open = False
            self._out.off()

    def is_on(self):
        return self._open

    def remaining_ms(self):
        return max(0, ticks_diff(self._until, ticks_ms())) if self._open else 0

    async def run(self):
        while True:
            await self._wake.wait()
            self._wake.clear()
            while True:
                left = ticks_diff(self._until, ticks_ms())
                if left <= 0:
                    break
                await sleep_ms(left)
            if self._open:
                self._open = False  # first: whoever hears the pin change reads the state it is in
                self._out.off()

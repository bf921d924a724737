"""Status LED and buzzer patterns (granted, denied, error) played without blocking."""
import asyncio

from compat import sleep_ms

GRANTED_LED = (1000,)
GRANTED_BEEP = (100,)
DENIED_BEEP = (80, 80, 80, 80, 80)


class Indicator:
    """One output playing on/off patterns (ms on, ms off, ms on, ...); a new pattern replaces the old."""

    def __init__(self, out):
        self._out = out
        self._gen = 0

    def play(self, pattern):
        if self._out is None:
            return
        self._gen += 1
        asyncio.create_task(self._run(pattern, self._gen))

    def is_on(self):
        return self._out is not None and self._out.is_on()

    async def _run(self, pattern, gen):
        on = True
        for ms in pattern:
            if gen != self._gen:  # superseded by a newer pattern
                return
            if on:
                self._out.on()
            else:
                self._out.off()
            await sleep_ms(ms)
            on = not on
        if gen == self._gen:
            self._out.off()

"""Status LED and buzzer patterns (granted, denied, error) played without blocking."""
import asyncio

from micropython import const

from compat import sleep_ms

GRANTED_LED = (1000,)
GRANTED_BEEP = (100,)
DENIED_BEEP = (80, 80, 80, 80, 80)
_STEP_MS = const(20)  # a new pattern takes over within this


class Indicator:
    """One output playing on/off patterns (ms on, ms off, ms on, ...); a new pattern replaces the
    old. One task per output, started on first use, plays the latest pattern: a task per pattern
    left each superseded one asleep until its step ended (a burst of taps: dozens of tasks of
    ~250 B each, for a second, from the LED's 1 s pattern alone)."""

    def __init__(self, out):
        self._out = out
        self._gen = 0
        self._pattern = ()
        self._wake = asyncio.Event()
        self._task = None

    def start(self):
        """Make the task that plays the patterns (Door.run: a grant then allocates nothing)."""
        if self._task is None and self._out is not None:
            self._task = asyncio.create_task(self._run())

    def play(self, pattern):
        if self._out is None:
            return
        self._pattern = pattern
        self._gen += 1
        self._wake.set()
        self.start()

    def is_on(self):
        return self._out is not None and self._out.is_on()

    async def _run(self):
        out = self._out
        while True:
            await self._wake.wait()
            self._wake.clear()
            gen = self._gen
            on = True
            for ms in self._pattern:
                if on:
                    out.on()
                else:
                    out.off()
                while ms > 0 and gen == self._gen:
                    step = ms if ms < _STEP_MS else _STEP_MS
                    await sleep_ms(step)
                    ms -= step
                if gen != self._gen:  # superseded: the new pattern starts at once
                    break
                on = not on
            if gen == self._gen:
                out.off()

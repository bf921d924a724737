"""EmulatorStream: the ByteStream interface (write / read / reset_input) around a PN532Emulator.

Waits on an asyncio.Event set by the emulator's notify hook, bounded by the read deadline and by
the emulator's next timed event, so nothing busy-polls. Works under MicroPython and CPython.
"""
import asyncio

from compat import ticks_ms, ticks_diff, ticks_add


class EmulatorStream:
    def __init__(self, emulator):
        self.emulator = emulator
        self._ev = asyncio.Event()
        emulator.notify = self._ev.set

    async def write(self, data):
        self.emulator.feed(data)

    async def read(self, n, timeout_ms):
        emu = self.emulator
        deadline = ticks_add(ticks_ms(), timeout_ms)
        while True:
            if emu.available():
                return emu.read(n)
            left = ticks_diff(deadline, ticks_ms())
            if left <= 0:
                return b""
            due = emu.due_in()
            if due is not None and due < left:
                left = due if due > 0 else 1
            self._ev.clear()
            try:
                await asyncio.wait_for(self._ev.wait(), left / 1000)
            except asyncio.TimeoutError:
                pass

    def reset_input(self):
        self.emulator.clear_output()

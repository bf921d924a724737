"""ByteStream adapters over asyncio streams (ESP32 UART, TCP socket, serial device).

A ByteStream is what the PN532 driver talks to:
    async write(data); async read(n, timeout_ms) -> 1..n bytes or b'' on timeout; reset_input().
"""
import asyncio

from deadline import Deadline


class AsyncioByteStream:
    """Wraps an asyncio StreamReader/StreamWriter pair (or one object that is both)."""

    def __init__(self, reader, writer=None):
        self._r = reader
        self._w = writer or reader
        self._pending = b""
        self._dl = Deadline()  # (not asyncio.wait_for: see deadline.py)

    async def write(self, data):
        self._w.write(data)
        await self._w.drain()

    async def read(self, n, timeout_ms):
        if self._pending:
            out = self._pending[:n]
            self._pending = self._pending[n:]
            return out
        try:
            data = await self._dl.run(self._r.read(n), timeout_ms)
        except asyncio.TimeoutError:
            return b""
        if not data:  # peer closed: behave like a silent line, the driver's timeouts handle it
            await asyncio.sleep(timeout_ms / 1000)
            return b""
        return data

    def reset_input(self):
        self._pending = b""

    def close(self):
        try:
            self._w.close()
        except Exception:
            pass

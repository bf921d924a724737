"""The QR scanner's UART in the simulator (hal.sim's Board.qr_stream, boards with a QR scanner)."""
import asyncio

from deadline import Deadline


class LineStream:
    """The QR scanner's UART in the simulator: the control channel writes what a scanner would
    send; a ByteStream (`read(n, timeout_ms)` -> bytes, b'' on timeout)."""

    def __init__(self):
        self._buf = b""
        self._ready = asyncio.Event()
        self._dl = Deadline()

    def send(self, data):
        self._buf += data
        self._ready.set()

    async def read(self, n, timeout_ms):
        if not self._buf:
            self._ready.clear()
            try:
                await self._dl.run(self._ready.wait(), timeout_ms)
            except asyncio.TimeoutError:
                return b""
        out = self._buf[:n]
        self._buf = self._buf[n:]
        return out

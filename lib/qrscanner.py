"""QR / barcode scanner modules on a UART: line-terminated text in, one code per line out.

Scanner modules (GM65, GM805, MH-ET Live, ...) in "serial output" mode send the decoded text
followed by CR, LF or CR LF. `QRLineReader` is the byte-level core (`feed`, `poll`: pure) and,
with `run(stream)`, the task reading a ByteStream (`async read(n, timeout_ms)`, docs/pn532.md):

  - a line is emitted on CR or LF; empty lines (the LF of CR LF) are skipped;
  - NUL bytes (line noise while a module powers up) are dropped silently;
  - a line with other control characters, or bytes that are not UTF-8, is dropped whole
    (`garbage` counter): a code is never emitted with noise spliced into it;
  - a line longer than `max_len` bytes is dropped up to the next terminator (`overflows`);
  - a partial line idle for `idle_ms` is dropped (`stale`), so noise can't prefix the next
    code - or emitted, with `emit_on_idle=True`, for modules configured without a suffix.

The line buffer is preallocated; emitting a code allocates the code's string only. One class
(no separate task object): this module is resident on a board with a scanner.
"""
from micropython import const

from compat import ticks_diff, ticks_ms

_CR = const(13)
_LF = const(10)
_TAB = const(9)


class QRLineReader:
    def __init__(self, on_line, max_len=256, idle_ms=500, emit_on_idle=False, clock=ticks_ms):
        self.on_line = on_line
        self._buf = bytearray(max_len)
        self._n = 0
        self._drop = False  # current line is garbage or too long: skip to the terminator
        self._overlong = False
        self._last = 0
        self.idle_ms = idle_ms
        self.emit_on_idle = emit_on_idle
        self.clock = clock
        self.lines = 0
        self.garbage = 0
        self.overflows = 0
        self.stale = 0
        self.errors = 0  # failed stream reads (run)

    def feed(self, data, now=None):
        """Bytes from the UART (any chunking); calls on_line(text) per complete code."""
        if not data:
            return
        t = self.clock() if now is None else now
        self.poll(t)
        self._last = t
        buf = self._buf
        size = len(buf)
        for b in data:
            if b == _CR or b == _LF:
                self._end()
            elif b == 0:
                continue
            elif self._drop:
                continue
            elif (b < 32 and b != _TAB) or b == 127:
                self._drop = True
            elif self._n >= size:
                self._drop = True
                self._overlong = True
            else:
                buf[self._n] = b
                self._n += 1

    def _end(self):
        if self._drop:
            if self._overlong:
                self.overflows += 1
            else:
                self.garbage += 1
        elif self._n:
            try:
                text = bytes(self._buf[:self._n]).decode()
            except UnicodeError:
                text = None
                self.garbage += 1
            if text is not None:
                self.lines += 1
                self._n = 0
                self.on_line(text)
        self._n = 0
        self._drop = False
        self._overlong = False

    def poll(self, now=None):
        """Handle a partial line idle for idle_ms (dropped, or emitted with emit_on_idle)."""
        if not (self._n or self._drop) or self.idle_ms <= 0:
            return
        t = self.clock() if now is None else now
        if ticks_diff(t, self._last) < self.idle_ms:
            return
        if self.emit_on_idle and not self._drop:
            self._end()
        else:
            if self._n and not self._drop:
                self.stale += 1
            self._n = 0
            self._drop = False
            self._overlong = False

    async def run(self, stream, read_ms=100):
        """Task: read the scanner's ByteStream and feed it in (`await reader.run(stream)`)."""
        from compat import sleep_ms

        while True:
            try:
                data = await stream.read(64, read_ms)
            except OSError:
                self.errors += 1
                await sleep_ms(read_ms)
                continue
            if data:
                self.feed(data)
            else:
                self.poll()

"""QR scanner UART lines: terminators, chunking, noise, overlong lines, idle handling, the task."""
import asyncio

import qrscanner


def _reader(**kw):
    out = []
    t = [0]
    r = qrscanner.QRLineReader(out.append, clock=lambda: t[0], **kw)
    return r, out, t


def test_cr_lf_crlf_and_chunking():
    r, out, _ = _reader()
    r.feed(b"12345678\r\nABC")
    r.feed(b"DEF\n")
    r.feed(b"V1.1.1.2.3.AAAA\r")
    r.feed(b"\n\n\r")  # empty lines skipped
    assert out == ["12345678", "ABCDEF", "V1.1.1.2.3.AAAA"]
    assert r.lines == 3


def test_byte_by_byte():
    r, out, _ = _reader()
    for b in b"https://example.com/p?x=1\r\n":
        r.feed(bytes([b]))
    assert out == ["https://example.com/p?x=1"]


def test_noise_nul_dropped_control_bytes_drop_the_line():
    r, out, _ = _reader()
    r.feed(b"\x00\x00123\x0045\r\n")  # NULs: power-up noise, dropped
    r.feed(b"\x1b[2J99\r\n")  # escape sequence: the line is garbage
    r.feed(b"77\r\n")
    assert out == ["12345", "77"] and r.garbage == 1


def test_invalid_utf8_dropped_valid_utf8_kept():
    r, out, _ = _reader()
    r.feed(b"\xff\xfe12\n")
    r.feed("Grüße\n".encode())
    assert out == ["Grüße"] and r.garbage == 1


def test_overlong_line_dropped_until_terminator():
    r, out, _ = _reader(max_len=16)
    r.feed(b"x" * 40 + b"\r\n")
    r.feed(b"0123456789ABCDEF\r\n")  # exactly max_len: kept
    assert out == ["0123456789ABCDEF"] and r.overflows == 1


def test_idle_partial_line_dropped_or_emitted():
    r, out, t = _reader(idle_ms=500)
    r.feed(b"garb")
    t[0] = 600
    r.feed(b"1234\r\n")  # the stale "garb" does not prefix the code
    assert out == ["1234"] and r.stale == 1
    r2, out2, t2 = _reader(idle_ms=200, emit_on_idle=True)
    r2.feed(b"5678")
    t2[0] = 100
    r2.poll()
    assert out2 == []
    t2[0] = 250
    r2.poll()
    assert out2 == ["5678"]


class FakeStream:
    def __init__(self, chunks):
        self.chunks = list(chunks)

    async def read(self, n, timeout_ms):
        if self.chunks:
            return self.chunks.pop(0)[:n]
        await asyncio.sleep(timeout_ms / 1000)
        return b""


def test_scanner_task_over_a_bytestream():
    codes = []

    async def main():
        s = qrscanner.QRLineReader(codes.append)
        task = asyncio.create_task(s.run(FakeStream([b"\x00\x00", b"1234", b"5678\r", b"\nV1.X\r\n"]), read_ms=5))
        await asyncio.sleep(0.05)
        task.cancel()

    asyncio.run(main())
    assert codes == ["12345678", "V1.X"]

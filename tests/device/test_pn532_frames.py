"""PN532 frame codec (lib/pn532/frames.py): building, parsing, checksums, garbage resync.

Runs under CPython (pytest) and MicroPython (tests/device/runner.py).
"""
from pn532 import frames
from pn532.frames import ACK, NACK, ERROR_FRAME, FrameParser

# FrameParser.next_event() kinds, as frames.py documents them
EV_ACK, EV_NACK, EV_ERROR, EV_FRAME, EV_BADSUM = 1, 2, 3, 4, 5

FW_CMD = b"\x00\x00\xff\x02\xfe\xd4\x02\x2a\x00"  # GetFirmwareVersion, from the user manual
FW_REPLY = frames.encode(b"\xd5\x03\x32\x01\x06\x07")


def events(chunks, size=280):
    """Feed chunks (list of bytes) and collect (kind, data) events."""
    p = FrameParser(size)
    out = []
    for c in chunks:
        while c:
            n = p.feed(c)
            c = c[n:]
            while True:
                ev = p.next_event()
                if ev is None:
                    break
                out.append((ev, p.data if ev == EV_FRAME else None))
    return out


def split(data, n):
    return [data[i : i + n] for i in range(0, len(data), n)]


def lcg(seed):
    """Deterministic pseudo-random bytes (same on both interpreters)."""
    x = seed
    while True:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        yield (x >> 16) & 0xFF


def test_encode_firmware_command():
    assert bytes(frames.command(0x02)) == FW_CMD
    assert bytes(frames.encode(b"\xd4\x02")) == FW_CMD


def test_encode_sam_configuration():
    f = bytes(frames.command(0x14, b"\x01\x14\x01"))
    assert f == b"\x00\x00\xff\x05\xfb\xd4\x14\x01\x14\x01\x02\x00"
    assert bytes(frames.command(0x14, [1, 0x14, 1])) == f


def test_checksums_hold():
    for n in (1, 2, 17, 200, 255):
        data = bytes([(i * 7 + 3) & 0xFF for i in range(n)])
        f = frames.encode(data)
        assert len(f) == n + 7
        assert (f[3] + f[4]) & 0xFF == 0
        assert sum(f[5 : 5 + n + 1]) & 0xFF == 0
        assert f[-1] == 0


def test_constant_frames_parse():
    got = events([ACK, NACK, ERROR_FRAME])
    assert [k for k, _ in got] == [EV_ACK, EV_NACK, EV_ERROR]


def test_round_trip_every_chunk_size():
    stream = (b"\x55\x55" + bytes(14) + ACK + FW_REPLY + b"\x13\x37" + ERROR_FRAME + NACK
              + frames.encode(b"\xd5\x4b\x00"))
    want = [(EV_ACK, None), (EV_FRAME, b"\xd5\x03\x32\x01\x06\x07"), (EV_ERROR, None),
            (EV_NACK, None), (EV_FRAME, b"\xd5\x4b\x00")]
    for n in range(1, len(stream) + 1):
        assert events(split(stream, n)) == want, n


def test_bad_data_checksum_reported_then_next_frame():
    bad = bytearray(FW_REPLY)
    bad[-2] ^= 1
    got = events([bytes(bad) + FW_REPLY])
    assert got[0] == (EV_BADSUM, None)
    assert got[-1] == (EV_FRAME, b"\xd5\x03\x32\x01\x06\x07")


def test_bad_length_checksum_is_garbage():
    got = events([b"\x00\x00\xff\x03\x00\xd5\x01\x02" + ACK])
    assert got == [(EV_ACK, None)]


def test_resync_after_truncated_frame():
    # A plausible header (valid LCS, length 5) cut short, followed by a real reply: the
    # parser must not let the fake frame swallow the real one.
    fake = b"\x00\x00\xff\x05\xfb\xd5\x4b"
    for n in (1, 3, 64):
        got = events(split(fake + FW_REPLY, n))
        assert got[-1] == (EV_FRAME, b"\xd5\x03\x32\x01\x06\x07"), got
        assert all(k in (EV_BADSUM, EV_FRAME) for k, _ in got)


def test_resync_after_lone_start_code():
    got = events([b"\xff\x00\xff\x00" + FW_REPLY])
    assert got[-1] == (EV_FRAME, b"\xd5\x03\x32\x01\x06\x07")


def test_extended_frame_round_trip():
    data = bytes([0xD5, 0x41, 0x00]) + bytes([i & 0xFF for i in range(260)])
    f = frames.encode(data)
    assert f[3] == 0xFF and f[4] == 0xFF
    assert (f[5] << 8) | f[6] == len(data)
    assert (f[5] + f[6] + f[7]) & 0xFF == 0
    for n in (1, 7, 300):
        assert events(split(bytes(f), n), size=300) == [(EV_FRAME, data)]


def test_forced_extended_small_frame():
    f = frames.encode(b"\xd4\x02", extended=True)
    assert bytes(f[:8]) == b"\x00\x00\xff\xff\xff\x00\x02\xfe"
    assert events([bytes(f)]) == [(EV_FRAME, b"\xd4\x02")]


def test_too_long_frame_skipped():
    big = frames.encode(bytes(400))
    got = events(split(bytes(big) + ACK, 50), size=280)
    assert got[-1] == (EV_ACK, None)
    assert (EV_FRAME, bytes(400)) not in got


def test_feed_reports_what_fits():
    p = FrameParser(16)
    assert p.space() == 16
    assert p.feed(bytes(40)) == 16
    assert p.next_event() is None  # zeros: nothing yet, buffer drained to the last byte
    assert p.space() >= 15


def test_garbage_fuzz_recovers_every_frame():
    replies = [FW_REPLY, frames.encode(b"\xd5\x4b\x01\x01\x00\x04\x08\x04\xde\xad\xbe\xef"),
               ACK, frames.encode(b"\xd5\x41\x00" + bytes(range(16)))]
    rnd = lcg(1234)
    for round_ in range(30):
        stream = bytearray()
        want = []
        for i in range(6):
            glen = next(rnd) % 40
            stream.extend(bytes(next(rnd) for _ in range(glen)))
            r = replies[(round_ + i) % len(replies)]
            stream.extend(r)
            want.append(r)
        got = events(split(bytes(stream), 1 + round_ % 9))
        frames_got = [d for k, d in got if k == EV_FRAME]
        acks = [k for k, _ in got if k == EV_ACK]
        want_frames = [bytes(r[5:-2]) for r in want if r != ACK]
        # every real frame comes out, in order (garbage may add events around them)
        j = 0
        for d in frames_got:
            if j < len(want_frames) and d == want_frames[j]:
                j += 1
        assert j == len(want_frames), round_
        assert len(acks) >= len([r for r in want if r == ACK])


def test_reset_forgets_partial_frame():
    p = FrameParser()
    p.feed(FW_REPLY[:6])
    assert p.next_event() is None
    p.reset()
    p.feed(ACK)
    assert p.next_event() == EV_ACK

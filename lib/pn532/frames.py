"""PN532 host-link framing: one codec for the driver and the emulator.

Frames (PN532 user manual, section 6.2):
  normal    00 00 FF LEN LCS TFI PD.. DCS 00      LEN+LCS = 0, TFI+sum(PD)+DCS = 0 (mod 256)
  extended  00 00 FF FF FF LENM LENL LCS TFI PD.. DCS 00     LENM+LENL+LCS = 0
  ACK       00 00 FF 00 FF 00          NACK 00 00 FF FF 00 00
  error     00 00 FF 01 FF 7F 81 00    (application-level error, data = 7F)
"Data" below is TFI + PD (e.g. b"\\xd4\\x02" for GetFirmwareVersion).
"""

from micropython import const

ACK = b"\x00\x00\xff\x00\xff\x00"
NACK = b"\x00\x00\xff\xff\x00\x00"
ERROR_FRAME = b"\x00\x00\xff\x01\xff\x7f\x81\x00"

# TFI D4 host -> PN532, D5 PN532 -> host. Command codes (user manual, section 7; the response
# code is the command + 1): modules that send them keep private const() copies (they cost no RAM;
# tests/test_device_heap.py checks them against the manual).

# Parser event kinds (next_event() return values): 1 ACK, 2 NACK, 3 application-level error
# frame (data 7F), 4 information frame (parser.data = TFI + PD), 5 the length was consistent but
# the data checksum was wrong.
_TFI_HOST = const(0xD4)
_EV_ACK = const(1)
_EV_NACK = const(2)
_EV_ERROR = const(3)
_EV_FRAME = const(4)
_EV_BADSUM = const(5)
_NORMAL_MAX = const(255)


def encode(data, extended=False):
    """Frame `data` (TFI + PD); extended framing when asked or when data exceeds 255 bytes."""
    n = len(data)
    ext = extended or n > _NORMAL_MAX
    buf = bytearray(n + (10 if ext else 7))
    encode_into(buf, data, ext)
    return buf


def encode_into(buf, data, extended=False, cmd=-1):
    """Write the frame for `data` into `buf` (large enough); returns the frame length.

    cmd >= 0: `data` is only the PD of host command `cmd` (TFI D4 and cmd are added here).
    """
    n = len(data)
    if cmd >= 0:
        n += 2
    buf[0] = 0
    buf[1] = 0
    buf[2] = 0xFF
    if extended or n > _NORMAL_MAX:
        buf[3] = 0xFF
        buf[4] = 0xFF
        buf[5] = n >> 8
        buf[6] = n & 0xFF
        buf[7] = (-(n >> 8) - n) & 0xFF
        i = 8
    else:
        buf[3] = n
        buf[4] = (-n) & 0xFF
        i = 5
    s = 0
    if cmd >= 0:
        buf[i] = _TFI_HOST
        buf[i + 1] = cmd
        s = _TFI_HOST + cmd
        i += 2
    for b in data:
        buf[i] = b
        s += b
        i += 1
    buf[i] = (-s) & 0xFF
    buf[i + 1] = 0
    return i + 2


def command(cmd, params=b""):
    """The host frame for command `cmd` with `params` (TFI D4 added here)."""
    n = len(params) + 2
    buf = bytearray(n + (10 if n > _NORMAL_MAX else 7))
    encode_into(buf, params, False, cmd)
    return buf


class FrameParser:
    """Incremental parser: feed() arbitrary chunks, then call next_event() until it returns None.

    Anything that is not a well-formed frame (0x55 wake-up bytes, preamble zeros, line noise,
    truncated frames) is skipped; after a bad checksum scanning resumes one byte after the bad
    start code, and a fake header still waiting for bytes is dropped as soon as a complete valid
    frame shows up behind it, so garbage cannot swallow a genuine frame. The buffer is
    preallocated: `size` bounds the longest frame accepted (default fits a full 264-byte frame).

    After an information frame (kind 4) the frame's TFI + PD are in `data` (a copy) and, without copying, in
    `buf[start:end]` until the next feed(); copy=False skips the copy (data stays None), so
    a poll allocates nothing here.
    """

    def __init__(self, size=280, copy=True):
        self.buf = bytearray(size)
        self._head = 0
        self._tail = 0
        self.copy = copy
        self.data = None  # TFI + PD of the last information frame (copy=True)
        self.start = self.end = 0  # where they are in buf
        self.skipped = 0  # non-zero bytes discarded as garbage
        self.badsums = 0

    def reset(self):
        """Forget buffered bytes (e.g. before a new exchange)."""
        self._head = self._tail = 0

    def pending(self):
        return self._tail - self._head

    def space(self):
        """How many bytes feed() accepts right now."""
        return len(self.buf) - (self._tail - self._head)

    def feed(self, data):
        """Buffer as much of `data` as fits; returns the count taken (drain events to make room)."""
        head = self._head
        tail = self._tail
        n = len(data)
        size = len(self.buf)
        if head == tail:
            head = tail = 0
        elif tail + n > size and head:  # move what is left to the front to make room
            self.buf[0 : tail - head] = self.buf[head:tail]
            tail -= head
            head = 0
        self._head = head
        if n > size - tail:
            n = size - tail
        self.buf[tail : tail + n] = data[:n] if n < len(data) else data  # (no allocation)
        self._tail = tail + n
        return n

    def _frame(self, i, end):
        """The information frame at start code i: its data index (length in self._ln) when
        complete and the checksum holds, ~index when complete with a bad checksum, 0 when more
        bytes are needed, -1 when it cannot be a frame (bad LCS, too long)."""
        b = self.buf
        if i + 4 > end:
            return 0
        ln = b[i + 2]
        if ln == 0xFF and b[i + 3] == 0xFF:
            if i + 7 > end:
                return 0
            ln = (b[i + 4] << 8) | b[i + 5]
            if (b[i + 4] + b[i + 5] + b[i + 6]) & 0xFF:
                return -1
            hdr = i + 7
        else:
            if (ln + b[i + 3]) & 0xFF:
                return -1
            hdr = i + 4
        if ln == 0 or hdr - i + ln + 1 > len(b):
            return -1
        self._ln = ln
        if hdr + ln >= end:  # DCS not here yet
            return 0
        s = 0
        for k in range(hdr, hdr + ln + 1):
            s += b[k]
        return ~hdr if s & 0xFF else hdr

    def next_event(self):
        """The next event kind (1-5, above) or None when more bytes are needed."""
        b = self.buf
        i = self._head
        end = self._tail
        while True:
            # Find a start code 00 FF.
            while i + 1 < end and not (b[i] == 0 and b[i + 1] == 0xFF):
                if b[i]:
                    self.skipped += 1
                i += 1
            if i + 4 > end:
                self._head = i
                return None
            ln = b[i + 2]
            lcs = b[i + 3]
            if ln == 0 and lcs == 0xFF:
                self._head = i + 4
                return _EV_ACK
            if ln == 0xFF and lcs == 0:
                self._head = i + 4
                return _EV_NACK
            hdr = self._frame(i, end)
            if hdr == 0:  # incomplete: wait, unless a complete valid frame follows inside it
                j = i + 1
                while j + 1 < end:
                    if b[j] == 0 and b[j + 1] == 0xFF and self._frame(j, end) > 0:
                        break
                    j += 1
                else:
                    self._head = i
                    return None
                hdr = -1  # it was garbage, not a frame in progress
            if hdr < 0 and hdr != -1:  # complete, bad data checksum
                self.badsums += 1
                self._head = i + 1
                return _EV_BADSUM
            if hdr < 0:
                # Not a frame (bad LCS) or longer than we accept: resync one byte later.
                self.skipped += 1
                i += 1
                continue
            ln = self._ln
            self._head = hdr + ln + 1
            if ln == 1 and b[hdr] == 0x7F:
                self.data = None
                return _EV_ERROR
            self.start = hdr
            self.end = hdr + ln
            if self.copy:
                self.data = bytes(b[hdr : hdr + ln])
            return _EV_FRAME

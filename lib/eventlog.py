"""The on-flash event log: fixed-size 32-byte records with sequence numbers and CRCs in a ring.

A log is a directory holding a `meta` file (geometry) and the ring of `capacity` record slots,
split into segment files of `per_file` slots each (`0000`, `0001`, ...; default 128 slots =
4096 bytes = one LittleFS block). Event `seq` (1, 2, 3, ...) always lives in slot
`(seq - 1) % capacity`, so a record's position is implied by its seq, and reading by cursor
(`read(since=seq, limit=n)`) lets a server pull without loss: ask again from the last seq you
got. Segment files are created as the ring first fills, so a new log costs nothing up front;
20,000 events take 20,000 x 32 = 640,000 bytes (157 files of <= 4 KiB).

Why segments and not one ring file: LittleFS stores a file as a copy-on-write block list, so
rewriting 32 bytes in the middle of a file re-writes every block from there to the end of the
file. Measured with littlefs-python on the ESP32 geometry (4096-byte blocks, prog 32): one
32-byte in-place write + sync in a 640 KB ring file cost 77 block erases and 314 KB programmed;
in a 4 KiB segment it costs 1 erase and ~4 KB, the same as appending to any file. `per_file` can
be raised up to `capacity` (one ring file) where the filesystem rewrites in place.

Record layout (little endian, struct `<IIIBBBBBB10sI`, 32 bytes):

======  ====  ======  ==========================================================
offset  size  field   meaning
======  ====  ======  ==========================================================
0       4     seq     u32 sequence number, 1, 2, ... (0 = never written)
4       4     time    u32 unix seconds (1970 epoch), 0 = clock not set
8       4     user    u32 numeric user id, 0 = none / unknown
12      1     kind    u8 credential kind (KINDS)
13      1     result  u8 0 info, 1 granted, 2 denied (RESULTS)
14      1     reason  u8 reason code (REASONS)
15      1     relays  u8 relay bit mask (bit 0 = relay 1) or door number for door events
16      1     fmt     u8 cardfmt format id for cards (1..7), 0 = none
17      1     vlen    u8 number of bytes used in value (0..10)
18      10    value   raw credential: card UID (<= 10 bytes), plate or user name (ASCII,
                      <= 10 chars, longer ones truncated), BLE/QR key id; zero padded.
                      Never a PIN: values passed with kind "pin" are dropped.
28      4     crc     u32 binascii.crc32 of bytes 0..27
======  ====  ======  ==========================================================

A slot holds a valid record when its CRC matches, seq != 0 and `(seq - 1) % capacity` is the
slot index. Anything else (a torn write after a power cut, erased or garbage bytes, a record of
a different geometry) is treated as no record: reads skip it, the next append may overwrite it.

The `meta` file (32 bytes, struct `<4sBBHI16sI`): magic b"DCEL", version 1, record size 32,
per_file (u16), capacity (u32), 16 reserved zero bytes, crc32 of bytes 0..27. It is written once
(temp file + rename). Opening an existing log adopts the geometry in its meta file; a different
`capacity`/`per_file` argument is noted in `issues` (or raises EventLogError with strict=True);
use `remove(path)` to start over with another size. A missing or damaged meta file is rewritten
with the requested geometry and noted in `issues` (records vouch for themselves), a meta file
from a newer version raises EventLogError, and `path` being a plain file raises EventLogError.
Opening never reads the whole ring: the head (newest record) is found by binary search over the
slots (seqs increase around the ring with one step down), ~log2(capacity) record reads (16 for
20,000). Damaged slots are stepped over; unwritten ones (first lap) are jumped over a segment at
a time, using one directory listing made only when the ring has unwritten segments.

If `last_seq` is ever lower than a server's cursor the log was lost or reset: start again from 0.
Seqs are u32; at one event a second they last 136 years.

RAM: module code lives in the ESP32's GC heap, so this module holds only what every boot needs
(the constants and append). Opening, check() and remove() live in eventfs.py (loaded for the
call, then dropped); read(), the Event record, the name tables and to_dict() live in
eventview.py, loaded on first use (module attributes such as `eventlog.to_dict` resolve there).
"""

import struct
from binascii import crc32

from micropython import const

# Geometry (the public names RECORD_SIZE, DEFAULT_CAPACITY, DEFAULT_PER_FILE, MAX_CAPACITY,
# MAX_SEGMENTS, VALUE_MAX, VERSION, META_NAME are defined in eventview: nothing here needs them).
_RS = const(32)  # RECORD_SIZE
_VMAX = const(10)  # VALUE_MAX
_DEFAULT_CAPACITY = const(1000)
_DEFAULT_PER_FILE = const(128)  # 128 x 32 bytes = one 4 KiB LittleFS block
_CRC_AT = const(28)
_U32 = const(0xFFFFFFFF)

# Credential kinds (u8). New kinds get new numbers; numbers are never reused.
# Names (KINDS, RESULTS, REASONS) are in eventview.py.
KIND_SYSTEM = const(0)  # device events: boot, clock set, config/users changed
KIND_CARD = const(1)  # RF card or Wiegand card: value = UID, fmt = cardfmt id
KIND_PIN = const(2)  # keypad PIN: the PIN is never stored
KIND_QR = const(3)  # QR code: value = a non-secret QR id, never the scanned secret
KIND_BLE = const(4)  # BLE mobile key: value = non-secret key id
KIND_PLATE = const(5)  # licence plate (ASCII)
KIND_EXIT = const(6)  # exit / request-to-exit button
KIND_API = const(7)  # HTTP API, web UI or vendor /fcgi OpenDoor: value = user name
KIND_REMOTE = const(8)  # remote open by an intercom call, cloud or server command
KIND_DOOR = const(9)  # door sensor: relays = door number

RESULT_INFO = const(0)
RESULT_GRANTED = const(1)
RESULT_DENIED = const(2)

# Reason codes (u8). New reasons get new numbers; numbers are never reused.
REASON_OK = const(0)
REASON_UNKNOWN_CREDENTIAL = const(1)  # no user has this card/PIN/plate/key
REASON_NO_RELAY_RIGHTS = const(2)  # user exists but may not open this relay/door
REASON_SCHEDULE = const(3)  # outside the user's schedule
REASON_EXPIRED = const(4)  # user validity ended
REASON_NOT_YET_VALID = const(5)  # user validity not started
REASON_DISABLED = const(6)  # user or credential disabled
REASON_CLOCK_NOT_SET = const(7)  # a time rule applies but the clock is not set
REASON_LOCKOUT = const(8)  # too many failures: temporarily locked
REASON_READER_ERROR = const(9)  # reader/transport failure
REASON_REMOTE_DENIED = const(10)  # third-party verify server said no
REASON_REMOTE_TIMEOUT = const(11)  # third-party verify server did not answer in time
REASON_REMOTE_ERROR = const(12)  # verify server unreachable or answer malformed
REASON_INTERVAL = const(13)  # unlock interval for the same/different user not elapsed
REASON_WRONG_PIN = const(14)  # second factor (card+PIN / PIN+card) did not match
REASON_FACTOR_TIMEOUT = const(15)  # second factor not presented in time
REASON_AUTH_FAILED = const(16)  # HTTP API credentials wrong
REASON_BOOT = const(17)  # info: device started
REASON_CLOCK_SET = const(18)  # info: clock set or stepped
REASON_CONFIG_CHANGED = const(19)  # info
REASON_USERS_CHANGED = const(20)  # info: user table replaced or edited
REASON_DOOR_OPENED = const(21)  # info (kind door)
REASON_DOOR_CLOSED = const(22)  # info (kind door)
REASON_DOOR_HELD_OPEN = const(23)  # alarm (kind door)
REASON_DOOR_FORCED = const(24)  # alarm (kind door): opened without a grant
REASON_FAILURES_ALARM = const(25)  # alarm (kind pin): wrong PINs reached the lockout's alarm count
REASON_BUSY = const(26)  # a verification request was pending and one more was queued: refused
REASON_WRONG_METHOD = const(27)  # two-factor: the wrong method first (a prompt; not logged today)
# 28-33: why the device started (kind system, result info, one event at each start):
# power_on, hard_reset, watchdog, deep_sleep, soft_reset, brownout. Defined where they are
# logged (doorapp/watchdog.py) and named in eventview.REASONS: every public name here is a
# resident name at boot (docs/watchdog.md, "Names").
REASON_LOCKOUT_CLEARED = const(34)  # info (kind api): the sign-in lockout cleared at the door (exit button held)


def __getattr__(name):
    """Event, KINDS/RESULTS/REASONS, kind_name() ... to_dict(), remove(), the geometry constants:
    from eventview, loaded on first use and then kept here (KIND_*, RESULT_*, REASON_* are
    never looked up there)."""
    if name[0] == "_" or name[:5] == "KIND_" or name[:7] == "RESULT_" or name[:7] == "REASON_":
        raise AttributeError(name)
    import eventview

    v = getattr(eventview, name)
    globals()[name] = v
    _VIEW.append(name)
    return v


_VIEW = []  # names __getattr__ copied from eventview (drop_view removes them again)


def drop_view():
    """Unload eventview (~5 KB of code) after an occasional read (a page of events, the
    simulator's state): otherwise the first read would keep it in the heap for good."""
    g = globals()
    for name in _VIEW:
        g.pop(name, None)
    _VIEW.clear()
    from unload import forget

    forget("eventview")


class EventLogError(Exception):
    """The log on flash can't be used as asked (not a log, newer version, geometry mismatch in
    strict mode, bad arguments)."""


def _cold(name, *args):
    """Call eventfs.<name>(*args): opening and diagnostics code, dropped again afterwards."""
    import eventfs
    from unload import forget

    try:
        return getattr(eventfs, name)(*args)
    finally:
        forget("eventfs")


class EventLog:
    """An event log directory opened (or created) at `path`.

    `errors`: appends in a row that failed with a flash error (OSError); 0 once one works
    (the watchdog's check of the log, doorapp/watchdog.py).

    Attributes: capacity, per_file, last_seq (newest seq, 0 if empty), first_seq (oldest seq
    still in the ring, 0 if empty), issues (list of strings: what was found wrong and how it
    was handled when opening), reads (record slots read from flash, for diagnostics).
    """

    errors = 0  # (a class default: an instance gets its own only when an append fails)

    def __init__(self, path, capacity=_DEFAULT_CAPACITY, per_file=_DEFAULT_PER_FILE, strict=False):
        self.path = path.rstrip("/") or "/"
        self.issues = []
        self.reads = 0
        self._f = None  # one cached open segment handle
        self._fk = -1  # its segment number
        self._fsize = 0  # its size in bytes
        self._buf = bytearray(_RS)
        self._crcv = memoryview(self._buf)[:_CRC_AT]
        self._present = None  # per segment: 1 if its file exists; listed when first needed
        self.last_seq = self.first_seq = 0
        _cold("open_log", self, capacity, per_file, strict)  # geometry, meta, head search

    def __len__(self):
        """Number of events in the ring (last_seq - first_seq + 1; a damaged one still counts)."""
        return self.last_seq - self.first_seq + 1 if self.last_seq else 0

    def append(self, time, kind, result, reason, value=b"", fmt=0, user=0, relays=0):
        """Write one event in place (one 32-byte write + flush); returns its seq.

        time: unix seconds (0 = clock not set; on the ESP32 add 946684800 to time.time()).
        value: bytes or str, at most 10 bytes kept; dropped for kind pin. fmt: cardfmt id.
        Allocates nothing for bytes values (ESP32: only the CRC when above 2**30).
        """
        seq = self.last_seq + 1
        cap = self.capacity
        slot = (seq - 1) % cap
        pf = self.per_file
        k = slot // pf
        off = (slot - k * pf) * _RS
        if kind == KIND_PIN or value is None:
            value = b""
        elif isinstance(value, str):
            value = value.encode()
        elif not isinstance(value, bytes) and not isinstance(value, bytearray):
            value = bytes(value)  # (a tuple of types here would be allocated on every call)
        vlen = len(value)
        if vlen > _VMAX:
            vlen = _VMAX
        time = int(time or 0)
        if not 0 <= time <= _U32:  # masked only when out of range: no big-int temporaries
            time &= _U32
        user = int(user or 0)
        if not 0 <= user <= _U32:
            user &= _U32
        buf = self._buf
        struct.pack_into("<IIIBBBBBB10s", buf, 0, seq, time, user, kind & 0xFF, result & 0xFF,
                         reason & 0xFF, relays & 0xFF, fmt & 0xFF, vlen, value)
        struct.pack_into("<I", buf, _CRC_AT, crc32(self._crcv))
        try:
            f = self._seg(k, True)
            size = self._fsize
            if off > size:  # segment file shorter than it should be: fill the gap
                f.seek(size)
                f.write(bytes(off - size))
            f.seek(off)
            f.write(buf)
            f.flush()
        except OSError:
            self.errors += 1
            raise
        if self.errors:
            self.errors = 0
        if off + _RS > size:
            self._fsize = off + _RS
        self.last_seq = seq
        if seq > cap:
            self.first_seq = seq - cap + 1
        elif seq == 1:
            self.first_seq = 1
        return seq

    def read(self, since=0, limit=50):
        """Up to `limit` events with seq > `since`, oldest first, as Event tuples.

        Events overwritten by the ring or damaged are skipped: a first seq above since + 1
        tells the reader that events were lost. Pass the last seq received as the next `since`.
        """
        if limit <= 0 or since >= self.last_seq:
            return []  # nothing new: answered without loading eventview
        import eventview

        return eventview.read(self, since, limit)

    def tail(self, n=20):
        """The newest `n` events, oldest first."""
        return self.read(max(0, self.last_seq - n), n)

    def check(self, max_report=20):
        """Read the whole ring; return {"events": readable events, "damaged": count of seqs in
        first_seq..last_seq that can't be read, "damaged_seqs": the first max_report of them,
        "issues": self.issues}. Slow (reads everything): for diagnostics, not for boot."""
        return _cold("check", self, max_report)

    def _valid(self, buf, off, slot, crcview):
        """seq of the record at buf[off:], or 0 if it is not a valid record for `slot`."""
        seq = struct.unpack_from("<I", buf, off)[0]
        if seq == 0 or (seq - 1) % self.capacity != slot:
            return 0
        if crc32(crcview) != struct.unpack_from("<I", buf, off + _CRC_AT)[0]:
            return 0
        return seq

    def _seg(self, k, create):
        """The (cached) handle of segment file k, or None if it doesn't exist and not create."""
        if k == self._fk:
            return self._f
        if not create and self._present is not None and not self._present[k]:
            return None
        self.close()
        p = "%s/%04d" % (self.path, k)
        try:
            f = open(p, "r+b")
        except OSError:
            if not create:
                return None
            open(p, "wb").close()
            f = open(p, "r+b")
            if self._present is not None:
                self._present[k] = 1
        f.seek(0, 2)
        self._fsize = f.tell()
        self._f = f
        self._fk = k
        return f

    def close(self):
        f = self._f
        if f is not None:
            self._f = None
            self._fk = -1
            f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

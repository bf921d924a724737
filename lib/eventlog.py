"""The on-flash event log: fixed-size 32-byte records with sequence numbers and CRCs in a ring.

A log is a directory holding a `meta` file (geometry) and the ring of `capacity` record slots,
split into segment files of `per_file` slots each (`0000`, `0001`, ...; default 128 slots =
4096 bytes = one LittleFS block). Event `seq` (1, 2, 3, ...) always lives in slot
`(seq - 1) % capacity`, so a record's position is implied by its seq, and reading by cursor
(`read(since=seq, limit=n)`) lets a server pull without loss: ask again from the last seq you
got. Segment files are created as the ring first fills (one ahead of need: prepare(), so that
an append allocates nothing), so a new log costs next to nothing up front;
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
"""

import os
import struct
from binascii import crc32

from micropython import const

import cardfmt

try:
    from collections import namedtuple
except ImportError:  # pragma: no cover - older MicroPython ports
    from ucollections import namedtuple

RECORD_SIZE = const(32)
DEFAULT_CAPACITY = const(1000)
DEFAULT_PER_FILE = const(128)  # 128 x 32 bytes = one 4 KiB LittleFS block
MAX_CAPACITY = const(1000000)
MAX_SEGMENTS = const(10000)  # segment files are named 0000..9999
VALUE_MAX = const(10)
VERSION = const(1)
META_NAME = "meta"

_CRC_AT = const(28)
_U32 = const(0xFFFFFFFF)
_S_IFDIR = const(0x4000)
_MAGIC = b"DCEL"

# Credential kinds (u8). New kinds get new numbers; numbers are never reused.
_KIND_SYSTEM = const(0)  # device events: boot, clock set, config/users changed
_KIND_CARD = const(1)  # RF card or Wiegand card: value = UID, fmt = cardfmt id
_KIND_PIN = const(2)  # keypad PIN: the PIN is never stored
_KIND_QR = const(3)  # QR code: value = a non-secret QR id, never the scanned secret
_KIND_BLE = const(4)  # BLE key fob or phone: value = RSSI byte + the id's last bytes, fmt = bleadv.SOURCES
_KIND_PLATE = const(5)  # licence plate (ASCII)
_KIND_EXIT = const(6)  # exit / request-to-exit button
_KIND_API = const(7)  # HTTP API, web UI or vendor /fcgi OpenDoor: value = user name
_KIND_REMOTE = const(8)  # remote open by an intercom call, cloud or server command
_KIND_DOOR = const(9)  # door sensor: relays = door number

_RESULT_INFO = const(0)
_RESULT_GRANTED = const(1)
_RESULT_DENIED = const(2)

# Reason codes (u8). New reasons get new numbers; numbers are never reused.
_REASON_OK = const(0)
_REASON_UNKNOWN_CREDENTIAL = const(1)  # no user has this card/PIN/plate/key
_REASON_NO_RELAY_RIGHTS = const(2)  # user exists but may not open this relay/door
_REASON_SCHEDULE = const(3)  # outside the user's schedule
_REASON_EXPIRED = const(4)  # user validity ended
_REASON_NOT_YET_VALID = const(5)  # user validity not started
_REASON_DISABLED = const(6)  # user or credential disabled
_REASON_CLOCK_NOT_SET = const(7)  # a time rule applies but the clock is not set
_REASON_LOCKOUT = const(8)  # too many failures: temporarily locked
_REASON_READER_ERROR = const(9)  # reader/transport failure
_REASON_REMOTE_DENIED = const(10)  # third-party verify server said no
_REASON_REMOTE_TIMEOUT = const(11)  # third-party verify server did not answer in time
_REASON_REMOTE_ERROR = const(12)  # verify server unreachable or answer malformed
_REASON_INTERVAL = const(13)  # unlock interval for the same/different user not elapsed
_REASON_WRONG_PIN = const(14)  # second factor (card+PIN / PIN+card) did not match
_REASON_FACTOR_TIMEOUT = const(15)  # second factor not presented in time
_REASON_AUTH_FAILED = const(16)  # HTTP API credentials wrong
_REASON_BOOT = const(17)  # info: device started (the board can't tell why)
_REASON_CLOCK_SET = const(18)  # info: clock set or stepped
_REASON_CONFIG_CHANGED = const(19)  # info
_REASON_USERS_CHANGED = const(20)  # info: user table replaced or edited
_REASON_DOOR_OPENED = const(21)  # info (kind door)
_REASON_DOOR_CLOSED = const(22)  # info (kind door)
_REASON_DOOR_HELD_OPEN = const(23)  # alarm (kind door)
_REASON_DOOR_FORCED = const(24)  # alarm (kind door): opened without a grant
_REASON_FAILURES_ALARM = const(25)  # alarm (kind pin): wrong PINs reached the lockout's alarm count
_REASON_BUSY = const(26)  # a verification request was pending and one more was queued: refused
_REASON_WRONG_METHOD = const(27)  # two-factor: the wrong method first (a prompt; not logged today)
# 28-33: why the device started (kind system, result info, one event at each start, in the
# order of doorapp/watchdog.py RESET_CAUSES)
_REASON_POWER_ON = const(28)
_REASON_HARD_RESET = const(29)
_REASON_WATCHDOG = const(30)
_REASON_DEEP_SLEEP = const(31)
_REASON_SOFT_RESET = const(32)
_REASON_BROWNOUT = const(33)
_REASON_LOCKOUT_CLEARED = const(34)  # info (kind api): the sign-in lockout cleared at the door (exit button held)
_REASON_NOT_MOVED = const(35)  # BLE movement detection on: the phone's message says it did not move
_REASON_PAIRED = const(36)  # info (kind ble): a phone paired for the user (value: its phone id)
_REASON_PAIRING_FAILED = const(37)  # kind ble: a pairing attempt failed (its code is spent)
_REASON_ALARM_CLEARED = const(38)  # info (kind door): a held-open door closed, or a forced door's alarm cleared
_REASON_ACTION_FAILED = const(39)  # kind system: an input's or web relay's HTTP action failed (value: which)
_REASON_CARD_KEY_WRONG = const(40)  # card.mifare / .desfire / .plus on: the card refused the key (value: the UID, fmt 0)
_REASON_CARD_BLOCK_EMPTY = const(41)  # card.mifare / .desfire / .plus on: the code block or file holds no card number (value: the UID)
_REASON_CARD_NOT_MIFARE = const(42)  # card.mifare on: not a MIFARE Classic, and no UID fallback (value: the UID)
_REASON_CARD_INTEGRITY = const(43)  # card.desfire / .plus on: the card's answer failed its CMAC, MAC or CRC (value: the UID)
_REASON_CARD_APP_MISSING = const(44)  # card.desfire on: no such application or file on the card (value: the UID)
_REASON_CARD_NOT_DESFIRE = const(45)  # card.desfire on: not a DESFire, and no UID fallback (value: the UID)
_REASON_CARD_NOT_PLUS = const(46)  # card.plus on: not a MIFARE Plus SL3, and no UID fallback (value: the UID)
_REASON_NFC_APP_MISSING = const(47)  # card.nfc on: no app of the site's AID (6A 82), and no UID fallback (value: the UID)
_REASON_NFC_NO_CODE = const(48)  # card.nfc on: the phone app answered no code of 4-10 bytes, or refused (value: the UID)

# The names, index = code.
KINDS = ("system", "card", "pin", "qr", "ble", "plate", "exit", "api", "remote", "door")
RESULTS = ("info", "granted", "denied")
REASONS = (
    "ok", "unknown_credential", "no_relay_rights", "schedule", "expired", "not_yet_valid",
    "disabled", "clock_not_set", "lockout", "reader_error", "remote_denied", "remote_timeout",
    "remote_error", "interval", "wrong_pin", "factor_timeout", "auth_failed", "boot",
    "clock_set", "config_changed", "users_changed", "door_opened", "door_closed",
    "door_held_open", "door_forced", "failures_alarm", "busy", "wrong_method",
    "power_on", "hard_reset", "watchdog", "deep_sleep", "soft_reset", "brownout",
    "lockout_cleared", "not_moved", "paired", "pairing_failed", "alarm_cleared", "action_failed",
    "card_key_wrong", "card_block_empty", "card_not_mifare", "card_integrity", "card_app_missing",
    "card_not_desfire", "card_not_plus", "nfc_app_missing", "nfc_no_code",
)

# One record as read back. `value` is bytes (vlen bytes of the raw value).
Event = namedtuple("Event", ("seq", "time", "kind", "result", "reason", "fmt", "value", "user", "relays"))


class EventLogError(Exception):
    """The log on flash can't be used as asked (not a log, newer version, geometry mismatch in
    strict mode, bad arguments)."""


def _stat_mode(path):
    try:
        return os.stat(path)[0]
    except OSError:
        return None


def _parse_meta(b):
    """(capacity, per_file) from meta bytes, or a string saying what is wrong."""
    if len(b) != RECORD_SIZE:
        return "meta file is %d bytes, expected %d" % (len(b), RECORD_SIZE)
    magic, ver, rsize, per_file, capacity, _res, crc = struct.unpack("<4sBBHI16sI", b)
    if magic != _MAGIC:
        return "meta file has no event-log magic"
    if crc != crc32(memoryview(b)[:_CRC_AT]):
        return "meta file checksum mismatch"
    if ver > VERSION:
        raise EventLogError("event log version %d is newer than this firmware (%d)" % (ver, VERSION))
    if ver < 1 or rsize != RECORD_SIZE or not 1 <= capacity <= MAX_CAPACITY or not 1 <= per_file <= capacity \
            or (capacity + per_file - 1) // per_file > MAX_SEGMENTS:
        return "meta file has an invalid geometry"
    return capacity, per_file


def _geometry(path, capacity, per_file, strict, issues):
    """The log's (capacity, per_file): adopted from its meta file, or the asked ones, written."""
    mode = _stat_mode(path)
    if mode is None:
        os.mkdir(path)
    elif not mode & _S_IFDIR:
        raise EventLogError("%s exists and is not an event-log directory" % path)
    meta = path + "/" + META_NAME
    try:
        with open(meta, "rb") as f:
            got = _parse_meta(f.read(RECORD_SIZE + 1))
    except OSError:
        got = None
        if mode is not None and os.listdir(path):
            got = "meta file missing"
    if isinstance(got, tuple):
        if got != (capacity, per_file):
            msg = "log has capacity %d, %d per file; asked for %d, %d: kept the log's" % (
                got[0], got[1], capacity, per_file)
            if strict:
                raise EventLogError(path + ": " + msg)
            issues.append(msg)
        return got
    if got is not None:  # damaged meta in an existing directory
        if strict:
            raise EventLogError(path + ": " + got)
        issues.append(got + ": rewritten with capacity %d, %d per file" % (capacity, per_file))
    b = bytearray(RECORD_SIZE)
    struct.pack_into("<4sBBHI", b, 0, _MAGIC, VERSION, RECORD_SIZE, per_file, capacity)
    struct.pack_into("<I", b, _CRC_AT, crc32(memoryview(b)[:_CRC_AT]))
    tmp = meta + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b)
    try:
        os.rename(tmp, meta)  # replaces atomically on LittleFS and POSIX
    except OSError:  # filesystems whose rename won't replace (FAT)
        os.remove(meta)
        os.rename(tmp, meta)
    return capacity, per_file


def remove(path):
    """Delete the log directory at `path` and everything in it (no error if it doesn't exist)."""
    path = path.rstrip("/") or "/"
    mode = _stat_mode(path)
    if mode is None:
        return
    if not mode & _S_IFDIR:
        raise EventLogError("%s is not an event-log directory" % path)
    for name in os.listdir(path):
        os.remove(path + "/" + name)
    os.rmdir(path)


class EventLog:
    """An event log directory opened (or created) at `path`.

    `errors`: appends in a row that failed with a flash error (OSError); 0 once one works
    (the watchdog's check of the log, doorapp/watchdog.py).

    Attributes: capacity, per_file, last_seq (newest seq, 0 if empty), first_seq (oldest seq
    still in the ring, 0 if empty), issues (list of strings: what was found wrong and how it
    was handled when opening), reads (record slots read from flash, for diagnostics).
    """

    errors = 0  # (a class default: an instance gets its own only when an append fails)

    def __init__(self, path, capacity=DEFAULT_CAPACITY, per_file=DEFAULT_PER_FILE, strict=False):
        if not isinstance(capacity, int) or not 1 <= capacity <= MAX_CAPACITY:
            raise EventLogError("capacity must be 1..%d, got %r" % (MAX_CAPACITY, capacity))
        if not isinstance(per_file, int) or not 1 <= per_file <= 65535:
            raise EventLogError("per_file must be 1..65535, got %r" % (per_file,))
        per_file = min(per_file, capacity)
        if (capacity + per_file - 1) // per_file > MAX_SEGMENTS:
            raise EventLogError("capacity / per_file must be at most %d files" % MAX_SEGMENTS)
        self.path = path.rstrip("/") or "/"
        self.issues = []
        self.reads = 0
        self._f = None  # one cached open segment handle: between calls, the next append's (prepare)
        self._fk = -1  # its segment number
        self._fsize = 0  # its size in bytes
        self._n = None  # the segment file after it, opened beforehand (prepare)
        self._nk = -1
        self._nsize = 0
        self._buf = bytearray(RECORD_SIZE)
        self._crcv = memoryview(self._buf)[:_CRC_AT]
        self._present = None  # per segment: 1 if its file exists; listed when first needed
        self.last_seq = self.first_seq = 0
        self.capacity, self.per_file = _geometry(self.path, capacity, per_file, strict, self.issues)
        self._find_head()
        self.prepare()

    def _find_head(self):
        """Seqs increase around the ring with one step down at the head, so binary search on
        "is this slot's record from the newest lap" (damaged slots are stepped over by _scan)."""
        n = self.capacity
        r, s = self._scan(0, n)  # first valid slot: normally slot 0
        if s > 0:
            lap = (s - 1) // n
            lo, hi = r, n  # slot lo is in the newest lap; slots >= hi are not
            while hi - lo > 1:
                mid = (lo + hi) // 2
                j, sj = self._scan(mid, hi)
                if sj > 0 and (sj - 1) // n == lap:
                    lo, s = j, sj
                else:
                    hi = mid
            self.last_seq = s
            self.first_seq = max(1, s - n + 1)

    def _list_segments(self):
        present = bytearray((self.capacity + self.per_file - 1) // self.per_file)
        odd = []
        for name in os.listdir(self.path):
            if len(name) == 4 and name.isdigit() and int(name) < len(present):
                present[int(name)] = 1
            elif name != META_NAME and name != META_NAME + ".tmp":
                odd.append(name)
        if odd:
            self.issues.append("ignored %d unexpected files (%s)" % (len(odd), ", ".join(odd[:3])))
        return present

    def _scan(self, slot, end):
        """(slot, seq) of the first valid record in [slot, end), or (end, 0) if none. Damaged
        slots are stepped over; the unwritten rest of a segment and absent segment files are
        jumped over without reading (in the first lap: everything past the newest record)."""
        pf = self.per_file
        buf = self._buf
        while slot < end:
            k = slot // pf
            off = (slot - k * pf) * RECORD_SIZE
            f = self._seg(k, False)
            if f is None or off >= self._fsize:
                # never written: go to the next present segment
                present = self._present
                if present is None:  # only in the first lap (or after damage): list once
                    present = self._present = self._list_segments()
                k += 1
                while k < len(present) and not present[k]:
                    k += 1
                slot = k * pf
                continue
            self.reads += 1
            if off + RECORD_SIZE <= self._fsize:  # else: torn tail
                f.seek(off)
                if f.readinto(buf) == RECORD_SIZE:
                    s = self._valid(buf, 0, slot, self._crcv)
                    if s:
                        return slot, s
            slot += 1
        return end, 0

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
        off = (slot - k * pf) * RECORD_SIZE
        if kind == _KIND_PIN or value is None:
            value = b""
        elif isinstance(value, str):
            value = value.encode()
        elif not isinstance(value, bytes) and not isinstance(value, bytearray):
            value = bytes(value)  # (a tuple of types here would be allocated on every call)
        vlen = len(value)
        if vlen > VALUE_MAX:
            vlen = VALUE_MAX
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
            if k != self._fk and k == self._nk:  # the next segment, opened beforehand: no heap needed
                self._switch()
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
        if off + RECORD_SIZE > size:
            self._fsize = off + RECORD_SIZE
        self.last_seq = seq
        if seq > cap:
            self.first_seq = seq - cap + 1
        elif seq == 1:
            self.first_seq = 1
        return seq

    def prepare(self):
        """Open the segment file the next append writes to and the one after it (creating
        them), so that appends allocate nothing, across a segment boundary too: an event
        reaches flash even with the heap exhausted at that instant. Done when the log is
        opened, after reads, and by its owner now and then (the door: once a second); cheap
        when done already. When it can't be done (no heap, a flash error) an append opens the
        file itself."""
        pf = self.per_file
        k = (self.last_seq % self.capacity) // pf
        nk = k + 1 if (k + 1) * pf < self.capacity else 0
        try:
            if k != self._fk:
                self._seg(k, True)
            if nk != k and nk != self._nk:
                f = self._n
                self._n = None
                self._nk = -1
                if f is not None:
                    f.close()
                self._n, self._nsize = self._open(nk, True)
                self._nk = nk
        except MemoryError:
            pass
        except OSError:
            pass

    def _switch(self):
        """Make the segment opened beforehand the cached one (allocates nothing)."""
        f = self._f
        self._f = self._n
        self._fk = self._nk
        self._fsize = self._nsize
        self._n = None
        self._nk = -1
        if f is not None:
            f.close()

    def read(self, since=0, limit=50):
        """Up to `limit` events with seq > `since`, oldest first, as Event tuples.

        Events overwritten by the ring or damaged are skipped: a first seq above since + 1
        tells the reader that events were lost. Pass the last seq received as the next `since`.
        """
        out = []
        last = self.last_seq
        if limit <= 0 or since >= last:
            return out
        s = since + 1
        if s < self.first_seq:
            s = self.first_seq
        n_cap = self.capacity
        pf = self.per_file
        chunk = min(limit, pf, 16)
        buf = bytearray(chunk * RECORD_SIZE)
        mv = memoryview(buf)
        while s <= last and len(out) < limit:
            slot = (s - 1) % n_cap
            k = slot // pf
            i = slot - k * pf
            n = min(chunk, pf - i, n_cap - slot, last - s + 1, limit - len(out))
            got = 0
            f = self._seg(k, False)
            if f is not None:
                off = i * RECORD_SIZE
                if off < self._fsize:
                    f.seek(off)
                    got = (f.readinto(mv[: n * RECORD_SIZE]) or 0) // RECORD_SIZE
            self.reads += n
            for j in range(got):
                o = j * RECORD_SIZE
                if self._valid(buf, o, slot + j, mv[o:o + _CRC_AT]) == s + j:
                    seq, t, user, kind, result, reason, relays, fmt, vlen, value = struct.unpack_from(
                        "<IIIBBBBBB10s", buf, o)
                    if vlen < VALUE_MAX:
                        value = value[:vlen]
                    out.append(Event(seq, t, kind, result, reason, fmt, value, user, relays))
            s += n
        self.prepare()
        return out

    def tail(self, n=20):
        """The newest `n` events, oldest first."""
        return self.read(max(0, self.last_seq - n), n)

    def check(self, max_report=20):
        """Read the whole ring; return {"events": readable events, "damaged": count of seqs in
        first_seq..last_seq that can't be read, "damaged_seqs": the first max_report of them,
        "issues": self.issues}. Slow (reads everything): for diagnostics, not for boot."""
        good = 0
        bad = []
        nbad = 0
        expect = self.first_seq
        since = expect - 1 if expect else 0
        while True:
            batch = self.read(since, 64)
            if not batch:
                break
            for ev in batch:
                while expect < ev[0]:
                    nbad += 1
                    if len(bad) < max_report:
                        bad.append(expect)
                    expect += 1
                expect = ev[0] + 1
                good += 1
            since = batch[-1][0]
        self.prepare()
        while expect and expect <= self.last_seq:
            nbad += 1
            if len(bad) < max_report:
                bad.append(expect)
            expect += 1
        return {"events": good, "damaged": nbad, "damaged_seqs": bad, "issues": self.issues}

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
        if k == self._nk:
            self._switch()
            return self._f
        f = self._f
        self._f = None
        self._fk = -1
        if f is not None:
            f.close()
        f, size = self._open(k, create)
        if f is not None:
            self._f = f
            self._fk = k
            self._fsize = size
        return f

    def _open(self, k, create):
        """(handle, size) of segment file k, created if missing and `create`; (None, 0) else."""
        p = "%s/%04d" % (self.path, k)
        try:
            f = open(p, "r+b")
        except OSError:
            if not create:
                return None, 0
            open(p, "wb").close()
            f = open(p, "r+b")
            if self._present is not None:
                self._present[k] = 1
        f.seek(0, 2)
        return f, f.tell()

    def close(self):
        f, n = self._f, self._n
        self._f = self._n = None
        self._fk = self._nk = -1
        if f is not None:
            f.close()
        if n is not None:
            n.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# -- names and the JSON form of a record ---------------------------------------------------
def _name(table, code, prefix):
    if 0 <= code < len(table):
        return table[code]
    return prefix + str(code)


def kind_name(code):
    """Name of a kind code; unknown codes read as "kind_<n>" (never an error)."""
    return _name(KINDS, code, "kind_")


def result_name(code):
    return _name(RESULTS, code, "result_")


def reason_name(code):
    return _name(REASONS, code, "reason_")


def _code(table, name, what):
    if isinstance(name, int):
        return name
    try:
        return table.index(name)
    except ValueError:
        raise ValueError("unknown %s %r" % (what, name))


def kind_code(name):
    """Code of a kind name (ints pass through); ValueError if unknown."""
    return _code(KINDS, name, "event kind")


def result_code(name):
    return _code(RESULTS, name, "event result")


def reason_code(name):
    return _code(REASONS, name, "event reason")


def code_text(rec):
    """The credential value of a record as text: cards formatted with their cardfmt id (full hex
    when the id is 0 or unknown), printable ASCII as is (also a card reader's error, e.g.
    "parity"), anything else as hex."""
    value = rec[6]
    if not value:
        return ""
    if rec[2] == _KIND_CARD and rec[4] != _REASON_READER_ERROR:
        try:
            return cardfmt.format_uid(value, rec[5])
        except ValueError:
            pass
    else:
        for ch in value:
            if ch < 0x20 or ch > 0x7E:
                break
        else:
            return value.decode()
    return "%02X" * len(value) % tuple(value)


def relay_list(mask):
    """Relay bit mask (bit 0 = relay 1) as a list of relay numbers."""
    out = []
    n = 1
    while mask:
        if mask & 1:
            out.append(n)
        mask >>= 1
        n += 1
    return out


def to_dict(rec):
    """A record as a JSON-ready dict with names for kind/result/reason and the code as text.

    `relays` is the list of relays opened; door events carry `door` (the door number) instead.
    """
    d = {
        "seq": rec[0], "time": rec[1], "kind": kind_name(rec[2]), "result": result_name(rec[3]),
        "reason": reason_name(rec[4]), "code": code_text(rec), "user": rec[7],
    }
    if rec[2] == _KIND_DOOR:
        d["door"] = rec[8]
    else:
        if rec[2] == _KIND_BLE and rec[6]:  # (only doors with BLE have these: its module renders them)
            from bleadv import event_fields

            event_fields(rec, d)
        d["relays"] = relay_list(rec[8])
    return d

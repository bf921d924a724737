"""Looking at logged events: read(), the Event record, names of kinds/results/reasons, to_dict().

Split from eventlog.py so a device that only appends never holds this code in its heap: it is
imported on the first read or name lookup (eventlog.to_dict, eventlog.KINDS, ... resolve here
through eventlog's module __getattr__) and then stays.

KINDS, RESULTS, REASONS: the names, index = code (the codes are eventlog.KIND_* etc.). The
geometry constants (RECORD_SIZE ... META_NAME) are defined here; eventlog.py and eventfs.py use
private copies (const() names that cost no RAM).
"""
import struct

from micropython import const

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
_KIND_CARD = const(1)
_KIND_DOOR = const(9)
_REASON_READER_ERROR = const(9)

KINDS = ("system", "card", "pin", "qr", "ble", "plate", "exit", "api", "remote", "door")
RESULTS = ("info", "granted", "denied")
REASONS = (
    "ok", "unknown_credential", "no_relay_rights", "schedule", "expired", "not_yet_valid",
    "disabled", "clock_not_set", "lockout", "reader_error", "remote_denied", "remote_timeout",
    "remote_error", "interval", "wrong_pin", "factor_timeout", "auth_failed", "boot",
    "clock_set", "config_changed", "users_changed", "door_opened", "door_closed",
    "door_held_open", "door_forced", "failures_alarm", "busy", "wrong_method",
    "power_on", "hard_reset", "watchdog", "deep_sleep", "soft_reset", "brownout",
    "lockout_cleared",
)

# One record as read back. `value` is bytes (vlen bytes of the raw value).
Event = namedtuple("Event", ("seq", "time", "kind", "result", "reason", "fmt", "value", "user", "relays"))


def read(log, since, limit):
    """See EventLog.read."""
    out = []
    last = log.last_seq
    if limit <= 0 or since >= last:
        return out
    s = since + 1
    if s < log.first_seq:
        s = log.first_seq
    n_cap = log.capacity
    pf = log.per_file
    chunk = min(limit, pf, 16)
    buf = bytearray(chunk * RECORD_SIZE)
    mv = memoryview(buf)
    while s <= last and len(out) < limit:
        slot = (s - 1) % n_cap
        k = slot // pf
        i = slot - k * pf
        n = min(chunk, pf - i, n_cap - slot, last - s + 1, limit - len(out))
        got = 0
        f = log._seg(k, False)
        if f is not None:
            off = i * RECORD_SIZE
            if off < log._fsize:
                f.seek(off)
                got = (f.readinto(mv[: n * RECORD_SIZE]) or 0) // RECORD_SIZE
        log.reads += n
        for j in range(got):
            o = j * RECORD_SIZE
            if log._valid(buf, o, slot + j, mv[o:o + _CRC_AT]) == s + j:
                seq, t, user, kind, result, reason, relays, fmt, vlen, value = struct.unpack_from(
                    "<IIIBBBBBB10s", buf, o)
                if vlen < VALUE_MAX:
                    value = value[:vlen]
                out.append(Event(seq, t, kind, result, reason, fmt, value, user, relays))
        s += n
    return out


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
        import cardfmt

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
        d["relays"] = relay_list(rec[8])
    return d


def remove(path):
    """Delete the log directory at `path` and everything in it (no error if it doesn't exist)."""
    from eventlog import _cold

    _cold("remove", path)

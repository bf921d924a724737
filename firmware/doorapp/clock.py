"""Wall-clock time as unix seconds, in one place.

The ESP32 port counts from 2000-01-01, the unix port from 1970-01-01: everything stored or shown
uses unix seconds from `now()`, and this module is the only one that knows the difference
(EPOCH_OFFSET). Until the clock has been set (NTP, RTC, control channel) `now()` returns 0,
which the event log shows as "time unknown" and the access engine treats as "clock not set".

Sources: on a board the RTC keeps time across soft resets and deep sleep (not power loss);
doorapp/timesync.py sets it by NTP. In the simulator the host clock is already right; the
control channel's `clock` command shifts it (`set_unix`). `ticks_ms` is the monotonic clock
for intervals: it never jumps when the wall clock is set.
"""
import time

from compat import ticks_diff, ticks_ms  # noqa: F401  (re-exported: the engine's monotonic clock)

EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0
_VALID_AFTER = 1704067200  # 2024-01-01: an RTC reading before this was never set

_offset = 0  # seconds added to the system clock (sim: set through the control channel)
_source = ""  # what set the clock last: "ntp", "control", "rtc" ("" = nothing yet)
_synced_at = 0  # unix seconds of the last set/sync
_rtc_setter = None  # the board's RTC setter (hal), installed with use_rtc()


def now():
    t = time.time() + EPOCH_OFFSET + _offset
    return int(t) if t >= _VALID_AFTER else 0


def is_set():
    return now() != 0


def use_rtc(setter):
    """Install the board's RTC setter (hal: setter(datetime_tuple) with (y, m, d, weekday,
    hh, mm, ss, 0) in UTC, as machine.RTC().datetime takes it). Without one, set_unix keeps an
    offset to the system clock (lost on reset)."""
    global _rtc_setter
    _rtc_setter = setter


def _set_rtc(unix):
    if _rtc_setter is None:
        return False
    tm = time.gmtime(unix - EPOCH_OFFSET)
    try:
        _rtc_setter((tm[0], tm[1], tm[2], tm[6], tm[3], tm[4], tm[5], 0))
    except Exception:
        return False
    return True


def set_unix(seconds, source="control"):
    """Make now() return `seconds` from here on: the RTC if the board installed a setter
    (use_rtc), else an offset to the system clock (simulator: the host clock is never touched)."""
    global _offset, _source, _synced_at
    seconds = int(seconds)
    if _set_rtc(seconds):
        _offset = 0
    else:
        _offset = seconds - int(time.time() + EPOCH_OFFSET)
    _source = source
    _synced_at = seconds


def mark_synced(source="ntp"):
    """The system clock itself was just set (ntptime.settime()): drop any offset, note it."""
    global _offset, _source, _synced_at
    _offset = 0
    _source = source
    _synced_at = now()


def status():
    """{"set": bool, "now": unix, "source": str, "synced_at": unix} for state/API."""
    n = now()
    if n and not _source:
        src = "rtc"  # valid before anything set it: RTC kept it (or the host clock in the sim)
    else:
        src = _source
    return {"set": n != 0, "now": n, "source": src, "synced_at": _synced_at}

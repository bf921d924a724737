"""Wall-clock time as unix seconds, in one place.

The ESP32 port counts from 2000-01-01, the unix port from 1970-01-01: everything stored or shown
uses unix seconds from `now()`. Until the clock has been set (NTP, RTC, control channel) `now()`
returns 0, which the event log shows as "time unknown".
"""
import time

EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0
_VALID_AFTER = 1704067200  # 2024-01-01: an RTC reading before this was never set

_offset = 0  # seconds added to the system clock (sim: set through the control channel)


def now():
    t = time.time() + EPOCH_OFFSET + _offset
    return int(t) if t >= _VALID_AFTER else 0


def is_set():
    return now() != 0


def set_unix(seconds):
    """Make now() return `seconds` from here on, without touching the host's clock."""
    global _offset
    _offset = int(seconds) - int(time.time() + EPOCH_OFFSET)

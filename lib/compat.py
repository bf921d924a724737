"""The few differences between MicroPython and CPython that portable device modules need.

Device code imports ticks and `sleep_ms` from here so the same module runs on the ESP32, under
the unix port and under CPython (host tools, tests).
"""
import asyncio

try:
    from time import ticks_ms, ticks_us, ticks_diff, ticks_add
except ImportError:  # CPython
    from time import monotonic_ns as _mono_ns

    def ticks_ms():
        return _mono_ns() // 1000000

    def ticks_us():
        return _mono_ns() // 1000

    def ticks_diff(a, b):
        return a - b

    def ticks_add(a, b):
        return a + b


if hasattr(asyncio, "sleep_ms"):
    sleep_ms = asyncio.sleep_ms
else:  # CPython

    def sleep_ms(ms):
        return asyncio.sleep(ms / 1000)


try:
    from sys import print_exception
except ImportError:  # CPython
    import traceback

    def print_exception(exc, file=None):
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=file)


_mono = [0, None]  # accumulated ms, last ticks_ms reading


def monotonic_s():
    """Seconds since start that never jump (unlike the wall clock when NTP sets it).

    Built on ticks_ms, which wraps: call it at least every few days (every request does).
    """
    t = ticks_ms()
    if _mono[1] is not None:
        _mono[0] += ticks_diff(t, _mono[1])
    _mono[1] = t
    return _mono[0] // 1000

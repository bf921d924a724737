"""Heap probes shared by the MicroPython benchmark scripts."""
import gc


def largest_block():
    """Largest single allocation that succeeds now (heap fragmentation shows here)."""
    lo, hi = 0, gc.mem_free()
    while hi - lo > 64:
        mid = (lo + hi) // 2
        try:
            b = bytearray(mid)
            del b
            lo = mid
        except MemoryError:
            hi = mid
    return lo

"""Memory profiles of the boards, and the heap the simulator gives each (docs/memory.md).

`psram`: the reference boards (ESP32-S3 N16R8, ESP32-WROVER-E), simulated with a heap of
1,000,000 words, a conservative quarter of the smallest PSRAM board's. `lean`: ESP32-WROOM-32
boards, simulated with the ~112 KB the ESP32's GC heap grows to (112000 words, counted as on a
32-bit machine). A board file names its profile; without one it is lean.
"""
import json

HEAPS = {"psram": "1000000w", "lean": "112000w"}


def board_profile(board_path):
    """The profile a board file names ('lean' if none, or if the file can't be read: the
    simulator reports a bad board file itself)."""
    try:
        with open(board_path) as f:
            p = json.load(f).get("profile", "lean")
    except (OSError, ValueError, AttributeError):
        return "lean"
    return p if p in HEAPS else "lean"


def heap_for_board(board_path):
    """The simulator's -X heapsize for a board file's profile."""
    return HEAPS[board_profile(board_path)]

"""Drop modules that only run at start-up or on a rare change (validators, parsers).

Module code lives in the GC heap (112 KB on an ESP32 without PSRAM), so code that ran once at
boot would otherwise stay resident forever. Callers import such modules inside functions and
call `forget()` when done; the next use imports them again (from .mpy: cheap).
"""
import sys

# what only the start-up uses: forgotten by main.py (and the simulator) once the door is built;
# doorapp.fileio and hal come back if a config change or table push imports them
STARTUP_ONLY = ("doorapp.startup", "doorapp.fileio", "hal.boardfile", "hal")


def forget(*names):
    for name in names:
        if sys.modules.pop(name, None) is None:
            continue
        pkg, _, attr = name.rpartition(".")
        parent = sys.modules.get(pkg) if pkg else None
        if parent is not None:
            try:
                delattr(parent, attr)
            except (AttributeError, TypeError):
                pass

"""Which code a board keeps in its heap: the one place that decides it (docs/memory.md).

Stock MicroPython runs the app's .mpy files from the filesystem, so module code lives in the GC
heap next to the data. psram boards have room for all of it: every module stays loaded once
imported, and trim() does nothing. lean boards (ESP32-WROOM-32: ~112 KB for code and data
together) can't hold the whole app at once: the modules in COLD are loaded when needed and
dropped again by trim() at the end of each use (start-up, a settings change, an HTTP request, a
verification request). Only modules that nothing long-lived keeps a reference to are listed:
dropping one then really frees its code.
"""
import sys

# True on lean boards (set at start-up from the board file's profile)
lean = [False]

COLD = (
    # start-up only: the boot order, the board file's validator
    "doorapp.startup", "hal", "hal.boardfile",
    # settings files read or changed: validators, password hashing, URL template checks
    "doorapp.config.schema", "doorapp.config.secrets", "doorapp.config.changes", "doorapp.config.passwords",
    "doorapp.config.actions", "doorapp.config.wgout", "doorapp.config.desfirecfg",
    "doorapp.config.pluscfg", "doorapp.config.nfccfg",
    "verifyurl", "urlsplit", "jsoncheck",
    # HTTP routes: one request each
    "doorapp.http.session", "doorapp.http.status", "doorapp.http.settings", "doorapp.http.users",
    "doorapp.http.useredit", "doorapp.http.table", "doorapp.http.vendor", "doorapp.http.lpr", "doorapp.http.webui",
    "plates",
    # reader tasks' set-up (the tasks themselves stay)
    "doorapp.readers.tasks", "wiegandirq",
    # the verification client: one request each (the mode logic stays while verification is on)
    "verifyclient",
    # the simulator's rare control commands (a board has no control channel)
    "sim.ctlrare",
)


def forget(*names):
    """Drop modules from sys.modules (and from their package): their code is freed once nothing
    refers to it; the next import loads them again."""
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


def trim():
    """The end of a use: on lean boards, drop the COLD modules that are loaded."""
    if lean[0]:
        forget(*COLD)

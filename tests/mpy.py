"""Helpers to run device code under the MicroPython unix port from pytest."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "host_tools"))
from doorctl import paths  # noqa: E402

HEAP = "112000w"  # the ESP32's ~112 KB GC heap, counted as on a 32-bit machine
DEVICE_TESTS = os.path.join(ROOT, "tests", "device")


def micropython():
    return paths.micropython_binary()


def mpy_env(extra_path=()):
    """Device code as precompiled .mpy (what a board imports: compiling big modules from source
    needs more heap than running them), test modules from source."""
    from doorctl import mpycache

    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join([mpycache.compiled_path(), DEVICE_TESTS] + list(extra_path))
    return env


def run_micropython(args, heap=HEAP, timeout=120, extra_path=(), cwd=None, input=None):
    """Run `micropython -X heapsize=HEAP args...`; returns CompletedProcess with text output."""
    cmd = [micropython(), "-X", "heapsize=" + heap] + list(args)
    return subprocess.run(
        cmd, env=mpy_env(extra_path), cwd=cwd or ROOT, capture_output=True, text=True,
        timeout=timeout, input=input,
    )


def run_code(code, **kw):
    """Run a snippet of MicroPython code with the device paths set."""
    return run_micropython(["-c", code], **kw)

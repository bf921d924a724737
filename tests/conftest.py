"""Make the device code (lib/, firmware/) and the host tools importable under CPython."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in ("host_tools", "tests", "tests/device"):
    sys.path.insert(0, os.path.join(ROOT, p))

from doorctl import paths  # noqa: E402

paths.use_device_code()
sys.path.insert(1, paths.FIRMWARE)

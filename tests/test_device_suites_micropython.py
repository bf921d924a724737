"""Every device test module in tests/device also runs under `micropython -X heapsize=112000w`.

pytest collects the same modules directly under CPython; this file runs them on the MicroPython
unix port with the ESP32's heap, so device code is proven on both interpreters.
"""
import os

import pytest

from mpy import DEVICE_TESTS, run_micropython

MODULES = sorted(
    f[:-3] for f in os.listdir(DEVICE_TESTS) if f.startswith("test_") and f.endswith(".py")
)


@pytest.mark.parametrize("module", MODULES)
def test_device_module_under_micropython(module):
    r = run_micropython([os.path.join(DEVICE_TESTS, "runner.py"), module], timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert " 0 bad" in out.strip().splitlines()[-1], out

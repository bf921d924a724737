"""hal.esp32 and the app on it run under MicroPython with only `machine` doubled (no board here)."""
import os

from mpy import ROOT, run_micropython


def test_esp32_backend_runs_the_app(tmp_path):
    r = run_micropython([os.path.join(ROOT, "tests", "esp32", "run_esp32_backend.py"), ROOT, str(tmp_path)],
                        extra_path=[os.path.join(ROOT, "tests", "esp32")], timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "ESP32 BACKEND OK" in out, out


def test_only_the_esp32_backend_imports_machine():
    offenders = []
    for d in ("firmware", "lib"):
        for base, _dirs, files in os.walk(os.path.join(ROOT, d)):
            for f in files:
                path = os.path.join(base, f)
                if not f.endswith(".py") or path.endswith(os.path.join("hal", "esp32.py")):
                    continue
                text = open(path).read()
                if "import machine" in text or "from machine" in text:
                    offenders.append(os.path.relpath(path, ROOT))
    assert offenders == []

"""hal.esp32 and the app on it run under MicroPython with only `machine` doubled (no board here)."""
import os

from doorctl import pn532_service
from doorctl.profiles import HEAPS
from mpy import ROOT, run_micropython


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_esp32_backend_runs_the_app(tmp_path):
    """Pins, UART/PN532, Wi-Fi station, NTP and the HTTP API, as startup.start() wires them on a board."""
    from usertable import build, validate, validate_list

    ctx = validate.Ctx("8HN", "UTC0", [1, 2], None, False, "users.json")
    sched, users = validate_list.document({"users": [{"id": 7, "cards": ["04A1B2C3"], "relays": [2]}]}, ctx)
    build.build_file(str(tmp_path / "users.tbl"), sched, users, ctx.fid, 1)
    emu, transport = pn532_service.start()
    try:
        r = run_micropython([os.path.join(ROOT, "tests", "esp32", "run_esp32_backend.py"), ROOT, str(tmp_path),
                             str(free_port()), transport],
                            extra_path=[os.path.join(ROOT, "tests", "esp32")], timeout=60, heap=HEAPS["psram"])
    finally:
        emu.kill()
        emu.wait()
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

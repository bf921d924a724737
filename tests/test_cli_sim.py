"""`doorctl sim ...` as a user runs it: start the simulator, tap, press, read state as JSON."""
import json
import os
import subprocess
import sys
import time

import pytest

from simproc import ROOT, free_port

DOORCTL = os.path.join(os.path.dirname(sys.executable), "doorctl")
STATE_KEYS = {"version", "board", "relays", "inputs", "led", "buzzer", "reader", "clock", "users",
              "card_format", "last_seq", "heap_free", "heap_used", "events"}


def doorctl(*args, timeout=30):
    return subprocess.run([DOORCTL] + list(args), capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def running(tmp_path):
    """`doorctl sim run` (what `make sim` runs) on a temp flash and a free port."""
    control = "127.0.0.1:%d" % free_port()
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"relays": {"1": {"hold_ms": 500}}}))
    proc = subprocess.Popen([DOORCTL, "sim", "run", "--flash", str(tmp_path / "f.img"), "--control", control,
                             "--http", "off", "--config", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=ROOT)
    out = ""
    for line in proc.stdout:
        out += line
        if line.startswith("control channel:"):
            break
    assert "control channel: " + control in out, out
    yield control, proc
    proc.terminate()
    proc.wait(5)


def state(control):
    r = doorctl("sim", "state", "--json", "--control", control)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def wait(control, pred, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = state(control)
        if pred(st):
            return st
        time.sleep(0.05)
    raise AssertionError("condition not met: %s" % st)


def test_help_everywhere():
    for args in ([], ["sim"], ["sim", "run"], ["sim", "tap"], ["sim", "state"], ["pn532-emu"]):
        r = doorctl(*(args + ["--help"]))
        assert r.returncode == 0 and "usage: doorctl" in r.stdout, args


def test_no_simulator_is_a_clear_error():
    r = doorctl("sim", "state", "--control", "127.0.0.1:%d" % free_port())
    assert r.returncode == 1
    assert r.stderr.startswith("doorctl: error: no simulator at 127.0.0.1:") and "Traceback" not in r.stderr
    r = doorctl("sim", "tap")
    assert r.returncode == 2  # usage error: UID missing


def test_tap_press_state_json(running):
    control, proc = running
    st = state(control)
    assert STATE_KEYS <= set(st)
    assert st["relays"]["1"]["on"] is False and st["users"] == 2  # demo users on a new image
    r = doorctl("sim", "tap", "04A1B2C3", "--control", control)
    assert r.returncode == 0, r.stderr
    st = wait(control, lambda s: s["relays"]["1"]["on"])
    assert st["events"][-1]["user"] == 1001
    wait(control, lambda s: not s["relays"]["1"]["on"])
    r = doorctl("sim", "tap", "0BADCAFE", "--control", control)
    st = wait(control, lambda s: s["events"][-1]["code"] == "0BADCAFE")
    assert st["events"][-1]["result"] == "denied" and not st["relays"]["1"]["on"]
    assert st["prompt"] == "Unknown credential"  # what a display would show now
    assert doorctl("sim", "press", "exit", "--control", control).returncode == 0
    st = wait(control, lambda s: s["relays"]["1"]["on"])
    assert st["events"][-1]["kind"] == "exit"
    r = doorctl("sim", "state", "--control", control)  # human form
    assert "relays:" in r.stdout and "last events:" in r.stdout and 'display: "Unknown credential"' in r.stdout
    r = doorctl("sim", "press", "nosuch", "--control", control)
    assert r.returncode == 1 and "no input named" in r.stderr

"""`doorctl sim ...` as a user runs it: start the simulator, tap, press, read state as JSON."""
import json
import os
import re
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
    assert r.returncode == 2 and "UID" in r.stderr  # usage error: UID missing (only a phone's may be)


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
    # the door's state in the live view's words
    assert "door=closed" in r.stdout or "door=closed" in doorctl("sim", "state", "--control", control).stdout
    assert doorctl("sim", "door", "open", "--control", control).returncode == 0
    wait(control, lambda s: s["inputs"]["door"]["active"])
    out = doorctl("sim", "state", "--control", control).stdout
    assert "door=OPEN" in out and "exit=idle" in out and "active" not in out.split("last events:")[0], out


def test_events_since_0_returns_a_long_log_page_by_page(tmp_path):
    """`doorctl sim events --since 0` with 200+ events, under the ESP32's heap and with the HTTP
    API on (as `make sim` runs): the device answers a page at a time (an answer of every event
    at once ran out of memory from ~30 on), the CLI asks page after page and prints them all, in
    order."""
    control = "127.0.0.1:%d" % free_port()
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"inputs": {"door": {"debounce_ms": 0}}}))
    proc = subprocess.Popen([DOORCTL, "sim", "run", "--flash", str(tmp_path / "f.img"), "--control", control,
                             "--http", "127.0.0.1:%d" % free_port(), "--config", str(cfg), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        for line in proc.stdout:
            if line.startswith("control channel:"):
                break
        from doorctl.simctl import SimClient

        with SimClient(control) as c:  # door sensor events: opened, closed, opened, ...
            last = 0
            while last < 210:
                for state in ("open", "closed") * 10:
                    c.call("door", state=state)
                    time.sleep(0.012)
                last = c.call("state", events=0)["state"]["last_seq"]
        r = doorctl("sim", "events", "--since", "0", "--control", control)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert [int(ln.split()[0][1:]) for ln in lines] == list(range(1, last + 1)), r.stdout[-2000:]
        assert "system" in lines[0] and "power_on" in lines[0]
        assert all(" door " in ln for ln in lines[1:]) and "door_opened" in lines[1]
        r = doorctl("sim", "events", "--since", "100", "--limit", "40", "--json", "--control", control)
        assert r.returncode == 0, r.stderr
        assert [e["seq"] for e in json.loads(r.stdout)] == list(range(101, 141))
        r = doorctl("sim", "events", "--since", str(last), "--control", control)
        assert r.returncode == 0 and r.stdout == ""
    finally:
        proc.terminate()
        proc.wait(10)


def test_event_pages_ask_again_smaller_when_the_device_has_no_heap():
    from doorctl.cli import sim_event_pages
    from doorctl.simctl import SimError

    class Device:
        def __init__(self, n):
            self.n = n
            self.asked = []

        def call(self, cmd, since, limit):
            self.asked.append(limit)
            if len(self.asked) == 2:  # busy for one answer
                raise SimError("out of memory")
            evs = [{"seq": s} for s in range(since + 1, min(since + min(limit, 16), self.n) + 1)]
            return {"events": evs, "next": evs[-1]["seq"] if evs else since, "more": bool(evs) and evs[-1]["seq"] < self.n}

    dev = Device(40)
    assert [e["seq"] for e in sim_event_pages(dev, pause=0)] == list(range(1, 41))
    assert dev.asked[:3] == [16, 16, 8]  # the page after the busy answer is asked again, smaller
    dev = Device(40)
    assert [e["seq"] for e in sim_event_pages(dev, since=5, limit=7, pause=0)] == list(range(6, 13))

    class Broken:
        def call(self, cmd, since, limit):
            raise SimError("unknown command 'events'")

    with pytest.raises(SimError):
        list(sim_event_pages(Broken()))


def test_missing_files_a_real_board_and_bad_noise_are_named(tmp_path):
    for opt in ("--config", "--secrets", "--users", "--board"):
        r = doorctl("sim", "run", "--flash", str(tmp_path / "f.img"), "--http", "off", opt, str(tmp_path / "missing.json"))
        assert r.returncode == 1 and "%s: no such file: " % opt in r.stderr and "missing.json" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    r = doorctl("sim", "run", "--flash", str(tmp_path / "f.img"), "--board", os.path.join(ROOT, "boards", "esp32-devkitc.json"))
    assert r.returncode == 1 and "--board:" in r.stderr and "esp32 backend" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not os.path.exists(tmp_path / "f.img")
    r = doorctl("sim", "garbage", "-5")
    assert r.returncode == 2 and "must be 1-4096 bytes" in r.stderr, r.stderr


def test_garbage_counts_are_checked_by_the_simulator_too(running):
    control, _proc = running
    with __import__("doorctl.simctl", fromlist=["SimClient"]).SimClient(control) as c:
        with pytest.raises(Exception) as e:
            c.call("garbage", n=-5)
    assert "n: must be 1-4096 bytes" in str(e.value)


def test_sim_help_names_boards_that_have_the_reader():
    """`doorctl sim --help` says which simulator board has each reader; that board must have it
    (the QR scanner's line once named a board without one)."""
    needs = {"keys": "keypad", "wiegand": "wiegand", "qr": "qr_scanner", "wiegand-out": "wiegand_out"}
    out = subprocess.run([DOORCTL, "sim", "--help"], capture_output=True, text=True, timeout=30).stdout
    text = " ".join(out.split())
    seen = 0
    for cmd, part in needs.items():
        m = re.search(r"\b%s (?:[^()]*?)\(board ([\w.-]+?)(?:\.json)?\)" % re.escape(cmd), text)
        assert m, (cmd, text)
        with open(os.path.join(ROOT, "boards", m.group(1) + ".json")) as f:
            assert part in json.load(f), (cmd, m.group(1))
        seen += 1
    assert seen == 4


def test_secrets_without_a_site_key_and_the_demo_users_is_one_clear_error(tmp_path):
    """`doorctl sim run --secrets s.json` on a new flash: the demo users' key fob needs the site
    key; a secrets file without one is named with what to do (the table builder's message named
    the demo file and `--site-key-file`, an option `sim run` doesn't have)."""
    from doorctl import simprep
    from doorctl.errors import CliError

    sec = tmp_path / "secrets.json"
    sec.write_text(json.dumps({"qr_key": "11" * 32}))
    flash = str(tmp_path / "f.img")
    with pytest.raises(CliError) as e:
        simprep.users_args(None, flash, str(tmp_path), secrets=str(sec))
    msg = str(e.value)
    assert msg.startswith("--secrets %s has no site_key" % sec) and "--no-demo" in msg, msg
    assert "demo_users.json" not in msg and "--site-key-file" not in msg, msg
    assert simprep.users_args(None, flash, str(tmp_path), secrets=str(sec), demo=False) == []
    sec.write_text(json.dumps({"qr_key": "11" * 32, "site_key": "22" * 32}))
    args = simprep.users_args(None, flash, str(tmp_path), secrets=str(sec))
    assert args[-2] == "--users" and os.path.isfile(args[-1]) and "--secrets" not in args

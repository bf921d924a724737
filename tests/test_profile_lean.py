"""The lean profile (ESP32-WROOM-32 boards; docs/memory.md) in the simulator: its core runs with
the heap to spare that the design asks for, and what does not fit its heap is refused when it is
configured, with one line naming the setting and the profile, never a MemoryError later."""
import json
import os
import re
import subprocess
import time

import pytest

from simproc import ROOT, Sim

LEAN = os.path.join(ROOT, "boards", "sim-lean.json")
CONFIG = {"relays": {"1": {"hold_ms": 400}, "2": {"hold_ms": 400}}, "reader": {"removal_ms": 150}}


def test_lean_core_runs_with_heap_to_spare(tmp_path):
    """Cards, relays, inputs, the table and the event log, door alarms, the watchdog: a good share
    of the heap free at steady state (after taps, an exit press and the door opened after it, a
    forced door, events read). The design asks 15% of a
    board's heap; the simulator's heap also holds its own code (control channel and its TCP
    server, the simulated board layer and flash: ~25 KB here) that a board doesn't have, so
    13% here is more than 15% there (docs/memory.md)."""
    sim = Sim(tmp_path, config=CONFIG, board=LEAN)
    try:
        assert sim.heap == "112000w"
        st = sim.state(0)
        assert st["profile"] == "lean" and st["board"] == "sim-lean"
        for uid in ("04A1B2C3", "01020304", "DEADBEEF"):
            last = sim.state(0)["last_seq"]
            sim.call("tap", uid=uid, ms=200)
            sim.wait_for(lambda s: s["last_seq"] > last, timeout=5)
        sim.call("press", input="exit", ms=100)
        st = sim.wait_for(lambda s: any(e["kind"] == "exit" for e in s["events"]), timeout=5)
        kinds = [(e["kind"], e["result"]) for e in st["events"] if e["kind"] != "system"]
        assert kinds == [("card", "granted"), ("card", "denied"), ("card", "granted"), ("exit", "granted")], kinds
        for state in ("open", "closed"):  # let in by the exit press: no alarm
            sim.call("door", state=state)
            time.sleep(0.3)
        time.sleep(3.5)  # (the exit press's let-in window over)
        sim.call("door", state="open")  # nobody let in: break-in detection is on by default here too
        st = sim.wait_for(lambda s: s["alarms"].get("door", {}).get("forced"), events=8)
        assert ("door", "door_forced") in [(e["kind"], e["reason"]) for e in st["events"]], st["events"]
        assert not any(r["on"] for r in st["relays"].values())
        sim.call("door", state="closed")
        assert len(sim.call("events", since=0)["events"]) >= 5
        # steady state: the most free of a few readings (a reading can catch the reader's or the
        # control channel's buffers mid-use on a loaded machine; the soak measures the minimum)
        time.sleep(1.0)  # the last pulse over, the card gone
        readings = []
        for _ in range(5):
            readings.append(sim.call("heap"))
            time.sleep(0.1)
        heap = max(readings, key=lambda h: h["free"])
        total = heap["free"] + heap["used"]
        assert heap["free"] >= 0.13 * total, readings
        # the interned names stay below the unix build's 7th name pool (~14 KB at once, at the
        # 1,261st name): a feature that crosses it must be measured and decided (docs/memory.md)
        sim.call("heap", map="names")
        pools = wait(lambda: re.findall(r"qstr pool: n_pool=(\d+), n_qstr=(\d+)", sim.output))
        n_pool, n_qstr = map(int, pools[-1])
        assert n_pool <= 6 and n_qstr < 1261, pools[-1]
        assert "MemoryError" not in sim.output
    finally:
        sim.stop()


def wait(fn, timeout=5.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        got = fn()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_forced_door_stays_latched_on_a_lean_board_until_break_in_is_turned_off(tmp_path):
    """A lean board has no network: its forced-door alarm is cleared the vendor's way, by turning
    the sensor's break_in off (config over USB: `doorctl deploy --config`); until then it
    survives restarts."""
    sim = Sim(tmp_path, config=CONFIG, board=LEAN)
    try:
        sim.call("door", state="open")
        sim.wait_for(lambda s: s["alarms"].get("door", {}).get("forced"))
        sim.call("door", state="closed")
        flash = sim.flash
    finally:
        sim.stop()
    sim = Sim(tmp_path, config=CONFIG, board=LEAN, flash=flash, demo=False)
    try:
        assert sim.state(0)["alarms"]["door"]["forced"]  # still latched after a restart
    finally:
        sim.stop()
    cfg = dict(CONFIG, inputs={"door": {"break_in": False}})
    sim = Sim(tmp_path, config=cfg, board=LEAN, flash=flash, demo=False)
    try:
        st = sim.state(10)
        assert st["alarms"]["door"]["forced"] is False
        assert [e["reason"] for e in st["events"] if e["kind"] == "door"][-1] == "alarm_cleared"
        sim.call("door", state="open")  # break-in detection off: no alarm
        time.sleep(1.0)
        assert not sim.state(0)["alarms"]["door"]["forced"]
    finally:
        sim.stop()


@pytest.mark.parametrize("section, value, field, what", [
    ("verify", {"mode": "customize", "url": "http://10.0.0.5/v?c={Card}"}, "verify.mode", "third-party verification"),
    ("network", {"ssid": "site-wifi"}, "network.ssid", "Wi-Fi with the HTTP API"),
    ("lpr", {"enabled": True}, "lpr.enabled", "licence plates"),
    ("ble", {"enabled": True}, "ble.enabled", "BLE unlock"),
    ("card", {"mifare": {"enabled": True}}, "card.mifare.enabled", "MIFARE encryption"),
    ("card", {"desfire": {"enabled": True}}, "card.desfire.enabled", "DESFire cards"),
    ("card", {"plus": {"enabled": True}}, "card.plus.enabled", "MIFARE Plus cards"),
    ("card", {"nfc": {"enabled": True}}, "card.nfc.enabled", "NFC phones"),
    ("card", {"felica": {"enabled": True}}, "card.felica.enabled", "FeliCa cards"),
])
def test_what_does_not_fit_is_refused_at_configuration(tmp_path, section, value, field, what):
    cfg = dict(CONFIG)
    cfg[section] = value
    sim = Sim(tmp_path, config=cfg, board=LEAN, start=False)
    r = subprocess.run(sim.argv, env=sim.env(), cwd=ROOT, capture_output=True, text=True, timeout=60)
    lines = (r.stdout + r.stderr).strip().splitlines()
    assert r.returncode == 2, r.stdout + r.stderr
    assert lines[-1].startswith("doorctl: cannot start: ") and field in lines[-1] and what in lines[-1], lines
    assert "profile lean" in lines[-1] and "psram" in lines[-1] and "MemoryError" not in r.stdout + r.stderr


def test_the_http_api_is_refused_on_a_lean_board(tmp_path):
    sim = Sim(tmp_path, config=CONFIG, board=LEAN, http=True, start=False)
    r = subprocess.run(sim.argv, env=sim.env(), cwd=ROOT, capture_output=True, text=True, timeout=60)
    out = (r.stdout + r.stderr).strip().splitlines()
    assert r.returncode == 2 and out[-1].startswith("doorctl: cannot start: --http: "), out
    assert "profile lean" in out[-1] and "--http off" in out[-1]


def test_the_same_config_runs_on_a_psram_board(tmp_path):
    """What lean refuses, the psram board takes (the refusal is the profile's, not the setting's)."""
    cfg = dict(CONFIG)
    cfg["lpr"] = {"enabled": True}
    sim = Sim(tmp_path, config=cfg, http=True)
    try:
        assert sim.state(0)["profile"] == "psram" and sim.heap == "1000000w"
    finally:
        sim.stop()


def test_doorctl_sim_run_on_a_lean_board_has_no_http_by_default(tmp_path):
    from doorctl import cli

    args = cli.build_parser().parse_args(["sim", "run", "--board", LEAN, "--flash", str(tmp_path / "f.img")])
    argv = cli.sim_command(args)
    assert argv[argv.index("--http") + 1] == "auto" and "heapsize=112000w" in argv
    assert json.load(open(LEAN))["profile"] == "lean"

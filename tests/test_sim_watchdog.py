"""The watchdog end to end: the simulator's event loop is hung on purpose (control `hang`: a
blocking sleep), nothing feeds the watchdog, the runner resets the simulated board and starts
the firmware again on the same flash; the door comes back with its users and events, logs the
reset cause `watchdog` and opens for a card again. Also through `doorctl sim run`."""
import json
import os
import subprocess
import sys
import time

from doorctl.simctl import SimClient, SimError
from simproc import FAST_CONFIG, ROOT, Sim, free_port

DEMO_CARD = "04A1B2C3"  # demo user 1001, relay 1
WATCHDOG_MS = 3000
START_S = 20  # a start of the simulator on a busy machine, generously
DOORCTL = os.path.join(os.path.dirname(sys.executable), "doorctl")


def tap_and_wait_open(sim):
    last = sim.state(0)["last_seq"]
    sim.call("tap", uid=DEMO_CARD, ms=100)
    st = sim.wait_for(lambda st: st["last_seq"] > last and st["relays"]["1"]["on"], timeout=5)
    ev = [e for e in st["events"] if e["seq"] > last][-1]
    assert (ev["kind"], ev["user"], ev["result"]) == ("card", 1001, "granted")
    return ev


def test_hung_loop_is_reset_and_the_door_comes_back(tmp_path):
    sim = Sim(tmp_path, config=FAST_CONFIG, watchdog_ms=WATCHDOG_MS, expect_resets=True)
    try:
        first = sim.state(5)["events"]
        assert [(e["kind"], e["reason"]) for e in first] == [("system", "power_on")]
        card = tap_and_wait_open(sim)
        sim.call("remove")  # the card off the reader (a card still on it opens again after the reset)
        before = sim.state(20)
        assert before["users"] == 2
        assert sim.call("hang", ms=120000)["ms"] == 120000
        waited = sim.wait_restart(1, timeout=WATCHDOG_MS / 1000 + START_S)
        assert sim.resets == 1
        assert "doorctl sim: watchdog reset" in sim.output
        after = sim.state(20)
        assert after["users"] == 2  # the table is intact
        old = [e for e in after["events"] if e["seq"] <= before["last_seq"]]
        assert old == before["events"]  # every earlier event, unchanged
        assert card in old
        new = [e for e in after["events"] if e["seq"] > before["last_seq"]]
        assert [(e["kind"], e["result"], e["reason"]) for e in new] == [("system", "info", "watchdog")]
        tap_and_wait_open(sim)  # and the door opens again
        assert waited < WATCHDOG_MS / 1000 + START_S
    finally:
        sim.stop()


def test_the_door_is_not_reset_while_it_works(tmp_path):
    """Progress everywhere: fed every second, no reset, over several timeouts (the watchdog
    does not fire on a healthy door)."""
    sim = Sim(tmp_path, config=FAST_CONFIG, watchdog_ms=WATCHDOG_MS)
    try:
        for _ in range(3):
            tap_and_wait_open(sim)
            time.sleep(WATCHDOG_MS / 1000 / 2)
        assert sim.heartbeat.timeout_ms == WATCHDOG_MS and sim.heartbeat.feeds >= 3
        assert sim.resets == 0
    finally:
        sim.stop()  # fails on any watchdog reset


def _wait_answer(control, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with SimClient(control, timeout=2) as c:
                return c.call("state", events=5)["state"]
        except (SimError, OSError):
            time.sleep(0.1)
    raise AssertionError("the simulator did not answer again within %.0f s" % timeout)


def test_doorctl_sim_run_restarts_the_firmware_after_a_watchdog_reset(tmp_path):
    control = "127.0.0.1:%d" % free_port()
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(FAST_CONFIG))
    proc = subprocess.Popen([DOORCTL, "sim", "run", "--flash", str(tmp_path / "f.img"), "--control", control,
                             "--http", "off", "--config", str(cfg), "--watchdog-ms", str(WATCHDOG_MS)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        st = _wait_answer(control, START_S)
        assert st["users"] == 2
        with SimClient(control) as c:
            c.call("hang", ms=120000)
        time.sleep(0.5)
        st = _wait_answer(control, WATCHDOG_MS / 1000 + START_S)
        assert [(e["kind"], e["reason"]) for e in st["events"]] == [("system", "power_on"), ("system", "watchdog")]
        assert st["users"] == 2  # --config and the demo users were not installed again: the flash kept them
        assert proc.poll() is None  # the runner goes on
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    assert out.count("doorctl sim: watchdog reset (not fed for 3.0 s): restarting on the same flash") == 1, out
    assert out.count("control channel: " + control) == 2, out

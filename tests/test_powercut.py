"""Power cuts at random moments (`make powercut`, host_tools/doorctl/powercut.py, docs/powercut.md):
the firmware in the simulator is killed (SIGKILL on the MicroPython process) during and right
after table pushes, user edits, event bursts and config changes, started again on the same flash
image each time, and checked. Here a 20-trial run on the psram board and a few trials on the
lean one; then the checks are shown damage they must count (a harness that counts nothing
proves nothing), and their comparisons one by one."""
import json
import subprocess
import sys

import pytest

from doorctl import fsimage, powercut, simprep

SEED = 15
TRIALS = 25  # 5 of each kind


@pytest.fixture(scope="module")
def run():
    r = subprocess.run([sys.executable, "-m", "doorctl.powercut", "--trials", str(TRIALS), "--seed", str(SEED),
                        "--json"], capture_output=True, text=True,
                       timeout=600)
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        raise AssertionError("no result document (exit %d):\n%s\n%s" % (r.returncode, r.stdout[-3000:],
                                                                      r.stderr[-5000:]))
    return r, doc


def test_nothing_is_lost_or_mixed_by_power_cuts(run):
    r, doc = run
    errors = [b.get("error") for b in doc["boards"] if b.get("error")]
    assert not errors, errors[0][-3000:]
    findings = [f for b in doc["boards"] for f in b["findings"]]
    assert doc["totals"] == dict.fromkeys(powercut.COUNTS, 0), "\n".join(findings[:30]) or doc["totals"]
    assert doc["ok"] and r.returncode == 0, r.stderr[-3000:]
    # one progress line per trial (and the calibration's summary per board)
    assert sum(" %d/%d " % (i, TRIALS) in r.stderr for i in range(1, TRIALS + 1)) == TRIALS


def test_the_cuts_landed_inside_every_kind_of_operation(run):
    _r, doc = run
    (psram,) = doc["boards"]
    assert (psram["board"], psram["trials"]) == ("sim", TRIALS) and not psram["fresh_start"]
    for kind in powercut.KINDS:
        land = [b["landed"][kind] for b in doc["boards"]]
        assert sum(x["n"] for x in land) >= 5, (kind, land)
        # "inside" = before the device's answer (or, for an edit, during the merge after it)
        inside = sum(1 for b in doc["boards"] for t in b["trial_log"]
                     if t["kind"] == kind and not t.get("calibration") and (t["in_flight"] or t.get("in_merge")))
        assert inside >= 1, (kind, land)
    # the operations that change state were found both ways after the cut: old and new
    changing = [b["landed"][k] for b in doc["boards"] for k in ("push", "edit", "config")]
    assert sum(x["old"] for x in changing) >= 1 and sum(x["new"] for x in changing) >= 1, changing
    # and every trial started again, with events acknowledged along the way
    assert all(t.get("start_s") is not None for b in doc["boards"] for t in b["trial_log"])
    assert psram["acknowledged_events"] > 50 and psram["calibration_cuts"] >= 14


# --- the checks count what they are shown ----------------------------------------------------
def _edit_image(path, change):
    """Rewrite the LittleFS image at `path` with change(files) applied (files: {path: bytes})."""
    with open(path, "rb") as f:
        data = f.read()
    files = fsimage.read_image(data)
    change(files)
    img, _used = fsimage.make_image(sorted(files.items()), len(data))
    with open(path, "wb") as f:
        f.write(img)


def test_the_checks_count_a_lost_event_a_foreign_table_and_a_mixed_config(tmp_path):
    h = powercut.Harness(str(tmp_path), users=50, seed=3)
    try:
        h.setup(calibrate=False)
        h.cut_and_check()
        assert h.counts == dict.fromkeys(powercut.COUNTS, 0), h.findings

        # an acknowledged event erased from its segment file
        victim = max(h.ledger.acked) - 2

        def erase(files):
            slot = (victim - 1) % powercut.EVENT_CAPACITY
            name = "events.log/%04d" % (slot // 128)
            seg = bytearray(files[name])
            seg[(slot % 128) * 32:(slot % 128) * 32 + 32] = bytes(32)
            files[name] = bytes(seg)

        h.cut_and_check(lambda p: _edit_image(p, erase))
        assert h.counts["events_lost"] == 1, h.findings
        assert "acknowledged event %d" % victim in h.findings[-1]

        # a whole, valid table, but neither the old nor the new one
        src = tmp_path / "c.json"
        src.write_text(json.dumps([{"id": 7, "name": "intruder", "cards": ["0C0C0C0C"]}]))
        simprep.build_table(str(src), str(tmp_path / "c.tbl"), serial=77)

        def foreign(files):
            files["users.tbl"] = (tmp_path / "c.tbl").read_bytes()

        h.cut_and_check(lambda p: _edit_image(p, foreign))
        assert h.counts["tables_mixed"] >= 1 and h.counts["events_lost"] == 1, h.findings

        # a valid configuration made of both: X with Y's relays
        mix = dict(h.configs["X"], relays=h.configs["Y"]["relays"])

        def mixed(files):
            files["config.json"] = json.dumps(mix).encode()

        h.cut_and_check(lambda p: _edit_image(p, mixed))
        assert h.counts["configs_bad"] == 2, h.findings  # the file on flash and what the device runs
        assert h.counts["starts_failed"] == h.counts["watchdog_resets"] == 0
    finally:
        h.close()


def test_comparisons():
    a = {1: {"id": 1, "name": "a"}, 2: {"id": 2, "name": "b"}}
    b = {2: {"id": 2, "name": "B"}, 3: {"id": 3, "name": "c"}}
    old, new = powercut.TableState("A", a), powercut.TableState("B", b)
    assert powercut.match_state(dict(a), [old, new]) == 0 and powercut.match_state(dict(b), [old, new]) == 1
    mix = {1: a[1], 2: b[2]}
    assert powercut.match_state(mix, [old, new]) == -1
    assert powercut.table_diff(mix, b) == "1 unexpected (e.g. [1]); 1 missing (e.g. [3])"

    evs = [{"seq": s, "kind": "card", "reason": "ok", "result": "granted", "code": "%08X" % s} for s in (5, 6, 7)]
    changed = dict(evs[1], reason="unknown_credential")

    def ledger():
        led = powercut.Ledger()
        assert led.add(evs) == []
        return led

    assert ledger().check(evs, 7, 256) == (0, [])
    led = ledger()
    assert led.check([evs[0], evs[2]], 7, 256)[0] == 1  # 6 missing
    assert led.check([evs[0], evs[2]], 7, 256)[0] == 0  # counted once
    assert ledger().check([evs[0], changed, evs[2]], 7, 256)[0] == 1
    assert ledger().check(evs[:2], 6, 256)[0] == 1  # the log went back behind 7
    assert ledger().check(evs[2:], 6 + 256, 256) == (0, [])  # 5 and 6 overwritten by the ring: fine
    assert ledger().check(evs[2:], 5 + 256, 256)[0] == 1  # 6 still in the ring: missing
    assert ledger().check([evs[1], evs[0], evs[2]], 7, 256)[1][0].startswith("events out of order")
    assert ledger().add([changed]) != []  # reported differently than before

    full = {"device": {"id": "d", "name": "n"}, "relays": {"1": {"hold_ms": 400}, "2": {"hold_ms": 400}},
            "reader": {"removal_ms": 150, "poll_ms": 10}, "inputs": {"exit": {"debounce_ms": 50}},
            "time": {"ntp_interval_s": 3600}}
    full = powercut.merged(full, powercut.CONFIGS["X"])
    assert powercut.config_file_is(powercut.CONFIGS["X"], full)  # the file may leave defaults out
    assert powercut.config_file_is(full, full)
    assert not powercut.config_file_is({}, full)  # ... but not what the harness changes
    assert not powercut.config_file_is(powercut.merged(full, {"relays": {"2": {"hold_ms": 900}}}), full)
    assert not powercut.config_file_is(powercut.CONFIGS["Y"], full)


def test_cli_usage_errors():
    for args in (["--trials", "0"], ["--bogus"]):
        r = subprocess.run([sys.executable, "-m", "doorctl.powercut"] + args, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 2 and r.stdout == "", (args, r.stdout, r.stderr)
        assert r.stderr.strip().splitlines()[-1].startswith("python -m doorctl.powercut: error: "), r.stderr
    r = subprocess.run([sys.executable, "-m", "doorctl.powercut", "--help"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "--trials" in r.stdout and "--json" in r.stdout

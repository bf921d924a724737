"""Wiegand output end to end (issue #18; docs/wiegand-out.md): the real firmware on the simulator
(board sim.json, which declares `wiegand_out`) decides a tapped card, sends it as W26/W34 on its
D0/D1 model, and the recorded pulses decode with lib/wiegand.py's receiver to the same card,
parity included, with the configured pulse width and interval. Config changes over the HTTP API
(send policy, format, errors naming the field) and `doorctl sim wiegand-out`. One simulator."""
import json
import time

import pytest

import cardfmt
import wiegand
from httpclient import admin_session
from simproc import Sim

KNOWN = "04A1B2C3"
UNKNOWN = "0455AA77"
USERS = {"users": [{"id": 501, "name": "Panel user", "cards": [KNOWN], "relays": [1]}]}
CONFIG = {"relays": {"1": {"hold_ms": 200}, "2": {"hold_ms": 200}}, "reader": {"removal_ms": 150},
          "wiegand_out": {"enabled": True, "format": "w26", "send": "granted", "pulse_us": 60, "interval_us": 1500}}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = Sim(tmp_path_factory.mktemp("wgout"), config=CONFIG, users=USERS, demo=False, http=True)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def admin(sim):
    return admin_session(sim.http)


def receive(pulses, gap_us=25000):
    """What a panel's receiver makes of the pulses: lib/wiegand.py's assembler and decoder."""
    asm = wiegand.WiegandAssembler(frame_gap_us=gap_us)
    frames = []
    for line, start, _width in pulses:
        n = asm.poll(start)
        if n:
            frames.append(wiegand.decode(asm.frame, n))
            asm.taken()
        asm.pulse(line, start)
    n = asm.poll(pulses[-1][1] + gap_us) if pulses else 0
    if n:
        frames.append(wiegand.decode(asm.frame, n))
    return frames


def tap_and_collect(sim, uid, frames, timeout=3.0):
    """Tap `uid`, wait for its decision event, then for `frames` frames on the wire (or, 0: for
    the time a frame would take) and return the record (emptied afterwards)."""
    last = sim.state(1)["last_seq"]
    sim.call("tap", uid=uid, ms=100)
    t0 = time.time()
    sim.wait_for(lambda st: any(e["seq"] > last and e["kind"] == "card" for e in st["events"]))
    if not frames:
        time.sleep(0.4)  # a W26 frame takes 52 ms at most here
    deadline = time.time() + timeout
    while True:
        ans = sim.call("wiegand_out", pulses=True)
        if len(ans["frames"]) >= frames:
            break
        assert time.time() < deadline, ans
        time.sleep(0.05)
    sim.call("wiegand_out", clear=True)
    time.sleep(max(0, t0 + 0.35 - time.time()))  # gone for reader.removal_ms: the next tap is a new one
    return ans


def test_granted_card_goes_out_as_w26_and_decodes_to_the_same_card(sim):
    ans = tap_and_collect(sim, KNOWN, 1)
    assert len(ans["frames"]) == 1 and len(ans["pulses"]) == 26
    uid = bytes.fromhex(KNOWN)
    (f,) = receive(ans["pulses"])  # decoded here, independently of the simulator's own decoding
    assert (f.kind, f.bits, f.facility, f.number) == (wiegand.CARD, 26, 0xA1, 0xB2C3)
    assert cardfmt.format_uid(f.uid4, "6H3D5D") == cardfmt.format_uid(uid, "6H3D5D")
    # timing as configured: 60 us pulses, one every 1500 us
    assert {p[2] for p in ans["pulses"]} == {60}
    starts = [p[1] for p in ans["pulses"]]
    assert {b - a for a, b in zip(starts, starts[1:])} == {1500}
    g = ans["frames"][0]
    assert (g["format"], g["parity_ok"], g["facility"], g["number"]) == ("w26", True, 0xA1, 0xB2C3)
    assert (g["pulse_us"], g["interval_us"]) == ([60, 60], [1500, 1500])
    assert g["card"] == "00A1B2C3"  # the W26 bytes in the door's format (8HN): byte 0 is not sent
    assert (ans["sent"], ans["overflows"], ans["errors"]) == (1, 0, 0)


def test_unknown_card_sends_nothing_while_send_is_granted(sim):
    ans = tap_and_collect(sim, UNKNOWN, 0)
    assert ans["frames"] == [] and ans["pulses"] == []
    assert ans["sent"] == 1  # still the one of the test before


def test_send_all_repeats_denied_cards_and_w34_carries_the_whole_number(sim, admin):
    st, cfg = admin.request("PATCH", "/api/v1/config", {"wiegand_out": {"send": "all", "format": "w34"}})
    assert st == 200 and cfg["wiegand_out"]["send"] == "all" and cfg["wiegand_out"]["format"] == "w34"
    ans = tap_and_collect(sim, UNKNOWN, 1)
    (f,) = receive(ans["pulses"])
    assert f.bits == 34 and f.uid4 == bytes.fromhex(UNKNOWN)
    for fmt in ("8HN", "10D", "10DR", "6H3D5D"):  # a W34 frame keeps every 4-byte format's code
        assert cardfmt.format_uid(f.uid4, fmt) == cardfmt.format_uid(bytes.fromhex(UNKNOWN), fmt)
    assert ans["frames"][0]["card"] == UNKNOWN and ans["frames"][0]["parity_ok"] is True
    # back to the defaults of the issue: W26, granted only, 50 us / 2 ms
    st, cfg = admin.request("PATCH", "/api/v1/config", {"wiegand_out": {"send": "granted", "format": "w26",
                                                                        "pulse_us": 50, "interval_us": 2000}})
    assert st == 200
    ans = tap_and_collect(sim, KNOWN, 1)
    assert ans["frames"][0]["pulse_us"] == [50, 50] and ans["frames"][0]["interval_us"] == [2000, 2000]
    assert receive(ans["pulses"])[0].number == 0xB2C3


@pytest.mark.parametrize("change, field", [
    ({"format": "w44"}, "wiegand_out.format"),
    ({"send": "some"}, "wiegand_out.send"),
    ({"pulse_us": 10}, "wiegand_out.pulse_us"),
    ({"interval_us": 100000}, "wiegand_out.interval_us"),
    ({"pulse_us": 200, "interval_us": 250}, "wiegand_out.interval_us"),
    ({"parity": "odd"}, "wiegand_out.parity"),
])
def test_bad_settings_are_refused_naming_the_field(sim, admin, change, field):
    st, doc = admin.request("PATCH", "/api/v1/config", {"wiegand_out": change})
    assert st == 400 and doc["field"] == field, doc
    assert admin.get("/api/v1/config")[1]["wiegand_out"]["enabled"] is True  # nothing applied


def test_cli_prints_the_decoded_frames(sim, capsys):
    from doorctl import cli

    sim.call("wiegand_out", clear=True)
    sim.call("tap", uid=KNOWN, ms=100)
    deadline = time.time() + 3
    while not sim.call("wiegand_out")["frames"]:
        assert time.time() < deadline
        time.sleep(0.05)
    assert cli.main(["sim", "wiegand-out", "--control", sim.control]) == 0
    out = capsys.readouterr().out
    assert "W26 26 bits" in out and "parity ok" in out and "card 00A1B2C3 (facility 161, number 45763" in out
    assert "pulse 50 us  interval 2000 us" in out
    assert cli.main(["sim", "wiegand-out", "--json", "--clear", "--control", sim.control]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["frames"][0]["uid"] == "00A1B2C3" and doc["config"]["format"] == "w26"
    assert cli.main(["sim", "wiegand-out", "--control", sim.control]) == 0
    assert "no frames recorded" in capsys.readouterr().out

"""The other credential readers wired into the running firmware (board boards/sim-readers.json):
PINs from the 3x4 matrix keypad and from Wiegand keypads with the wrong-PIN lockout, Wiegand
cards (26/34 bit) through the card format, bad frames rejected, QR codes as users' QR ids and as
signed visitor passes - each from the control channel's reader model to the relay pin and event."""
import os
import time

import pytest

import visitorqr
import wiegandbits
from simproc import ROOT, Sim

SITE_KEY = "5a" * 32
QR_KEY = "c3" * 32
USERS = {"users": [
    {"id": 2001, "name": "Keypad user", "cards": ["00D507D0"], "pin": "4711", "qr": "12345678", "relays": [1]},
    {"id": 2002, "name": "Night shift", "pin": "2580", "relays": [2], "schedules": ["Never"]},
    {"id": 2003, "name": "W34 card", "cards": ["1A2B3C4D"], "relays": [2]},
]}
CONFIG = {"relays": {"1": {"hold_ms": 200}, "2": {"hold_ms": 200}}, "reader": {"removal_ms": 150},
          "access": {"interval_same_s": 0, "interval_other_s": 0}}


def start(tmp_path_factory, board):
    return Sim(tmp_path_factory.mktemp(board), config=CONFIG, users=USERS, demo=False,
               board=os.path.join(ROOT, "boards", board + ".json"),
               secrets={"site_key": SITE_KEY, "qr_key": QR_KEY})


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """Wiegand input and matrix keypad."""
    s = start(tmp_path_factory, "sim-readers")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def qr_sim(tmp_path_factory):
    s = start(tmp_path_factory, "sim-qr")
    yield s
    s.stop()


def new_events(sim, last, kind, n=1, timeout=5.0):
    st = sim.wait_for(lambda st: len([e for e in st["events"] if e["seq"] > last and e["kind"] == kind]) >= n,
                      timeout=timeout, events=12)
    return [e for e in st["events"] if e["seq"] > last and e["kind"] == kind]


def test_matrix_keypad_pin_opens_the_users_relay(sim):
    last = sim.state(1)["last_seq"]
    before = sim.state(0)["relays"]["1"]["pulses"]
    sim.call("keys", keys="4711#")
    ev = new_events(sim, last, "pin")[0]
    assert (ev["result"], ev["reason"], ev["user"], ev["relays"]) == ("granted", "ok", 2001, [1])
    assert "4711" not in str(ev)  # the PIN is never logged
    assert sim.state(0)["relays"]["1"]["pulses"] == before + 1


def test_star_clears_and_schedule_denial_is_not_a_guess(sim):
    last = sim.state(1)["last_seq"]
    sim.call("keys", keys="99*2580#")  # "99" cleared by *
    ev = new_events(sim, last, "pin")[0]
    assert (ev["result"], ev["reason"], ev["user"]) == ("denied", "schedule", 2002)


def test_wiegand_keypad_bursts_4_and_8_bit(sim):
    for bits in (4, 8):
        last = sim.state(1)["last_seq"]
        sim.call("keys", keys="4711#", via="wiegand", bits=bits)
        ev = new_events(sim, last, "pin")[0]
        assert (ev["result"], ev["user"]) == ("granted", 2001), bits


def test_wiegand_cards_26_and_34_bit(sim):
    last = sim.state(1)["last_seq"]
    sim.call("wiegand", facility=213, card=2000)  # W26 -> 00D507D0 in 8HN
    ev = new_events(sim, last, "card")[0]
    assert (ev["result"], ev["user"], ev["code"]) == ("granted", 2001, "00D507D0")
    last = ev["seq"]
    sim.call("wiegand", value=0x1A2B3C4D)
    ev = new_events(sim, last, "card")[0]
    assert (ev["result"], ev["user"], ev["relays"]) == ("granted", 2003, [2])


def test_wiegand_bad_parity_and_length_are_rejected(sim):
    good = wiegandbits.encode26(213, 2000)
    bad_parity = good[:-1] + ("0" if good[-1] == "1" else "1")
    last = sim.state(1)["last_seq"]
    pulses = sim.state(0)["relays"]["1"]["pulses"]
    sim.call("wiegand", bits=bad_parity)
    ev = new_events(sim, last, "card")[0]
    assert (ev["result"], ev["reason"], ev["code"]) == ("denied", "reader_error", "parity")
    sim.call("wiegand", bits=good[:25])
    ev = new_events(sim, ev["seq"], "card")[0]
    assert (ev["reason"], ev["code"]) == ("reader_error", "length")
    assert sim.state(0)["relays"]["1"]["pulses"] == pulses  # nothing opened


def test_qr_user_id_and_visitor_passes(qr_sim):
    sim = qr_sim
    last = sim.state(1)["last_seq"]
    sim.call("qr", text="12345678")
    ev = new_events(sim, last, "qr")[0]
    assert (ev["result"], ev["user"], ev["relays"]) == ("granted", 2001, [1])
    assert "12345678" not in str(ev)
    now = int(time.time())
    key = bytes.fromhex(QR_KEY)
    cases = [
        (visitorqr.make(key, 77, 0b10, now - 60, now + 3600), ("granted", "ok", [2], "V77")),
        (visitorqr.make(key, 78, 0b1, now - 7200, now - 3600), ("denied", "expired", [], "V")),
        (visitorqr.make(bytes(32), 79, 0b1, now - 60, now + 3600), ("denied", "unknown_credential", [], "V")),
        ("99999999", ("denied", "unknown_credential", [], None)),
    ]
    for text, want in cases:
        last = sim.state(1)["last_seq"]
        sim.call("qr", text=text)
        ev = new_events(sim, last, "qr")[0]
        assert (ev["result"], ev["reason"], ev["relays"], ev.get("code") or None) == want, text


def test_wrong_pins_lock_the_keypad(sim):
    """3 free failures, the 4th locks the keypad for 30 s: even the right PIN is refused unread;
    the Wiegand keypad is another source and still works."""
    last = sim.state(1)["last_seq"]
    for i in range(4):
        sim.call("keys", keys="000%d#" % i)
        last = new_events(sim, last, "pin")[-1]["seq"]
    sim.call("keys", keys="4711#")
    ev = new_events(sim, last, "pin")[0]
    assert (ev["result"], ev["reason"]) == ("denied", "lockout")
    sim.call("keys", keys="4711#", via="wiegand")
    ev = new_events(sim, ev["seq"], "pin")[0]
    assert (ev["result"], ev["user"]) == ("granted", 2001)


def test_reader_commands_need_a_board_with_the_reader(tmp_path):
    s = Sim(tmp_path, demo=True)
    try:
        # each names the simulator board that has the reader (the QR scanner's once named one without)
        with pytest.raises(Exception, match=r"no keypad \(try --board boards/sim-readers\.json\)"):
            s.call("keys", keys="1#", via="keypad")
        with pytest.raises(Exception, match=r"no qr_scanner \(try --board boards/sim-qr\.json\)"):
            s.call("qr", text="x")
        with pytest.raises(Exception, match=r"no wiegand \(try --board boards/sim-readers\.json\)"):
            s.call("wiegand", bits="0101")
        assert s.call("ping")["ok"]  # a refused command leaves the simulator running
    finally:
        s.stop()


def test_a_board_with_other_readers_names_the_board_with_the_missing_one(sim):
    with pytest.raises(Exception, match=r"no qr_scanner \(try --board boards/sim-qr\.json\)"):
        sim.call("qr", text="x")
    assert sim.call("ping")["ok"]


def test_back_to_back_wiegand_commands_stay_separate_frames(sim):
    """A keypad burst and a card sent at once keep the reader's gap between their frames (they
    used to merge into one frame that was rejected)."""
    last = sim.state(1)["last_seq"]
    sim.call("keys", keys="4711#", via="wiegand")
    sim.call("wiegand", facility=213, card=2000)
    sim.call("wiegand", value=0x1A2B3C4D)
    evs = sim.wait_for(lambda st: len([e for e in st["events"] if e["seq"] > last and e["kind"] in ("pin", "card")])
                       >= 3, timeout=8, events=6)["events"]
    got = [(e["kind"], e["result"], e["user"]) for e in evs if e["seq"] > last and e["kind"] in ("pin", "card")]
    assert got == [("pin", "granted", 2001), ("card", "granted", 2001), ("card", "granted", 2003)], got

"""The running firmware decides with the access engine over the compact user table: validity,
schedules (custom ones in local time), the clock-not-set rule, relay rights and relay schedule
holds, end to end through the simulator (tap on the emulated PN532 -> relay pin -> event)."""
import calendar
import time

import pytest

from simproc import Sim

MONDAY_10 = calendar.timegm((2026, 11, 23, 10, 0, 0))  # a Monday, inside office hours (UTC)
SUNDAY_10 = calendar.timegm((2026, 11, 22, 10, 0, 0))
NOT_SET = 1000  # before 2024: the firmware treats the clock as never set

USERS = {
    "schedules": [{"id": 2, "name": "Office", "weekly": [{"days": "mon-fri", "from": "08:00", "to": "18:00"}]}],
    "users": [
        {"id": 1, "cards": ["0A000001"], "relays": [1]},  # Always (default)
        {"id": 2, "cards": ["0A000002"], "relays": [1], "valid_to": "2020-01-01"},
        {"id": 3, "cards": ["0A000003"], "relays": [1], "schedules": ["Never"]},
        {"id": 4, "cards": ["0A000004"], "relays": [1], "schedules": ["Office"]},
        {"id": 5, "cards": ["0A000005"], "relays": [2]},
        {"id": 6, "cards": ["0A000006"], "relays": [2], "relay_schedule_activation": True},
    ],
}
CONFIG = {"relays": {"1": {"hold_ms": 300}, "2": {"hold_ms": 300, "schedule": "Office", "schedule_needs_badge": True}},
          "reader": {"removal_ms": 150}, "access": {"interval_same_s": 0, "interval_other_s": 0}}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = Sim(tmp_path_factory.mktemp("access"), config=CONFIG, users=USERS)
    s.wait_for(lambda st: st["reader"]["status"] == "ok", timeout=10)
    yield s
    s.stop()


def tap(sim, card):
    """Tap `card`; returns the event it produced."""
    last = sim.state(1)["last_seq"]
    sim.call("tap", uid=card, ms=80)
    st = sim.wait_for(lambda st: st["last_seq"] > last and st["events"][-1]["kind"] == "card", events=3)
    return [e for e in st["events"] if e["seq"] > last and e["kind"] == "card"][-1]


def test_reasons_from_the_engine(sim):
    sim.call("clock", set=MONDAY_10)
    ev = tap(sim, "0A000001")
    assert (ev["result"], ev["reason"], ev["user"], ev["relays"]) == ("granted", "ok", 1, [1])
    assert tap(sim, "0A000002")["reason"] == "expired"
    assert tap(sim, "0A000003")["reason"] == "schedule"  # Never
    assert tap(sim, "0A000004")["result"] == "granted"  # Office, Monday 10:00
    assert tap(sim, "0BADCAFE")["reason"] == "unknown_credential"
    sim.call("clock", set=SUNDAY_10)
    ev = tap(sim, "0A000004")
    assert (ev["result"], ev["reason"], ev["user"]) == ("denied", "schedule", 4)


def test_clock_not_set_admits_only_always(sim):
    sim.call("clock", set=NOT_SET)
    try:
        assert tap(sim, "0A000001")["result"] == "granted"  # Always needs no clock
        ev = tap(sim, "0A000004")
        assert (ev["result"], ev["reason"]) == ("denied", "clock_not_set")
        assert tap(sim, "0A000002")["reason"] == "clock_not_set"  # a bounded validity needs the clock
    finally:
        sim.call("clock", set=MONDAY_10)


def test_relay_rights_pick_the_relays(sim):
    sim.call("clock", set=MONDAY_10)
    before = [sim.call("relay", num=n)["pulses"] for n in (1, 2)]  # (the bench's light poll)
    ev = tap(sim, "0A000005")
    assert ev["result"] == "granted" and ev["relays"] == [2]
    assert [sim.call("relay", num=n)["pulses"] for n in (1, 2)] == [before[0], before[1] + 1]


def test_relay_held_open_in_office_hours_after_a_badge_in(tmp_path):
    """relays.2: held open during "Office" once a user with Relay Schedule Activation has
    badged in that day (user 5 has no such permission: a normal pulse)."""
    sim = Sim(tmp_path, config=CONFIG, users=USERS)
    try:
        _held_open(sim)
    finally:
        sim.stop()


def _held_open(sim):
    sim.wait_for(lambda st: st["reader"]["status"] == "ok", timeout=10)
    sim.call("clock", set=MONDAY_10)
    assert tap(sim, "0A000005")["result"] == "granted"
    sim.wait_for(lambda st: not st["relays"]["2"]["on"], timeout=3)  # 300 ms pulse, no hold
    assert tap(sim, "0A000006")["result"] == "granted"
    time.sleep(2.5)  # far past the 300 ms hold time: the schedule keeps it open
    assert sim.state(0)["relays"]["2"]["on"]
    sim.call("clock", set=SUNDAY_10)  # outside the schedule: released
    sim.wait_for(lambda st: not st["relays"]["2"]["on"], timeout=5)

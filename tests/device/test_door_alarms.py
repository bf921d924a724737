"""Door alarms and input actions on the real Door (simulator board layer, real event log, real
inputs sampled from the pins): a forced door (no grant, exit press or remote open before it)
latches across a restart until cleared; a door opened after a grant or an exit press is not
forced; held open past its timeout raises its own alarm and clears when the door closes; an
alarm never opens a relay; action delays, unconditional or only if still triggered."""
import asyncio
import os

import eventcodes
import eventlog
from compat import sleep_ms
from doorapp import alarms as alarms_mod
from doorapp import app
from doorapp.access.decision import Decision
from doorapp.config import schema
from hal import boardfile
from hal.sim import Board
from test_door_events import _rmtree  # (the same clean-up of a test's folder)

SPEC = {"name": "t", "backend": "sim", "profile": "psram", "pn532": {"bus": "uart", "uart": 2},
        "relays": [{"id": 1, "pin": 26}, {"id": 2, "pin": 27}],
        "inputs": [{"id": "exit", "kind": "exit_button", "pin": 32, "pull": "up"},
                   {"id": "door", "kind": "door_sensor", "pin": 33, "pull": "up"}],
        "led": {"pin": 2}, "buzzer": {"pin": 25}}
EXIT_PIN = 32
MARGIN_MS = alarms_mod.MARGIN_MS  # restored after the tests that shorten it
DOOR_PIN = 33


class User:
    id = 1001
    web_relay = 0


class Table:
    count = 1
    serial = 1
    journal_entries = 0
    schedules = None


class Decided:
    def __init__(self, d):
        self.d = d

    def decide(self, kind, value, *a):
        return self.d


def _dir(name):
    path = "/tmp/doorctl-alarms-%s-%d" % (name, os.getpid() if hasattr(os, "getpid") else 0)
    _rmtree(path)
    os.mkdir(path)
    return path


def make(path, config=None):
    """A door on `path` (its flash: event log and alarms.json): idle inputs (door closed, exit
    not pressed: pull-ups, so the pins sit high except the door sensor's, shut = low)."""
    spec = boardfile.validate_board(dict(SPEC), "t.json")
    board = Board(spec, data_dir=path)
    board.drive_input(EXIT_PIN, 1)
    board.drive_input(DOOR_PIN, 0)
    log = eventlog.EventLog(path + "/events", 1000, 128)
    cfg = schema.validate(config or {}, spec)
    for r in cfg["relays"].values():
        r["hold_ms"] = 200
    door = app.Door(board, cfg, Table(), log, {"site_key": "00" * 32})
    return door, board, log


async def _start(door):
    from doorapp.inputs import poll

    door.led.start()
    door.buzzer.start()
    door._running = True
    tasks = [asyncio.create_task(r.run()) for r in door.relays.values()]
    tasks.append(asyncio.create_task(poll(door.inputs)))
    for part in (door.alarms, door.actions):
        if part is not None:
            tasks.append(asyncio.create_task(part.run()))
    await sleep_ms(0)
    return tasks


def _stop(tasks):
    for t in tasks:
        t.cancel()


def _door_events(log):
    return [(eventlog.REASONS[e.reason], e.value) for e in log.read(0, 100) if e.kind == eventcodes.KIND_DOOR]


def test_a_door_opened_without_a_grant_is_forced_and_stays_latched_across_a_restart():
    path = _dir("forced")
    alarms_mod.MARGIN_MS = 100

    async def first():
        door, board, log = make(path)
        tasks = await _start(door)
        try:
            assert door.alarms is not None and door.alarms.state() == {"door": {"held_open": False, "forced": False}}
            board.drive_input(DOOR_PIN, 1)  # opened: nobody was let in
            await sleep_ms(150)
            assert _door_events(log) == [("door_opened", b""), ("door_forced", b"door")], _door_events(log)
            assert door.alarms.state()["door"]["forced"]
            assert not door.relays[1].is_on() and not door.relays[2].is_on()  # an alarm opens nothing
            assert door.buzzer.is_on()
            board.drive_input(DOOR_PIN, 0)  # closed again: the forced alarm stays
            await sleep_ms(150)
            assert door.alarms.state()["door"]["forced"]
        finally:
            _stop(tasks)
            log.close()

    async def second():
        door, board, log = make(path)  # a restart on the same flash
        tasks = await _start(door)
        try:
            assert door.alarms.state()["door"]["forced"]
            assert door.alarms.clear("exit") == []  # not latched: nothing to clear
            assert door.alarms.clear() == ["door"]
            assert not door.alarms.state()["door"]["forced"]
            assert _door_events(log)[-1] == ("alarm_cleared", b"door")
        finally:
            _stop(tasks)
            log.close()

    async def third():
        door, board, log = make(path)
        try:
            assert not door.alarms.state()["door"]["forced"]  # cleared for good
        finally:
            log.close()

    try:
        asyncio.run(first())
        asyncio.run(second())
        asyncio.run(third())
    finally:
        alarms_mod.MARGIN_MS = MARGIN_MS
        _rmtree(path)


def test_a_door_opened_after_a_grant_or_an_exit_press_is_not_forced_but_later_it_is():
    path = _dir("letin")
    alarms_mod.MARGIN_MS = 100

    async def main():
        door, board, log = make(path)
        tasks = await _start(door)
        try:
            door.engine = Decided(Decision(True, User(), (1,), eventcodes.REASON_OK, "Welcome"))
            door.decide(eventcodes.KIND_CARD, "04A1B2C3", b"\x04\xa1\xb2\xc3", 1)
            await sleep_ms(100)
            board.drive_input(DOOR_PIN, 1)  # opened while the relay is on
            await sleep_ms(100)
            board.drive_input(DOOR_PIN, 0)
            await sleep_ms(100)
            board.drive_input(EXIT_PIN, 0)  # exit pressed (relay 1 too)
            await sleep_ms(100)
            board.drive_input(EXIT_PIN, 1)
            board.drive_input(DOOR_PIN, 1)
            await sleep_ms(100)
            board.drive_input(DOOR_PIN, 0)
            await sleep_ms(100)
            assert [r for r, v in _door_events(log)] == ["door_opened", "door_closed"] * 2, _door_events(log)
            door.open_relay(2, 100, b"admin")  # a remote open of another door's relay: not this door's
            await sleep_ms(600)  # relay 1's hold (200 ms) and the margin over
            board.drive_input(DOOR_PIN, 1)
            await sleep_ms(100)
            assert _door_events(log)[-1] == ("door_forced", b"door"), _door_events(log)
        finally:
            _stop(tasks)
            log.close()

    try:
        asyncio.run(main())
    finally:
        alarms_mod.MARGIN_MS = MARGIN_MS
        _rmtree(path)


def test_held_open_raises_its_own_alarm_and_clears_when_the_door_closes():
    path = _dir("held")

    async def main():
        door, board, log = make(path, {"inputs": {"door": {"door_opened_timeout_s": 1}}})
        tasks = await _start(door)
        try:
            door.open_relay(1, 300, b"admin")
            board.drive_input(DOOR_PIN, 1)
            await sleep_ms(700)
            assert not door.alarms.state()["door"]["held_open"]
            await sleep_ms(600)
            assert door.alarms.state()["door"] == {"held_open": True, "forced": False}
            board.drive_input(DOOR_PIN, 0)
            await sleep_ms(150)
            assert not door.alarms.state()["door"]["held_open"]
            assert [r for r, v in _door_events(log)] == ["door_opened", "door_held_open", "door_closed", "alarm_cleared"]
        finally:
            _stop(tasks)
            log.close()

    try:
        asyncio.run(main())
    finally:
        _rmtree(path)


def test_break_in_off_raises_nothing_and_clears_a_latched_alarm():
    path = _dir("off")
    alarms_mod.MARGIN_MS = 100

    async def main():
        door, board, log = make(path)
        tasks = await _start(door)
        try:
            board.drive_input(DOOR_PIN, 1)
            await sleep_ms(150)
            board.drive_input(DOOR_PIN, 0)
            await sleep_ms(150)
            assert door.alarms.state()["door"]["forced"]
            cfg = schema.validate({"inputs": {"door": {"break_in": False}}}, door.board.spec)
            door.cfg = cfg
            door._build_inputs()
            assert not door.alarms.state()["door"]["forced"]
            await sleep_ms(100)
            board.drive_input(DOOR_PIN, 1)
            await sleep_ms(150)
            reasons = [r for r, v in _door_events(log)]
            assert reasons == ["door_opened", "door_forced", "door_closed", "alarm_cleared", "door_opened"], reasons
        finally:
            _stop(tasks)
            log.close()

    try:
        asyncio.run(main())
    finally:
        alarms_mod.MARGIN_MS = MARGIN_MS
        _rmtree(path)


def test_action_delay_unconditional_and_only_if_still_triggered():
    path = _dir("delay")

    async def run(mode, hold_ms):
        door, board, log = make(path, {"inputs": {"exit": {"action_delay_s": 1, "delay_mode": mode},
                                                  "door": {"break_in": False}}})
        tasks = await _start(door)
        try:
            assert door.actions is not None
            board.drive_input(EXIT_PIN, 0)  # pressed for hold_ms
            if hold_ms > 900:
                await sleep_ms(900)
                opened_early = door.relays[1].pulses  # (the delay is 1 s)
                await sleep_ms(hold_ms - 900)
                board.drive_input(EXIT_PIN, 1)
            else:
                await sleep_ms(hold_ms)
                board.drive_input(EXIT_PIN, 1)
                await sleep_ms(900 - hold_ms)
                opened_early = door.relays[1].pulses
            await sleep_ms(1400 - max(hold_ms, 900))
            exits = [e for e in log.read(0, 100) if e.kind == eventcodes.KIND_EXIT]
            return opened_early, door.relays[1].pulses, len(exits)
        finally:
            _stop(tasks)
            log.close()
            _rmtree(path)
            os.mkdir(path)

    try:
        got = asyncio.run(run("unconditional", 100))
        assert got == (0, 1, 1), got  # released, runs anyway
        assert asyncio.run(run("still_triggered", 100)) == (0, 0, 0)  # released before the delay
        assert asyncio.run(run("still_triggered", 1200)) == (0, 1, 1)  # held past it
    finally:
        _rmtree(path)


def test_config_errors_name_the_field():
    spec = boardfile.validate_board(dict(SPEC), "t.json")
    spec["profile"] = "psram"
    cases = (
        ({"inputs": {"exit": {"break_in": True}}}, "inputs.exit.break_in"),  # (an exit button has no alarms)
        ({"inputs": {"door": {"door_relay": 5}}}, "inputs.door.door_relay"),
        ({"inputs": {"door": {"http_url": "ftp://x/"}}}, "inputs.door.http_url"),
        ({"inputs": {"door": {"http_url": "http://10.0.0.9/?e={Evnt}"}}}, "inputs.door.http_url"),
        ({"inputs": {"door": {"delay_mode": "sometimes"}}}, "inputs.door.delay_mode"),
        ({"web_relays": {"0": {"url": "http://10.0.0.9/"}}}, "web_relays.0"),
        ({"web_relays": {"3": {}}}, "web_relays.3.url"),
        ({"web_relays": {"3": {"url": "http://10.0.0.9/{Card}"}}}, "web_relays.3.url"),
    )
    for cfg, field in cases:
        try:
            schema.validate(cfg, spec)
        except Exception as e:
            assert field in str(e), (field, str(e))
        else:
            raise AssertionError("accepted: %r" % (cfg,))
    ok = schema.validate({"inputs": {"door": {"http_url": "http://10.0.0.9/n?d={DeviceID}&i={Input}&e={Event}&t={Time}"}},
                          "web_relays": {"3": {"url": "http://10.0.0.9/relay/0?turn=on&u={UserID}"}}}, spec)
    assert ok["web_relays"]["3"]["url"].startswith("http://") and ok["inputs"]["door"]["break_in"]
    spec["profile"] = "lean"
    for cfg, field in (({"inputs": {"door": {"http_url": "http://10.0.0.9/"}}}, "inputs.door.http_url"),
                       ({"web_relays": {"3": {"url": "http://10.0.0.9/"}}}, "web_relays.3")):
        try:
            schema.validate(cfg, spec)
        except Exception as e:
            assert field in str(e) and "lean" in str(e), str(e)
        else:
            raise AssertionError("lean accepted %r" % (cfg,))

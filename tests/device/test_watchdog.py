"""doorapp/watchdog.py: the supervisor feeds the watchdog only while every essential part shows
progress (reader loop, inputs task, relay timers, event log), and logs the reset cause as one
system event at start (MicroPython and CPython)."""
import asyncio
import os
from binascii import hexlify

import eventcodes as C
import eventlog as E
from compat import sleep_ms, ticks_add, ticks_ms
from doorapp import inputs, watchdog
from doorapp.relays import Relay
from hal.sim import OutputPin, PinBank


class Wdt:
    def __init__(self):
        self.feeds = 0

    def feed(self):
        self.feeds += 1


class Watcher:
    def __init__(self):
        self.polls = self.errors = 0


class Log:
    def __init__(self, errors=0):
        self.errors = errors


class Door:
    """What the supervisor looks at: watcher, relays, log (and record() for the reset cause)."""

    def __init__(self, log=None):
        self.watcher = Watcher()
        self.relays = {1: Relay(1, OutputPin(PinBank(), 26), 500)}
        self.log = log or Log()
        self.records = []

    def record(self, kind, granted, reason, value, fmt, user, relays):
        self.records.append((kind, granted, reason))
        return len(self.records)


def _move(door):
    """One turn of the reader and of the inputs task."""
    door.watcher.polls += 1
    inputs.polls = (inputs.polls + 1) & 0xFFFF


def test_feeds_only_after_progress_everywhere():
    door = Door()
    wdt = Wdt()
    seen = watchdog.start(door)
    now = ticks_ms()
    _move(door)
    assert watchdog.tick(door, wdt, seen, now) == "" and wdt.feeds == 1
    # nothing moved since that feed: no feed, and the check names the reader first
    assert watchdog.tick(door, wdt, seen, now) == "reader" and wdt.feeds == 1
    door.watcher.errors += 1  # the reader moved (a failed poll is a turn too), the inputs task did not
    assert watchdog.tick(door, wdt, seen, now) == "inputs" and wdt.feeds == 1
    inputs.polls = (inputs.polls + 1) & 0xFFFF
    assert watchdog.tick(door, wdt, seen, now) == "" and wdt.feeds == 2


def test_a_stalled_reader_stops_the_feeding_for_good():
    door = Door()
    wdt = Wdt()
    seen = watchdog.start(door)
    now = ticks_ms()
    for _ in range(5):
        _move(door)
        assert watchdog.tick(door, wdt, seen, now) == ""
    for _ in range(40):  # the reader task hangs; everything else goes on
        inputs.polls = (inputs.polls + 1) & 0xFFFF
        assert watchdog.tick(door, wdt, seen, now) == "reader"
    assert wdt.feeds == 5


def test_no_reader_yet_is_no_progress():
    door = Door()
    door.watcher = None  # the reader task has not built its watcher (or never will)
    wdt = Wdt()
    seen = watchdog.start(door)
    inputs.polls = (inputs.polls + 1) & 0xFFFF
    assert watchdog.tick(door, wdt, seen, ticks_ms()) == "reader" and wdt.feeds == 0


def test_a_relay_left_on_after_its_hold_means_its_timer_task_stalled():
    door = Door()
    wdt = Wdt()
    seen = watchdog.start(door)
    relay = door.relays[1]
    relay.pulse(500)  # energised; its task (not running here) would release it after 500 ms
    now = ticks_ms()
    _move(door)
    assert watchdog.tick(door, wdt, seen, ticks_add(now, 500 + 1900)) == ""  # late, but within the grace
    _move(door)
    assert watchdog.tick(door, wdt, seen, ticks_add(now, 500 + 2500)) == "relays"
    assert wdt.feeds == 1
    relay.release()
    assert watchdog.tick(door, wdt, seen, ticks_add(now, 500 + 2600)) == "" and wdt.feeds == 2


def test_a_log_that_fails_to_write_stops_the_feeding_until_it_writes_again():
    door = Door()
    wdt = Wdt()
    seen = watchdog.start(door)
    door.log.errors = 1
    _move(door)
    assert watchdog.tick(door, wdt, seen, ticks_ms()) == "event log" and wdt.feeds == 0
    door.log.errors = 0
    assert watchdog.tick(door, wdt, seen, ticks_ms()) == "" and wdt.feeds == 1


def test_a_log_already_failing_at_start_is_left_out():
    """The reset-cause event at start could not be written: resetting would not help, so the
    door runs without its log instead of resetting every 30 s."""
    door = Door(Log(errors=1))
    wdt = Wdt()
    seen = watchdog.start(door)
    _move(door)
    assert watchdog.tick(door, wdt, seen, ticks_ms()) == "" and wdt.feeds == 1


def test_the_task_feeds_while_the_door_moves_and_stops_when_it_stops():
    door = Door()
    wdt = Wdt()

    async def busy():
        while True:
            _move(door)
            await sleep_ms(5)

    async def main():
        mover = asyncio.create_task(busy())
        task = asyncio.create_task(watchdog.supervise(door, wdt))
        for _ in range(200):  # fed once a second while everything moves
            if wdt.feeds >= 2:
                break
            await sleep_ms(50)
        fed = wdt.feeds
        mover.cancel()  # the door's tasks stop moving: the feeding stops with them
        await sleep_ms(3500)
        task.cancel()
        return fed, wdt.feeds

    fed, later = asyncio.run(main())
    assert fed >= 2, fed
    assert later <= fed + 1, (fed, later)  # at most the feed for the turns made before the stop


class Board:
    """The board's side of watchdog.run(): its reset cause, and no watchdog to arm."""

    def __init__(self, cause):
        self.cause = cause

    def reset_cause(self):
        return self.cause

    def watchdog(self, ms):
        self.armed = ms


def test_reset_causes_are_logged_by_their_own_reasons_and_the_watchdog_armed():
    for cause in watchdog.RESET_CAUSES:
        door = Door()
        door.board = Board(cause)
        assert watchdog.run(door) is None  # (this board's watchdog() gave nothing to feed)
        assert door.records == [(C.KIND_SYSTEM, None, E.reason_code(cause))], (cause, door.records)
        assert E.reason_name(door.records[0][2]) == cause and door.board.armed == 30000
    assert E.reason_code("power_on") == 28 and E.reason_code("watchdog") == 30 and E.reason_code("brownout") == 33
    door = Door()
    door.board = Board("")  # the board can't tell
    watchdog.run(door)
    assert door.records == [(C.KIND_SYSTEM, None, C.REASON_BOOT)]


def test_reset_cause_with_a_broken_log_does_not_stop_the_start():
    class Broken(Door):
        def record(self, *args):
            raise OSError(5)

    door = Broken()
    door.board = Board("watchdog")
    watchdog.run(door)  # reported, not raised; the watchdog armed all the same
    assert door.records == [] and door.board.armed == 30000


def test_event_log_counts_failed_appends_until_one_works():
    path = "/tmp/doorctl-test-watchdog-%s" % hexlify(os.urandom(4)).decode()
    log = E.EventLog(path, capacity=256, per_file=128)
    try:
        log.append(1, C.KIND_SYSTEM, C.RESULT_INFO, 28)
        assert not log.errors
        log.close()
        for name in os.listdir(path):  # (0000, the next segment opened beforehand, meta)
            os.remove(path + "/" + name)
        os.rmdir(path)  # the log's folder is gone: the next append can't open its segment
        try:
            log.append(2, C.KIND_CARD, C.RESULT_DENIED, C.REASON_UNKNOWN_CREDENTIAL, b"\x01\x02\x03\x04", 1)
            raise AssertionError("append into a missing folder worked")
        except OSError:
            pass
        assert log.errors == 1
        os.mkdir(path)
        log.append(2, C.KIND_CARD, C.RESULT_DENIED, C.REASON_UNKNOWN_CREDENTIAL, b"\x01\x02\x03\x04", 1)
        assert not log.errors and log.last_seq == 2
    finally:
        log.close()
        for name in os.listdir(path):
            os.remove(path + "/" + name)
        os.rmdir(path)

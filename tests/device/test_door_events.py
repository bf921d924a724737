"""A decision's event reaches flash even when the heap is exhausted at that instant (MicroPython
and CPython; the heap checks are MicroPython's: CPython has no heap to lock or fill).

The real Door on the simulator's board layer and a real event log in a temporary folder; the
access engine is replaced by one that hands over a decision already made, so that what is
tested is exactly the way from the decision to the flash: relays, LED/buzzer, the event.
"""
import asyncio
import gc
import os

import eventcodes
import eventlog
from compat import sleep_ms
from doorapp import app
from doorapp.access.decision import Decision
from doorapp.config import schema
from hal import boardfile
from hal.sim import Board

try:
    from micropython import heap_lock, heap_unlock
except ImportError:  # CPython
    heap_lock = heap_unlock = None

SPEC = {"name": "t", "backend": "sim", "pn532": {"bus": "uart", "uart": 2},
        "relays": [{"id": 1, "pin": 26}, {"id": 2, "pin": 27}],
        "inputs": [{"id": "exit", "kind": "exit_button", "pin": 32, "pull": "up"}],
        "led": {"pin": 2}, "buzzer": {"pin": 25}}
TMP = "/tmp"


class User:
    id = 1001


class Table:
    count = 1
    serial = 1
    journal_entries = 0
    schedules = None


class Decided:
    """An engine whose decision is already made: decide() only locks the heap (MicroPython)
    unless told not to."""

    def __init__(self, d, lock=True):
        self.d = d
        self.lock = lock

    def decide(self, kind, value, *a):
        if self.lock and heap_lock is not None:
            heap_lock()
        return self.d


def _rmtree(path):
    try:
        names = os.listdir(path)
    except OSError:
        return
    for n in names:
        p = path + "/" + n
        try:
            os.remove(p)
        except OSError:
            _rmtree(p)
    os.rmdir(path)


def make(name, per_file=128):
    spec = boardfile.validate_board(dict(SPEC), "t.json")
    board = Board(spec, data_dir=TMP)
    path = "%s/doorctl-test-%s-%d" % (TMP, name, os.getpid() if hasattr(os, "getpid") else 0)
    _rmtree(path)
    log = eventlog.EventLog(path, 1000, per_file)
    cfg = schema.defaults(spec)
    door = app.Door(board, cfg, Table(), log, {"site_key": "00" * 32})
    return door, log, path


def test_decision_to_flash_allocates_nothing():
    """With the heap locked from the moment the decision exists, the relay opens and the event
    is written, across segment files too (the log opens the next one beforehand)."""
    async def main():
        door, log, path = make("locked", per_file=4)
        try:
            door.led.start()
            door.buzzer.start()
            door.record(eventcodes.KIND_SYSTEM, None, eventcodes.REASON_BOOT, b"", 0, None, ())
            granted = Decision(True, User(), (1,), eventcodes.REASON_OK, "Welcome")
            denied = Decision(False, None, (), eventcodes.REASON_UNKNOWN_CREDENTIAL, "Unknown card")
            for i in range(10):  # over two segment boundaries
                door.engine = Decided(granted if i % 2 == 0 else denied)
                try:
                    door.decide(eventcodes.KIND_CARD, "04A1B2C3", b"\x04\xa1\xb2\xc3", 1)
                finally:
                    if heap_unlock is not None:
                        heap_unlock()
                log.prepare()  # (the door's holds task does this once a second)
                await sleep_ms(0)
            assert door.relays[1].is_on()
            evs = log.read(0, 20)
            assert [e.kind for e in evs] == [eventcodes.KIND_SYSTEM] + [eventcodes.KIND_CARD] * 10, evs
            assert [e.result for e in evs[1:]] == [eventcodes.RESULT_GRANTED, eventcodes.RESULT_DENIED] * 5
            assert [e.seq for e in evs] == list(range(1, 12))
            assert evs[1].user == 1001 and evs[1].value == b"\x04\xa1\xb2\xc3" and evs[1].relays == 1
        finally:
            log.close()
            _rmtree(path)

    asyncio.run(main())


def test_an_exhausted_heap_still_gets_the_event_written():
    """The heap filled up to the last block (no allocation succeeds), then decisions and an exit
    press: every event is in the log, in order (its segment files included)."""
    if not hasattr(gc, "mem_free"):
        return  # CPython: nothing to fill

    async def main():
        door, log, path = make("full", per_file=4)
        try:
            door.led.start()
            door.buzzer.start()
            granted = Decision(True, User(), (1,), eventcodes.REASON_OK, "Welcome")
            door.engine = Decided(granted, lock=False)
            exit_button = door.inputs[0]
            hog = []
            for size in (4096, 1024, 256, 64, 16):  # until not even 16 bytes can be had
                while True:
                    try:
                        hog.append(bytearray(size))
                    except MemoryError:
                        break
            for i in range(6):
                door.decide(eventcodes.KIND_CARD, "04A1B2C3", b"\x04\xa1\xb2\xc3", 1)
            door.on_input(exit_button, True)
            hog = None
            gc.collect()
            evs = log.read(0, 20)
            assert [e.kind for e in evs] == [eventcodes.KIND_CARD] * 6 + [eventcodes.KIND_EXIT], evs
            assert [e.seq for e in evs] == list(range(1, 8))
            assert door.relays[1].is_on()
        finally:
            log.close()
            _rmtree(path)

    asyncio.run(main())

"""Tap-to-relay latency inside the simulator (run under the MicroPython unix port, ESP32 heap).

The real Door (board layer, PN532 driver over the byte-level emulator, access decision, relays,
event log on a LittleFS image) runs in this process; the clock starts when a card enters the
emulator's field and stops when the relay pin is set. Two cards alternate (a different card is a
new tap at once) and arrive at a random point of the reader's poll cycle; each relay is
released after its pin was seen, so 1,000 taps take ~30 s.
Prints one JSON object.
Usage: micropython -X heapsize=112000w bench/tap_latency.py ROOT [TAPS]
"""
import asyncio
import gc
from array import array
import json
import os
import sys

import eventlog
import hal
from compat import sleep_ms, ticks_diff, ticks_us
from deadline import Deadline
from doorapp import app
from doorapp.config import schema
from doorapp.residency import forget
from usertable import build, validate, validate_list
from sim import flash
from heapprobe import largest_block

ROOT = sys.argv[1]
TAPS = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
IMAGE = "/tmp/doorctl-bench-flash.img"
CARD_A = b"\x04\xa1\xb2\xc3"
CARD_B = b"\xde\xad\xbe\xef"


def percentile(sorted_vals, p):
    return sorted_vals[min(len(sorted_vals) - 1, int(len(sorted_vals) * p / 100))]


def sort_in_place(a):
    """Shell sort: no copy of the samples (a fragmented heap may not have 4 KB in one piece)."""
    gap = len(a) // 2
    while gap:
        for i in range(gap, len(a)):
            v = a[i]
            j = i
            while j >= gap and a[j - gap] > v:
                a[j] = a[j - gap]
                j -= gap
            a[j] = v
        gap //= 2


def summary(vals):
    sort_in_place(vals)
    return {"n": len(vals), "p50_us": percentile(vals, 50), "p99_us": percentile(vals, 99),
            "max_us": vals[-1], "mean_us": sum(vals) // len(vals)}


async def run():
    try:
        os.remove(IMAGE)
    except OSError:
        pass
    flash.mount(IMAGE, "/flash", flash.DEFAULT_SIZE)
    spec = hal.load_board(ROOT + "/boards/sim.json")
    board = hal.open_board(spec, data_dir="/flash")
    cfg = schema.validate({"reader": {"poll_ms": 10, "removal_ms": 50}}, spec)
    # the host builds the table (doorctl users build); here the same library, before the app
    ctx = validate.Ctx("8HN", "UTC0", [1, 2], None, False, "users.json")
    sched, users = validate_list.document({"users": [
        {"id": 1, "cards": ["04A1B2C3"], "relays": [1]},
        {"id": 2, "cards": ["DEADBEEF"], "relays": [2]},
    ]}, ctx)
    build.build_file("/flash/users.tbl", sched, users, ctx.fid, 1)
    forget("usertable.validate", "usertable.validate_list", "usertable.sitetime", "usertable.build", "usertable.writer",
           "usertable.codec", "plates")  # the host's work (doorctl users build): not on a board
    gc.collect()
    log = eventlog.EventLog("/flash/events.log", cfg["events"]["capacity"])
    from doorapp import startup

    table = startup.open_table(board, cfg, {"site_key": None})
    startup = None
    forget("doorapp.startup")  # start-up code, as a board drops it
    gc.collect()
    door = app.Door(board, cfg, table, log)
    gc.threshold((gc.mem_free() + gc.mem_alloc()) // 48)  # as startup.load_resident on a board
    pins = {}
    for r in spec["relays"]:
        pins[r["pin"]] = r["id"]
    seen = {"t": 0, "relay": 0}
    got = asyncio.Event()

    def on_pin(num, level, t):
        if num in pins and level == 1:
            seen["t"] = t
            seen["relay"] = pins[num]
            got.set()

    board.pins.listeners.append(on_pin)
    decided = {"t": 0}
    inner = door.on_card

    def timed_on_card(uid, atqa=None, sak=None):
        decided["t"] = ticks_us()
        return inner(uid, atqa, sak)

    door.on_card = timed_on_card
    # the watcher holds a reference to the callback it was given: patch before it starts
    task = asyncio.create_task(door.run())
    while door.watcher is None or door.watcher.status != "ok":
        await sleep_ms(5)
    door.watcher.on_card = timed_on_card
    emu = board.emulator
    tap = array("i", bytes(4 * TAPS))  # preallocated: the bench must not fragment the heap
    dl = Deadline()  # its waits for the relay: no task per wait (asyncio.wait_for makes two)
    decide = array("i", bytes(4 * TAPS))
    rnd = 12345
    for i in range(TAPS):
        uid, relay = (CARD_A, 1) if i % 2 == 0 else (CARD_B, 2)
        # a card arrives at a random moment of the reader's poll cycle (deterministic LCG)
        rnd = (rnd * 1103515245 + 12345) & 0x7FFFFFFF
        await sleep_ms(rnd % 30)
        got.clear()
        t0 = ticks_us()
        emu.place(uid)
        await dl.run(got.wait(), 2000)
        if seen["relay"] != relay:
            raise RuntimeError("wrong relay")
        tap[i] = ticks_diff(seen["t"], t0)
        decide[i] = ticks_diff(seen["t"], decided["t"])
        door.relays[relay].release()
    # exit button: pressed (pin to its trigger level) -> relay pin set; default debounce 50 ms,
    # inputs sampled every 5 ms by one task (no pin IRQs: on the ESP32 they are soft anyway)
    exit_pin = [i["pin"] for i in spec["inputs"] if i["kind"] == "exit_button"][0]
    presses = 100
    press = array("i", bytes(4 * presses))
    for i in range(presses):
        rnd = (rnd * 1103515245 + 12345) & 0x7FFFFFFF
        await sleep_ms(rnd % 10)
        got.clear()
        t0 = ticks_us()
        board.drive_input(exit_pin, 0)
        await dl.run(got.wait(), 2000)
        press[i] = ticks_diff(seen["t"], t0)
        board.drive_input(exit_pin, 1)
        door.relays[1].release()
        await sleep_ms(cfg["inputs"]["exit"]["debounce_ms"] + 20)
    await sleep_ms(200)
    gc.collect()
    free = gc.mem_free()
    used = gc.mem_alloc()
    block = largest_block()
    task.cancel()
    await sleep_ms(10)
    del door, emu, board
    gc.collect()
    return {
        "taps": TAPS,
        "tap_to_relay": summary(tap),
        "uid_to_relay": summary(decide),
        "exit_to_relay": summary(press),
        "exit_debounce_ms": cfg["inputs"]["exit"]["debounce_ms"],
        "events_logged": log.last_seq,
        "heap_free_steady": free,
        "heap_used_steady": used,
        "heap_total": free + used,
        "heap_largest_block": block,
    }


result = asyncio.run(run())
print(json.dumps(result))

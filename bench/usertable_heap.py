"""Heap of the firmware holding a user table (MicroPython unix port, -X heapsize=112000w).

Usage: micropython -X heapsize=112000w bench/usertable_heap.py ROOT IMAGE N PROFILE
Loads the firmware's modules and board as the simulator does (board layer, config, event log
of 20,000 events on the image), then imports and opens the table; reports free heap at each
step, the largest free block, and heap allocated per lookup over 1,000 card lookups (collector
disabled, so nothing is reclaimed in between). One JSON object.
"""
import gc
import json
import sys

sys.path.append(sys.argv[0].rsplit("/", 1)[0])
import usertable_gen as gen  # noqa: E402
from usertable_flash import mount  # noqa: E402
from heapprobe import largest_block  # noqa: E402

ROOT = sys.argv[1]
IMAGE = sys.argv[2]
N = int(sys.argv[3])
PROFILE = sys.argv[4]


def free():
    gc.collect()
    return gc.mem_free()


def main():
    res = {"heap_total": gc.mem_free() + gc.mem_alloc()}
    mount(IMAGE)
    res["free_start"] = free()
    firmware = True
    try:
        import eventlog
        import hal
        from doorapp import app  # noqa: F401  (the app's resident code; the config checks are not)

        spec = hal.load_board(ROOT + "/boards/sim-lean.json")
        board = hal.open_board(spec, data_dir="/flash")  # noqa: F841
        log = eventlog.EventLog("/flash/events.log", 20000)  # noqa: F841
    except Exception as e:  # the app is being changed by others: still measure the table
        firmware = False
        res["firmware_error"] = "%s: %s" % (type(e).__name__, e)
    res["firmware_loaded"] = firmware
    res["free_firmware"] = free()
    from usertable.table import UserTable

    res["free_imported"] = free()
    t = UserTable.open("/flash", site_key=gen.SITE_KEY, card_format="8HN")
    res["free_open"] = free()
    res["users"] = t.count
    res["table_ram"] = t.stats()["ram"]
    codes = [None] * 200  # 200 users, looked up 5 times each: small input lists (heap is tight)
    want = [0] * 200
    x = 7
    for k in range(200):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        i = x % N
        codes[k] = gen.card(i, (i % 5) if PROFILE == "5card" else 0)
        want[k] = gen.uid(i)
    for c in codes[:50]:
        t.by_card(c)
    gc.collect()
    gc.disable()
    m0 = gc.mem_alloc()
    ok = 0
    for k in range(1000):
        r = t.by_card(codes[k % 200])
        if r is not None and r.id == want[k % 200] and r.relays and len(r.schedules):
            ok += 1
    res["alloc_per_lookup"] = (gc.mem_alloc() - m0) / 1000
    gc.enable()
    res["lookups_ok"] = ok
    del codes, want
    res["free_steady"] = free()
    res["largest_block"] = largest_block()
    res["free_pct"] = round(100.0 * res["free_steady"] / res["heap_total"], 1)
    print(json.dumps(res))


main()

"""Transient heap of single-user edits of the user table (MicroPython unix port, ESP32 heap).

Usage: micropython -X heapsize=112000w bench/useredit_heap.py IMAGE TABLE TZ   (TABLE: users of
bench/usertable_gen.py with its site key, e.g. built by host_tools/doorctl/bench_useredit.py)
Creates a LittleFS image with the simulator's flash geometry, copies the host-built TABLE into
it and opens it as the firmware does (site key, card format 8HN, relays 1-2, site time zone TZ,
auto_compact off). Every operation runs once unmeasured first (its first use loads its code and
interns its names: both stay), then once measured: free heap after a collection before it, and
the lowest free heap during it, sampled (after a collection, so live data only) at every
block-device read and write, at each card check (cardfmt.normalize), as an edit's stages end
(local times: sitetime.unix_times, checks: validate.table_user), before the journal append and
when the operation has returned (with its result).
cost = before - lowest; `left`: modules loaded by the measured run that were not before (none:
the first run loaded them). `resident_after_warm_up`: the modules the warm-up added to those of
the open table, and the heap they took. Prints one JSON object.
"""
import gc
import json
import os
import sys

import cardfmt
import vfs
from sim import flash
from usertable.journal import Journal
from usertable.table import UserTable

sys.path.append(sys.argv[0].rsplit("/", 1)[0])
import usertable_gen as gen  # noqa: E402

RESIDENT = []  # modules loaded once the table is open (the firmware keeps them)


class Probe:
    """Lowest free heap (live data only: collected first) seen at the sample points."""

    def __init__(self):
        self.on = False
        self.low = 1 << 30
        self.at = None
        self.samples = 0

    def sample(self, at):
        if self.on:
            gc.collect()
            f = gc.mem_free()
            if f < self.low:
                self.low = f
                self.at = at
            self.samples += 1


PROBE = Probe()


class Device(flash.FileBlockDevice):
    def readblocks(self, block, buf, off=0):
        PROBE.sample("flash read")
        super().readblocks(block, buf, off)

    def writeblocks(self, block, buf, off=None):
        PROBE.sample("flash write")
        super().writeblocks(block, buf, off)


def _hook():
    from usertable import sitetime, validate  # (an edit's code: counted in resident_after_warm_up)

    append = Journal.append
    normalize = cardfmt.normalize

    def append_sampled(self, *args):
        PROBE.sample("journal append")
        return append(self, *args)

    def normalize_sampled(*args):  # while a user's cards are checked
        PROBE.sample("card check")
        return normalize(*args)

    def stage(mod, name, at):
        fn = getattr(mod, name)

        def sampled(*args):
            r = fn(*args)
            PROBE.sample(at)
            return r

        setattr(mod, name, sampled)

    Journal.append = append_sampled
    cardfmt.normalize = normalize_sampled
    stage(sitetime, "unix_times", "local times done")
    stage(validate, "table_user", "checks done")


def _cold():
    return [m for m in sys.modules if m not in RESIDENT]


def measure(fn, setup=None):
    """{"before", "lowest", "cost", "lowest_at", "left", "samples"} of one call of fn()."""
    res = {}
    resident = _cold()
    if setup:
        setup()
    gc.collect()
    before = gc.mem_free()
    PROBE.low = before
    PROBE.at = None
    PROBE.samples = 0
    PROBE.on = True
    try:
        out = fn()
        PROBE.sample("returned")  # with its result and whatever it left loaded
    finally:
        PROBE.on = False
    del out
    gc.collect()
    res["before"] = before
    res["lowest"] = PROBE.low
    res["cost"] = before - PROBE.low
    res["lowest_at"] = PROBE.at
    res["samples"] = PROBE.samples
    res["left"] = [m for m in _cold() if m not in resident]
    return res


def main():
    image, table, tz = sys.argv[1], sys.argv[2], sys.argv[3]
    flash.create_image(image, 0x100000)
    dev = Device(image, 0x100000)
    vfs.mount(vfs.VfsLfs2(dev, **flash.LFS_OPTS), "/flash")
    with open(table, "rb") as src, open("/flash/users.tbl", "wb") as dst:
        buf = bytearray(1024)
        while True:
            n = src.readinto(buf)
            if not n:
                break
            dst.write(buf[:n])
    del buf
    t = UserTable.open("/flash", site_key=gen.SITE_KEY, card_format="8HN", tz=tz, relay_ids=[1, 2],
                       compact_at=1000, auto_compact=False)
    gc.collect()
    free_open = gc.mem_free()
    opened = list(sys.modules)
    _hook()
    RESIDENT.extend(sys.modules)
    users = t.count
    user = {"id": 900001, "name": "Bench User", "cards": ["0BE0C001", "0BE0C002"], "pin": "24681357",
            "plates": ["BE1234"], "relays": [1]}
    dated = dict(user)
    dated["valid_from"] = "2026-01-01"
    dated["valid_to"] = "2026-12-31"
    # a user of the base table renamed, PIN not sent: its keyed hash is kept (index scan)
    keep = {"id": gen.uid(7), "name": "Renamed User", "cards": [gen.card(7)]}
    ops = (("add_or_replace", lambda: t.add_or_replace(user), None),
           ("add_or_replace_dates", lambda: t.add_or_replace(dated), None),
           ("edit_keep_pin", lambda: t.add_or_replace(keep), None),
           ("delete", lambda: t.delete(900001), lambda: t.add_or_replace(user)),
           ("users_page", lambda: t.users(0, 50), None),
           ("users_page_1", lambda: t.users(0, 1), None),
           ("get", lambda: t.by_id(gen.uid(500), t.new_record()).to_dict(), None),
           ("compact", t.compact, lambda: t.add_or_replace(user)))
    for _name, fn, setup in ops:  # warm-up
        if setup:
            setup()
        fn()
    gc.collect()
    res = {"users": users, "tz": tz, "heap_total": gc.mem_free() + gc.mem_alloc(), "free_steady": gc.mem_free(),
           "resident_after_warm_up": {"modules": [m for m in sys.modules if m not in opened],
                                      "bytes": free_open - gc.mem_free()}}
    for name, fn, setup in ops:
        res[name] = measure(fn, setup)
    res["users_after"] = t.count
    r = t.by_card("0BE0C002")
    k = t.by_id(gen.uid(7), t.new_record())
    res["check_ok"] = (r is not None and r.id == 900001 and t.by_id(gen.uid(500)) is not None
                       and k is not None and k.name == "Renamed User" and k.has_pin)
    res["dated_ok"] = dated["valid_to"] == "2026-12-31"
    t.close()
    vfs.umount("/flash")
    os.remove(image)
    print(json.dumps(res))


main()

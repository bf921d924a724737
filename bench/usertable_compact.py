"""Journal appends and compaction on a LittleFS image (MicroPython unix port, ESP32 heap).

Usage: micropython -X heapsize=112000w bench/usertable_compact.py IMAGE N PROFILE EDITS
Applies EDITS single-user edits (new users, replacements, deletions) through the journal, then
compacts. Reports time per journal append, compaction time, the lowest free heap seen during
compaction (sampled from the block device's read callback), and whether the filesystem had
room for the new table (compaction needs a second copy until the rename). One JSON object.
"""
import gc
import json
import os
import sys
from time import ticks_diff, ticks_ms, ticks_us

sys.path.append(sys.argv[0].rsplit("/", 1)[0])
import usertable_gen as gen  # noqa: E402
from usertable_flash import free_bytes, mount  # noqa: E402

from usertable.table import UserTable  # noqa: E402

def main():
    image = sys.argv[1]
    n = int(sys.argv[2])
    profile = sys.argv[3]
    edits = int(sys.argv[4])
    dev = mount(image)
    t = UserTable.open("/flash", site_key=gen.SITE_KEY, card_format="8HN", compact_at=edits + 10)
    res = {"users_before": t.count, "edits": edits, "table_bytes": t.stats()["size"], "free_before": free_bytes()}
    t0 = ticks_us()
    for k in range(edits):
        i = n + k if k % 4 else gen.sample(n, 1, k + 1)[0]
        if k % 10 == 9:
            t.delete(gen.uid(gen.sample(n, 1, k + 99)[0]))
        else:
            u = gen.user(i, profile)
            u["cards"] = [gen.card(n + 1000 + k, j) for j in range(len(u["cards"]))]
            u["pin"] = gen.pin(n + 1000 + k)
            if "plates" in u:
                u["plates"] = [gen.plate(n + 1000 + k)]
            t.add_or_replace(u)
    res["append_ms"] = ticks_diff(ticks_us(), t0) / 1000 / edits
    res["journal_bytes"] = t.stats()["journal_bytes"]
    res["users_after_edits"] = t.count

    gc.collect()
    res["heap_free_before"] = gc.mem_free()
    dev.track_heap = True
    t0 = ticks_ms()
    try:
        t.compact()
        res["compacted"] = True
    except OSError as e:
        res["compacted"] = False
        res["error"] = "OSError %s" % (e.args[0] if e.args else e)
    res["compact_ms"] = ticks_diff(ticks_ms(), t0)
    dev.track_heap = False
    res["heap_free_lowest"] = dev.heap_low
    res["users_after"] = t.count
    res["journal_entries_after"] = t.journal_entries
    res["table_bytes_after"] = t.stats()["size"]
    res["free_after"] = free_bytes()
    res["leftover_files"] = [x for x in os.listdir("/flash") if x.endswith(".tmp")]
    r = t.by_card(gen.card(n + 1000 + 1))
    res["lookup_ok"] = r is not None and r.id == gen.uid(n + 1)
    t.close()
    print(json.dumps(res))


main()

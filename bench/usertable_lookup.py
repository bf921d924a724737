"""Lookup cost on a LittleFS image: the user table vs one JSON file per user (esp-rfid's layout),
side by side in one process (MicroPython unix port, -X heapsize=112000w).

Usage: micropython bench/usertable_lookup.py IMAGE N PROFILE PEER_USERS [LOOKUPS]
(PEER_USERS: 0, or N when the image also holds N peer files and PROFILE is 2cred)
Measures per lookup: unix-port time, file reads and bytes as the table counts them, block-device
reads and bytes below LittleFS (both approaches), and heap allocated per lookup (gc.mem_alloc
before/after the lookups with the collector disabled). Prints one JSON object.
"""
import gc
import json
import sys
from array import array

sys.path.append(sys.argv[0].rsplit("/", 1)[0])
import usertable_gen as gen  # noqa: E402
from time import ticks_diff, ticks_us  # noqa: E402
from usertable_flash import mount  # noqa: E402

from usertable.table import UserTable  # noqa: E402


def sort_in_place(a, n):
    """Shell sort of a[0:n]: no copy (the heap is fragmented by the inputs)."""
    gap = n // 2
    while gap:
        for i in range(gap, n):
            v = a[i]
            j = i
            while j >= gap and a[j - gap] > v:
                a[j] = a[j - gap]
                j -= gap
            a[j] = v
        gap //= 2


def measure(dev, t, fn, keys, check, times, alloc_n=0, reps=1):
    """Run fn(key) for every key (reps rounds): time per lookup, reads/bytes per lookup, heap
    allocated per lookup."""
    for k in keys[:20]:  # warm up (file handle caches, first-use allocations)
        fn(k)
    nk = len(keys)
    n = nk * reps
    gc.collect()
    r0 = dev.reads
    b0 = dev.bytes
    a0 = t.reads if t else 0
    ab0 = t.bytes_read if t else 0
    for i in range(n):
        key = keys[i % nk]
        s = ticks_us()
        r = fn(key)
        times[i] = ticks_diff(ticks_us(), s)
        if check is not None and not check(i % nk, r):
            raise RuntimeError("wrong answer for %r" % (key,))
    out = {"dev_reads": (dev.reads - r0) / n, "dev_bytes": (dev.bytes - b0) / n}
    if t:
        out["reads"] = (t.reads - a0) / n
        out["bytes"] = (t.bytes_read - ab0) / n
    # heap allocated per lookup, with the collector off so nothing is reclaimed meanwhile
    k = alloc_n or n  # PIN (HMAC) and peer lookups allocate: fewer of them, or the heap fills
    gc.collect()
    gc.disable()
    m0 = gc.mem_alloc()
    for i in range(k):
        fn(keys[i % nk])
    out["alloc_bytes_per_lookup"] = (gc.mem_alloc() - m0) / k
    gc.enable()
    sort_in_place(times, n)
    total = 0
    for i in range(n):
        total += times[i]
    out.update({"n": n, "p50_us": times[n // 2], "p99_us": times[min(n - 1, n * 99 // 100)],
                "mean_us": total // n})
    return out


def keys(n, count, fn, seed=7):
    """`count` inputs fn(i) for sampled users i, allocated before any measurement."""
    out = [None] * count
    x = seed
    for k in range(count):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out[k] = fn(x % n)
    return out


def main():
    image = sys.argv[1]
    n = int(sys.argv[2])
    profile = sys.argv[3]
    peer_n = int(sys.argv[4])
    count = int(sys.argv[5]) if len(sys.argv) > 5 else 1000
    five = profile == "5card"
    times = array("i", bytes(4 * count))
    distinct = 250  # inputs are cycled: input lists must not crowd the ESP32-sized heap
    reps = count // distinct
    cards = keys(n, distinct, lambda i: gen.card(i, (i % 5) if five else 0))
    uids = keys(n, distinct, gen.uid)
    miss = [gen.missing_card(k) for k in range(distinct)]
    pins = keys(n, 100, gen.pin)
    plates = keys(n, distinct, gen.plate) if five else None
    ids = uids
    pcards = cards if peer_n else None  # the peer holds the same users (PEER_USERS = N)
    if peer_n and (peer_n != n or five):
        raise SystemExit("PEER_USERS must be N and the profile 2cred")
    dev = mount(image)
    gc.collect()
    free0 = gc.mem_free()
    t = UserTable.open("/flash", site_key=gen.SITE_KEY, card_format="8HN")
    gc.collect()
    res = {"users": t.count, "table_heap_bytes": free0 - gc.mem_free(), "table_ram": t.stats()["ram"],
           "lookups": count}
    res["card"] = measure(dev, t, t.by_card, cards, lambda i, r: r is not None and r.id == uids[i], times, 0, reps)
    res["card_miss"] = measure(dev, t, t.by_card, miss, lambda i, r: r is None, times, 0, 2)
    res["id"] = measure(dev, t, t.by_id, ids, lambda i, r: r is not None and r.id == uids[i], times, 0, 2)
    res["pin"] = measure(dev, t, t.by_pin, pins, lambda i, r: r is not None and r.id == uids[i], times, 20)
    if five:
        res["plate"] = measure(dev, t, t.by_plate, plates, lambda i, r: r is not None and r.id == uids[i], times, 0, 2)
    t.close()
    del t, pins, ids, plates
    if peer_n:

        def peer_lookup(code):
            try:
                with open("/flash/P/" + code) as f:
                    return json.loads(f.read())
            except OSError:
                return None

        res["peer"] = measure(dev, None, peer_lookup, pcards, lambda i, r: r is not None and r["uid"] == pcards[i], times, 10, 2)
        res["peer_miss"] = measure(dev, None, peer_lookup, miss, lambda i, r: r is None, times, 10)
    print(json.dumps(res))


main()

"""Benchmark: heap of single-user edits of the user table (docs/user-table.md, "Heap of edits").

Builds a 1,000-user table on the host (bench/usertable_gen.py's "2cred" users: a card and a PIN
each) and runs bench/useredit_heap.py on it under `micropython -X heapsize=112000w`, device
code as .mpy files (as a board imports it), the table on a LittleFS image, the site at a time
zone with daylight saving (so a text date needs lib/tzrule). Reports the transient heap of each
operation: free heap before it minus the lowest free heap (live data only) during it, after a
first unmeasured run of each. Figures are the unix port's (64-bit): about twice an ESP32's.

    run() -> dict           rows(result) -> [(measure, text)]
"""
import json
import os
import subprocess
import sys
import tempfile

from doorctl import paths

HEAP = "112000w"
USERS = 1000
TZ = "CET-1CEST,M3.5.0,M10.5.0/3"
OPS = (("add_or_replace", "add_or_replace of a new user: 2 cards, a PIN, a plate, relays [1]"),
       ("add_or_replace_dates", "the same with valid_from/valid_to as \"YYYY-MM-DD\" text (CET site)"),
       ("edit_keep_pin", "add_or_replace of a table user, renamed, PIN not sent (kept: index scan)"),
       ("delete", "delete(uid)"),
       ("users_page", "users(0, 50): a page of 50 user dicts"),
       ("users_page_1", "users(0, 1)"),
       ("get", "by_id(uid).to_dict()"),
       ("compact", "compact() of the journal into a new 1,000-user table"))


def _say(text):
    print(text, file=sys.stderr, flush=True)


def _table(path, n):
    """The table of users 0..n-1 of usertable_gen, as `doorctl users build` writes it."""
    paths.use_device_code()
    bench = os.path.join(paths.ROOT, "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    import usertable_gen as gen
    from usertable import build, validate, validate_list

    ctx = validate.Ctx(site_key=gen.SITE_KEY, collect=True)
    sched, users = validate_list.document({"users": [gen.user(i, "2cred") for i in range(n)]}, ctx)
    if ctx.errors:
        raise RuntimeError("generated users invalid: %r" % (ctx.errors[:3],))
    return build.build_file(path, sched, users, ctx.fid, 1, ctx.keyed)


def run(users=USERS, tz=TZ):
    """All figures as one JSON-able dict (bench/useredit_heap.py's, plus the conditions)."""
    from doorctl import mpycache

    with tempfile.TemporaryDirectory() as d:
        tbl = os.path.join(d, "users.tbl")
        _say("user edit heap: building a %d-user table ..." % users)
        info = _table(tbl, users)
        env = dict(os.environ)
        env["MICROPYPATH"] = mpycache.compiled_path()
        _say("user edit heap: measuring under micropython -X heapsize=%s ..." % HEAP)
        r = subprocess.run([paths.micropython_binary(), "-X", "heapsize=" + HEAP,
                            os.path.join(paths.ROOT, "bench", "useredit_heap.py"), os.path.join(d, "flash.img"),
                            tbl, tz], env=env, cwd=paths.ROOT, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError("bench/useredit_heap.py failed:\n%s%s" % (r.stdout[-2000:], r.stderr[-2000:]))
    res = json.loads(r.stdout.strip().splitlines()[-1])
    if not res["check_ok"] or not res["dated_ok"]:
        raise RuntimeError("bench/useredit_heap.py: the edits did not take effect as expected: %r" % res)
    res["heap"] = HEAP
    res["table_bytes"] = info["size"]
    return res


def _kb(b):
    return "%.1f KB" % (b / 1000.0)


def rows(result):
    out = []
    for key, what in OPS:
        m = result[key]
        text = "%s (%d B)" % (_kb(m["cost"]), m["cost"])
        if m["left"]:
            text += "; left loaded: %s" % ", ".join(m["left"])
        out.append(("Heap of a user-table operation, %s users: %s" % (format(result["users"], ","), what), text))
    p50, p1 = result["users_page"]["cost"], result["users_page_1"]["cost"]
    out.append(("Heap of a users() page: code vs. result",
                "%s for the code and one user, %s per further user dict" % (_kb(p1), _kb((p50 - p1) / 49.0))))
    out.append(("Conditions", "MicroPython unix port (64-bit: about twice an ESP32's bytes), -X heapsize=%s, "
                "device code as .mpy, table on LittleFS, site TZ %s; each operation run once before it is measured"
                % (result["heap"], result["tz"])))
    return out


if __name__ == "__main__":
    res = run()
    print(json.dumps(res, indent=2, sort_keys=True))
    for m, t in rows(res):
        print("| %s | %s |" % (m, t))

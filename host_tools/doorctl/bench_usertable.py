"""User-table benchmarks: `run() -> dict`, `rows(result) -> [(measure, text)]`.

At 1,000 / 5,000 / 20,000 / 50,000 users (profile "2cred": a card and a PIN each; 50,000 uses
"5card": five cards, a PIN and a plate), in one run:
  - table build time on the host (check + write) and size;
  - capacity on the boards' LittleFS images, which already hold a 20,000-event log and ~250 KB
    of app: the 4 MiB board (2 MiB vfs) up to 20,000 users, the 16 MiB board (14 MiB vfs) for
    all; whether a second copy fits (compaction and install write the new table first);
  - lookups under the MicroPython unix port with the ESP32 heap: time, file reads and bytes as
    the table counts them, block reads and bytes below LittleFS, heap allocated per lookup --
    and the same for one JSON file per user (esp-rfid's /P/<card> layout) on the same image,
    at the sizes it is measured (creating 20,000 files takes MicroPython ~15 min: `full=True`);
    where the peer layout stops fitting (4 MiB board: filled until ENOSPC);
  - journal appends and compaction time, and the live heap low-water mark during compaction;
  - the firmware (board, config, event log, app modules) holding the 20,000-user table under
    -X heapsize=112000w: free heap at steady state and allocation per lookup.
Base images (log + app) are cached in build/bench/. Times are unix-port wall time; an ESP32 is
~100-200x slower on Python code.
"""
import json
import os
import shutil
import subprocess
import sys
import time

from doorctl import paths

HEAP = "112000w"
SIZES = (1000, 5000, 20000, 50000)
BOARDS = {"4MiB": 0x200000, "16MiB": 14 * 1024 * 1024}
PEER_MAX = 5000  # peer files created by default (quadratic in LittleFS: 5,000 take ~50 s)
EDITS = 64


def _profile(n):
    return "5card" if n > 20000 else "2cred"


def _mpy(script, *args, timeout=1800):
    env = dict(os.environ)
    from doorctl import mpycache

    # the device code as .mpy, as a board imports it (compiling from source needs more heap)
    env["MICROPYPATH"] = ":".join([mpycache.compiled_path(), os.path.join(paths.ROOT, "bench")])
    r = subprocess.run([paths.micropython_binary(), "-X", "heapsize=" + HEAP,
                        os.path.join(paths.ROOT, "bench", script)] + [str(a) for a in args],
                       env=env, cwd=paths.ROOT, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("%s %s failed:\n%s%s" % (script, " ".join(map(str, args)), r.stdout[-2000:], r.stderr[-2000:]))
    return json.loads(r.stdout.strip().splitlines()[-1])


def _say(text):
    print(text, file=sys.stderr, flush=True)


def _base_image(board, cache):
    path = os.path.join(cache, "usertable-base-%s.img" % board)
    if not os.path.exists(path):
        _say("  creating the %s base image (20,000 events + app) ..." % board)
        info = _mpy("usertable_flash.py", "base", path + ".part", BOARDS[board])
        os.replace(path + ".part", path)
        with open(path + ".json", "w") as f:
            json.dump(info, f)
    with open(path + ".json") as f:
        return path, json.load(f)


def _build(n, out):
    paths.use_device_code()
    sys.path.insert(0, os.path.join(paths.ROOT, "bench"))
    import usertable_gen as gen
    from usertable import build, validate, validate_list

    profile = _profile(n)
    docs = [gen.user(i, profile) for i in range(n)]
    t0 = time.time()
    ctx = validate.Ctx(site_key=gen.SITE_KEY, collect=True)
    sched, users = validate_list.document({"users": docs}, ctx)
    if ctx.errors:
        raise RuntimeError("generated users invalid: %r" % (ctx.errors[:3],))
    t1 = time.time()
    info = build.build_file(out, sched, users, 1, 1, ctx.keyed, int(time.time()))
    t2 = time.time()
    return {"profile": profile, "check_s": round(t1 - t0, 3), "write_s": round(t2 - t1, 3),
            "table_bytes": info["size"], "bytes_per_user": round(info["size"] / n, 1),
            "entries": info["entries"], "records_bytes": info["records_bytes"]}


def micropython_version():
    r = subprocess.run([paths.micropython_binary(), "-c",
                        "import sys; print('%d.%d.%d' % sys.implementation.version[:3])"],
                       capture_output=True, text=True)
    return r.stdout.strip()


def run(sizes=SIZES, full=False, workdir=None):
    """All measurements as one JSON-able dict (see module doc)."""
    cache = os.path.join(paths.ROOT, "build", "bench")
    os.makedirs(cache, exist_ok=True)
    work = workdir or os.path.join(cache, "usertable-work")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    res = {"date": time.strftime("%Y-%m-%d"), "micropython": micropython_version(), "heap": HEAP,
           "sizes": {}, "boards": {}}
    for board in BOARDS:
        res["boards"][board] = _base_image(board, cache)[1]
    peer_max = max(sizes) if full else PEER_MAX
    try:
        for n in sizes:
            _say("user table, %d users ..." % n)
            r = res["sizes"][str(n)] = {"users": n}
            tbl = os.path.join(work, "users-%d.tbl" % n)
            r["build"] = _build(n, tbl)
            # capacity and compaction on the board this size targets
            boards = ("4MiB", "16MiB") if n <= 20000 else ("16MiB",)
            for board in boards:
                img = os.path.join(work, "%s-%d.img" % (board, n))
                shutil.copy(_base_image(board, cache)[0], img)
                r["install_" + board] = _mpy("usertable_flash.py", "install", img, tbl)
                if board == "4MiB" and n == 20000:
                    _say("  heap with the firmware loaded ...")
                    r["heap"] = _mpy("usertable_heap.py", paths.ROOT, img, n, _profile(n))
                if board == "16MiB" and n <= peer_max:
                    _say("  %d peer JSON files ..." % n)
                    r["peer_files"] = _mpy("usertable_flash.py", "peer", img, n)
                if board == "16MiB":
                    _say("  lookups ...")
                    pn = n if r.get("peer_files", {}).get("written") == n else 0
                    r["lookup"] = _mpy("usertable_lookup.py", img, n, _profile(n), pn)
                _say("  %d journal edits + compaction on the %s image ..." % (EDITS, board))
                r["compact_" + board] = _mpy("usertable_compact.py", img, n, _profile(n), EDITS)
                os.remove(img)
        _say("where one JSON file per user stops fitting on the 4 MiB board ...")
        img = os.path.join(work, "peerfill.img")
        shutil.copy(_base_image("4MiB", cache)[0], img)
        res["peer_fill_4MiB"] = _mpy("usertable_flash.py", "peer", img, 100000)
        os.remove(img)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return res


def _kb(b):
    return "%.0f KB" % (b / 1000.0)


def rows(result):
    out = []
    sizes = result["sizes"]
    for n, r in sorted(sizes.items(), key=lambda x: int(x[0])):
        n = int(n)
        b = r["build"]
        what = "%s users (%s)" % (format(n, ","), "card + PIN" if b["profile"] == "2cred" else "5 cards + PIN + plate")
        out.append(("Table build on host, " + what, "%.2f s check + %.2f s write; %s on flash (%.1f B/user)"
                    % (b["check_s"], b["write_s"], _kb(b["table_bytes"]), b["bytes_per_user"])))
        lk = r.get("lookup")
        if lk:
            c = lk["card"]
            out.append(("Card lookup, " + what,
                        "p50 %d us, %.0f file reads (%.0f B), %.1f block reads (%.0f B) below LittleFS, %.0f B heap/lookup"
                        % (c["p50_us"], c["reads"], c["bytes"], c["dev_reads"], c["dev_bytes"], c["alloc_bytes_per_lookup"])))
            m = lk["card_miss"]
            p = lk["pin"]
            i = lk["id"]
            out.append(("Other lookups, " + what,
                        "unknown card p50 %d us (%.0f reads); PIN p50 %d us (%.0f reads, %.0f B heap: HMAC); "
                        "by id p50 %d us (%.0f reads, %.0f B)" % (m["p50_us"], m["reads"], p["p50_us"], p["reads"],
                                                                   p["alloc_bytes_per_lookup"], i["p50_us"], i["reads"], i["bytes"])))
            if "peer" in lk:
                q = lk["peer"]
                out.append(("Peer: one JSON file per user, same image, " + what,
                            "p50 %d us, %.0f block reads (%s) per lookup, %.0f B heap; table is %.0fx faster and reads %.0fx fewer bytes"
                            % (q["p50_us"], q["dev_reads"], _kb(q["dev_bytes"]), q["alloc_bytes_per_lookup"],
                               q["p50_us"] / max(1, c["p50_us"]), q["dev_bytes"] / max(1, c["dev_bytes"]))))
        for board in ("4MiB", "16MiB"):
            ins = r.get("install_" + board)
            if not ins:
                continue
            cmp_ = r["compact_" + board]
            fit = "fits, %s left" % _kb(ins["free_after"]) if ins["fits"] else "does NOT fit"
            comp = ("compaction of %d edits %d ms (unix), live heap low %s free"
                    % (cmp_["edits"], cmp_["compact_ms"], _kb(cmp_["heap_free_lowest"]))) if cmp_["compacted"] \
                else "compaction/install impossible: no room for a second copy (%s)" % cmp_.get("error", "")
            out.append(("%s board (log 20,000 events + 250 KB app), %s" % (board.replace("MiB", " MiB"), what),
                        "table %s: %s; %s" % (_kb(ins["flash_bytes"]), fit, comp)))
        if "heap" in r:
            h = r["heap"]
            out.append(("Heap: firmware + %s-user table (-X heapsize=%s)" % (format(n, ","), result["heap"]),
                        "%d B free of %d (%.1f%%), largest block %d B; table code %d B, open table %d B (reader RAM %d B); "
                        "%.0f B allocated per card lookup" % (h["free_steady"], h["heap_total"], h["free_pct"], h["largest_block"],
                                                              h["free_firmware"] - h["free_imported"], h["free_imported"] - h["free_open"],
                                                              h["table_ram"], h["alloc_per_lookup"])))
    pf = result.get("peer_fill_4MiB")
    if pf:
        text = "4 MiB board (with log and app): full after %s users" % format(pf["written"], ",")
        big = [r["peer_files"] for r in sizes.values() if r.get("peer_files", {}).get("written", 0) >= 5000]
        if big:  # estimate for the 16 MiB board from the largest set written there
            per = max(big, key=lambda x: x["written"])
            est = int(result["boards"]["16MiB"]["free_bytes"] / per["bytes_per_user"])
            text += "; 16 MiB board ~%s users (estimated from %s files at %.0f B each)" % (
                format(est, ","), format(per["written"], ","), per["bytes_per_user"])
        out.append(("Peer layout capacity (one JSON file per user)", text))
    out.append(("Conditions", "MicroPython %s unix port, -X heapsize=%s, %s; unix-port time (ESP32 ~100-200x slower)"
                % (result["micropython"], result["heap"], result["date"])))
    return out


def main():
    full = "--full" in sys.argv
    sizes = tuple(int(a) for a in sys.argv[1:] if a.isdigit()) or SIZES
    res = run(sizes, full=full)
    path = os.path.join(paths.ROOT, "bench", "usertable_results.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=2, sort_keys=True)
    print("| measure | result |\n|---|---|")
    for m, t in rows(res):
        print("| %s | %s |" % (m, t))
    return 0


if __name__ == "__main__":
    sys.exit(main())

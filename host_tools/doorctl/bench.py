"""`make bench`: performance figures of the firmware in the simulator, written to
bench/results.json and into docs/benchmarks.md between the bench markers.

Benchmarks run the real firmware under the MicroPython unix port with the ESP32's heap
(`-X heapsize=112000w`). Time figures are unix-port wall time: an ESP32 at 240 MHz is roughly
100-200x slower on interpreted code, so device-time budgets are checked on
the `uid_to_relay` figure scaled accordingly.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

from doorctl import paths

HEAP = "112000w"  # the lean profile's (doorctl.profiles): the user-table and heap benches
TAP_HEAP = "1000000w"  # the psram profile's: the tap bench runs the PN532 emulator in the same process
README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"


def run_mpy(script, *args, timeout=600, heap=HEAP):
    from doorctl import mpycache

    env = dict(os.environ)
    env["MICROPYPATH"] = mpycache.compiled_path(relative_to=paths.ROOT)
    r = subprocess.run([paths.micropython_binary(), "-X", "heapsize=" + heap, script] + list(args),
                       env=env, cwd=paths.ROOT, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("%s failed:\n%s%s" % (script, r.stdout, r.stderr))
    return json.loads(r.stdout.strip().splitlines()[-1])


def tap_latency(taps=1000):
    return run_mpy(os.path.join(paths.ROOT, "bench", "tap_latency.py"), paths.ROOT, str(taps), heap=TAP_HEAP)


def simulator_heap(taps=50):
    """Steady-state heap of the whole simulator process on the lean board (the standalone door)."""
    sys.path.insert(0, os.path.join(paths.ROOT, "tests"))
    from simproc import Sim

    with tempfile.TemporaryDirectory() as tmp:
        sim = Sim(tmp, config={"relays": {"1": {"hold_ms": 100}}}, board=os.path.join(paths.BOARDS, "sim-lean.json"))
        try:
            sim.wait_for(lambda st: st["reader"]["status"] == "ok", timeout=10)
            for i in range(taps):
                sim.call("tap", uid="04A1B2C3" if i % 2 else "01020304", ms=60)
                time.sleep(0.12)
            time.sleep(0.5)
            heap = sim.call("heap")
            return {"free": heap["free"], "used": heap["used"], "taps": taps,
                    "free_pct": round(100.0 * heap["free"] / (heap["free"] + heap["used"]), 1)}
        finally:
            sim.stop()


def ms(us):
    return "%.2f ms" % (us / 1000.0)


def tap_to_relay(sim, uid="04A1B2C3", relay=1, timeout_s=2.0):
    """Tap a card in the simulator and poll `relay` every 2 ms (the `relay` control command,
    lighter than `state`) until it pulses: seconds from the tap, or None if it never did."""
    before = sim.call("relay", num=relay)["pulses"]
    t0 = time.monotonic()
    sim.call("tap", uid=uid, ms=60)
    while time.monotonic() - t0 < timeout_s:
        if sim.call("relay", num=relay)["pulses"] > before:
            return time.monotonic() - t0
        time.sleep(0.002)
    return None


def pct(values, p):
    """The p-th percentile of a list of numbers (the nearest rank)."""
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100))] if v else 0


TOPICS = ("bench_usertable", "bench_useredit", "bench_verify", "bench_image", "bench_http", "bench_ble",
          "bench_actions", "bench_https", "bench_cards")  # host_tools/doorctl/bench_<topic>.py


def topic_modules():
    import importlib

    out = []
    for name in TOPICS:
        try:
            out.append((name, importlib.import_module("doorctl." + name)))
        except ImportError:
            pass
    return out


def table(res):
    t, u, h, s = res["tap_latency"]["tap_to_relay"], res["tap_latency"]["uid_to_relay"], \
        res["tap_latency"], res["simulator_heap"]
    rows = [
        ("Tap to relay (card enters emulator field -> relay pin set), %d taps" % t["n"],
         "p50 %s, p99 %s, max %s" % (ms(t["p50_us"]), ms(t["p99_us"]), ms(t["max_us"]))),
        ("UID known -> relay pin set (decision + relay)",
         "p50 %s, p99 %s" % (ms(u["p50_us"]), ms(u["p99_us"]))),
        ("Exit button pressed -> relay pin set (%d ms debounce + 5 ms sampling), %d presses"
         % (h["exit_debounce_ms"], h["exit_to_relay"]["n"]),
         "p50 %s, p99 %s" % (ms(h["exit_to_relay"]["p50_us"]), ms(h["exit_to_relay"]["p99_us"]))),
        ("Heap after 1,000 taps (bench process with the emulator, %d B heap: psram)" % h["heap_total"],
         "%d B free, largest free block %d B" % (h["heap_free_steady"], h["heap_largest_block"])),
        ("Simulator process heap at steady state, lean board (standalone door, after %d taps)" % s["taps"],
         "%d B free of %d B (%.1f%%)" % (s["free"], s["free"] + s["used"], s["free_pct"])),
    ]
    for name, mod in topic_modules():
        if name in res:
            rows += list(mod.rows(res[name]))
    out = ["| measure | result |", "|---|---|"]
    out += ["| %s | %s |" % r for r in rows]
    out.append("")
    out.append("Measured %s with MicroPython %s unix port, `-X heapsize=%s` (the lean profile's heap, "
               "64-bit object sizes; the tap bench `%s`, the psram profile's, and the HTTP bench on the psram "
               "board). Unix-port time; an ESP32 is ~100-200x slower on Python code."
               % (res["date"], res["micropython"], HEAP, TAP_HEAP))
    return "\n".join(out)


def update_readme(text):
    from doorctl.docmarks import replace_between

    return replace_between(os.path.join(paths.ROOT, "docs", "benchmarks.md"), README_START, README_END, text)


def update_topic_rows(res, names):
    """docs/benchmarks.md after a run of some topics: their rows replaced where their labels are
    there already, new ones after the topic's last row (the end of the table if none); every other
    line as it was (re-rendering it from results.json could reorder what a topic printed in the
    order of its own run). True when the file changed."""
    path = os.path.join(paths.ROOT, "docs", "benchmarks.md")
    with open(path) as f:
        lines = f.read().splitlines(True)
    for name, mod in topic_modules():
        if name not in names:
            continue
        rows = ["| %s | %s |\n" % r for r in mod.rows(res[name])]
        labels = [r.split(" | ")[0] for r in rows]
        at = [i for i, l in enumerate(lines) if l.split(" | ")[0] in labels]
        last = at[-1] if at else max(i for i, l in enumerate(lines) if l.startswith("| "))
        done = set()
        for i in at:
            for r in rows:
                if r.split(" | ")[0] == lines[i].split(" | ")[0]:
                    lines[i] = r
                    done.add(r)
        lines[last + 1:last + 1] = [r for r in rows if r not in done]
    text = "".join(lines)
    with open(path) as f:
        if f.read() == text:
            return False
    with open(path, "w") as f:
        f.write(text)
    return True


def micropython_version():
    r = subprocess.run([paths.micropython_binary(), "-c", "import sys; print('%d.%d.%d' % sys.implementation.version[:3])"],
                       capture_output=True, text=True)
    return r.stdout.strip()


def main(argv=None):
    import argparse

    names = [n[len("bench_"):] for n in TOPICS]
    ap = argparse.ArgumentParser(prog="python -m doorctl.bench", description="Run the benchmarks (all of them: "
                                 "`make bench`), or only the topics named, whose figures then replace theirs in "
                                 "bench/results.json (the others kept) and docs/benchmarks.md's table.")
    ap.add_argument("topics", nargs="*", metavar="TOPIC", help="one of: %s (bench_TOPIC.py in host_tools/doorctl); "
                    "none: everything, the tap latency and the simulator heap included" % ", ".join(names))
    args = ap.parse_args(argv)
    for t in args.topics:
        if t not in names:
            ap.error("unknown topic %r (topics: %s)" % (t, ", ".join(names)))
    path = os.path.join(paths.ROOT, "bench", "results.json")
    if args.topics:
        with open(path) as f:
            res = json.load(f)
        for name, mod in topic_modules():
            if name[len("bench_"):] in args.topics:
                print("%s ..." % name, flush=True)
                res[name] = mod.run()
    else:
        print("tap-to-relay latency, 1,000 taps ...", flush=True)
        res = {"date": time.strftime("%Y-%m-%d"), "micropython": micropython_version(), "heap": HEAP}
        res["tap_latency"] = tap_latency(1000)
        print("simulator heap at steady state ...", flush=True)
        res["simulator_heap"] = simulator_heap()
        for name, mod in topic_modules():
            print("%s ..." % name, flush=True)
            res[name] = mod.run()
    os.makedirs(os.path.join(paths.ROOT, "bench"), exist_ok=True)
    with open(path, "w") as f:
        json.dump(res, f, indent=2, sort_keys=True)
    if args.topics:
        if update_topic_rows(res, ["bench_" + t for t in args.topics]):
            print("docs/benchmarks.md updated (the rows of %s)" % ", ".join(args.topics))
        return 0
    text = table(res)
    print(text)
    if update_readme(text):
        print("docs/benchmarks.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())

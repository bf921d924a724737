"""`make bench`, BLE part: what an advert costs the door, how many adverts a second it handles
without dropping any, card taps while the air is busy, and the heap with BLE on.

- per advert (bench/ble_cost.py, the door's BleReader under the unix port): an unknown device
  remembered as unknown, a tracked key fob, a phone's repeated advert, a phone's new message
  (one HMAC-SHA256 tag check); an ESP32 is ~100-200x slower on Python code;
- background: the simulator (psram board, BLE on) with N adverts/s of other devices for a few
  seconds: adverts the door handled per second, dropped in the radio's IRQ path or the door's ring;
- taps: card taps (tap -> relay 1, timed by polling the relay) with 300 adverts/s on the air;
- heap: the psram simulator's free heap with BLE off and on (after a collection).
"""
import os
import sys
import tempfile
import time

from doorctl import paths
from doorctl.bench import pct, tap_to_relay

RATES = (300, 1000, 2000)
RATE_S = 5
TAPS = 40


def _sim_class():
    sys.path.insert(0, os.path.join(paths.ROOT, "tests"))
    from simproc import Sim

    return Sim


def advert_costs():
    from doorctl.bench import run_mpy

    return run_mpy(os.path.join(paths.ROOT, "bench", "ble_cost.py"), heap="1000000w")


def background(sim):
    out = []
    for rate in RATES:
        sim.call("radio", background=rate, reset=True)
        b0 = sim.state(0)["ble"]
        time.sleep(RATE_S)
        b1 = sim.state(0)["ble"]
        radio = sim.call("radio")
        out.append({"rate": rate, "handled_per_s": round((b1["adverts"] - b0["adverts"]) / RATE_S),
                    "door_dropped": b1["dropped"] - b0["dropped"], "irq_dropped": radio["dropped"],
                    "heard": radio["background_counts"]["delivered"]})
    sim.call("radio", background=0)
    return out


def taps(sim, rate=300):
    sim.call("radio", background=rate)
    lat = []
    for i in range(TAPS):
        t = tap_to_relay(sim)
        if t is not None:
            lat.append(t)
        time.sleep(0.45)  # the relay's 100 ms pulse over, the card gone
    sim.call("radio", background=0)
    return {"rate": rate, "taps": TAPS, "opened": len(lat), "p50_ms": round(1000 * pct(lat, 50), 1),
            "p99_ms": round(1000 * pct(lat, 99), 1)}


def heap(Sim, tmp, on):
    d = os.path.join(tmp, "heap-%s" % on)
    os.makedirs(d)
    sim = Sim(d, config={"ble": {"enabled": on}})
    try:
        time.sleep(1)
        h = sim.call("heap")
        return h["free"], h["free"] + h["used"]
    finally:
        sim.stop()


def run():
    Sim = _sim_class()
    res = {"costs": advert_costs()}
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "air"))
        sim = Sim(os.path.join(tmp, "air"), config={"ble": {"enabled": True}, "relays": {"1": {"hold_ms": 100}},
                                                     "reader": {"removal_ms": 150}})
        try:
            sim.call("radio", seed=3)
            sim.wait_for(lambda st: st["reader"]["status"] == "ok", timeout=10)
            res["background"] = background(sim)
            res["taps"] = taps(sim)
            res["errors"] = sim.state(0)["ble"]["errors"]
        finally:
            sim.stop()
        off, total = heap(Sim, tmp, False)
        on, _ = heap(Sim, tmp, True)
        res["heap"] = {"off_free": off, "on_free": on, "total": total}
    return res


def rows(r):
    c = r["costs"]
    yield ("BLE: unix time per advert (IRQ copy + handling): unknown device (remembered), tracked key fob, "
           "phone advert repeated, phone's new message (HMAC-SHA256)",
           "%.1f / %.1f / %.1f / %.1f µs (an ESP32: ~100-200x, i.e. ~1-4 ms for an unknown device)" % (
               c["unknown_device_us"], c["known_fob_us"], c["phone_repeat_us"], c["phone_new_message_us"]))
    for b in r["background"]:
        yield ("BLE: %d adverts/s of other devices on the air (psram simulator, %d s)" % (b["rate"], RATE_S),
               "%d handled/s, dropped %d in the door's ring, %d in the IRQ path" % (
                   b["handled_per_s"], b["door_dropped"], b["irq_dropped"]))
    t = r["taps"]
    yield ("BLE: card tap -> relay with %d adverts/s on the air (control channel, relay polled every 2 ms)"
           % t["rate"], "%d of %d opened, p50 %.1f ms, p99 %.1f ms" % (t["opened"], t["taps"], t["p50_ms"],
                                                                      t["p99_ms"]))
    h = r["heap"]
    yield ("BLE: psram simulator heap free, BLE off / on (the simulated radio included; lean: refused)",
           "%d / %d B of %d B (BLE costs %d B)" % (h["off_free"], h["on_free"], h["total"], h["off_free"] - h["on_free"]))

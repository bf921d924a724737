"""`doorctl sim fob|radio|ble`: the simulator's radio from the host (firmware/sim/blectl.py).

Kept out of cli.py so the BLE commands live in one place; cli.py calls register() while it builds
the `sim` subcommands."""
import argparse
import json

from doorctl.errors import CliError
from doorctl.simctl import SimClient, SimError

# the simulator names JSON fields in its errors; the command line names its options
FLAGS = {"address": "ADDRESS", "distance": "--distance", "interval_ms": "--interval-ms", "rssi_1m": "--rssi-1m",
         "to": "--to", "speed": "--speed", "ibeacon.uuid": "--ibeacon", "major": "--major", "minor": "--minor",
         "power": "--power", "noise_db": "--noise-db", "background": "--background", "seed": "--seed"}


def call(args, cmd, **req):
    with SimClient(args.control) as c:
        try:
            return c.call(cmd, **req)
        except SimError as e:
            field, sep, rest = str(e).partition(": ")
            if sep and field in FLAGS:
                raise SimError("%s: %s" % (FLAGS[field], rest))
            raise

AD_NAMES = {0x01: "flags", 0x02: "16-bit UUIDs (incomplete)", 0x03: "16-bit UUIDs", 0x06: "128-bit UUIDs (incomplete)",
            0x07: "128-bit UUIDs", 0x08: "short name", 0x09: "name", 0x0A: "tx power", 0x16: "service data",
            0xFF: "manufacturer"}


def distance_arg(text):
    if text == "off":
        return "off"
    try:
        d = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be metres (a number >= 0) or off, got %r" % text)
    if d < 0:
        raise argparse.ArgumentTypeError("must be >= 0 metres, got %s" % text)
    return d


def ad_structures(data):
    """[(type, bytes)] of an advert; a malformed tail is reported as type None."""
    out = []
    i = 0
    while i < len(data):
        n = data[i]
        if n == 0 or i + 1 + n > len(data):
            out.append((None, data[i:]))
            break
        out.append((data[i + 1], data[i + 2:i + 1 + n]))
        i += 1 + n
    return out


def describe_ad(t, v):
    """One AD structure in words (minimal: what a person checking the door's advert needs)."""
    if t is None:
        return "malformed: %s" % v.hex()
    name = AD_NAMES.get(t, "type 0x%02X" % t)
    if t == 0x01 and v:
        return "flags 0x%02X" % v[0]
    if t in (0x08, 0x09):
        return "%s %r" % (name, v.decode("utf-8", "replace"))
    if t == 0xFF and len(v) >= 2:
        company = v[0] | v[1] << 8
        rest = v[2:]
        text = "manufacturer 0x%04X: %s" % (company, rest.hex())
        if company == 0xFFFF and rest[:2] == b"dc" and len(rest) >= 12:
            text += " (door advert: version %d, pairing %s, challenge %s, device id %r)" % (
                rest[2], "open" if rest[3] & 1 else "closed", rest[4:12].hex(), rest[12:].decode("ascii", "replace"))
        elif company == 0xFFFF and rest[:2] == b"dp":
            text += " (phone message)"
        elif company == 0x004C and rest[:2] == b"\x02\x15" and len(rest) == 23:
            text += " (iBeacon %s major %d minor %d power %d)" % (
                rest[2:18].hex().upper(), int.from_bytes(rest[18:20], "big"), int.from_bytes(rest[20:22], "big"),
                int.from_bytes(rest[22:23], "big", signed=True))
        return text
    return "%s: %s" % (name, v.hex())


def format_ble(b):
    lines = []
    if not b["active"]:
        lines.append("door radio: off (the firmware has not activated BLE)")
    else:
        adv = ("advertising every %d ms (%s)" % (b["interval_us"] // 1000, "connectable" if b["connectable"]
                                                 else "not connectable")) if b["advertising"] else "not advertising"
        lines.append("door radio: on, %s, %s, address %s, GAP name %r" % (
            adv, "scanning" if b["scanning"] else "not scanning", b["address"], b["gap_name"]))
    for label, key in (("advert", "adv"), ("scan response", "resp")):
        data = bytes.fromhex(b[key])
        lines.append("%s (%d bytes): %s" % (label, len(data), b[key] or "-"))
        for t, v in ad_structures(data):
            lines.append("  " + describe_ad(t, v))
    if "rssi" in b:
        lines.append("rssi at %s m: %s" % (b["_distance"], "not heard" if b["rssi"] is None else "%d dBm" % b["rssi"]))
    if b["connections"]:
        lines.append("connections:")
        for c in b["connections"]:
            lines.append("  #%d %s encrypted=%d authenticated=%d bonded=%d pairing=%s" % (
                c["conn"], c["address"], c["encrypted"], c["authenticated"], c["bonded"], c["pairing"] or "-"))
    else:
        lines.append("connections: none")
    return "\n".join(lines)


def format_radio(r):
    lines = ["radio: noise %.1f dB, background %d adverts/s, seed %d" % (r["noise_db"], r["background"], r["seed"])]
    if not r["active"]:
        lines.append("door: BLE off")
    elif r["scanning"]:
        lines.append("door: scanning%s, interval %d us, window %d us (%.1f %% duty cycle)" % (
            " (active)" if r["active_scan"] else "", r["interval_us"], r["window_us"],
            100.0 * r["window_us"] / r["interval_us"]))
    else:
        lines.append("door: BLE on, not scanning")
    if not r["handler"]:
        lines.append("door: no IRQ handler%s" % (" (switched off after %d errors)" % r["irq_errors"]
                                                  if r["irq_errors"] else ""))
    if r["emitters"]:
        lines.append("emitters:")
        for e in r["emitters"]:
            lines.append("  %-24s %s %s  every %d ms  sent %d heard %d delivered %d" % (
                e["key"], e["address"], ("%.2f m%s" % (e["distance"], " (walking)" if e["walking"] else ""))
                if e["distance"] is not None else "silent", e["interval_ms"], e["sent"], e["heard"], e["delivered"]))
    else:
        lines.append("emitters: none")
    bg = r["background_counts"]
    lines.append("background: sent %d heard %d delivered %d" % (bg["sent"], bg["heard"], bg["delivered"]))
    return "\n".join(lines)


def cmd_sim_fob(args):
    req = {"address": args.address, "distance": args.distance}
    if args.interval_ms is not None:
        req["interval_ms"] = args.interval_ms
    if args.rssi_1m is not None:
        req["rssi_1m"] = args.rssi_1m
    if (args.to is None) != (args.speed is None):
        raise CliError("--to and --speed go together (walk to M metres at V m/s)")
    if args.to is not None:
        if args.distance == "off":
            raise CliError("--to: a fob that is off can't walk (give --distance M to start from)")
        req["to"], req["speed"] = args.to, args.speed
    if args.ibeacon:
        req["ibeacon"] = {"uuid": args.ibeacon, "major": args.major, "minor": args.minor, "power": args.power}
    ans = call(args, "fob", **req)
    if args.json:
        ans.pop("ok", None)
        print(json.dumps(ans, indent=2, sort_keys=True))
    elif args.distance == "off":
        print("fob %s %s" % (args.address, "removed" if ans["removed"] else "was not on the air"))
    elif ans["walking"]:
        print("fob %s walking %.2f m -> %.2f m at %.2f m/s (every %d ms, %d dBm at 1 m)" % (
            ans["address"], ans["distance"], args.to, args.speed, ans["interval_ms"], ans["rssi_1m"]))
    else:
        print("fob %s at %.2f m (every %d ms, %d dBm at 1 m)" % (ans["address"], ans["distance"], ans["interval_ms"],
                                                                ans["rssi_1m"]))
    return 0


def cmd_sim_radio(args):
    req = {}
    for opt, field in (("noise_db", "noise_db"), ("background", "background"), ("seed", "seed")):
        v = getattr(args, opt)
        if v is not None:
            req[field] = v
    if args.reset:
        req["reset"] = True
    ans = call(args, "radio", **req)
    ans.pop("ok", None)
    print(json.dumps(ans, indent=2, sort_keys=True) if args.json else format_radio(ans))
    return 0


def cmd_sim_ble(args):
    req = {} if args.distance is None else {"distance": args.distance}
    ans = call(args, "ble", **req)
    ans.pop("ok", None)
    if args.json:
        print(json.dumps(ans, indent=2, sort_keys=True))
    else:
        ans["_distance"] = args.distance
        print(format_ble(ans))
    return 0


def register(ssub, with_control):
    sp = with_control(ssub.add_parser(
        "fob", help="a BLE key fob near the door (simulated radio)",
        description="Put a key fob (Bkey) on the simulated air at a distance from the door, move it, walk it, or "
                    "take it away (--distance off). Its adverts are heard by the door's BLE scan with the radio "
                    "model's RSSI (see `doorctl sim radio`)."))
    sp.add_argument("address", help="the fob's address, e.g. C0:FF:EE:00:10:01")
    sp.add_argument("--distance", required=True, type=distance_arg, metavar="M|off",
                    help="metres from the door, or off (removed)")
    sp.add_argument("--interval-ms", type=int, help="advertising interval (default 200)")
    sp.add_argument("--rssi-1m", type=int, metavar="DBM", help="RSSI at 1 m (default -59, or the iBeacon's --power)")
    sp.add_argument("--to", type=float, metavar="M", help="walk from --distance to M metres...")
    sp.add_argument("--speed", type=float, metavar="V", help="...at V m/s")
    sp.add_argument("--ibeacon", metavar="UUID", help="advertise as an Apple iBeacon with this UUID")
    sp.add_argument("--major", type=int, default=0, help="iBeacon major (default 0)")
    sp.add_argument("--minor", type=int, default=0, help="iBeacon minor (default 0)")
    sp.add_argument("--power", type=int, default=-59, metavar="DBM", help="iBeacon measured power (default -59)")
    sp.add_argument("--json", action="store_true", help="the simulator's answer as JSON")
    sp.set_defaults(func=cmd_sim_fob)
    sp = with_control(ssub.add_parser(
        "radio", help="the simulated radio: noise, background devices, seed, counts",
        description="Read or set the simulated air: RSSI noise (sigma), other devices' adverts per second on the "
                    "air, the random seed; shows the door's scan (interval/window) and what each emitter sent, "
                    "what the scan heard and what reached the firmware's IRQ handler."))
    sp.add_argument("--noise-db", type=float, metavar="S", help="RSSI noise sigma in dB (default 4)")
    sp.add_argument("--background", type=int, metavar="N", help="unrelated devices' adverts per second (default 0)")
    sp.add_argument("--seed", type=int, help="seed of the radio's random numbers (reproducible runs)")
    sp.add_argument("--reset", action="store_true", help="zero the counts")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.set_defaults(func=cmd_sim_radio)
    sp = with_control(ssub.add_parser(
        "ble", help="what the door advertises (decoded) and its BLE connections",
        description="The door's advert and scan response (raw hex and decoded), whether it scans, its "
                    "connections; --distance also gives the RSSI a phone there would measure."))
    sp.add_argument("--distance", type=float, metavar="M", help="also the RSSI a phone at M metres measures")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.set_defaults(func=cmd_sim_ble)

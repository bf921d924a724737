"""`doorctl sim wiegand-out`: what the simulated door sent on its Wiegand output (board sim.json,
config `wiegand_out`; docs/wiegand-out.md), decoded as a panel would (firmware/sim/wgout.py
decodes the recorded pulses with lib/wiegand.py).

Kept out of cli.py; cli.py calls register() while it builds the `sim` subcommands."""
import json

from doorctl.simctl import SimClient, SimError


def span(pair):
    """[min, max] -> "50" or "49-51" (us)."""
    if not pair:
        return "-"
    return "%d" % pair[0] if pair[0] == pair[1] else "%d-%d" % (pair[0], pair[1])


def format_frame(f):
    """One decoded frame in a line."""
    if "error" in f:
        what = "REJECTED (%s)" % f["error"]
    elif "uid" in f:
        what = "card %s (facility %d, number %d, bytes %s)" % (f.get("card", "?"), f["facility"], f["number"], f["uid"])
    else:
        what = "not a card frame"
    parity = {True: "ok", False: "BAD", None: "-"}[f["parity_ok"]]
    return "%s %2d bits %s  parity %s  pulse %s us  interval %s us  %s" % (
        (f["format"] or "?").upper(), f["n"], f["bits"], parity, span(f["pulse_us"]), span(f["interval_us"]), what)


def format_answer(ans):
    cfg = ans["config"]
    lines = ["wiegand out on GPIO %d (D0) / %d (D1): %s, %s, send %s, pulse %d us, interval %d us" % (
        ans["pins"][0], ans["pins"][1], "enabled" if cfg["enabled"] else "DISABLED", cfg["format"].upper(),
        cfg["send"], cfg["pulse_us"], cfg["interval_us"]),
        "frames sent %d, queued %d, dropped (queue full) %d, errors %d" % (
            ans["sent"], ans["queued"], ans["overflows"], ans["errors"])]
    if not ans["frames"]:
        lines.append("no frames recorded")
    lines.extend(format_frame(f) for f in ans["frames"])
    return "\n".join(lines)


def cmd_sim_wiegand_out(args):
    with SimClient(args.control) as c:
        try:
            ans = c.call("wiegand_out", pulses=args.pulses, clear=args.clear)
        except SimError as e:
            if "unknown command" in str(e):
                raise SimError("the simulator's board has no Wiegand output (board file `wiegand_out`: "
                               "boards/sim.json has one)")
            raise
    ans.pop("ok", None)
    print(json.dumps(ans, indent=2, sort_keys=True) if args.json else format_answer(ans))
    return 0


def register(ssub, with_control):
    sp = with_control(ssub.add_parser(
        "wiegand-out", help="frames the door sent on its Wiegand output, decoded (board sim.json)",
        description="The simulated door's Wiegand output (config wiegand_out): the frames recorded on its D0/D1 "
                    "wires, decoded as a panel would (format, bits, card, parity, pulse width and interval), and "
                    "the sender's counters. The simulator keeps the last 256 pulses."))
    sp.add_argument("--json", action="store_true", help="the simulator's answer as JSON (frames, counters, config)")
    sp.add_argument("--pulses", action="store_true", help="with --json: every recorded pulse as [line, start us, "
                                                         "width us]")
    sp.add_argument("--clear", action="store_true", help="forget the recorded pulses after showing them")
    sp.set_defaults(func=cmd_sim_wiegand_out)

"""`doorctl` — one CLI for the host side. Errors print one line (no traceback) and exit 1."""
import argparse
import json
import os
import sys
import time

from doorctl import __version__, paths, profiles, simble, simphone, simprep, simwgout
from doorctl.errors import CliError
from doorctl.simctl import DEFAULT_CONTROL, SimClient, SimError

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


COMMAND_MODULES_PREFIX = "cmd_"  # host_tools/doorctl/cmd_*.py each add subcommands via register(sub)


# --- doorctl sim ---------------------------------------------------------------------------
def _garbage_bytes(text):
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= 4096:
        raise argparse.ArgumentTypeError("must be 1-4096 bytes, got %r" % text)
    return n


def _check_sim_files(args):
    """What the simulator would only fail on later: files that are not there, a board file of
    a real board (its backend is esp32: the simulator can't drive `machine` pins)."""
    for opt in ("board", "config", "secrets", "users"):
        v = getattr(args, opt, None)
        if v and not os.path.isfile(v):
            raise CliError("--%s: no such file: %s" % (opt, v))
    try:
        with open(args.board) as f:
            backend = json.load(f).get("backend")
    except (OSError, ValueError, AttributeError):
        return  # the simulator reports a broken board file itself, naming the field
    if backend != "sim":
        raise CliError("--board: %s is a board for the %s backend (real hardware), not the simulator: use "
                       "boards/sim.json, boards/sim-lean.json ... or `doorctl sim-image` to boot a built image"
                       % (args.board, backend))


def sim_command(args):
    """Build the argv that starts the simulator under the MicroPython unix port."""
    _check_sim_files(args)
    flash = os.path.abspath(args.flash)
    os.makedirs(os.path.dirname(flash), exist_ok=True)
    argv = [
        paths.micropython_binary(), "-X", "heapsize=" + (args.heap or profiles.heap_for_board(args.board)),
        os.path.join(paths.FIRMWARE, "sim", "run.py"),
        "--board", os.path.abspath(args.board), "--flash", flash,
        "--control", args.control, "--http", args.http,
    ]
    if args.flash_size:
        argv += ["--flash-size", args.flash_size]
    if getattr(args, "https", None):
        argv += ["--https", args.https]
    if getattr(args, "tls", None):
        argv += ["--tls", os.path.abspath(args.tls)]
    for opt in ("config", "secrets"):
        v = getattr(args, opt)
        if v:
            argv += ["--" + opt, os.path.abspath(v)]
    # lists are built into a table here, as for a board (doorctl.simprep)
    argv += simprep.users_args(args.users, flash, os.path.dirname(flash), args.config, args.secrets, args.board,
                               not args.no_demo, args.fresh)
    pn532 = args.pn532
    if not pn532 and _board_transport(args.board) == "emulator":
        # the emulator runs as its own process (test equipment stays out of the device heap);
        # it exits when this process (the runner, doorctl.simwatch) is gone: it outlives a
        # watchdog reset of the simulator, as a reader outlives the board's
        from doorctl import pn532_service

        _proc, pn532 = pn532_service.start()
    if pn532:
        argv += ["--pn532", pn532]
    if args.quiet:
        argv.append("--quiet")
    return argv


def _board_transport(board):
    try:
        with open(board) as f:
            return json.load(f)["pn532"].get("transport", "emulator")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return ""  # the simulator reports a bad board file itself


def sim_env():
    """The simulator imports the device code as .mpy, as a board does (doorctl.mpycache)."""
    from doorctl import mpycache

    env = dict(os.environ)
    env["MICROPYPATH"] = mpycache.compiled_path(relative_to=paths.ROOT)  # (it runs in ROOT: simwatch.run)
    return env


def cmd_sim_run(args):
    """The simulator in the foreground, restarted on the same flash after a watchdog reset
    (doorctl.simwatch); the exit code is the simulator's."""
    from doorctl import simwatch

    argv = sim_command(args)
    if args.fresh and os.path.exists(argv[argv.index("--flash") + 1]):
        os.remove(argv[argv.index("--flash") + 1])
    sys.stdout.flush()
    return simwatch.run(argv, sim_env(), say=lambda line: print(line, flush=True), timeout_ms=args.watchdog_ms,
                        cwd=paths.ROOT)  # (sim_command's paths are absolute)


def _client(args):
    return SimClient(args.control)


def _mifare_card(args):
    """--mifare-*: a MIFARE Classic 1K description for the simulator (docs/cards-mifare.md), or None."""
    if args.mifare_key is None and args.mifare_code is None:
        return None
    key = args.mifare_key or "ff" * 6
    if len(key) != 12 or any(ch not in "0123456789abcdefABCDEF" for ch in key):
        raise CliError("--mifare-key must be 12 hex digits")
    if not 0 <= args.mifare_sector <= 15 or not 0 <= args.mifare_block <= 2:
        raise CliError("--mifare-sector must be 0-15 and --mifare-block 0-2 (3 is the sector trailer)")
    desc = {"sectors": {str(args.mifare_sector): {"key_a": key, "key_b": key, "access": "787788"}}}
    if args.mifare_code is not None:
        if not 0 <= args.mifare_code <= 0xFFFFFFFF:
            raise CliError("--mifare-code must be 0-4294967295")
        desc["blocks"] = {str(args.mifare_sector * 4 + args.mifare_block): "%08x" % args.mifare_code}
    return desc


def _desfire_card(args):
    """--desfire APP/FILE=HEX --key HEX --crypto KIND ...: a DESFire description for the simulator
    (docs/cards-desfire.md), or None."""
    if args.desfire is None:
        if args.key is not None and args.plus is None:
            raise CliError("--key goes with --desfire APP/FILE=HEX or --plus BLOCK=HEX")
        return None
    where, eq, data = args.desfire.partition("=")
    aid, slash, fid = where.partition("/")
    if not eq or not slash or len(aid) != 6 or not fid.isdigit():
        raise CliError("--desfire must be APP/FILE=HEX: 6 hex digits of application, a file number, the file's "
                       "bytes in hex (e.g. F51230/1=00003039), got %r" % args.desfire)
    lens = {"aes": (32,), "3des": (32, 48), "des": (16,)}[args.crypto]
    key = args.key or "00" * (lens[0] // 2)
    if len(key) not in lens or any(ch not in "0123456789abcdefABCDEF" for ch in key):
        raise CliError("--key must be %s hex digits for --crypto %s" % (" or ".join(map(str, lens)), args.crypto))
    desc = {"aid": aid, "file": int(fid), "data": data, "key": key, "crypto": args.crypto, "key_index": args.key_index,
            "comm": args.comm}
    if args.tamper:
        desc["tamper"] = args.tamper
    return desc


def _plus_card(args):
    """--plus BLOCK=HEX --key HEX: a MIFARE Plus SL3 description for the simulator
    (docs/cards-plus.md), or None."""
    if args.plus is None:
        return None
    blk, eq, data = args.plus.partition("=")
    if not eq or not blk.isdigit() or not 0 <= int(blk) <= 255 or not data or len(data) > 32 or len(data) % 2 \
            or any(ch not in "0123456789abcdefABCDEF" for ch in data):
        raise CliError("--plus must be BLOCK=HEX: the absolute block number (sector * 4 + block) and up to 16 "
                       "bytes in hex (e.g. 9=00003039), got %r" % args.plus)
    key = args.key or "ff" * 16
    if len(key) != 32 or any(ch not in "0123456789abcdefABCDEF" for ch in key):
        raise CliError("--key must be 32 hex digits for --plus (the sectors' AES keys A and B)")
    desc = {"blocks": {blk: data}, "key": key}
    if args.tamper == "mac":
        desc["tamper"] = "mac"
    return desc


def _hce_phone(args):
    """--hce AID=HEX: a phone whose app answers HEX to a SELECT of AID (docs/cards-nfc.md), or None."""
    if args.hce is None:
        return None
    aid, eq, data = args.hce.partition("=")
    hexd = "0123456789abcdefABCDEF"
    if not eq or not 10 <= len(aid) <= 32 or len(aid) % 2 or len(data) % 2 or len(data) > 64 \
            or any(ch not in hexd for ch in aid + data):
        raise CliError("--hce must be AID=HEX: the app's AID (5-16 bytes of hex) and its answer in hex (e.g. "
                       "F0646F6F7263746C=00003039), got %r" % args.hce)
    return {"aid": aid, "response": data}


def cmd_sim_simple(args):
    if args.simcmd == "tap" and args.uid is None and args.hce is None and args.felica is None:  # (a usage error)
        sys.stderr.write("doorctl sim tap: error: the card's UID (hex) is needed (only a phone's, --hce, may be "
                         "left out: it is random; a FeliCa card's IDm goes with --felica)\n")
        return 2
    with _client(args) as c:
        if args.simcmd == "tap":
            m = _mifare_card(args)
            d = _desfire_card(args)
            p = _plus_card(args)
            ph = _hce_phone(args)
            if (d is not None) + (p is not None) + (ph is not None) + (m is not None) + (args.felica is not None) > 1:
                raise CliError("--mifare-*, --desfire, --plus, --hce, --felica: one card at a time")
            if args.felica is not None:
                idm = args.felica.replace(":", "")
                if len(idm) != 16 or any(ch not in "0123456789abcdefABCDEF" for ch in idm):
                    raise CliError("--felica must be the card's IDm, 8 bytes as 16 hex digits (e.g. 012E4CD8A5B6C7D8), "
                                   "got %r" % args.felica)
                c.call("tap", ms=args.ms, felica=idm)
                print("FeliCa card %s presented for %d ms" % (idm.upper(), args.ms))
                return 0
            if ph is not None:
                c.call("tap", uid=args.uid or "", ms=args.ms, hce=ph)
                print("phone%s presented for %d ms (app %s)" % (" " + args.uid if args.uid else "", args.ms,
                                                                ph["aid"].upper()))
                return 0
            if p is not None:
                c.call("tap", uid=args.uid, ms=args.ms, plus=p)
            elif d is not None:
                c.call("tap", uid=args.uid, ms=args.ms, desfire=d)
            elif m is None:
                c.call("tap", uid=args.uid, ms=args.ms)
            else:
                c.call("tap", uid=args.uid, ms=args.ms, mifare=m)
            print("card %s presented for %d ms%s" % (args.uid, args.ms, " (DESFire)" if d else " (MIFARE Plus)" if p else
                                                        " (MIFARE Classic)" if m else ""))
        elif args.simcmd == "place":
            c.call("place", uid=args.uid)
            print("card %s on the reader" % args.uid)
        elif args.simcmd == "remove":
            c.call("remove")
            print("reader field empty")
        elif args.simcmd == "press":
            c.call("press", input=args.input, ms=args.ms)
            print("%s pressed for %d ms" % (args.input, args.ms))
        elif args.simcmd == "door":
            c.call("door", state=args.state)
            print("door %s" % args.state)
        elif args.simcmd == "garbage":
            c.call("garbage", n=args.n)
            print("%d bytes of noise injected on the PN532 link" % args.n)
        elif args.simcmd == "keys":
            c.call("keys", keys=args.keys, **({"via": args.via} if args.via else {}), bits=args.bits)
            print("keys %s typed" % args.keys)
        elif args.simcmd == "wiegand":
            if args.bits:
                req = {"bits": args.bits}
            elif args.value is not None:
                req = {"value": args.value}
            elif args.card is not None:
                req = {"facility": args.facility, "card": args.card}
            else:
                raise CliError("give BITS, --card (with --facility) or --value")
            print("wiegand frame %s sent" % c.call("wiegand", **req)["bits"])
        elif args.simcmd == "qr":
            c.call("qr", text=args.text)
            print("QR code scanned")
        elif args.simcmd == "plate":
            ans = c.call("plate", plate=args.text, **({"relay": args.relay} if args.relay is not None else {}))
            print("plate %s %s (%s)%s" % (ans["plate"], "granted" if ans["granted"] else "denied", ans["reason"],
                                          " relays %s" % ans["relays"] if ans["granted"] else ""))
        elif args.simcmd == "clock":
            ans = c.call("clock", **({"set": args.set} if args.set is not None else {}))
            print(ans["clock"])
    return EXIT_OK


def input_word(inp):
    """An input's state in the live view's words: a door OPEN/closed, a button PRESSED/idle."""
    if inp.get("kind") == "door_sensor":
        return "OPEN" if inp["active"] else "closed"
    return "PRESSED" if inp["active"] else "idle"


def alarm_words(a):
    """A door sensor's alarms: FORCED (latched until cleared), HELD OPEN, or none."""
    words = [w for w, on in (("FORCED (latched: clear it with POST /api/v1/alarms/clear)", a["forced"]),
                             ("HELD OPEN", a["held_open"])) if on]
    return ", ".join(words) or "none"


def format_state(st):
    lines = ["board %s, firmware %s, %d users, card format %s, clock %s" % (
        st["board"], st["version"], st["users"], st["card_format"], st["clock"] or "not set")]
    lines.append("relays:  " + "  ".join(
        "%s=%s" % (k, ("ON (%d ms left)" % v["remaining_ms"]) if v["on"] else "off")
        for k, v in sorted(st["relays"].items())))
    lines.append("inputs:  " + "  ".join("%s=%s" % (k, input_word(v)) for k, v in sorted(st["inputs"].items())))
    if st.get("alarms"):
        lines.append("alarms:  " + "  ".join("%s=%s" % (k, alarm_words(v)) for k, v in sorted(st["alarms"].items())))
    lines.append("led=%s buzzer=%s reader=%s" % (
        "on" if st["led"] else "off", "on" if st["buzzer"] else "off", st["reader"].get("status")))
    if st.get("prompt"):
        lines.append('display: "%s" (%.1f s ago)' % (st["prompt"], (st.get("prompt_age_ms") or 0) / 1000))
    lines.append("last events:")
    for e in st["events"]:
        lines.append("  #%d %s %s %s user=%s %s %s" % (
            e["seq"], e["time"], e["kind"], e.get("code") or "-", e.get("user") or "-", e["result"], e["reason"]))
    return "\n".join(lines)


def cmd_sim_state(args):
    with _client(args) as c:
        st = c.call("state", events=args.events)["state"]
    print(json.dumps(st, indent=2, sort_keys=True) if args.json else format_state(st))
    return EXIT_OK


EVENTS_PAGE = 16  # the simulator answers at most this many events a call (firmware/sim/ctlmore.py)


def sim_event_pages(client, since=0, limit=None, page=EVENTS_PAGE, pause=0.05):
    """Events with seq > since, oldest first (all, or the first `limit`), a page per call, as
    they come. A page the busy device found no heap for is asked again, smaller."""
    left = limit
    fails = 0
    while left is None or left > 0:
        n = page if left is None else min(page, left)
        try:
            ans = client.call("events", since=since, limit=n)
        except SimError as e:
            fails += 1
            if "out of memory" not in str(e) or fails > 10:
                raise
            page = max(1, page // 2)
            time.sleep(pause)
            continue
        fails = 0
        evs = ans["events"]
        for e in evs:
            yield e
        if left is not None:
            left -= len(evs)
        if not evs or not ans.get("more"):
            return
        since = ans.get("next", evs[-1]["seq"])


def cmd_sim_events(args):
    evs = []
    with _client(args) as c:
        for e in sim_event_pages(c, args.since, args.limit):
            if args.json:
                evs.append(e)
            else:
                print("#%d %s %s %s user=%s %s %s" % (e["seq"], e["time"], e["kind"], e.get("code") or "-",
                                                     e.get("user") or "-", e["result"], e["reason"]), flush=True)
    if args.json:
        print(json.dumps(evs, indent=2))
    return EXIT_OK


def parse_uid(text):
    h = text.replace(":", "").replace(" ", "")
    try:
        uid = bytes.fromhex(h)
    except ValueError:
        raise CliError("UID must be hex, got %r" % text)
    if len(uid) not in (4, 7, 10):
        raise CliError("UID must be 4, 7 or 10 bytes, got %d" % len(uid))
    return uid


def cmd_pn532_emu(args):
    """Serve the PN532 emulator on a pty or TCP port; stdin takes `place UID` / `remove` / `quit`."""
    from doorctl.pn532_bridge import PN532Bridge

    with PN532Bridge() as br:
        if args.tcp is not None:
            port = br.serve_tcp(args.tcp)
            print("PN532 emulator on tcp:127.0.0.1:%d" % port, flush=True)
        else:
            print("PN532 emulator on serial:%s" % br.serve_pty(), flush=True)
        if args.card:
            br.place(parse_uid(args.card))
        print("commands: place UID | remove | quit", flush=True)
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            try:
                if words[0] == "place" and len(words) == 2:
                    br.place(parse_uid(words[1]))
                elif words[0] == "remove":
                    br.remove()
                else:
                    raise CliError("unknown command: " + line.strip())
                print("ok", flush=True)
            except CliError as e:
                print("error: %s" % e, flush=True)
    return EXIT_OK


def build_parser():
    p = argparse.ArgumentParser(prog="doorctl", description="Host tools for the doorctl door controller.")
    p.add_argument("--version", action="version", version="doorctl " + __version__)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    sim = sub.add_parser("sim", help="run and drive the firmware simulator",
                         description="Run the real firmware on the MicroPython unix port, and drive it.")
    ssub = sim.add_subparsers(dest="simcmd", metavar="SIMCOMMAND")
    ssub.required = True

    def with_control(sp):
        sp.add_argument("--control", default=DEFAULT_CONTROL,
                        help="control channel HOST:PORT (default %(default)s, env DOORCTL_SIM_CONTROL)")
        return sp

    run = with_control(ssub.add_parser("run", help="start the simulator (what `make sim` does)"))
    run.add_argument("--board", default=os.path.join(paths.BOARDS, "sim.json"),
                     help="board file (default boards/sim.json; boards/sim-lean.json: the lean profile, "
                          "sim-readers.json: keypad and Wiegand, sim-qr.json: QR scanner)")
    run.add_argument("--flash", default=os.path.join(paths.ROOT, "build", "sim", "flash.img"),
                     help="LittleFS image standing in for flash (created if missing; default %(default)s)")
    run.add_argument("--flash-size", default="", help="size of a new image in bytes (default 0x200000)")
    run.add_argument("--fresh", action="store_true", help="delete the flash image first")
    run.add_argument("--http", default="auto", help="device HTTP HOST:PORT or off (default: 127.0.0.1:8080 on psram "
                     "boards, off on lean ones: it does not fit their heap)")
    run.add_argument("--https", default=None, help="with config http.tls \"on\": the API over HTTPS on HOST:PORT "
                     "(default 127.0.0.1:8443; --http then redirects to it) (docs/https.md)")
    run.add_argument("--tls", metavar="DIR", help="put DIR's tls_key.der and tls_cert.der (`doorctl provision --tls`) "
                     "on the flash first")
    run.add_argument("--pn532", default="", help="PN532 link: the emulator in its own process (default), emulator (inside the "
                     "simulator's heap), tcp:HOST:PORT or serial:/dev/tty...")
    run.add_argument("--config", help="validate this config.json and install it on the flash first")
    run.add_argument("--secrets", help="validate this secrets.json (site key, ...) and install it on the flash first")
    run.add_argument("--users", help="user list (users.json/.csv: checked and built into a table here) or a "
                                     "table from `doorctl users build`, installed on the flash first")
    run.add_argument("--no-demo", action="store_true", help="don't put the demo users on a new flash image")
    run.add_argument("--quiet", action="store_true", help="no live display of outputs and events")
    run.add_argument("--heap", default=None,
                     help="MicroPython heap (default: the board's profile: psram %s, lean %s)" % (
                         profiles.HEAPS["psram"], profiles.HEAPS["lean"]))
    run.add_argument("--watchdog-ms", type=int, default=0, metavar="MS",
                     help="watchdog timeout instead of the firmware's own 30 s (docs/watchdog.md)")
    run.set_defaults(func=cmd_sim_run)

    sp = with_control(ssub.add_parser("tap", help="present a card briefly (UID in hex)"))
    sp.add_argument("uid", nargs="?", help="the card's UID in hex (a phone's, --hce: random if left out)")
    sp.add_argument("--ms", type=int, default=300, help="how long the card stays (default %(default)s)")
    sp.add_argument("--mifare-key", metavar="HEX", help="a MIFARE Classic whose code sector has this key as A and B "
                                                        "(docs/cards-mifare.md)")
    sp.add_argument("--mifare-code", type=int, metavar="N", help="the card number in its code block")
    sp.add_argument("--mifare-sector", type=int, default=1, metavar="N", help="code sector (default %(default)s)")
    sp.add_argument("--mifare-block", type=int, default=0, metavar="N", help="code block 0-2 (default %(default)s)")
    sp.add_argument("--desfire", metavar="APP/FILE=HEX", help="a DESFire with application APP (6 hex digits), file "
                                                              "FILE holding HEX (docs/cards-desfire.md)")
    sp.add_argument("--plus", metavar="BLOCK=HEX", help="a MIFARE Plus SL3 whose block BLOCK (sector * 4 + block) "
                                                        "holds HEX (docs/cards-plus.md)")
    sp.add_argument("--felica", metavar="IDM", help="a FeliCa card with this IDm (16 hex digits; "
                                                     "docs/cards-felica.md)")
    sp.add_argument("--hce", metavar="AID=HEX", help="a phone whose app (Android host card emulation) answers HEX "
                                                     "to a SELECT of AID (docs/cards-nfc.md)")
    sp.add_argument("--key", metavar="HEX", help="the DESFire application key that reads the file (default zeros), "
                                                 "or the MIFARE Plus sectors' AES key (default FF..)")
    sp.add_argument("--crypto", choices=("aes", "3des", "des"), default="aes",
                    help="the key's kind (default %(default)s)")
    sp.add_argument("--key-index", type=int, default=1, metavar="N", help="the key's number in the application "
                                                                           "(default %(default)s)")
    sp.add_argument("--comm", choices=("plain", "mac", "enc"), default="enc",
                    help="how the file travels (default %(default)s)")
    sp.add_argument("--tamper", choices=("mac", "enc"), help="the card answers with a wrong CMAC (mac) or a flipped "
                                                             "ciphertext byte (enc)")
    sp.set_defaults(func=cmd_sim_simple)
    sp = with_control(ssub.add_parser("place", help="put a card on the reader and leave it"))
    sp.add_argument("uid")
    sp.set_defaults(func=cmd_sim_simple)
    sp = with_control(ssub.add_parser("remove", help="take the card off the reader"))
    sp.set_defaults(func=cmd_sim_simple)
    sp = with_control(ssub.add_parser("press", help="press an input, e.g. the exit button"))
    sp.add_argument("input", nargs="?", default="exit")
    sp.add_argument("--ms", type=int, default=200, help="how long it is held (default %(default)s)")
    sp.set_defaults(func=cmd_sim_simple)
    sp = with_control(ssub.add_parser("door", help="open or close the door (door sensor)"))
    sp.add_argument("state", choices=("open", "closed"))
    sp.set_defaults(func=cmd_sim_simple)
    sp = with_control(ssub.add_parser("garbage", help="inject noise on the PN532 link"))
    sp.add_argument("n", nargs="?", type=_garbage_bytes, default=32, help="bytes of noise, 1-4096 (default 32)")
    sp.set_defaults(func=cmd_sim_simple)
    sp = with_control(ssub.add_parser("keys", help="type on the keypad (board sim-readers), e.g. 1234#"))
    sp.add_argument("keys", help="0-9, * (clear), # (submit)")
    sp.add_argument("--via", choices=("keypad", "wiegand"), help="matrix keypad (default if the board has one) "
                    "or Wiegand keypad bursts")
    sp.add_argument("--bits", type=int, choices=(4, 8), default=4, help="Wiegand keypad burst size")
    sp.set_defaults(func=cmd_sim_simple)
    sp = with_control(ssub.add_parser("wiegand", help="a Wiegand reader sends a frame (board sim-readers)"))
    sp.add_argument("bits", nargs="?", help="raw bits, e.g. 10000110100110011000010110")
    sp.add_argument("--card", type=int, help="26-bit card number (0-65535)")
    sp.add_argument("--facility", type=int, default=0, help="26-bit facility code (0-255)")
    sp.add_argument("--value", type=int, help="34-bit card value (32-bit number)")
    sp.set_defaults(func=cmd_sim_simple)
    sp = with_control(ssub.add_parser("qr", help="the QR scanner reads a code (board sim-qr)"))
    sp.add_argument("text")
    sp.set_defaults(func=cmd_sim_simple)
    sp = with_control(ssub.add_parser("plate", help="an LPR camera reads a licence plate (as POST /api/v1/lpr; "
                                                    "needs lpr.enabled)"))
    sp.add_argument("text", help="the plate as read, e.g. 'AB-12 CDE'")
    sp.add_argument("--relay", type=int, help="relay to open (default: config lpr.relay)")
    sp.set_defaults(func=cmd_sim_simple)
    sp = with_control(ssub.add_parser("clock", help="read or set the simulated wall clock (unix seconds)"))
    sp.add_argument("--set", type=int)
    sp.set_defaults(func=cmd_sim_simple)
    sp = with_control(ssub.add_parser("state", help="relays, inputs, LED, buzzer, reader and last events"))
    sp.add_argument("--json", action="store_true", help="machine-readable output (keys: see README)")
    sp.add_argument("--events", type=int, default=10, help="how many recent events (default %(default)s)")
    sp.set_defaults(func=cmd_sim_state)
    sp = with_control(ssub.add_parser("events", help="events after a sequence number",
                                      description="Events with a sequence number above --since, oldest first, "
                                                  "read page by page (printed as they come)."))
    sp.add_argument("--since", type=int, default=0, help="cursor: the last sequence number already seen (default 0)")
    sp.add_argument("--limit", type=int, default=None, help="at most this many events (default: all)")
    sp.add_argument("--json", action="store_true", help="one JSON list at the end")
    sp.set_defaults(func=cmd_sim_events)
    simble.register(ssub, with_control)  # fob, radio, ble: the simulated radio (doorctl/simble.py)
    simphone.register(ssub, with_control)  # phone: pair a phone, bring it near (doorctl/simphone.py)
    simwgout.register(ssub, with_control)  # wiegand-out: the Wiegand output's frames (doorctl/simwgout.py)

    emu = sub.add_parser("pn532-emu", help="serve the PN532 emulator on a pty or TCP port",
                         description="Run the byte-level PN532 emulator outside the simulator, e.g. "
                                     "`doorctl pn532-emu --tcp 7701` then `doorctl sim run --pn532 tcp:127.0.0.1:7701`.")
    g = emu.add_mutually_exclusive_group(required=True)
    g.add_argument("--tcp", type=int, metavar="PORT", help="listen on 127.0.0.1:PORT")
    g.add_argument("--pty", action="store_true", help="create a pseudo-terminal and print its path")
    emu.add_argument("--card", help="UID (hex) present on the reader from the start")
    emu.set_defaults(func=cmd_pn532_emu)
    register_command_modules(sub)
    return p


def register_command_modules(sub):
    """Each host_tools/doorctl/cmd_*.py module adds its own subcommands: register(subparsers)."""
    import importlib

    here = os.path.dirname(os.path.abspath(__file__))
    for name in sorted(os.listdir(here)):
        if name.startswith(COMMAND_MODULES_PREFIX) and name.endswith(".py"):
            importlib.import_module("doorctl." + name[:-3]).register(sub)


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or EXIT_OK
    except (SimError, CliError, OSError, ValueError) as e:
        print("doorctl: error: %s" % e, file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())


def run():
    """Console-script entry point."""
    sys.exit(main())

"""`doorctl sim phone`: a phone for the simulated door, built on doorctl.phoneproto (the protocol
of docs/ble.md on the host's `cryptography`), talking to the simulator's radio.

    doorctl sim phone pair USER CODE      pair USER's phone with the admin's 6-digit code (GATT,
                                          LE Secure Connections passkey entry), keep its key
    doorctl sim phone USER --distance M   the paired phone near the door for --seconds: Android
                                          style, it advertises a new message every 0.5 s (the
                                          door measures its RSSI); --ios writes its messages
                                          over GATT with its own RSSI of the door's advert

The phones' ids, keys and counters are kept in a wallet file on the host (default next to the
simulator's flash image); a phone's key never goes anywhere else.
"""
import json
import os
import time

from doorctl import paths, phoneproto
from doorctl.cmd_phone import load_wallet, save_wallet, user_id
from doorctl.errors import CliError
from doorctl.simble import call, distance_arg

DEFAULT_WALLET = os.path.join(paths.ROOT, "build", "sim", "phones.json")
_ADDR = "C4:%02X:%02X:%02X:%02X:%02X"  # a phone's (static random) address, from its user id


def door(args):
    b = call(args, "ble")
    adv = phoneproto.parse_door_adv(bytes.fromhex(b["adv"]), bytes.fromhex(b["resp"]) if b["resp"] else None)
    if not b["active"] or adv is None:
        raise CliError("the door does not advertise (is BLE on? config ble.enabled)")
    return adv


def address(uid):
    return _ADDR % ((uid >> 32) & 0x3F, (uid >> 24) & 255, (uid >> 16) & 255, (uid >> 8) & 255, uid & 255)


def pair(args, uid, code):
    """Pair through the reference phone's flow (doorctl.cmd_phone) on the simulator's radio."""
    import asyncio

    from doorctl import cmd_phone

    if not (len(code) == 6 and code.isdigit()):
        raise CliError("CODE: the 6-digit pairing code, got %r" % code)
    _device_id, pid, key = asyncio.run(cmd_phone.pair(cmd_phone.SimTransport(args.control, code=code),
                                                      door(args).device_id, uid))
    return pid, key


def advertise(args, uid, phone, w, wallet, key):
    """Android style: a new message in the phone's advert every 0.5 s for --seconds."""
    sent = 0
    end = time.monotonic() + args.seconds
    try:
        while True:
            msg = phone.message(door(args).challenge, args.moved, args.wave)
            call(args, "emit", key=key, addr=address(uid), adv=[phoneproto.phone_adv(msg).hex()], interval_ms=100,
                 distance=args.distance)
            sent += 1
            if time.monotonic() >= end:
                return sent
            time.sleep(0.5)
    finally:
        w["counter"] = phone.counter
        save_wallet(args.wallet, wallet)
        if not args.stay:
            call(args, "emit", key=key, distance="off")


def cmd_sim_phone(args):
    words = args.what
    wallet = load_wallet(args.wallet)
    if words[0] == "pair":
        if len(words) != 3:
            raise CliError("usage: doorctl sim phone pair USER CODE")
        uid = user_id(words[1])
        pid, key = pair(args, uid, words[2])
        wallet[str(uid)] = {"phone_id": pid, "key": key.hex(), "counter": 0}
        save_wallet(args.wallet, wallet)
        if args.json:
            print(json.dumps({"user": uid, "phone_id": pid, "wallet": args.wallet}))
        else:
            print("phone of user %d paired: phone id %d (key in %s)" % (uid, pid, args.wallet))
        return 0
    if len(words) != 1:
        raise CliError("usage: doorctl sim phone USER --distance M | doorctl sim phone pair USER CODE")
    uid = user_id(words[0])
    if args.distance is None:
        raise CliError("--distance: give metres, or off")
    w = wallet.get(str(uid))
    if w is None:
        raise CliError("user %d has no paired phone in %s: doorctl sim phone pair %d CODE" % (uid, args.wallet, uid))
    phone = phoneproto.Phone(w["phone_id"], bytes.fromhex(w["key"]), w.get("counter", 0))
    key = "phone:%d" % uid
    if args.distance == "off":
        call(args, "emit", key=key, distance="off")
        print("phone of user %d away" % uid)
        return 0
    if args.ios:  # the reference phone's GATT flow (doorctl.cmd_phone) on the simulator's radio
        import asyncio

        from doorctl import cmd_phone

        try:
            sent = asyncio.run(cmd_phone.open_door(cmd_phone.SimTransport(args.control, args.distance),
                                                   door(args).device_id, phone, args.seconds, args.moved, args.wave))
        finally:
            w["counter"] = phone.counter
            save_wallet(args.wallet, wallet)
    else:
        sent = advertise(args, uid, phone, w, wallet, key)
    if args.json:
        print(json.dumps({"user": uid, "messages": sent, "counter": phone.counter}))
    else:
        print("phone of user %d at %.2f m for %.1f s: %d messages (%s)" % (
            uid, args.distance, args.seconds, sent, "GATT writes" if args.ios else "adverts"))
    return 0


def register(ssub, with_control):
    sp = with_control(ssub.add_parser(
        "phone", help="a paired phone near the door (BLE unlock), or pair one",
        description="`doorctl sim phone pair USER CODE` pairs USER's phone with the pairing code the admin made "
                    "(POST /api/v1/users/USER/ble-code, or the user's page in the web UI). `doorctl sim phone USER "
                    "--distance M` then brings that phone within M metres of the door for --seconds: it "
                    "advertises a new signed message every 0.5 s (Android), or with --ios writes them over GATT "
                    "with its own RSSI of the door. The door opens when it comes within the trigger distance "
                    "(hands-free) or, with hands-free off, when --wave (the app's button) is given."))
    sp.add_argument("what", nargs="+", metavar="USER | pair USER CODE")
    sp.add_argument("--distance", type=distance_arg, metavar="M|off", help="metres from the door (off: away)")
    sp.add_argument("--seconds", type=float, default=5.0, help="how long it stays there (default 5)")
    sp.add_argument("--wave", action="store_true", help="the app's button pressed (hands-free off)")
    sp.add_argument("--moved", action="store_true", help="the phone says it moved (movement detection)")
    sp.add_argument("--ios", action="store_true", help="iOS style: messages written over GATT, not advertised")
    sp.add_argument("--stay", action="store_true", help="leave the last advert on the air afterwards")
    sp.add_argument("--wallet", default=DEFAULT_WALLET, help="the phones' keys on this host (default %(default)s)")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.set_defaults(func=cmd_sim_phone)

"""`doorctl phone ...`: the reference phone on a PC (docs/ble.md), the way an iOS app works: it
connects to the door over GATT, reads the door's challenge, and writes signed messages with its
own RSSI of the door's advert.

  doorctl phone scan                                  doors advertising nearby
  doorctl phone pair DOOR USER                        pair USER's phone (the OS asks for the code)
  doorctl phone open DOOR USER [--seconds 10]         near the door: send messages, the door opens

DOOR is the door's address or its device ID. The radio is the PC's Bluetooth adapter through the
PyPI package `bleak` (a central only: it can't advertise, so it works like an iOS phone), or the
simulator with `--sim HOST:PORT` (its control channel: the same flow against the simulated radio,
the passkey given with `--code`). Keys live in a wallet file on this PC (`--wallet`).
"""
import asyncio
import json
import os
import time

from doorctl import phoneproto
from doorctl.errors import CliError

DEFAULT_WALLET = os.path.join(os.path.expanduser("~"), ".config", "doorctl", "phones.json")


class SimTransport:
    """The simulator's radio as a phone sees it (control channel `ble` and `central`)."""

    def __init__(self, control, distance=0.5, code=None):
        from doorctl.simctl import SimClient

        self.client = SimClient(control)
        self.distance = distance
        self.code = code
        self.conn = None
        self.handles = {}

    def _call(self, cmd, **req):
        from doorctl.simctl import SimError

        try:
            return self.client.call(cmd, **req)
        except SimError as e:
            raise CliError("simulator: %s" % e)

    async def scan(self, seconds):
        b = self._call("ble", distance=self.distance)
        if not b["active"] or not b["advertising"]:
            return []
        return [(b["address"], bytes.fromhex(b["adv"]), bytes.fromhex(b["resp"]), b["rssi"])]

    async def connect(self, address):
        self.conn = self._call("central", op="connect")["conn"]
        for c in self._call("central", op="services")["characteristics"]:
            self.handles[c["uuid"]] = c["handle"]

    async def read(self, uuid):
        r = self._call("central", op="read", conn=self.conn, handle=self.handles[uuid])
        if r["error"]:
            raise CliError("the door refused the read (ATT error %d)" % r["error"])
        return bytes.fromhex(r["hex"])

    async def write(self, uuid, data):
        r = self._call("central", op="write", conn=self.conn, handle=self.handles[uuid], hex=data.hex())
        if r["error"]:
            raise CliError("the door refused the write (ATT error %d)" % r["error"])

    async def pair(self):
        if self.code is None:
            raise CliError("--code: the simulator needs the pairing code here (a phone's OS would ask for it)")
        state = self._call("central", op="pair", conn=self.conn, passkey=self.code)["pairing"]
        end = time.monotonic() + 5
        while state == "pending" and time.monotonic() < end:
            await asyncio.sleep(0.05)
            state = self._call("central", op="status", conn=self.conn)["pairing"]
        return state == "ok"

    async def rssi(self, address):
        return self._call("ble", distance=self.distance)["rssi"]

    async def disconnect(self):
        if self.conn is not None:
            try:
                self._call("central", op="disconnect", conn=self.conn)
            except CliError:
                pass
            self.conn = None


class BleakTransport:
    """The PC's Bluetooth adapter through `bleak`. Pairing uses the OS's agent: it asks for the
    6-digit code (LE Secure Connections passkey entry)."""

    def __init__(self):
        try:
            import bleak
        except ImportError:
            raise CliError("the PyPI package bleak is needed for a real door (pip install bleak)")
        self.bleak = bleak
        self.client = None
        self.seen = {}

    async def scan(self, seconds):
        found = await self.bleak.BleakScanner.discover(timeout=seconds, return_adv=True)
        out = []
        for address, (dev, adv) in found.items():
            md = adv.manufacturer_data.get(phoneproto.COMPANY_TEST)
            if md is None:
                continue
            raw = phoneproto.manufacturer(phoneproto.COMPANY_TEST, md)
            resp = phoneproto.ad(phoneproto.AD_NAME, adv.local_name.encode()) if adv.local_name else b""
            out.append((address, raw, resp, adv.rssi))
        return out

    async def connect(self, address):
        self.client = self.bleak.BleakClient(address)
        await self.client.connect()

    async def read(self, uuid):
        return bytes(await self.client.read_gatt_char(uuid))

    async def write(self, uuid, data):
        await self.client.write_gatt_char(uuid, data, response=True)

    async def pair(self):
        return bool(await self.client.pair())

    async def rssi(self, address):
        dev = await self.bleak.BleakScanner.find_device_by_address(address, timeout=2.0)
        return None if dev is None else getattr(dev, "rssi", None)

    async def disconnect(self):
        if self.client is not None:
            await self.client.disconnect()
            self.client = None


# --- the flows -----------------------------------------------------------------------------------
async def doors(transport, seconds):
    """[(address, DoorAdvert, rssi)] of the doors advertising."""
    out = []
    for address, adv, resp, rssi in await transport.scan(seconds):
        d = phoneproto.parse_door_adv(adv, resp or None)
        if d is not None:
            out.append((address, d, rssi))
    return out


async def find_door(transport, door, seconds=5.0):
    for address, d, rssi in await doors(transport, seconds):
        if door in (address, address.upper(), d.device_id):
            return address, d
    raise CliError("no door %r advertising nearby (doorctl phone scan)" % door)


async def pair(transport, door, uid):
    """(phone id, key) for user `uid` at `door`: the request, LE SC passkey entry, the key."""
    address, d = await find_door(transport, door)
    if not d.pairing_open:
        raise CliError("door %s has no live pairing code: the admin makes one for the user first" % d.device_id)
    await transport.connect(address)
    try:
        await transport.write(phoneproto.PAIR_UUID, phoneproto.pair_request(uid))
        await asyncio.sleep(0.1)
        if not await transport.pair():
            raise CliError("pairing failed: a wrong or expired code (it is spent), or pairing is locked")
        end = time.monotonic() + 2
        while True:  # the door writes the key once the link is authenticated
            data = await transport.read(phoneproto.PAIR_UUID)
            if data or time.monotonic() > end:
                break
            await asyncio.sleep(0.05)
        try:
            return (d.device_id,) + phoneproto.parse_pair_result(data)
        except ValueError as e:
            raise CliError("the door's pairing answer: %s" % e)
    finally:
        await transport.disconnect()


async def open_door(transport, door, phone, seconds, moved=False, wave=False):
    """Near the door for `seconds`: a message every 0.25 s with the phone's RSSI of the door."""
    address, d = await find_door(transport, door)
    await transport.connect(address)
    sent = 0
    try:
        end = time.monotonic() + seconds
        while True:
            challenge = phoneproto.parse_door_payload(await transport.read(phoneproto.CHALLENGE_UUID)).challenge
            rssi = await transport.rssi(address)
            if rssi is not None:
                msg = phone.message(challenge, moved, wave, rssi)
                await transport.write(phoneproto.UNLOCK_UUID, msg)
                sent += 1
            if time.monotonic() >= end:
                return sent
            await asyncio.sleep(0.25)
    finally:
        await transport.disconnect()


# --- the wallet: the phones' ids, keys and counters on this PC ----------------------------------
def load_wallet(path):
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise CliError("%s: not a phone wallet (%s)" % (path, e))
    return doc if isinstance(doc, dict) else {}


def save_wallet(path, wallet):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(wallet, f, indent=1, sort_keys=True)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def user_id(text):
    try:
        uid = int(text)
    except ValueError:
        uid = 0
    if not 1 <= uid <= 4294967294:
        raise CliError("USER: a user id 1-4294967294, got %r" % text)
    return uid


# --- the command ---------------------------------------------------------------------------------
def _transport(args):
    if args.sim:
        return SimTransport(args.sim, args.distance, getattr(args, "code", None))
    return BleakTransport()


def _run(args, coro):
    """asyncio.run(coro); without --sim, a PC with no usable Bluetooth (no adapter, BlueZ not
    running: bleak can't reach its D-Bus socket) is one clear error, not a bare errno."""
    if args.sim:
        return asyncio.run(coro)
    import bleak.exc

    try:
        return asyncio.run(coro)
    except (OSError, bleak.exc.BleakBluetoothNotAvailableError) as e:
        raise CliError("Bluetooth on this PC failed: %s (it needs an adapter and, on Linux, BlueZ running); "
                       "against the simulator give --sim HOST:PORT"
                       % (e.strerror if isinstance(e, OSError) and e.strerror else e))


def cmd_scan(args):
    found = _run(args, doors(_transport(args), args.seconds))
    if args.json:
        print(json.dumps([{"address": a, "device_id": d.device_id, "name": d.name, "pairing_open": d.pairing_open,
                           "rssi": r} for a, d, r in found]))
    elif not found:
        print("no door advertising")
    for a, d, r in ([] if args.json else found):
        print("%s  %-12s  %-20s  %s dBm%s" % (a, d.device_id, d.name or "", r, "  (pairing open)" if d.pairing_open else ""))
    return 0


def cmd_pair(args):
    uid = user_id(args.user)
    device_id, pid, key = _run(args, pair(_transport(args), args.door, uid))
    wallet = load_wallet(args.wallet)
    wallet["%s/%d" % (device_id, uid)] = {"phone_id": pid, "key": key.hex(), "counter": 0}
    save_wallet(args.wallet, wallet)
    print("paired with door %s for user %d: phone id %d (key in %s)" % (device_id, uid, pid, args.wallet))
    return 0


def cmd_open(args):
    uid = user_id(args.user)
    wallet = load_wallet(args.wallet)
    entry = wallet.get("%s/%d" % (args.door, uid))  # the wallet's keys are DEVICE-ID/USER
    mine = [k for k in wallet if k.endswith("/%d" % uid)]
    if entry is None and len(mine) == 1:  # (DOOR given as an address: the user's one pairing)
        entry = wallet[mine[0]]
    if entry is None:
        raise CliError("no phone of user %d paired with door %s in %s (doorctl phone pair)" % (uid, args.door, args.wallet))
    phone = phoneproto.Phone(entry["phone_id"], bytes.fromhex(entry["key"]), entry.get("counter", 0))
    try:
        sent = _run(args, open_door(_transport(args), args.door, phone, args.seconds, args.moved, args.wave))
    finally:
        entry["counter"] = phone.counter  # never reuse a counter, even after an error
        save_wallet(args.wallet, wallet)
    print("%d messages sent to door %s" % (sent, args.door))
    return 0


def register(sub):
    p = sub.add_parser("phone", help="the reference phone for BLE unlock (bleak, or the simulator)",
                       description="A phone on this PC for BLE unlock (docs/ble.md), working as an iOS app "
                                   "does: GATT, the door's challenge, signed messages with its RSSI. Uses the "
                                   "PC's Bluetooth adapter (PyPI bleak), or the simulator with --sim.")
    ps = p.add_subparsers(dest="phonecmd", metavar="PHONECOMMAND")
    ps.required = True

    def common(sp):
        sp.add_argument("--sim", metavar="HOST:PORT", help="the simulator's control channel instead of Bluetooth")
        sp.add_argument("--distance", type=float, default=0.5, help="with --sim: metres from the door (default 0.5)")
        sp.add_argument("--wallet", default=DEFAULT_WALLET, help="the phones' keys on this PC (default %(default)s)")
        return sp

    sp = common(ps.add_parser("scan", help="doors advertising nearby"))
    sp.add_argument("--seconds", type=float, default=5.0, help="how long to scan (default 5)")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.set_defaults(func=cmd_scan)
    sp = common(ps.add_parser("pair", help="pair a user's phone with the admin's pairing code"))
    sp.add_argument("door", metavar="DOOR", help="the door's address or device ID")
    sp.add_argument("user", metavar="USER", help="the user id")
    sp.add_argument("--code", help="with --sim: the 6-digit pairing code (on Bluetooth the OS asks for it)")
    sp.set_defaults(func=cmd_pair)
    sp = common(ps.add_parser("open", help="near the door: send signed messages for a while"))
    sp.add_argument("door", metavar="DOOR", help="the door's address or device ID")
    sp.add_argument("user", metavar="USER", help="the user id")
    sp.add_argument("--seconds", type=float, default=10.0, help="how long (default 10)")
    sp.add_argument("--moved", action="store_true", help="say the phone moved (movement detection)")
    sp.add_argument("--wave", action="store_true", help="the app's button (hands-free off)")
    sp.set_defaults(func=cmd_open)

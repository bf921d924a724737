"""Cost per BLE advert in the door's BLE reader (run under the MicroPython unix port).

The real BleReader (doorapp/readers/ble.py) over a user table with one key fob and a paired
phone, fed through its scan IRQ as MicroPython's bluetooth module calls it. Times per advert
(IRQ copy + the task's handling), for: an unknown device already remembered as unknown, a known
fob being tracked, a phone's advert repeated (compared, no HMAC), a phone's new message (one
HMAC-SHA256 tag check). Prints one JSON object.
Usage: micropython -X heapsize=1000000w bench/ble_cost.py
"""
import gc
import json
import os

import bleproto
from compat import ticks_diff, ticks_us
from doorapp.readers import ble as bler
from phonekeys import PhoneKeys
from usertable import build, validate
from usertable.table import UserTable

N = 2000
D = "/tmp/doorctl-bench-ble"
KEY = b"\x5a" * 32
FOB = b"\xc0\xff\xee\x00\x10\x01"
FLAGS = b"\x02\x01\x06"


class Radio:
    def __init__(self):
        self.handler = None

    def active(self, *a):
        return True

    def irq(self, h):
        self.handler = h

    def config(self, *a, **k):
        return None

    def gap_scan(self, *a):
        pass

    def gap_advertise(self, *a, **k):
        pass

    def gatts_register_services(self, services):
        return ((1, 2, 3),)

    def gatts_write(self, *a):
        pass


class Board:
    radio = Radio()
    data_dir = D

    def ble(self):
        return self.radio

    def ble_uuid(self, t):
        return t


class Door:
    def __init__(self, table):
        self.table = table
        self.cfg = {"ble": {"enabled": True, "hands_free": True, "trigger_m": 1, "bkey_range_m": "1-3",
                            "movement_detection": False, "rssi_1m": -59, "path_loss_x10": 20},
                    "device": {"id": "door-1", "name": "Front door"}}
        self.decided = 0

    def decide(self, *a):
        self.decided += 1

    def record(self, *a):
        pass

    def deny(self):
        pass


def rm(d):
    try:
        for f in os.listdir(d):
            os.remove(d + "/" + f)
    except OSError:
        os.mkdir(d)


def main():
    rm(D)
    ctx = validate.Ctx(site_key=KEY)
    u = validate.user({"id": 1001, "cards": ["04A1B2C3"], "ble": "C0FFEE001001", "relays": [1]}, ctx, "users[0]")
    assert u is not None, ctx.errors
    build.build_file(D + "/users.tbl", [], [u], ctx.fid, 1, ctx.keyed)
    t = UserTable.open(D, site_key=KEY)
    door = Door(t)
    keys = PhoneKeys(D + "/phones.bin")
    pid, key = keys.pair(1001)
    r = bler.BleReader(door, Board(), phones_path=D + "/phones.bin")
    r.start()
    irq = r._irq
    out = {}

    def run(name, addr, adv, prep=None):
        a = bytearray(addr)
        d = bytearray(adv)
        args = (0, memoryview(a), 0, -80, memoryview(d))
        irq(5, args)
        r.drain(0)
        gc.collect()
        t0 = ticks_us()
        for i in range(N):
            if prep:
                prep(d, i)
            irq(5, args)
            r.drain(i)
            r.budget_t = 0
        out[name] = ticks_diff(ticks_us(), t0) / N

    run("unknown_device_us", b"\x11\x22\x33\x44\x55\x66", FLAGS + b"\x05\xff\x01\x02\x03\x04")
    run("known_fob_us", FOB, FLAGS)
    chk = bleproto.Checker()
    msg = bytearray(19)
    chal = r.challenge.current

    def phone_adv(counter):
        msg[0] = 1
        for i in range(4):
            msg[1 + i] = (pid >> (24 - 8 * i)) & 255
            msg[5 + i] = (counter >> (24 - 8 * i)) & 255
        msg[9] = 0
        msg[10] = 0
        msg[11:19] = chk.digest(key, chal, msg, 0)[:8]
        return FLAGS + b"\x18\xff\xff\xffdp" + bytes(msg)

    run("phone_repeat_us", b"\xc4\x00\x00\x00\x03\xe9", phone_adv(1))
    advs = [phone_adv(c) for c in range(2, 2 + N + 1)]

    def step(d, i):
        d[:] = advs[i]

    r.checks = 10 ** 9
    bler.CHECKS_PER_S = 10 ** 9
    t_prep0 = ticks_us()
    for i in range(N):
        step(bytearray(len(advs[0])), i)
    prep_us = ticks_diff(ticks_us(), t_prep0) / N
    run("phone_new_message_us", b"\xc4\x00\x00\x00\x03\xe9", advs[0], step)
    out["phone_new_message_us"] -= prep_us
    out["decisions"] = door.decided
    st = r.state()
    out["bad_tag"] = st["bad_tag"]
    out["dropped"] = st["dropped"]
    print(json.dumps(out))


main()

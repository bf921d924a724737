"""DES/3DES on the door's interpreter (docs/cards-desfire.md, "DES and 3DES keys"): lib/des.py's
block, key schedule, and the door's whole 2K3DES / 3K3DES read (select, AuthenticateISO, MACed
ReadData: doorapp/desfire.py) timed under the MicroPython unix port, the card's own work (a
card built on lib/des.py in the same process) taken out. Not a timed test: figures only.

    python -m doorctl.bench_des [--micropython PATH]
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = r'''
import asyncio, json
from time import ticks_us, ticks_diff
import des
from doorapp import desfire as D

def per(f, n):
    t = ticks_us()
    for _ in range(n):
        f()
    return ticks_diff(ticks_us(), t) / n

out = {}
blk = bytearray(8)
for name, key in (("des", bytes(range(8))), ("2k3des", bytes(range(16))), ("3k3des", bytes(range(24)))):
    k = des.Key(key)
    out[name + "_block_us"] = round(per(lambda: k.encrypt(blk, blk), 2000), 1)
    out[name + "_key_setup_us"] = round(per(lambda: des.Key(key), 200), 1)

class Card:
    """A 3DES application on lib/des.py: the door's counterpart; its time is counted apart."""
    def __init__(self, key):
        self.key = key
        self.k = des.Key(key)
        self.us = 0
    async def in_data_exchange(self, cmd):
        t = ticks_us()
        r = self._answer(bytes(cmd))
        self.us += ticks_diff(ticks_us(), t)
        return 0, r
    def _answer(self, cmd):
        n = 16 if len(self.key) == 24 else 8
        if cmd[0] == 0x5A:
            return b"\x00"
        if cmd[0] == 0x1A:
            self.rndb = bytes(range(n))
            self.c = bytes(des.cbc_encrypt(self.k, bytes(8), self.rndb))
            return b"\xaf" + self.c
        if cmd[0] == 0xAF:
            p = des.cbc_decrypt(self.k, self.c[-8:], cmd[1:])
            ra = bytes(p[0:n])
            sk = bytearray(ra[0:4] + self.rndb[0:4] + ra[4:8] + self.rndb[4:8]) if n == 8 else \
                bytearray(ra[0:4] + self.rndb[0:4] + ra[6:10] + self.rndb[6:10] + ra[12:16] + self.rndb[12:16])
            self.sk = des.Key(sk)
            self.k1, self.k2 = D.subkeys(self.sk, 8)
            self.iv = bytearray(8)
            return b"\x00" + bytes(des.cbc_encrypt(self.k, cmd[-8:], ra[1:] + ra[0:1]))
        if cmd[0] == 0xBD:
            D.cmac(self.sk, self.k1, self.k2, self.iv, cmd)
            d = b"\x00\x00\x30\x39"
            return b"\x00" + d + bytes(D.cmac(self.sk, self.k1, self.k2, self.iv, d + b"\x00"))

class Door:
    def __init__(self, kind, key):
        self.cfg = {"card": {"desfire": {"enabled": True, "aid": "F51230", "file": 1, "crypto": kind, "key_index": 1,
                                         "comm": "mac", "offset": 0, "length": 4, "diversify": False}}}
        self.secrets = {"desfire_key": key}
        self.card_format = "10D"
        self.out = None
    def decide(self, *a):
        self.out = a

for name, key in (("2k3des", bytes(range(1, 17))), ("3k3des", bytes(range(1, 25)))):
    door = Door("3des", key)
    times = []
    for i in range(30):
        c = Card(key)
        t = ticks_us()
        asyncio.run(D.read(door, c, b"\x04\x11\x22\x33\x44\x55\x66", 0x0344, 0x20))
        times.append(ticks_diff(ticks_us(), t) - c.us)
        assert door.out and door.out[1] == "0000012345", door.out
    times.sort()
    out[name + "_read_door_ms"] = round(times[len(times) // 2] / 1000, 2)
print(json.dumps(out))
'''


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--micropython", default=os.path.join(ROOT, ".venv", "bin", "micropython"))
    a = ap.parse_args(argv)
    env = dict(os.environ, MICROPYPATH=os.pathsep.join([".frozen"] + [os.path.join(ROOT, p) for p in ("lib", "firmware")]))
    r = subprocess.run([a.micropython, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    if r.returncode:
        sys.stderr.write(r.stdout + r.stderr)
        return 1
    print(json.dumps(json.loads(r.stdout.strip().splitlines()[-1]), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

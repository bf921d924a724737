"""`make bench`, cards part (`python -m doorctl.bench cards`): tap -> relay for a card identified
by its UID, by a MIFARE Classic sector (docs/cards-mifare.md), by a DESFire AES file
(docs/cards-desfire.md), by a MIFARE Plus SL3 block (docs/cards-plus.md) and for an NFC phone's
app (docs/cards-nfc.md), in the psram
simulator (the emulator in its own process), with the PN532 frames and UART bytes each read
takes (counted on the in-process emulator with the firmware's driver and reader code) and the
time those bytes take at 115200 baud: the physical floor of the link, next to the measured time.
Heap: the psram simulator after the taps; a lean board refuses every kind but the UID, so the
UID is also measured on the lean simulator board (its heap)."""
import asyncio
import os
import sys
import tempfile
import time

from doorctl import paths
from doorctl.bench import pct

TAPS = 100
BAUD = 115200
KEY6 = "a1b2c3d4e5f6"
KEY16 = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
PLUS_KEY = "a0b1c2d3e4f5061728394a5b6c7d8e9f"
AID = "F0646F6F7263746C"
CODE = 12345
USERS = [{"id": 1001, "name": "Ann", "cards": ["0000012345", "0068231731"], "relays": [1]}]
KINDS = (
    ("uid", {}, "04112233", {}),
    ("mifare", {"mifare": {"enabled": True, "sector": 1, "block": 0}}, "04112233",
     {"mifare": {"sectors": {"1": {"key_a": KEY6, "key_b": KEY6, "access": "787788"}}, "blocks": {"4": "%08x" % CODE}}}),
    ("desfire", {"desfire": {"enabled": True, "aid": "F51230", "file": 1}}, "04112233445566",
     {"desfire": {"aid": "F51230", "file": 1, "data": "%08x" % CODE, "key": KEY16, "comm": "enc"}}),
    ("plus", {"plus": {"enabled": True, "sector": 2, "block": 1}}, "04213243546576",
     {"plus": {"blocks": {"9": "%08x" % CODE}, "key": PLUS_KEY}}),
    ("nfc", {"nfc": {"enabled": True, "aid": AID}}, "", {"hce": {"aid": AID, "response": "%08x" % CODE}}),
    ("uid_lean", {}, "04112233", {}),  # the same UID read on the lean board
)
BOARDS = {"uid_lean": "sim-lean.json"}


class _Counting:
    def __init__(self, inner):
        self.inner = inner
        self.bytes = 0
        self.frames = 0

    async def write(self, data):
        self.bytes += len(data)
        self.frames += 1
        await self.inner.write(data)

    async def read(self, n, timeout_ms):
        d = await self.inner.read(n, timeout_ms)
        self.bytes += len(d)
        return d

    def reset_input(self):
        self.inner.reset_input()


def frames(kind, card_cfg, uid, desc):
    """(commands sent, UART bytes both ways) for one tap: the poll that finds the card and the
    reader's exchanges, with the firmware's driver and reader code on the in-process emulator."""
    paths.use_device_code()
    if paths.FIRMWARE not in sys.path:  # (doorapp: the door's reader code)
        sys.path.insert(1, paths.FIRMWARE)
    from pn532.hsu import PN532_HSU
    from pn532emu import EmulatorStream, PN532Emulator

    emu = PN532Emulator()
    st = _Counting(EmulatorStream(emu))
    pn = PN532_HSU(st)
    got = []

    class Door:
        cfg = {"card": {"enabled": True, "format": "10D",
                        "mifare": dict({"enabled": False, "sector": 1, "block": 0, "key_type": "A", "uid_fallback": False},
                                       **card_cfg.get("mifare", {})),
                        "desfire": dict({"enabled": False, "aid": "000001", "file": 1, "crypto": "aes", "key_index": 1,
                                         "comm": "enc", "offset": 0, "length": 4, "diversify": False,
                                         "uid_fallback": False}, **card_cfg.get("desfire", {})),
                        "plus": dict({"enabled": False, "sector": 1, "block": 0, "key_type": "A", "keys": 1,
                                      "uid_fallback": False}, **card_cfg.get("plus", {})),
                        "nfc": dict({"enabled": False, "aid": AID, "uid_fallback": False}, **card_cfg.get("nfc", {}))}}
        secrets = {"mifare_key": bytes.fromhex(KEY6), "desfire_key": bytes.fromhex(KEY16),
                   "plus_keys": [bytes.fromhex(PLUS_KEY)]}
        card_format = "10D"

        def decide(self, *a):
            got.append(a)

        def on_card(self, *a):
            got.append(a)

    class W:
        read_card = None

    async def main():
        await pn.init()
        u = bytes.fromhex(uid)
        if "plus" in desc:
            emu.place_plus(u, desc["plus"])
        elif "hce" in desc:
            emu.place_phone(desc["hce"])
        elif "desfire" in desc:
            emu.place_desfire(u, desc["desfire"])
        elif "mifare" in desc:
            emu.place_mifare(u, desc["mifare"])
        else:
            emu.place(u)
        st.bytes = st.frames = 0
        c = await pn.read_passive_target()
        if not kind.startswith("uid"):
            from doorapp import cardkinds

            cardkinds.follow(Door(), W)
        if W.read_card is not None:
            await W.read_card(pn, *c)
        return st.frames, st.bytes

    n, b = asyncio.run(main())
    if not kind.startswith("uid") and not got:
        raise RuntimeError("%s: the reader decided nothing" % kind)
    return n, b


def _tap(sim, uid, desc, timeout_s=2.0):
    before = sim.call("relay", num=1)["pulses"]
    t0 = time.monotonic()
    sim.call("tap", uid=uid, ms=60, **desc)
    while time.monotonic() - t0 < timeout_s:
        if sim.call("relay", num=1)["pulses"] > before:
            return time.monotonic() - t0
        time.sleep(0.002)
    return None


def run():
    sys.path.insert(0, os.path.join(paths.ROOT, "tests"))
    from simproc import Sim

    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, card_cfg, uid, desc in KINDS:
            n, b = frames(kind, card_cfg, uid, desc)
            d = os.path.join(tmp, kind)
            os.makedirs(d)
            cfg = {"relays": {"1": {"hold_ms": 100}}, "reader": {"removal_ms": 100},
                   "card": dict({"format": "10D"}, **card_cfg)}
            secrets = {"site_key": "5a" * 32}
            if kind not in BOARDS:  # (a lean board's secrets have no card keys: it reads no encrypted card)
                secrets.update({"mifare_key": KEY6, "desfire_key": KEY16, "plus_keys": [PLUS_KEY]})
            sim = Sim(d, config=cfg, users=USERS, secrets=secrets,
                      board=os.path.join(paths.BOARDS, BOARDS.get(kind, "sim.json")))
            try:
                sim.wait_for(lambda s: s["reader"]["status"] == "ok", timeout=10)
                lat = []
                for _ in range(TAPS):
                    t = _tap(sim, uid, desc)
                    if t is not None:
                        lat.append(t)
                    time.sleep(0.25)
                heap = sim.call("heap")
            finally:
                sim.stop()
            res[kind] = {"taps": TAPS, "opened": len(lat), "p50_ms": round(1000 * pct(lat, 50), 1),
                         "p99_ms": round(1000 * pct(lat, 99), 1), "commands": n, "uart_bytes": b,
                         "uart_ms": round(1000.0 * b * 10 / BAUD, 1), "heap_free": heap["free"],
                         "heap_used": heap["used"]}
    return res


def rows(r):
    for kind, what in (("uid", "UID only"), ("mifare", "MIFARE Classic sector (auth + read)"),
                       ("desfire", "DESFire AES, enciphered file (select, 2-step auth, read)"),
                       ("plus", "MIFARE Plus SL3, the first key choice (2-pass AES auth, MACed read)"),
                       ("nfc", "NFC phone, HCE app (SELECT AID)"), ("uid_lean", "UID only")):
        if kind not in r:  # (results from before the kind was benched)
            continue
        k = r[kind]
        board = "lean" if kind in BOARDS else "psram"
        yield ("Cards: tap -> relay, %s (%d taps, %s simulator, emulator in its own process)" % (what, k["taps"], board),
               "p50 %.1f ms, p99 %.1f ms (%d of %d opened); %d PN532 commands, %d UART bytes = %.1f ms at 115200 "
               "baud; heap %d B free, %d B used" % (k["p50_ms"], k["p99_ms"], k["opened"], k["taps"], k["commands"],
                                                   k["uart_bytes"], k["uart_ms"], k["heap_free"], k["heap_used"]))


if __name__ == "__main__":
    import json

    r = run()
    print(json.dumps(r, indent=2))
    for row in rows(r):
        print("%s: %s" % row)

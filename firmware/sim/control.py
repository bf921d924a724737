"""The simulator's control channel: JSON lines over TCP (default 127.0.0.1:7700).

Tests and `doorctl sim ...` inject the outside world (cards, buttons, door, reader faults,
clock) and read the outputs. One request per line, one JSON answer per line:
    {"cmd": "tap", "uid": "04A1B2C3"}            -> {"ok": true}
    {"cmd": "tap", "uid": "04A1B2C3", "mifare": {"sectors": {...}, "blocks": {...}}}  (a MIFARE Classic)
    {"cmd": "tap", "uid": "04112233445566", "desfire": {"aid": "F51230", "file": 1, "data": "00003039",
     "key": "<32 hex>", "crypto": "aes", "key_index": 1, "comm": "enc"}}  (a DESFire; docs/cards-desfire.md)
    {"cmd": "tap", "uid": "04213243546576", "plus": {"blocks": {"9": "00003039"}, "key": "<32 hex>"}}
                                                 (a MIFARE Plus SL3; docs/cards-plus.md)
    {"cmd": "tap", "hce": {"aid": "F0646F6F7263746C", "response": "00003039"}}  (a phone; docs/cards-nfc.md)
    {"cmd": "tap", "felica": "012E4CD8A5B6C7D8"}   (a FeliCa card, its IDm; docs/cards-felica.md)
    {"cmd": "state", "events": 10}               -> {"ok": true, "state": {...}}
Errors: {"ok": false, "error": "..."}. Commands: the cmd_* methods here (the ones tests and
benches call often), in sim/ctlmore.py, the rare ones in sim/ctlrare.py (loaded per use) and, on boards with the other readers, sim/readerctl.py
(loaded with this module at start: code loaded later would take the heap the firmware is
measured in at a moment the firmware doesn't choose); the simulated radio's in sim/blectl.py,
loaded with the first of them (a door without BLE never needs its 12 KB: a bench that measures
the heap with BLE sends one, e.g. `radio`, before its baseline); README lists them.
"""
import asyncio
import gc
import json
import sys

from micropython import const

from compat import sleep_ms
from sim import ctlmore

# the simulated radio's commands (sim/blectl.py): loaded with the first of them, not at start (12 KB
# of the heap a door without BLE never needs); the radio itself comes with the first board.ble()
_BLE = ("cmd_radio", "cmd_fob", "cmd_emit", "cmd_ble", "cmd_central")
_RARE = ("cmd_garbage", "cmd_hang", "cmd_modules", "cmd_clock", "cmd_plate")  # sim/ctlrare.py, per use
_READERS = {"cmd_keys": "keypad", "cmd_wiegand": "wiegand", "cmd_qr": "qr_scanner"}  # sim/readerctl.py


def parse_uid(text):
    """'04A1B2C3' or '04:a1:b2:c3' -> bytes; 4, 7 or 10 bytes."""
    h = str(text).replace(":", "").replace(" ", "").replace("-", "")
    if len(h) not in (8, 14, 20):
        raise ValueError("uid must be 4, 7 or 10 bytes of hex, got %r" % text)
    try:
        return bytes(int(h[i:i + 2], 16) for i in range(0, len(h), 2))
    except ValueError:
        raise ValueError("uid must be hex, got %r" % text)


class Control:
    def __init__(self, door, board):
        self.door = door
        self.board = board
        self._removal = 0  # generation counter: a newer tap cancels an older pending removal

    # --- helpers ----------------------------------------------------------------------------
    def _emulator(self):
        emu = self.board.emulator
        if emu is None:
            raise ValueError("the PN532 is external (%s): present cards on it instead" % self.board.transport)
        return emu

    async def _later(self, ms, fn, gen=None):
        await sleep_ms(ms)
        if gen is None or gen == self._removal:
            fn()

    # --- commands ---------------------------------------------------------------------------
    def cmd_ping(self, req):
        return {"version": self.door.state(0)["version"]}

    def cmd_state(self, req):
        return {"state": self.door.state(int(req.get("events", 10)))}

    def cmd_relay(self, req):
        """One relay's state, {"on", "pulses"} (relay `num`, default 1): what a bench polls to time
        a tap, far lighter than `state` (a poll must not be what loads the device)."""
        r = self.door.relays[int(req.get("num", 1))]
        return {"on": r.is_on(), "pulses": r.pulses}

    def _place(self, emu, req):
        """`mifare`: a MIFARE Classic 1K's sectors and blocks (pn532emu/mifaredesc.py);
        `desfire`: a DESFire's application, key and file (pn532emu/desfire.py card_from);
        `plus`: a MIFARE Plus SL3's blocks and AES keys (pn532emu/plus.py card_from); `hce`: a
        phone's app, its AID and answer (pn532emu/phone.py phone_from; no uid: a random one);
        `felica`: a FeliCa card's IDm (16 hex digits), `kbps`: the rates it answers ([212, 424]
        unless given; an older card: [212])."""
        if req.get("felica"):  # a FeliCa card: its IDm, 8 bytes of hex
            h = str(req["felica"])
            if len(h) != 16:
                raise ValueError("felica must be the card's IDm, 8 bytes of hex, got %r" % h)
            return emu.place_felica(bytes(int(h[i:i + 2], 16) for i in range(0, 16, 2)), kbps=req.get("kbps") or (212, 424))
        if req.get("hce") is not None:  # a phone: its UID random unless given
            return emu.place_phone(req["hce"], parse_uid(req["uid"]) if req.get("uid") else None)
        uid = parse_uid(req.get("uid"))
        if req.get("desfire") is not None:
            emu.place_desfire(uid, req["desfire"])
        elif req.get("plus") is not None:
            emu.place_plus(uid, req["plus"])
        elif req.get("mifare") is None:
            emu.place(uid)
        else:
            emu.place_mifare(uid, req["mifare"])

    def cmd_tap(self, req):
        """Present a card for `ms` (default 300) then take it away."""
        emu = self._emulator()
        ms = int(req.get("ms", 300))
        self._place(emu, req)
        self._removal += 1
        asyncio.create_task(self._later(ms, emu.remove, self._removal))
        return {}

    def cmd_place(self, req):
        """Put a card on the reader and leave it there (until `remove`)."""
        self._removal += 1
        self._place(self._emulator(), req)
        return {}

    def cmd_remove(self, req):
        self._removal += 1
        self._emulator().remove()
        return {}

    def cmd_heap(self, req):
        """Free and used GC heap after a collection (steady-state figure for `make bench`) and the
        largest block that can be allocated."""
        import gc

        gc.collect()
        if req.get("map"):  # the heap's block map on the simulator's stdout (fragmentation)
            import micropython

            micropython.mem_info(1)
            micropython.qstr_info(1 if req.get("map") == "names" else 0)  # names: every interned name
        lo, hi = 0, gc.mem_free()  # the largest block that can be had (fragmentation shows here)
        while hi - lo > 64:
            mid = (lo + hi) // 2
            try:
                b = bytearray(mid)
                b = None
                lo = mid
            except MemoryError:
                hi = mid
        gc.collect()
        return {"free": gc.mem_free(), "used": gc.mem_alloc(), "largest": lo}

    def run(self, name, req):
        fn = getattr(self, name, None)
        if fn is not None:
            return fn(req)
        fn = getattr(ctlmore, name, None)
        if fn is None and name in _BLE:
            if self.board.spec["profile"] == "lean":  # (loading the radio would fill its heap)
                raise ValueError("a lean board has no BLE (docs/memory.md)")
            from sim import blectl

            fn = getattr(blectl, name)
        if fn is None and name in _RARE:
            from doorapp import residency
            from sim import ctlrare

            try:
                return getattr(ctlrare, name)(self, req)
            finally:
                ctlrare = None
                residency.trim()
        if fn is None:
            readerctl = sys.modules.get("sim.readerctl")  # (boards with the other readers)
            fn = getattr(readerctl, name, None) if readerctl else None
        if fn is None:
            reader = _READERS.get(name)
            if reader:
                if req.get("via") == "wiegand":
                    reader = "wiegand"
                raise ValueError("this board has no %s (try --board boards/%s.json)"
                                 % (reader, "sim-qr" if reader == "qr_scanner" else "sim-readers"))
            raise ValueError("unknown command %r" % req.get("cmd"))
        return fn(self, req)

    async def serve_socket(self, sock, peer):
        """A connection from tcpserve: JSON lines until the client closes it."""
        st = asyncio.StreamReader(sock)
        await self.handle(st, st)

    async def handle(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    req = json.loads(line)
                    name = "cmd_" + str(req.get("cmd"))
                    out = self.run(name, req)
                    out["ok"] = True
                except MemoryError:  # the door's own work comes first: the test asks again
                    out = {"ok": False, "error": "out of memory"}
                except Exception as e:  # a bad request never takes the simulator down
                    out = {"ok": False, "error": str(e) or e.__class__.__name__}
                try:
                    data = json.dumps(out).encode() + b"\n"
                except MemoryError:  # the answer is lost, not the connection (a test's next call)
                    out = None
                    gc.collect()
                    data = b'{"ok": false, "error": "out of memory"}\n'
                writer.write(data)
                data = out = None
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except Exception:
                pass


_CLIENTS = const(6)  # control connections at once (tests, benches and `doorctl sim` together)
_BUSY = b'{"ok": false, "error": "busy: too many control connections"}\n'


async def serve(door, board, host, port):
    """Start listening (lib/tcpserve.py: a burst of clients, or the device's heap running short,
    never ends the control channel); returns the Listener."""
    import tcpserve

    ctl = Control(door, board)
    return tcpserve.listen(host, port, ctl.serve_socket, _CLIENTS, _BUSY)

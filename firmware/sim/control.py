"""The simulator's control channel: JSON lines over TCP (default 127.0.0.1:7700).

Tests and `doorctl sim ...` inject the outside world (cards, buttons, door, reader faults,
clock) and read the outputs. One request per line, one JSON answer per line:
    {"cmd": "tap", "uid": "04A1B2C3"}            -> {"ok": true}
    {"cmd": "state", "events": 10}               -> {"ok": true, "state": {...}}
Errors: {"ok": false, "error": "..."}. Commands: see COMMANDS and README.
"""
import asyncio
import json

from doorapp import clock
from compat import sleep_ms


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
        self.readers = None  # sim/readerctl.py on boards with keypad / Wiegand / QR scanner
        if door.readers is not None:
            from sim.readerctl import ReaderControl

            self.readers = ReaderControl(door, board)
        else:
            self.cmd_keys = self.cmd_wiegand = self.cmd_qr = self._no_readers

    def _no_readers(self, req):
        raise ValueError("this board has no %s (try --board boards/sim-readers.json or sim-qr.json)" % (
            {"keys": "keypad", "wiegand": "wiegand", "qr": "qr_scanner"}.get(req.get("cmd"), "reader")))

    # --- helpers ----------------------------------------------------------------------------
    def _emulator(self):
        emu = self.board.emulator
        if emu is None:
            raise ValueError("the PN532 is external (%s): present cards on it instead" % self.board.transport)
        return emu

    def _input(self, name):
        for i in self.board.spec["inputs"]:
            if i["id"] == name:
                return i
        raise ValueError("no input named %r (board has: %s)" % (
            name, ", ".join(i["id"] for i in self.board.spec["inputs"])))

    def _drive(self, name, active):
        spec = self._input(name)
        trig = 1 if self.door.cfg["inputs"][name]["trigger"] == "high" else 0
        self.board.drive_input(spec["pin"], trig if active else 1 - trig)

    async def _later(self, ms, fn, gen=None):
        await sleep_ms(ms)
        if gen is None or gen == self._removal:
            fn()

    # --- commands ---------------------------------------------------------------------------
    def cmd_ping(self, req):
        return {"version": self.door.state(0)["version"]}

    def cmd_state(self, req):
        return {"state": self.door.state(int(req.get("events", 10)))}

    def cmd_tap(self, req):
        """Present a card for `ms` (default 300) then take it away."""
        emu = self._emulator()
        uid = parse_uid(req.get("uid"))
        ms = int(req.get("ms", 300))
        emu.place(uid)
        self._removal += 1
        asyncio.create_task(self._later(ms, emu.remove, self._removal))
        return {}

    def cmd_place(self, req):
        """Put a card on the reader and leave it there (until `remove`)."""
        self._removal += 1
        self._emulator().place(parse_uid(req.get("uid")))
        return {}

    def cmd_remove(self, req):
        self._removal += 1
        self._emulator().remove()
        return {}

    def cmd_press(self, req):
        """Press an input (exit button) for `ms` (default 200) and release it."""
        name = req.get("input", "exit")
        self._drive(name, True)
        asyncio.create_task(self._later(int(req.get("ms", 200)), lambda: self._drive(name, False)))
        return {}

    def cmd_input(self, req):
        """Hold an input active (true) or idle (false) until told otherwise."""
        self._drive(req.get("input", "exit"), bool(req.get("active")))
        return {}

    def cmd_door(self, req):
        """Open or close the door (door sensor input)."""
        state = req.get("state")
        if state not in ("open", "closed"):
            raise ValueError("state must be open or closed")
        for i in self.board.spec["inputs"]:
            if i["kind"] == "door_sensor":
                self._drive(i["id"], state == "open")
                return {}
        raise ValueError("this board has no door sensor")

    def cmd_garbage(self, req):
        """Inject noise on the PN532 link (bytes from the reader that are not a frame)."""
        n = int(req.get("n", 32))
        data = req.get("hex")
        junk = bytes.fromhex(data) if data else bytes((i * 37 + 11) & 0xFF for i in range(n))
        self._emulator().inject(junk)
        return {}

    def cmd_events(self, req):
        import eventlog

        recs = self.door.log.read(int(req.get("since", 0)), int(req.get("limit", 50)))
        out = [eventlog.to_dict(r) for r in recs]
        eventlog.drop_view()
        return {"events": out}

    def cmd_heap(self, req):
        """Free and used GC heap after a collection (steady-state figure for `make bench`) and the
        largest block that can be allocated."""
        import gc

        gc.collect()
        if req.get("map"):  # the heap's block map on the simulator's stdout (fragmentation)
            import micropython

            micropython.mem_info(1)
            micropython.qstr_info()
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

    def cmd_modules(self, req):
        """Modules loaded now (which cold code stayed)."""
        import sys

        return {"modules": sorted(sys.modules)}

    def cmd_clock(self, req):
        if "set" in req:
            clock.set_unix(int(req["set"]))
        return {"clock": clock.now()}

    async def handle(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    req = json.loads(line)
                    name = "cmd_" + str(req.get("cmd"))
                    fn = getattr(self, name, None)
                    if fn is None and self.readers is not None:  # keys, wiegand, qr
                        fn = getattr(self.readers, name, None)
                    if fn is None:
                        raise ValueError("unknown command %r" % req.get("cmd"))
                    out = fn(req)
                    out["ok"] = True
                except Exception as e:  # a bad request never takes the simulator down
                    out = {"ok": False, "error": str(e) or e.__class__.__name__}
                writer.write(json.dumps(out).encode() + b"\n")
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except Exception:
                pass


async def serve(door, board, host, port):
    """Start listening; returns the server (the caller prints where)."""
    ctl = Control(door, board)
    return await asyncio.start_server(ctl.handle, host, port)

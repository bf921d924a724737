"""Control-channel commands for the credential readers (keys, wiegand, qr) and the simulator's
model of their wires. Loaded only on boards that declare a reader (boards/sim-readers.json,
boards/sim-qr.json), so the plain simulator's heap doesn't carry it."""
import asyncio

from compat import sleep_ms, ticks_add, ticks_us


class LineStream:
    """The QR scanner's UART in the simulator: the control channel writes what a scanner would
    send; a ByteStream (`read(n, timeout_ms)` -> bytes, b'' on timeout)."""

    def __init__(self):
        self._buf = b""
        self._ready = asyncio.Event()

    def send(self, data):
        self._buf += data
        self._ready.set()

    async def read(self, n, timeout_ms):
        if not self._buf:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout_ms / 1000)
            except asyncio.TimeoutError:
                return b""
        out = self._buf[:n]
        self._buf = self._buf[n:]
        return out


def wiegand_send(board, bits, bit_us=2000):
    """A reader sending `bits` (a str of 0/1), one bit every `bit_us`, starting now: the
    pulses the D0/D1 interrupts would report (the frame ends after the assembler's gap)."""
    t = ticks_us()
    for i in range(len(bits)):
        board.wiegand.pulse(1 if bits[i] == "1" else 0, ticks_add(t, i * bit_us))


def keypad_press(board, key, down=True):
    """Hold (or release) a key of the board's 3x4 keypad: its column pin then reads its row pin."""
    if not down:
        board.pins.matrix = None
        return
    from keypad import LAYOUT

    i = LAYOUT.index(key)
    k = board.spec["keypad"]
    board.pins.matrix = (k["rows"][i // 3], k["cols"][i % 3])


class ReaderControl:
    def __init__(self, door, board):
        self.door = door
        self.board = board

    def _reader(self, name):
        if name not in self.board.spec:
            raise ValueError("this board has no %s (try --board boards/sim-readers.json)" % name)

    def cmd_keys(self, req):
        """Type `keys` (0-9 * #) on the matrix keypad (`via` keypad, `ms` per press), or as
        Wiegand keypad bursts (`via` wiegand, `bits` 4 or 8)."""
        keys = str(req.get("keys", ""))
        via = req.get("via") or ("keypad" if "keypad" in self.board.spec else "wiegand")
        if via not in ("keypad", "wiegand"):
            raise ValueError("via must be keypad or wiegand")
        self._reader(via)
        for k in keys:
            if k not in "0123456789*#":
                raise ValueError("keys are 0-9, * and #, got %r" % k)
        if via == "keypad":
            asyncio.create_task(self._type(keys, int(req.get("ms", 60))))
        else:
            import wiegand

            bits = int(req.get("bits", 4))
            if bits not in (4, 8):
                raise ValueError("bits must be 4 or 8")
            asyncio.create_task(self._bursts([wiegand.encode_key(k, bits) for k in keys]))
        return {}

    async def _type(self, keys, ms):
        for k in keys:
            keypad_press(self.board, k)
            await sleep_ms(ms)
            keypad_press(self.board, k, False)
            await sleep_ms(ms)

    async def _bursts(self, frames):
        for f in frames:
            wiegand_send(self.board, f)
            await sleep_ms(len(f) * 2 + 60)  # the bits, then more than the frame gap

    def cmd_wiegand(self, req):
        """A Wiegand reader sends `bits` ("0101...", any length: bad ones must be rejected), or
        a card: `facility` + `card` (26 bit) or `value` (34 bit)."""
        self._reader("wiegand")
        bits = req.get("bits")
        if bits is None:
            import wiegand

            bits = wiegand.encode34(int(req["value"])) if "value" in req else \
                wiegand.encode26(int(req.get("facility", 0)), int(req["card"]))
        bits = str(bits)
        if not bits or len(bits) > 64 or bits.strip("01"):
            raise ValueError("bits must be 1-64 characters of 0 and 1")
        wiegand_send(self.board, bits)
        return {"bits": bits}

    def cmd_qr(self, req):
        """The QR scanner reads `text` (sent with CR LF, as scanner modules do)."""
        self._reader("qr_scanner")
        if self.board.qr is None:
            raise ValueError("the QR scanner is not running yet")
        self.board.qr.send(str(req.get("text", "")).encode() + b"\r\n")
        return {}

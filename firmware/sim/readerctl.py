"""Control-channel commands for the credential readers (keys, wiegand, qr) and the simulator's
model of their wires (boards/sim-readers.json, boards/sim-qr.json). Loaded by sim/control.py for
the call and dropped after it; each command takes the Control and the request. The QR
scanner's UART itself is sim/linestream.py's LineStream (it lives as long as the app reads it)."""
import asyncio

from compat import sleep_ms, ticks_add, ticks_diff, ticks_ms, ticks_us


def wiegand_send(board, bits, bit_us=2000):
    """A reader sending `bits` (a str of 0/1), one bit every `bit_us`, starting now: the
    pulses the D0/D1 interrupts would report (the frame ends after the assembler's gap)."""
    t = ticks_us()
    for i in range(len(bits)):
        board.wiegand.pulse(1 if bits[i] == "1" else 0, ticks_add(t, i * bit_us))


def _slot(board, nbits, bit_us=2000):
    """When a frame of nbits may start (ms from now): after the frames already on the wire and
    their gap, as a reader keeps them apart; the wire is then taken until this one's gap ends."""
    now = ticks_ms()
    free = getattr(board, "wiegand_free", now)
    wait = ticks_diff(free, now)
    if wait < 0:
        wait = 0
    gap_ms = board.spec["wiegand"]["frame_gap_us"] // 1000 + 10
    board.wiegand_free = ticks_add(now, wait + nbits * bit_us // 1000 + gap_ms)
    return wait


async def _later(board, frames, waits):
    for f, w in zip(frames, waits):
        await sleep_ms(w)
        wiegand_send(board, f)


def send_frames(board, frames):
    """Frames one after another with the reader's gap between them, after any still on the wire
    (back-to-back commands must not merge into one frame): the first at once if the wire is free."""
    waits = []
    last = 0
    for f in frames:
        start = _slot(board, len(f))
        waits.append(start - last)
        last = start
    if waits and waits[0] == 0:
        wiegand_send(board, frames[0])
        frames = frames[1:]
        waits = waits[1:]
    if frames:
        asyncio.create_task(_later(board, frames, waits))


def keypad_press(board, key, down=True):
    """Hold (or release) a key of the board's 3x4 keypad: its column pin then reads its row pin."""
    if not down:
        board.pins.matrix = None
        return
    from keypad import LAYOUT

    i = LAYOUT.index(key)
    k = board.spec["keypad"]
    board.pins.matrix = (k["rows"][i // 3], k["cols"][i % 3])


def _reader(ctl, name):
    if ctl.door.readers is None or name not in ctl.board.spec:
        raise ValueError("this board has no %s (try --board boards/%s.json)"
                         % (name, "sim-qr" if name == "qr_scanner" else "sim-readers"))


def cmd_keys(ctl, req):
    """Type `keys` (0-9 * #) on the matrix keypad (`via` keypad, `ms` per press), or as
    Wiegand keypad bursts (`via` wiegand, `bits` 4 or 8)."""
    keys = str(req.get("keys", ""))
    via = req.get("via") or ("wiegand" if "wiegand" in ctl.board.spec and "keypad" not in ctl.board.spec else "keypad")
    if via not in ("keypad", "wiegand"):
        raise ValueError("via must be keypad or wiegand")
    _reader(ctl, via)
    for k in keys:
        if k not in "0123456789*#":
            raise ValueError("keys are 0-9, * and #, got %r" % k)
    if via == "keypad":
        asyncio.create_task(_type(ctl.board, keys, int(req.get("ms", 60))))
    else:
        import wiegandbits

        bits = int(req.get("bits", 4))
        if bits not in (4, 8):
            raise ValueError("bits must be 4 or 8")
        send_frames(ctl.board, [wiegandbits.encode_key(k, bits) for k in keys])
    return {}


async def _type(board, keys, ms):
    for k in keys:
        keypad_press(board, k)
        await sleep_ms(ms)
        keypad_press(board, k, False)
        await sleep_ms(ms)


def cmd_wiegand(ctl, req):
    """A Wiegand reader sends `bits` ("0101...", any length: bad ones must be rejected), or
    a card: `facility` + `card` (26 bit) or `value` (34 bit)."""
    _reader(ctl, "wiegand")
    bits = req.get("bits")
    if bits is None:
        import wiegandbits

        bits = wiegandbits.encode34(int(req["value"])) if "value" in req else \
            wiegandbits.encode26(int(req.get("facility", 0)), int(req["card"]))
    bits = str(bits)
    if not bits or len(bits) > 64 or bits.strip("01"):
        raise ValueError("bits must be 1-64 characters of 0 and 1")
    send_frames(ctl.board, [bits])
    return {"bits": bits}


def cmd_qr(ctl, req):
    """The QR scanner reads `text` (sent with CR LF, as scanner modules do)."""
    _reader(ctl, "qr_scanner")
    if ctl.board.qr is None:
        raise ValueError("the QR scanner is not running yet")
    ctl.board.qr.send(str(req.get("text", "")).encode() + b"\r\n")
    return {}

"""The simulator's Wiegand output wire (boards/sim.json `wiegand_out`): what a panel's D0/D1
inputs would see, recorded for the control channel's `wiegand_out` command (below).

Each pulse is kept as (line 0/1, start ticks_us, width us) in a ring of the last `size`,
preallocated. The timing is the ESP32 loop's (hal/wiegandtx.py) modelled, not slept: pulses
`pulse_us` wide, one every `interval_us` from the frame's start; a frame starts when sent or,
if the one before is still on the wire, when that one ends. D0/D1 stay idle (high) in the pin
bank. Loaded only on boards that declare `wiegand_out` (hal.sim's wiegand_output), and with it
the control command, which it adds to sim/ctlmore.py's (resident: a board without the output
keeps no heap for the command).
"""
import array

from compat import ticks_add, ticks_diff, ticks_us
from sim import ctlmore
from wiegand import WiegandAssembler, WiegandError, decode

_FRAME_GAP_US = 25000  # a receiver's end of frame (lib/wiegand.py's default)


class Recorder:
    def __init__(self, board, d0, d1, size=256):
        board.wiegand_out = self
        board.pins.set(d0, 1)
        board.pins.set(d1, 1)
        self.pins = (d0, d1)
        self.line = bytearray(size)
        self.start = array.array("i", [0] * size)
        self.width = array.array("H", [0] * size)
        self.count = 0  # pulses recorded since the last clear (the ring holds the last `size`)
        self.frames = 0  # frames sent since start
        self._end = ticks_us()

    def send(self, bits, n, pulse_us, interval_us):
        t = ticks_us()
        if ticks_diff(self._end, t) > 0:
            t = self._end
        size = len(self.line)
        for i in range(n):
            j = self.count % size
            self.line[j] = bits[i]
            self.start[j] = ticks_add(t, i * interval_us)
            self.width[j] = pulse_us
            self.count += 1
        self.frames += 1
        self._end = ticks_add(t, (n - 1) * interval_us + pulse_us)
        return self._end

    def pulses(self):
        """The recorded pulses, oldest first: [line, start us after the oldest, width us]."""
        size = len(self.line)
        n = min(self.count, size)
        first = self.count - n
        out = []
        t0 = self.start[first % size] if n else 0
        for k in range(first, self.count):
            j = k % size
            out.append([self.line[j], ticks_diff(self.start[j], t0), self.width[j]])
        return out

    def clear(self):
        self.count = 0


def frames(pulses, card_format=None):
    """Pulses as [line, start_us, width_us] -> the frames a receiver decodes from them, with
    lib/wiegand.py's assembler and decoder: {bits, n, format, parity_ok, pulse_us, interval_us,
    and for a good card frame facility, number, uid (hex of the 4 bytes), card (its code in
    `card_format`)}; an unusable frame says why in `error`."""
    asm = WiegandAssembler(frame_gap_us=_FRAME_GAP_US)
    out = []
    spans = []  # (first pulse, pulse count) of each frame

    def take():
        n = asm.poll(now)
        if n:
            _frame(asm.frame, n, pulses[spans[-1][0]:spans[-1][0] + n], card_format, out)
            asm.taken()

    now = 0
    for i in range(len(pulses)):
        line, now, _w = pulses[i]
        take()
        if not asm.n:
            spans.append((i, 0))
        asm.pulse(line, now)
    now += _FRAME_GAP_US
    take()
    return out


def _frame(buf, n, pulses, card_format, out):
    f = {"n": n, "bits": "".join("1" if buf[i] else "0" for i in range(n)),
         "format": "w%d" % n if n in (26, 34) else "", "parity_ok": False}
    widths = [p[2] for p in pulses]
    gaps = [pulses[i + 1][1] - pulses[i][1] for i in range(len(pulses) - 1)]
    f["pulse_us"] = [min(widths), max(widths)] if widths else []
    f["interval_us"] = [min(gaps), max(gaps)] if gaps else []
    try:
        d = decode(buf, n)
        f["parity_ok"] = True
        if d.kind == "card":
            f["facility"] = d.facility
            f["number"] = d.number
            f["uid"] = "%02X%02X%02X%02X" % tuple(d.uid4)
            if card_format:
                import cardfmt

                f["card"] = cardfmt.format_uid(d.uid4, card_format)
    except WiegandError as e:
        if e.reason != "parity":
            f["parity_ok"] = None  # (not checked: a length no format has)
        f["error"] = "%s: %s" % (e.reason, e)
    out.append(f)


def cmd_wiegand_out(ctl, req):
    """The Wiegand output's wire: the frames a panel decodes from the recorded pulses, the
    sender's counters and config, the pulses themselves with `pulses` true; `clear` true empties
    the record after reading it."""
    rec = ctl.board.wiegand_out
    pulses = rec.pulses()
    out = ctl.door.wgout.state()
    out["config"] = ctl.door.cfg["wiegand_out"]
    out["pins"] = list(rec.pins)
    out["frames"] = frames(pulses, ctl.door.card_format)
    if req.get("pulses"):
        out["pulses"] = pulses
    if req.get("clear"):
        rec.clear()
    return out


ctlmore.cmd_wiegand_out = cmd_wiegand_out  # where the control channel looks commands up

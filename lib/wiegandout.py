"""Wiegand output: the door repeats the cards it reads to an existing panel as W26 or W34 frames
(docs/wiegand-out.md). Loaded only on boards whose board file declares `wiegand_out`.

What a frame carries: a card's first 4 UID bytes in read order (the 8HN bytes, the 10D number),
exactly what lib/wiegand.py turns back into `uid4`:
  W34: E + the 4 bytes (32 bits) + O: a panel (or another doorctl) decoding it gets the same
       code in every 4-byte card format.
  W26: E + bytes 1-3 (facility = byte 1, card number = bytes 2-3) + O, what a reader in 26-bit
       mode sends (H10301): the card's 6H3D5D code.
A card from a Wiegand reader is repeated from the `uid4` it arrived as (a W26 card stays the same
W26 frame). Parity as lib/wiegand.py checks it: even over the first half of the data bits, odd
over the second.

`WiegandOut` keeps a small queue of cards (4 bytes each, preallocated) and one task that sends
them one frame at a time through the board's output (hal: `board.wiegand_output(d0, d1)`,
`send(bits, n, pulse_us, interval_us)` -> ticks_us when the frame ends), a pause of _GAP_MS
after each: the decision and the relays never wait for it. A full queue drops the new card and
counts it (`overflows`). Nothing is allocated per card or per frame.
"""
import asyncio

from micropython import const

from compat import sleep_ms, ticks_diff, ticks_us

_QUEUE = const(4)  # cards waiting to be sent (a frame takes 52-68 ms at the default timing)
_GAP_MS = const(50)  # silence after each frame: receivers end a frame after 20-25 ms of none


def encode(buf, src, off, nbits):
    """Write the W26 (nbits 26) or W34 (34) frame of the 4 bytes src[off:off + 4] into `buf`
    (one 0/1 per byte, bit 0 first, as lib/wiegand.decode takes it); returns nbits."""
    half = nbits // 2 - 1  # the even parity bit covers data bits 1..half, the odd one the rest
    i = 1
    e = o = 0
    for k in range(off + (1 if nbits == 26 else 0), off + 4):
        b = src[k]
        for s in range(7, -1, -1):
            bit = (b >> s) & 1
            buf[i] = bit
            if i <= half:
                e ^= bit
            else:
                o ^= bit
            i += 1
    buf[0] = e
    buf[i] = o ^ 1
    return i + 1


class WiegandOut:
    """The door's Wiegand output, following config section `wiegand_out` (door.cfg, replaced on
    a change)."""

    def __init__(self, door):
        board = door.board
        spec = board.spec["wiegand_out"]
        self.out = board.wiegand_output(spec["d0"], spec["d1"])
        self.door = door
        self._q = bytearray(4 * _QUEUE)
        self._head = 0
        self.queued = 0
        self._bits = bytearray(34)
        self._ready = asyncio.Event()
        self.sent = 0  # frames sent
        self.overflows = 0  # cards dropped: the queue was full
        self.errors = 0  # frames the board failed to send

    def card(self, uid, granted):
        """A card decided (Door.conclude): queued if output is on and `send` wants it."""
        c = self.door.cfg["wiegand_out"]
        if not c["enabled"] or not (granted or c["send"] == "all") or len(uid) < 4:
            return
        if self.queued >= _QUEUE:
            self.overflows += 1
            return
        j = 4 * ((self._head + self.queued) % _QUEUE)
        for k in range(4):
            self._q[j + k] = uid[k]
        self.queued += 1
        self._ready.set()

    async def run(self):
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self.queued:
                c = self.door.cfg["wiegand_out"]
                n = encode(self._bits, self._q, 4 * self._head, 34 if c["format"] == "w34" else 26)
                self._head = (self._head + 1) % _QUEUE
                self.queued -= 1
                if not c["enabled"]:  # turned off with cards waiting
                    continue
                try:
                    end = self.out.send(self._bits, n, c["pulse_us"], c["interval_us"])
                    self.sent += 1
                except Exception as ex:  # a pin that fails: counted, the door goes on
                    self.errors += 1
                    print("wiegand out:", ex)
                    end = ticks_us()
                left = ticks_diff(end, ticks_us())
                await sleep_ms(_GAP_MS + (left // 1000 if left > 0 else 0))

    def state(self):
        return {"enabled": self.door.cfg["wiegand_out"]["enabled"], "sent": self.sent, "queued": self.queued,
                "overflows": self.overflows, "errors": self.errors}

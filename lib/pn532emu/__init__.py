"""A byte-level PN532 emulator: the host link of a real chip, for the simulator and the tests.

Synchronous and transport-free: feed() takes host->PN532 bytes, read()/available() give
PN532->host bytes; time comes from an injected ms clock. It speaks the same frames as the
driver (pn532.frames), sends ACK then the response, re-sends the last response on NACK, aborts
a running command on a host ACK, and answers malformed frames with the error frame.

Timing model (ms of the injected clock; everything else answers at once):
  InListPassiveTarget, card in the field: answer after `select_ms` (default 3).
  InListPassiveTarget, no card: each passive activation try takes `attempt_ms` (default 5);
  MxRtyPassiveActivation n gives n+1 tries, so NbTg=0 comes after (n+1)*attempt_ms; n=0xFF
  (the power-on default) searches until a card comes or the host aborts. A card placed while
  the search runs is answered `select_ms` later.
Power: the chip starts asleep (HSU: bytes are ignored until a 0x55 arrives) and in LowVbat
mode, where every command but SAMConfiguration is ignored (no ACK). PowerDown sends it back
to sleep. `asleep=False` starts it awake and configured.
"""
from micropython import const

from compat import ticks_ms, ticks_diff, ticks_add
from pn532.frames import (
    CMD_GETFIRMWAREVERSION, CMD_SAMCONFIGURATION, CMD_POWERDOWN, CMD_RFCONFIGURATION,
    CMD_INDATAEXCHANGE, CMD_INDESELECT, CMD_INLISTPASSIVETARGET, CMD_INRELEASE,
    ACK, ERROR_FRAME, TFI_HOST, TFI_PN532, EV_ACK, EV_NACK, EV_FRAME, EV_BADSUM, FrameParser,
    encode,
)

FIRMWARE = b"\x32\x01\x06\x07"  # IC PN532, Ver 1, Rev 6, Support 7 (ISO18092, 14443B, 14443A)


# InDataExchange status codes
_ST_OK = const(0x00)
_ST_TIMEOUT = const(0x01)  # target did not answer
_ST_AUTH = const(0x14)  # MIFARE authentication error
_ST_CONTEXT = const(0x27)  # command not acceptable in the current context (no target)

_COMPACT = const(512)

DEFAULT_KEY = b"\xff\xff\xff\xff\xff\xff"
_ACCESS = b"\xff\x07\x80\x69"  # transport configuration access bits + GPB


def classic_memory(uid, key_a=DEFAULT_KEY, key_b=DEFAULT_KEY, blocks=64, data=None, keys=None):
    """Memory of a MIFARE Classic card (64 blocks = 1K, 256 = 4K).

    Block 0 holds the UID (+ BCC for 4-byte UIDs); every sector trailer holds key A, the
    transport access bits and key B. `keys` maps a sector number to (key_a, key_b) to override
    a sector; `data` maps block numbers to up to 16 bytes.
    """
    mem = bytearray(blocks * 16)
    n = len(uid)
    mem[0:n] = uid
    if n == 4:
        mem[4] = uid[0] ^ uid[1] ^ uid[2] ^ uid[3]
        mem[5:8] = b"\x08\x04\x00"
    b = 3
    sector = 0
    while b < blocks:
        ka, kb = (keys or {}).get(sector, (key_a, key_b))
        o = b * 16
        mem[o : o + 6] = ka
        mem[o + 6 : o + 10] = _ACCESS
        mem[o + 10 : o + 16] = kb
        sector += 1
        b += 4 if b < 128 else 16
    if data:
        for blk in data:
            v = data[blk]
            mem[blk * 16 : blk * 16 + len(v)] = v
    return mem


def _trailer(block):
    """The sector trailer block of `block` (4-block sectors below 128, 16-block above)."""
    return block | 3 if block < 128 else block | 15


class Card:
    """A card in the field. `memory` (bytearray from classic_memory) makes it a MIFARE Classic."""

    def __init__(self, uid, atqa=None, sak=None, memory=None, ats=None):
        uid = bytes(uid)
        if len(uid) not in (4, 7, 10):
            raise ValueError("uid must be 4, 7 or 10 bytes")
        self.uid = uid
        if atqa is None:
            atqa = 0x0004 if len(uid) == 4 else 0x0044
        if sak is None:
            sak = 0x08 if (len(uid) == 4 or memory is not None) else 0x00
        self.atqa = atqa
        self.sak = sak
        self.memory = memory
        self.ats = ats


class PN532Emulator:
    """See the module docstring. `notify()` is called whenever new output is ready."""

    def __init__(self, clock=ticks_ms, asleep=True, attempt_ms=5, select_ms=3, notify=None):
        self.clock = clock
        self.attempt_ms = attempt_ms
        self.select_ms = select_ms
        self.notify = notify
        self.connected = True  # False: the reader is unplugged (input lost, no output)
        self.card = None
        self.counters = {}
        for k in ("frames_in", "acks_out", "responses", "nacks_in", "aborts", "bad_in",
                  "errors_out", "ignored", "dropped", "corrupted", "garbage_out", "wakeups"):
            self.counters[k] = 0
        self._parser = FrameParser(300)
        self._out = bytearray()
        self._ro = 0
        self._drop = 0
        self._corrupt = 0
        self._garble = None
        self.power_on(asleep)

    # -- power -------------------------------------------------------------------------------
    def power_on(self, asleep=True):
        """Reset the chip: asleep + LowVbat (or awake and configured), defaults restored."""
        self.asleep = asleep
        self.lowvbat = asleep
        self.retries = 0xFF  # MxRtyPassiveActivation
        self._parser.reset()
        self._last = None
        self._pending = False
        self._due = None
        self._giveup = None
        self._brty = 0
        self._selected = False
        self._auth = None  # trailer block of the authenticated sector

    # -- host side ---------------------------------------------------------------------------
    def feed(self, data):
        """Bytes from the host."""
        if not self.connected or not data:
            return
        if self.asleep:
            i = bytes(data).find(b"\x55")
            if i < 0:
                return
            self.asleep = False
            self.counters["wakeups"] += 1
            data = data[i + 1 :]
        p = self._parser
        while data:
            n = p.feed(data)
            data = data[n:]
            while True:
                ev = p.next_event()
                if ev is None:
                    break
                self._on_event(ev)
                if self.asleep:  # PowerDown: the rest is lost until the next wake-up
                    return

    def available(self):
        self.poll()
        return len(self._out) - self._ro

    def read(self, n=-1):
        """Up to n bytes of output (all with n<0); b'' when none."""
        self.poll()
        ro = self._ro
        end = len(self._out)
        if n >= 0 and ro + n < end:
            end = ro + n
        d = bytes(self._out[ro:end])
        if end == len(self._out):
            self._out = bytearray()
            self._ro = 0
        else:
            self._ro = end
            if end > _COMPACT:
                self._out = self._out[end:]
                self._ro = 0
        return d

    def clear_output(self):
        self._out = bytearray()
        self._ro = 0

    def poll(self):
        """Run what the clock says is due (the end of a card search)."""
        if self._pending and self._due is not None:
            now = self.clock()
            if ticks_diff(now, self._due) >= 0:
                self._list_evaluate(now)

    def due_in(self):
        """ms until poll() has something to do, or None (nothing timed is pending)."""
        if not self._pending or self._due is None:
            return None
        d = ticks_diff(self._due, self.clock())
        return d if d > 0 else 0

    # -- the field ---------------------------------------------------------------------------
    def place(self, uid, atqa=None, sak=None, memory=None, ats=None):
        """Put a card in the field (replacing any); a running search finds it."""
        self.card = Card(uid, atqa, sak, memory, ats)
        self._selected = False
        self._auth = None
        if self._pending:
            self._due = ticks_add(self.clock(), self.select_ms)
            self.poll()
        return self.card

    def remove(self):
        self.card = None
        self._selected = False
        self._auth = None

    # -- fault injection ---------------------------------------------------------------------
    def inject(self, data):
        """Raw bytes straight into the output now."""
        self.counters["garbage_out"] += len(data)
        self._emit(data)

    def garble_next(self, data):
        """Send `data` just before the next response frame (after its ACK)."""
        self._garble = bytes(data)

    def corrupt_next(self, n=1):
        """The next n responses go out with a wrong data checksum (a NACK gets a good copy)."""
        self._corrupt = n

    def drop_next(self, n=1):
        """The next n responses are never sent (the ACK still is)."""
        self._drop = n

    # -- protocol ----------------------------------------------------------------------------
    def _emit(self, data):
        if not self.connected:
            return
        self._out.extend(data)
        if self.notify is not None:
            self.notify()

    def _on_event(self, ev):
        c = self.counters
        if ev == EV_FRAME:
            c["frames_in"] += 1
            d = self._parser.data
            if len(d) < 2 or d[0] != TFI_HOST:
                self._error()
            else:
                self._command(d[1], d[2:])
        elif ev == EV_ACK:
            if self._pending:  # the host aborts the running command
                self._pending = False
                c["aborts"] += 1
        elif ev == EV_NACK:
            c["nacks_in"] += 1
            if self._last is not None and not self._pending:
                self._emit(self._last)
        elif ev == EV_BADSUM:
            c["bad_in"] += 1
            self._error()

    def _error(self):
        self.counters["errors_out"] += 1
        self._emit(ERROR_FRAME)

    def _respond(self, code, payload):
        buf = bytearray(len(payload) + 2)
        buf[0] = TFI_PN532
        buf[1] = code + 1
        buf[2:] = payload
        frame = encode(buf)
        self._last = frame
        self.counters["responses"] += 1
        if self._drop:
            self._drop -= 1
            self.counters["dropped"] += 1
            return
        if self._garble is not None:
            self.inject(self._garble)
            self._garble = None
        if self._corrupt:
            self._corrupt -= 1
            self.counters["corrupted"] += 1
            bad = bytearray(frame)
            bad[-2] ^= 0x5A
            frame = bad
        self._emit(frame)

    def _command(self, code, params):
        if self.lowvbat and code != CMD_SAMCONFIGURATION:
            self.counters["ignored"] += 1
            return
        self._pending = False  # a new command replaces a running one
        self._last = None
        self.counters["acks_out"] += 1
        self._emit(ACK)
        if code == CMD_GETFIRMWAREVERSION:
            self._respond(code, FIRMWARE)
        elif code == CMD_SAMCONFIGURATION:
            if not params or not 1 <= params[0] <= 4:
                self._error()
                return
            self.lowvbat = False
            self._respond(code, b"")
        elif code == CMD_RFCONFIGURATION:
            if not params:
                self._error()
                return
            if params[0] == 0x05 and len(params) >= 4:
                self.retries = params[3]
            self._respond(code, b"")
        elif code == CMD_INLISTPASSIVETARGET:
            if len(params) < 2 or params[0] not in (1, 2):
                self._error()
                return
            self._list_start(params[1])
        elif code == CMD_INDATAEXCHANGE:
            if len(params) < 2:
                self._error()
                return
            self._exchange(params[0], params[1:])
        elif code in (CMD_INRELEASE, CMD_INDESELECT):
            self._selected = False
            self._auth = None
            self._respond(code, b"\x00")
        elif code == CMD_POWERDOWN:
            self._respond(code, b"\x00")
            self.asleep = True
            self._parser.reset()
        else:
            self._error()  # unsupported here: syntax error, as the chip does for unknown codes

    def _list_start(self, brty):
        now = self.clock()
        self._pending = True
        self._brty = brty
        self._selected = False
        self._auth = None
        if self.retries == 0xFF:
            self._giveup = None
        else:
            self._giveup = ticks_add(now, (self.retries + 1) * self.attempt_ms)
        if self.card is not None and brty == 0:
            self._due = ticks_add(now, self.select_ms)
        else:
            self._due = self._giveup
        self.poll()

    def _list_evaluate(self, now):
        card = self.card
        if card is not None and self._brty == 0:
            self._pending = False
            self._selected = True
            uid = card.uid
            r = bytearray(6)
            r[0] = 1
            r[1] = 1
            r[2] = card.atqa >> 8
            r[3] = card.atqa & 0xFF
            r[4] = card.sak
            r[5] = len(uid)
            r.extend(uid)
            if card.ats:
                r.extend(card.ats)
            self._respond(CMD_INLISTPASSIVETARGET, r)
        elif self._giveup is not None and ticks_diff(now, self._giveup) >= 0:
            self._pending = False
            self._respond(CMD_INLISTPASSIVETARGET, b"\x00")
        else:
            self._due = self._giveup

    def _exchange(self, tg, data):
        card = self.card
        code = CMD_INDATAEXCHANGE
        if tg != 1 or not self._selected:
            self._respond(code, bytes((_ST_CONTEXT,)))
            return
        if card is None:
            self._selected = False
            self._respond(code, bytes((_ST_TIMEOUT,)))
            return
        mem = card.memory
        op = data[0]
        if mem is None:
            self._respond(code, bytes((_ST_TIMEOUT,)))
            return
        nblocks = len(mem) // 16
        blk = data[1] if len(data) > 1 else 0
        if op in (0x60, 0x61):
            if len(data) != 12:
                self._error()
                return
            ok = blk < nblocks and data[8:12] == card.uid[-4:]
            if ok:
                t = _trailer(blk) * 16
                key = mem[t : t + 6] if op == 0x60 else mem[t + 10 : t + 16]
                ok = key == data[2:8]
            if ok:
                self._auth = _trailer(blk)
                self._respond(code, b"\x00")
            else:
                self._auth = None
                self._selected = False  # the card drops back to idle: select it again
                self._respond(code, bytes((_ST_AUTH,)))
        elif op == 0x30 and len(data) == 2:
            if blk >= nblocks or self._auth != _trailer(blk):
                self._respond(code, bytes((_ST_AUTH,)))
                return
            out = bytearray(17)
            out[1:] = mem[blk * 16 : blk * 16 + 16]
            if blk == self._auth:
                out[1:7] = b"\x00\x00\x00\x00\x00\x00"  # key A never reads back
            self._respond(code, out)
        elif op == 0xA0 and len(data) == 18:
            if blk >= nblocks or blk == 0 or self._auth != _trailer(blk):
                self._respond(code, bytes((_ST_AUTH,)))
                return
            mem[blk * 16 : blk * 16 + 16] = data[2:18]
            self._respond(code, b"\x00")
        else:
            self._respond(code, bytes((_ST_TIMEOUT,)))


from .stream import EmulatorStream  # noqa: E402  (the asyncio ByteStream adapter)

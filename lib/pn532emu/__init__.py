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

MIFARE Classic (classic_memory, DEFAULT_KEY, InDataExchange on a card with memory: per-sector
keys, access bits, the chip's error statuses) is in pn532emu/mifare.py; place_mifare() takes a
card described in JSON terms (pn532emu/mifaredesc.py). A MIFARE DESFire (applications, AES and
3DES authentication, secure messaging) is in pn532emu/desfire.py, loaded by place_desfire(); a
MIFARE Plus in SL3 (AES FirstAuthenticate, MACed reads) in pn532emu/plus.py, by place_plus(); a
phone's host card emulation app (SELECT AID) in pn532emu/phone.py, by place_phone().
"""

from micropython import const

from compat import ticks_ms, ticks_diff, ticks_add
from pn532.frames import ACK, ERROR_FRAME, FrameParser, encode

from .mifare import DEFAULT_KEY, classic_memory, exchange  # noqa: F401  (DEFAULT_KEY, classic_memory: public here)

FIRMWARE = b"\x32\x01\x06\x07"  # IC PN532, Ver 1, Rev 6, Support 7 (ISO18092, 14443B, 14443A)

# PN532 command codes, parser event kinds (pn532/frames.py) and TFIs
_CMD_GETFIRMWAREVERSION = const(0x02)
_CMD_SAMCONFIGURATION = const(0x14)
_CMD_POWERDOWN = const(0x16)
_CMD_RFCONFIGURATION = const(0x32)
_CMD_INDATAEXCHANGE = const(0x40)
_CMD_INDESELECT = const(0x44)
_CMD_INLISTPASSIVETARGET = const(0x4A)
_CMD_INRELEASE = const(0x52)
_EV_ACK = const(1)
_EV_NACK = const(2)
_EV_FRAME = const(4)
_EV_BADSUM = const(5)
_TFI_HOST = const(0xD4)
_TFI_PN532 = const(0xD5)

_COMPACT = const(512)


class Card:
    """A card in the field. `memory` (bytearray from classic_memory) makes it a MIFARE Classic;
    `desfire` (pn532emu.desfire.DESFire) a DESFire (SAK 20, ATQA 0344, an ATS); `plus`
    (pn532emu.plus.Plus) a MIFARE Plus in SL3 (the same); `phone` (pn532emu.phone.Phone) a
    phone's HCE app. `model` is the ISO 14443-4 target's command set (any of them), which
    answers InDataExchange."""

    def __init__(self, uid, atqa=None, sak=None, memory=None, ats=None, desfire=None, plus=None, phone=None,
                 felica=None):
        uid = bytes(uid)
        self.felica = felica  # a FeliCa card (uid: its IDm): (PMm, system code, the rates it answers: 212, 424)
        if len(uid) not in ((8,) if felica is not None else (4, 7, 10)):
            raise ValueError("uid must be 4, 7 or 10 bytes" if felica is None else "a FeliCa IDm is 8 bytes")
        self.uid = uid
        self.desfire = desfire
        self.plus = plus
        self.model = desfire if desfire is not None else plus if plus is not None else phone
        if phone is not None:  # (a phone: a random 4-byte UID, ATQA 0004, SAK 20)
            atqa = 0x0004 if atqa is None else atqa
            sak = 0x20 if sak is None else sak
        elif self.model is not None:
            if atqa is None:
                atqa = 0x0344 if desfire is not None else 0x0044  # (a MIFARE Plus 2K, 7-byte UID)
            sak = 0x20 if sak is None else sak
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
        self._rc = 0  # the FeliCa poll's request code (01: the system code asked for)
        self._sc = b"\xff\xff"  # and the system code it polls for
        self._selected = False
        self._auth = None  # trailer block of the authenticated sector
        self._key = 0  # the key it was authenticated with: 1 = A, 2 = B

    # -- host side ---------------------------------------------------------------------------
    def feed(self, data):
        """Bytes from the host."""
        if not self.connected or not data:
            return
        c = self.counters
        if self.asleep:
            i = bytes(data).find(b"\x55")
            if i < 0:
                return
            self.asleep = False
            c["wakeups"] += 1
            data = data[i + 1 :]
        p = self._parser
        while data:
            n = p.feed(data)
            data = data[n:]
            while True:
                ev = p.next_event()
                if ev is None:
                    break
                if ev == _EV_FRAME:
                    c["frames_in"] += 1
                    d = p.data
                    if len(d) < 2 or d[0] != _TFI_HOST:
                        self._error()
                    else:
                        self._command(d[1], d[2:])
                elif ev == _EV_ACK:
                    if self._pending:  # the host aborts the running command
                        self._pending = False
                        c["aborts"] += 1
                elif ev == _EV_NACK:
                    c["nacks_in"] += 1
                    if self._last is not None and not self._pending:
                        self._emit(self._last)
                elif ev == _EV_BADSUM:
                    c["bad_in"] += 1
                    self._error()
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
                card = self.card
                if not self._answers(card):
                    card = None
                if card is not None and card.felica is not None:
                    # NbTg Tg POL_RES-length 01 IDm PMm [system code]: the request code asked for it
                    self._pending = False
                    self._selected = True
                    pmm, sysc = card.felica[0], card.felica[1]
                    r = bytes((1, 1, 18 + (2 if self._rc == 1 else 0), 1)) + card.uid + pmm
                    self._respond(_CMD_INLISTPASSIVETARGET, r + sysc if self._rc == 1 else r)
                elif card is not None:
                    self._pending = False
                    self._selected = True
                    if card.model is not None:  # activated again: PICC level, no session
                        card.model.reset()
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
                    self._respond(_CMD_INLISTPASSIVETARGET, r)
                elif self._giveup is not None and ticks_diff(now, self._giveup) >= 0:
                    self._pending = False
                    self._respond(_CMD_INLISTPASSIVETARGET, b"\x00")
                else:
                    self._due = self._giveup

    def _answers(self, card):
        """Does `card` answer the running search (its kind, and a FeliCa card its system code)?"""
        if card is None:
            return False
        if self._brty == 0:
            return card.felica is None
        return (card.felica is not None and self._sc in (b"\xff\xff", card.felica[1])
                and (212 if self._brty == 1 else 424) in card.felica[2])

    def due_in(self):
        """ms until poll() has something to do, or None (nothing timed is pending)."""
        if not self._pending or self._due is None:
            return None
        d = ticks_diff(self._due, self.clock())
        return d if d > 0 else 0

    # -- the field ---------------------------------------------------------------------------
    def place(self, uid, atqa=None, sak=None, memory=None, ats=None, desfire=None, plus=None, phone=None,
              felica=None):
        """Put a card in the field (replacing any); a running search finds it."""
        self.card = Card(uid, atqa, sak, memory, ats, desfire, plus, phone, felica)
        self._selected = False
        self._auth = None
        if self._pending:
            self._due = ticks_add(self.clock(), self.select_ms)
            self.poll()
        return self.card

    def place_mifare(self, uid, desc):
        """Put a MIFARE Classic 1K in the field, its sectors and blocks from a JSON-ready
        description (pn532emu/mifaredesc.py, e.g. what the simulator's `tap` passes on)."""
        from .mifaredesc import memory

        return self.place(uid, memory=memory(uid, desc))

    def place_desfire(self, uid, desc):
        """Put a DESFire in the field, described in JSON terms (pn532emu/desfire.py card_from:
        one application, key and file, or {} for a blank card); returns its DESFire model."""
        from .desfire import ATS, card_from

        df = card_from(bytes(uid), desc)
        self.place(uid, ats=ATS, desfire=df)
        return df

    def place_plus(self, uid, desc):
        """Put a MIFARE Plus SL3 in the field, described in JSON terms (pn532emu/plus.py
        card_from: blocks, AES keys); returns its model."""
        from .plus import ATS, card_from

        p = card_from(bytes(uid), desc)
        self.place(uid, ats=ATS, plus=p)
        return p

    def place_phone(self, desc, uid=None):
        """Put a phone with an HCE app in the field, described in JSON terms (pn532emu/phone.py
        phone_from: its AID and answer); its UID random unless given; returns its model."""
        from .phone import ATS, phone_from, random_uid

        p = phone_from(desc)
        self.place(uid or random_uid(), ats=ATS, phone=p)
        return p

    def place_felica(self, idm, pmm=b"\x10\x0b\x4b\x42\x84\x85\xd0\xff", system_code=b"\x88\xb4", kbps=(212, 424)):
        """Put a FeliCa card in the field: it answers FeliCa polls (InListPassiveTarget BrTy 01 at
        212 kbit/s, 02 at 424 kbit/s: the rates in `kbps`; older cards answer 212 only) with its
        IDm (8 bytes), PMm and, when asked, its system code (default 88B4, FeliCa Lite-S)."""
        return self.place(idm, felica=(bytes(pmm), bytes(system_code), tuple(kbps)))

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

    def _error(self):
        self.counters["errors_out"] += 1
        self._emit(ERROR_FRAME)

    def _respond(self, code, payload):
        buf = bytearray(len(payload) + 2)
        buf[0] = _TFI_PN532
        buf[1] = code + 1
        buf[2:] = payload
        frame = encode(buf)
        self._last = frame
        c = self.counters
        c["responses"] += 1
        if self._drop:
            self._drop -= 1
            c["dropped"] += 1
            return
        if self._garble is not None:
            self.inject(self._garble)
            self._garble = None
        if self._corrupt:
            self._corrupt -= 1
            c["corrupted"] += 1
            bad = bytearray(frame)
            bad[-2] ^= 0x5A
            frame = bad
        self._emit(frame)

    def _command(self, code, params):
        if self.lowvbat and code != _CMD_SAMCONFIGURATION:
            self.counters["ignored"] += 1
            return
        self._pending = False  # a new command replaces a running one
        self._last = None
        self.counters["acks_out"] += 1
        self._emit(ACK)
        if code == _CMD_GETFIRMWAREVERSION:
            self._respond(code, FIRMWARE)
        elif code == _CMD_SAMCONFIGURATION:
            if not params or not 1 <= params[0] <= 4:
                self._error()
                return
            self.lowvbat = False
            self._respond(code, b"")
        elif code == _CMD_RFCONFIGURATION:
            if not params:
                self._error()
                return
            if params[0] == 0x05 and len(params) >= 4:
                self.retries = params[3]
            self._respond(code, b"")
        elif code == _CMD_INLISTPASSIVETARGET:
            if len(params) < 2 or params[0] not in (1, 2):
                self._error()
                return
            brty = params[1]
            if brty in (1, 2):  # FeliCa 212/424 kbit/s: the polling payload 00 SC(2) RC TSN
                if len(params) != 7 or params[2] != 0:
                    self._error()
                    return
                self._rc = params[5]
                self._sc = bytes(params[3:5])
            # a card search: answered by poll() when the clock says so
            now = self.clock()
            self._pending = True
            self._brty = brty
            self._selected = False
            self._auth = None
            if self.retries == 0xFF:
                self._giveup = None
            else:
                self._giveup = ticks_add(now, (self.retries + 1) * self.attempt_ms)
            if self._answers(self.card):
                self._due = ticks_add(now, self.select_ms)
            else:
                self._due = self._giveup
            self.poll()
        elif code == _CMD_INDATAEXCHANGE:
            if len(params) < 2:
                self._error()
                return
            card = self.card
            if card is not None and card.model is not None and params[0] == 1 and self._selected:
                df = card.model
                df.exchanges += 1
                if not df.leave_after or df.exchanges <= df.leave_after:
                    self._respond(code, b"\x00" + df.answer(params[1:]))
                    return
                self.remove()  # it left the field now: the chip's timeout below
            elif card is not None and card.sak & 0x20 and card.memory is None and params[0] == 1 and self._selected:
                # ISO 14443-4 but not a DESFire (a phone, a bank card): ISO "class not supported"
                self._respond(code, b"\x00\x6e\x00")
                return
            exchange(self, params[0], params[1:])
        elif code == _CMD_INRELEASE or code == _CMD_INDESELECT:
            self._selected = False
            self._auth = None
            self._respond(code, b"\x00")
        elif code == _CMD_POWERDOWN:
            self._respond(code, b"\x00")
            self.asleep = True
            self._parser.reset()
        else:
            self._error()  # unsupported here: syntax error, as the chip does for unknown codes


from .stream import EmulatorStream  # noqa: E402  (the asyncio ByteStream adapter)

"""Credential readers beside the PN532: Wiegand reader or keypad, 3x4 matrix keypad, QR scanner.

Loaded only on boards whose board file declares one of them (boards/README.md), so a door
without them spends no heap on this code. Every reader feeds the same path as a card tap:
Door.decide (access engine over the user table) -> relays in the same loop turn -> event.

- Wiegand cards (26/34 bit) are formatted by cardfmt like a PN532 UID and decided as cards;
  frames with bad parity or length are logged as reader errors (kind card), never decided.
- Keys from either keypad go into one PinEntry (`#` submits, `*` clears, 5 s between keys).
  Wrong PINs count per keypad in a Lockout: 3 free, then 30 s locked, doubling up to 15 min;
  a locked keypad's PINs are refused unread (reason lockout, not counted); the 5th failure
  and every 5th after it log a `failures_alarm` event. Only unknown PINs count: a valid PIN
  outside its schedule is not a guess.
- QR codes: a signed visitor pass (lib/visitorqr.py, checked offline with the site's qr_key)
  opens the relays it names while valid; any other code is looked up as a user's QR id.
  Neither the PIN nor the scanned QR text is ever logged.
"""
import eventlog
from doorapp.lockout import Lockout
from keypad import PinEntry

# visitorqr error reason -> event reason
_PASS_REASONS = {"expired": eventlog.REASON_EXPIRED, "not_yet_valid": eventlog.REASON_NOT_YET_VALID,
                 "clock_not_set": eventlog.REASON_CLOCK_NOT_SET}


class Readers:
    def __init__(self, door, board, clock=None):
        self.door = door
        self.board = board
        spec = board.spec
        self.entry = None
        self.lockout = None
        if "keypad" in spec or "wiegand" in spec:
            self.entry = PinEntry() if clock is None else PinEntry(clock=clock)
            self.lockout = Lockout() if clock is None else Lockout(clock=clock)
        self.wiegand_errors = 0
        self.errors = 0  # callbacks that failed (see guarded)
        self.pin_source = "keypad"  # keypad of the last PIN submitted (a remote denial counts there)

    def tasks(self):
        """The reader tasks for Door.run(extra=...)."""
        spec = self.board.spec
        out = []
        if "wiegand" in spec:
            from wiegand import WiegandAssembler, watch

            asm = WiegandAssembler(frame_gap_us=spec["wiegand"]["frame_gap_us"])
            self.board.wiegand_input(asm)
            out.append(watch(asm, self.guarded(self.on_wiegand, eventlog.KIND_CARD), self.on_wiegand_error))
        if "keypad" in spec:
            from keypad import MatrixKeypad

            k = spec["keypad"]
            rows = [self.board.output(p, False) for p in k["rows"]]  # driven low when scanned
            cols = [self.board.input(p, "up") for p in k["cols"]]
            out.append(MatrixKeypad(rows, cols, debounce_ms=k["debounce_ms"]).run(self.guarded(self.on_keypad, eventlog.KIND_PIN)))
        if "qr_scanner" in spec:
            from qrscanner import QRScanner

            out.append(QRScanner(self.board.qr_stream(), self.guarded(self.on_qr, eventlog.KIND_QR)).run())
        return out

    # --- PINs -------------------------------------------------------------------------------
    def guarded(self, fn, kind):
        """A reader callback that never takes its task down: an error (e.g. no heap) is logged
        as a reader error and the credential is refused (fail secure)."""

        def call(*args):
            try:
                return fn(*args)
            except Exception as e:
                self.errors += 1
                self.door.deny()
                try:
                    self.door.record(kind, False, eventlog.REASON_READER_ERROR, type(e).__name__, 0, None, ())
                except Exception:
                    pass

        return call

    def on_keypad(self, k):
        self.key(k, "keypad")

    def key(self, k, source):
        pin = self.entry.key(k)
        if pin is not None:
            self.submit_pin(pin, source)

    def submit_pin(self, pin, source):
        """A submitted entry ("" = not a possible PIN) from `source` (one lockout per keypad)."""
        door = self.door
        if self.lockout.check(source):
            door.record(eventlog.KIND_PIN, False, eventlog.REASON_LOCKOUT, b"", 0, None, ())
            door.deny()
            return None
        if pin:
            self.pin_source = source
            d = door.decide(eventlog.KIND_PIN, pin)
            if d.granted:
                self.lockout.success(source)
                return d
            if d.reason != eventlog.REASON_UNKNOWN_CREDENTIAL:
                return d
        else:
            door.record(eventlog.KIND_PIN, False, eventlog.REASON_UNKNOWN_CREDENTIAL, b"", 0, None, ())
            door.deny()
            d = None
        _lock_ms, alarm = self.lockout.failure(source)
        if alarm:
            door.record(eventlog.KIND_PIN, False, eventlog.REASON_FAILURES_ALARM, b"", 0, None, ())
        return d

    def remote_pin_denied(self):
        """The verification server denied a PIN (answer after submit_pin returned): a wrong guess
        on the keypad it came from."""
        _lock_ms, alarm = self.lockout.failure(self.pin_source)
        if alarm:
            self.door.record(eventlog.KIND_PIN, False, eventlog.REASON_FAILURES_ALARM, b"", 0, None, ())

    # --- Wiegand ----------------------------------------------------------------------------
    def on_wiegand(self, frame):
        if frame.kind == "key":
            self.key(frame.key, "wiegand")
            return
        import cardfmt

        door = self.door
        door.decide(eventlog.KIND_CARD, cardfmt.format_uid(frame.uid4, door.card_format), frame.uid4,
                    door._fmt_id)

    def on_wiegand_error(self, err):
        self.wiegand_errors += 1
        self.door.record(eventlog.KIND_CARD, False, eventlog.REASON_READER_ERROR, err.reason, 0, None, ())

    # --- QR codes ---------------------------------------------------------------------------
    def on_qr(self, text):
        door = self.door
        if not text.startswith("V1."):  # visitorqr.PREFIX: other codes are users' QR ids
            return door.decide(eventlog.KIND_QR, text)
        import visitorqr  # resident on boards with a QR scanner (startup.reader_modules)

        key = door.secrets.get("qr_key") if door.secrets else None
        if not key:
            reason = eventlog.REASON_DISABLED
        else:
            from doorapp import clock

            try:
                p = visitorqr.check(text, key, clock.now())
            except visitorqr.VisitorQRError as e:
                reason = _PASS_REASONS.get(e.reason, eventlog.REASON_UNKNOWN_CREDENTIAL)
            else:
                relays = [r for r in p.relay_list() if r in door.relays]
                door.open_for(relays)
                door.record(eventlog.KIND_QR, True, eventlog.REASON_OK, "V%d" % p.id, 0, None, relays)
                return p
        door.deny()
        door.record(eventlog.KIND_QR, False, reason, "V", 0, None, ())
        return None

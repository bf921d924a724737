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
- QR codes: doorapp/readers/qr.py (loaded only on boards with a scanner).
  Neither the PIN nor the scanned QR text is ever logged.

The reader tasks are built by doorapp/readers/tasks.py (run once, then dropped). Resident while
the door runs, so the event codes are private const() copies of eventlog's (no lookups, no
module-dict slots; tests/test_device_heap.py checks they match).
"""
from micropython import const

from doorapp.access.lockout import Lockout
from keypad import PinEntry


_KIND_CARD = const(1)  # eventcodes.KIND_CARD
_KIND_PIN = const(2)
_UNKNOWN = const(1)  # eventcodes.REASON_UNKNOWN_CREDENTIAL
_LOCKOUT = const(8)
_READER_ERROR = const(9)
_FAILURES_ALARM = const(25)


class Readers:
    def __init__(self, door, board, clock=None):
        self.door = door
        self.board = board
        spec = board.spec
        self.entry = None
        self.lockout = None
        if "keypad" in spec or "wiegand" in spec:
            self.entry = PinEntry() if clock is None else PinEntry(clock=clock)
            # two sources at most, "keypad" and "wiegand": two slots (each costs five list items)
            self.lockout = Lockout(slots=2) if clock is None else Lockout(slots=2, clock=clock)
        self.wiegand_errors = 0
        self.errors = 0  # callbacks that failed (see guarded)
        self.pin_source = "keypad"  # keypad of the last PIN submitted (a remote denial counts there)

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
                    self.door.record(kind, False, _READER_ERROR, type(e).__name__, 0, None, ())
                except Exception:
                    pass

        return call

    # --- PINs -------------------------------------------------------------------------------
    def key(self, k, source="keypad"):
        """One key from a keypad (the matrix keypad's task calls this with the key alone)."""
        pin = self.entry.key(k)
        if pin is not None:
            self.submit_pin(pin, source)

    def submit_pin(self, pin, source):
        """A submitted entry ("" = not a possible PIN) from `source` (one lockout per keypad)."""
        door = self.door
        if self.lockout.check(source):
            door.record(_KIND_PIN, False, _LOCKOUT, b"", 0, None, ())
            door.deny()
            return None
        d = None
        if pin:
            self.pin_source = source
            d = door.decide(_KIND_PIN, pin)
            if d.granted:
                self.lockout.success(source)
                return d
            if d.reason != _UNKNOWN:
                return d
        else:
            door.record(_KIND_PIN, False, _UNKNOWN, b"", 0, None, ())
            door.deny()
        self.remote_pin_denied(source)
        return d

    def remote_pin_denied(self, source=None):
        """A wrong PIN from `source`; without one, the verification server denied a PIN (answer
        after submit_pin returned): a wrong guess on the keypad it came from. Counts toward the
        lockout and logs the alarm when this failure raises it."""
        _lock_ms, alarm = self.lockout.failure(source or self.pin_source)
        if alarm:
            self.door.record(_KIND_PIN, False, _FAILURES_ALARM, b"", 0, None, ())

    # --- Wiegand ----------------------------------------------------------------------------
    def on_wiegand(self, frame):
        if frame.kind == "key":
            self.key(frame.key, "wiegand")
            return
        import cardfmt

        door = self.door
        door.decide(_KIND_CARD, cardfmt.format_uid(frame.uid4, door.card_format), frame.uid4, door._fmt_id)

    def on_wiegand_error(self, err):
        self.wiegand_errors += 1
        self.door.record(_KIND_CARD, False, _READER_ERROR, err.reason, 0, None, ())

"""doorapp/readers/credentials.py decisions with a fake door and clock: PIN lockout per keypad with the
alarm event, invalid entries counted, schedule denials not counted, Wiegand frames, and a
failing callback logged as a reader error instead of taking its task down."""
import eventcodes
import eventlog
from doorapp.readers.credentials import Readers


class Decision:
    def __init__(self, granted, reason, relays=()):
        self.granted = granted
        self.reason = reason
        self.relays = relays


class Door:
    card_format = "8HN"
    _fmt_id = 1

    def __init__(self, pins):
        self.pins = pins  # pin -> Decision
        self.records = []
        self.decided = []
        self.denied = 0
        self.secrets = {}
        self.relays = {1: None}

    def decide(self, kind, value, shown=b"", fmt=0):
        self.decided.append((kind, value))
        d = self.pins.get(value, Decision(False, eventcodes.REASON_UNKNOWN_CREDENTIAL)) if kind == eventcodes.KIND_PIN \
            else Decision(True, eventcodes.REASON_OK, (1,))
        self.records.append((kind, d.granted, d.reason))
        return d

    def record(self, kind, granted, reason, value, fmt, user, relays):
        self.records.append((kind, granted, reason))

    def deny(self):
        self.denied += 1


class Board:
    spec = {"keypad": {"rows": [1, 2, 3, 4], "cols": [5, 6, 7], "debounce_ms": 30}}


class Clock:
    def __init__(self):
        self.t = 1000

    def __call__(self):
        return self.t


def make():
    clock = Clock()
    door = Door({"4711": Decision(True, eventcodes.REASON_OK, (1,)), "2580": Decision(False, eventcodes.REASON_SCHEDULE)})
    return Readers(door, Board(), clock=clock), door, clock


def typed(r, keys, source="keypad"):
    for k in keys:
        r.key(k, source)


def reasons(door):
    return [rec[2] for rec in door.records]


def test_pin_granted_and_entry_reset():
    r, door, _ = make()
    typed(r, "12*4711#")
    assert door.decided == [(eventcodes.KIND_PIN, "4711")] and reasons(door) == [eventcodes.REASON_OK]


def test_lockout_after_three_and_alarm_at_five():
    r, door, clock = make()
    for i in range(4):
        typed(r, "000%d#" % i)
        clock.t += 100
    typed(r, "4711#")  # locked for 30 s: refused unread
    assert reasons(door)[-1] == eventcodes.REASON_LOCKOUT and len(door.decided) == 4
    clock.t += 31000
    typed(r, "9999#")  # 5th failure: alarm
    assert reasons(door)[-2:] == [eventcodes.REASON_UNKNOWN_CREDENTIAL, eventcodes.REASON_FAILURES_ALARM]
    clock.t += 61000  # lock of the 5th failure (60 s) over
    typed(r, "4711#", "keypad")
    assert reasons(door)[-1] == eventcodes.REASON_OK  # and the count is cleared
    assert r.lockout.failures("keypad") == 0


def test_other_keypad_is_another_source_and_invalid_entries_count():
    r, door, clock = make()
    for _ in range(4):
        typed(r, "1#")  # too short: "" submit, counted
    assert r.lockout.check("keypad") > 0
    typed(r, "4711#", "wiegand")
    assert reasons(door)[-1] == eventcodes.REASON_OK


def test_pin_denied_later_by_the_verification_server_counts_on_its_keypad():
    """Third-party verification answers after submit_pin returned (pending): the door reports a
    remote denial back (doorapp/verify/door.py), and it counts as a wrong guess on that keypad."""
    r, door, clock = make()
    door.pins["5555"] = Decision(False, eventcodes.REASON_OK)  # pending: the server decides later
    typed(r, "5555#", "wiegand")
    assert r.lockout.failures("wiegand") == 0 and r.pin_source == "wiegand"
    for _ in range(5):
        r.remote_pin_denied()
    assert r.lockout.failures("wiegand") == 5 and r.lockout.failures("keypad") == 0
    assert reasons(door)[-1] == eventcodes.REASON_FAILURES_ALARM


def test_schedule_denial_is_not_a_guess():
    r, door, _ = make()
    for _ in range(6):
        typed(r, "2580#")
    assert r.lockout.failures("keypad") == 0 and reasons(door) == [eventcodes.REASON_SCHEDULE] * 6


def test_wiegand_frames():
    import wiegand
    import wiegandbits

    r, door, _ = make()
    r.on_wiegand(wiegandbits.decode_str(wiegandbits.encode26(213, 2000)))
    assert door.decided == [(eventcodes.KIND_CARD, "00D507D0")]
    try:
        wiegandbits.decode_str(wiegandbits.encode26(213, 2000)[:-1] + "0")
    except wiegand.WiegandError as e:
        r.on_wiegand_error(e)
    assert door.records[-1] == (eventcodes.KIND_CARD, False, eventcodes.REASON_READER_ERROR)
    for k in "4711#":
        r.on_wiegand(wiegandbits.decode_str(wiegandbits.encode_key(k, 8)))
    assert door.decided[-1] == (eventcodes.KIND_PIN, "4711")


def test_failing_callback_is_logged_not_raised():
    r, door, _ = make()

    def boom(*args):
        raise MemoryError()

    r.guarded(boom, eventcodes.KIND_QR)("V1.x")
    assert door.records[-1] == (eventcodes.KIND_QR, False, eventcodes.REASON_READER_ERROR)
    assert door.denied == 1 and r.errors == 1

"""The access engine with an in-memory user table, a fake clock and the real config/TZ/schedules:
the documented check order and reasons, clock not set, admins, Never, relay rights, floors,
plate windows, unlock intervals, relay schedule hold with and without badge-in, DST days.
Also the config settings the engine needs, the clock module and the NTP sync task."""
import asyncio
import json

import eventcodes
import eventlog
import hal
import tzrule
from configerror import ConfigError
from doorapp import clock, timesync
from doorapp.config import schema
from doorapp.access import engine
from doorapp.access import schedule

ROOT = __file__.rsplit("/tests/device/", 1)[0] + "/"
CET = "CET-1CEST,M3.5.0,M10.5.0/3"
TZ = tzrule.parse(CET)
CARD = eventcodes.KIND_CARD
PLATE = eventcodes.KIND_PLATE
BLE = eventcodes.KIND_BLE
OK = eventcodes.REASON_OK
SCHEDULES = [
    {"id": 2, "name": "Office hours", "weekly": [{"days": "mon-fri", "from": "08:00", "to": "18:00"}],
     "holidays": ["2026-12-25"]},
    {"id": 3, "name": "Night", "weekly": [{"days": "sat", "from": "22:00", "to": "02:00"}]},
    {"id": 4, "name": "DST Sunday", "weekly": [{"days": "sun", "from": "01:00", "to": "04:00"}]},
    {"id": 5, "name": "Leap", "weekly": [{"days": "mon-sun", "from": "10:00", "to": "11:00"}],
     "dates": [{"from": "2028-02-28", "to": "2028-02-29"}]},
]
_BOARD = []


def board():
    if not _BOARD:
        _BOARD.append(hal.validate_board(json.loads(open(ROOT + "boards/sim.json").read()), "boards/sim.json"))
    return _BOARD[0]


def at(y, m, d, hh=0, mm=0, ss=0):
    """Unix seconds of a CET/CEST wall-clock time."""
    return TZ.local_to_unix(y, m, d, hh, mm, ss)


class Rec:
    """A user record as docs/user-model.md describes it."""

    def __init__(self, uid, role=0, relays=1, floors=0, rsa=False, valid_from=0, valid_to=0, schedules=(0,)):
        self.id = uid
        self.name = "user%d" % uid
        self.role = role
        self.phone = ""
        self.relays = relays
        self.floors = floors
        self.web_relay = 0
        self.rsa = rsa
        self.valid_from = valid_from
        self.valid_to = valid_to
        self.schedules = schedules
        self.plate_from = 0
        self.plate_to = 0


class Table:
    """In-memory stand-in for the compact user table: same lookups, same record attributes."""

    def __init__(self, schedules=SCHEDULES):
        self.schedules = schedules
        self._ids = {}
        self._keys = {}

    def add(self, rec, **creds):
        self._ids[rec.id] = rec
        for kind in creds:
            if kind == "plate":
                plate, lo, hi = creds[kind]
                self._keys[("plate", plate)] = (rec, lo, hi)
            else:
                self._keys[(kind, creds[kind])] = rec
        return rec

    def _get(self, kind, value):
        return self._keys.get((kind, value))

    def by_card(self, code):
        return self._get("card", code)

    def by_pin(self, pin):
        return self._get("pin", pin)

    def by_qr(self, text):
        return self._get("qr", text)

    def by_ble(self, key_id):
        return self._get("ble", key_id)

    def by_plate(self, plate):
        hit = self._get("plate", plate)
        if hit is None:
            return None
        rec, rec.plate_from, rec.plate_to = hit
        return rec

    def by_id(self, uid):
        return self._ids.get(uid)


class Clock:
    def __init__(self, now=0):
        self.t = now
        self.ticks = 1000

    def now(self):
        return self.t

    def is_set(self):
        return self.t != 0

    def ticks_ms(self):
        return self.ticks

    def advance(self, s):
        if self.t:
            self.t += s
        self.ticks += s * 1000


def make(cfg=None, now=None, table=None, schedules=SCHEDULES, tz=TZ):
    if now is None:
        now = at(2026, 11, 23, 9)  # Monday 09:00
    table = table or Table()
    clk = Clock(now)
    eng = engine.AccessEngine(table, schedule.compile_all(schedules), schema.validate(cfg or {}, board()), tz, clk)
    return eng, table, clk


def reason(d):
    return eventlog.reason_name(d.reason)


# --- lookup, grant, disabled ------------------------------------------------------------------

def test_grant_and_unknown():
    eng, t, _ = make()
    u = t.add(Rec(1001), card="04A1B2C3")
    d = eng.decide(CARD, "04A1B2C3")
    assert d.granted and d.user is u and d.relays == (1,) and d.reason == OK and d.prompt == "Welcome"
    assert d.floors == () and d.hold == 0 and d.relay_mask() == 1
    d = eng.decide(CARD, "01020304")
    assert not d.granted and d.user is None and reason(d) == "unknown_credential" and d.relays == ()
    t.add(Rec(1002), pin="4711", qr="12345678", ble="a1b2", plate=("AB12CDE", 0, 0))
    for kind, value in ((eventcodes.KIND_PIN, "4711"), (eventcodes.KIND_QR, "12345678"), (BLE, "a1b2"),
                        (PLATE, "AB12CDE"), (eventcodes.KIND_API, 1002)):
        d = eng.decide(kind, value)
        assert d.granted and d.user.id == 1002, kind


def test_disabled_kinds():
    eng, t, _ = make({"card": {"enabled": False}})
    t.add(Rec(1), card="AA")
    assert reason(eng.decide(CARD, "AA")) == "disabled"

    class CardsOnly:
        def by_card(self, code):
            return None

    eng, _, _ = make(table=CardsOnly())
    assert reason(eng.decide(eventcodes.KIND_PIN, "1234")) == "disabled"
    try:
        eng.decide(eventcodes.KIND_EXIT, "")
    except ValueError:
        pass
    else:
        raise AssertionError("exit is not a credential")


def test_user_valid_period_inclusive():
    vf, vt = at(2026, 1, 1), at(2027, 1, 1)
    eng, t, clk = make(now=vf - 1)
    t.add(Rec(1, valid_from=vf, valid_to=vt), card="AA")
    assert reason(eng.decide(CARD, "AA")) == "not_yet_valid"
    clk.t = vf
    assert eng.decide(CARD, "AA").granted
    clk.t = vt
    assert eng.decide(CARD, "AA").granted
    clk.t = vt + 1
    assert reason(eng.decide(CARD, "AA")) == "expired"
    t.add(Rec(2, valid_to=vt), card="BB")  # open start
    assert reason(eng.decide(CARD, "BB")) == "expired"


def test_clock_not_set_admits_only_always_users():
    eng, t, clk = make(now=0)
    t.add(Rec(1, schedules=(0,)), card="ALWAYS")
    t.add(Rec(2, schedules=(2,)), card="OFFICE")
    t.add(Rec(3, schedules=(0, 2)), card="BOTH")
    t.add(Rec(4, schedules=(0,), valid_to=at(2030, 1, 1)), card="BOUNDED")
    t.add(Rec(5, schedules=(1,)), card="NEVER")
    t.add(Rec(6, role=1, schedules=(2,)), card="ADMIN")
    t.add(Rec(7, schedules=(0,)), plate=("XY99ZZZ", at(2026, 6, 1), at(2026, 6, 30, 23, 59)))
    t.add(Rec(8, schedules=(0,)), plate=("AB12CDE", 0, 0))
    assert eng.decide(CARD, "ALWAYS").granted and eng.decide(CARD, "BOTH").granted
    assert reason(eng.decide(CARD, "OFFICE")) == "clock_not_set"
    assert reason(eng.decide(CARD, "BOUNDED")) == "clock_not_set"  # its valid period can't be checked
    assert reason(eng.decide(CARD, "NEVER")) == "schedule"  # Never needs no clock
    assert eng.decide(CARD, "ADMIN").granted  # admins count as Always (admin_bypass)
    assert reason(eng.decide(PLATE, "XY99ZZZ")) == "clock_not_set"
    assert eng.decide(PLATE, "AB12CDE").granted  # long-term vehicle
    eng2, t2, _ = make({"access": {"admin_bypass": False}}, now=0)
    t2.add(Rec(6, role=1, schedules=(2,)), card="ADMIN")
    assert reason(eng2.decide(CARD, "ADMIN")) == "clock_not_set"
    clk.t = at(2026, 11, 23, 9)  # clock set: the schedule decides again
    assert eng.decide(CARD, "OFFICE").granted and eng.decide(CARD, "BOUNDED").granted


# --- schedules ---------------------------------------------------------------------------------

def test_schedules_in_local_time():
    eng, t, clk = make(now=at(2026, 11, 23, 7, 59))
    t.add(Rec(1, schedules=(2,)), card="AA")
    assert reason(eng.decide(CARD, "AA")) == "schedule"
    clk.t = at(2026, 11, 23, 8, 0)  # 07:00 UTC: local time decides
    assert eng.decide(CARD, "AA").granted
    clk.t = at(2026, 7, 6, 8, 0)  # summer: 06:00 UTC
    assert eng.decide(CARD, "AA").granted
    clk.t = at(2026, 7, 6, 18, 0)
    assert reason(eng.decide(CARD, "AA")) == "schedule"
    clk.t = at(2026, 12, 25, 10)  # a Friday, holiday
    assert reason(eng.decide(CARD, "AA")) == "schedule"
    eng_utc, t2, _ = make(now=at(2026, 11, 23, 8, 30), tz=tzrule.parse("UTC0"))
    t2.add(Rec(1, schedules=(2,)), card="AA")
    assert reason(eng_utc.decide(CARD, "AA")) == "schedule"  # 07:30 in UTC


def test_several_schedules_any_admits_and_midnight():
    eng, t, clk = make(now=at(2026, 11, 28, 23, 0))  # Saturday night
    t.add(Rec(1, schedules=(2, 3)), card="AA")
    t.add(Rec(2, schedules=(9,)), card="GONE")  # a schedule the table doesn't define
    t.add(Rec(3, schedules=()), card="NONE")
    assert eng.decide(CARD, "AA").granted
    clk.t = at(2026, 11, 29, 1, 59)
    assert eng.decide(CARD, "AA").granted  # the night runs past midnight
    clk.t = at(2026, 11, 29, 2, 0)
    assert reason(eng.decide(CARD, "AA")) == "schedule"
    clk.t = at(2026, 11, 30, 9)
    assert eng.decide(CARD, "AA").granted  # Monday: office hours
    assert reason(eng.decide(CARD, "GONE")) == "schedule" and reason(eng.decide(CARD, "NONE")) == "schedule"


def test_never_wins_even_for_admins():
    eng, t, _ = make()
    t.add(Rec(1, schedules=(0, 1)), card="A")
    t.add(Rec(2, role=1, schedules=(1,)), card="B")
    t.add(Rec(3, role=1, schedules=(1, 0)), card="C")
    for c in ("A", "B", "C"):
        d = eng.decide(CARD, c)
        assert not d.granted and reason(d) == "schedule", c


def test_dst_change_days():
    eng, t, clk = make()
    t.add(Rec(1, schedules=(4,)), card="AA")  # Sundays 01:00-04:00 local

    def ok(y, m, d, hh, mm):
        clk.t = tzrule.days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60  # UTC
        return eng.decide(CARD, "AA").granted

    # 2026-03-29: 01:30 CET, 03:30 CEST (02:00-03:00 local never happens), 04:00 CEST
    assert ok(2026, 3, 29, 0, 30) and ok(2026, 3, 29, 1, 30) and not ok(2026, 3, 29, 2, 0)
    # 2026-10-25: 02:30 CEST, 02:30 CET (the hour twice), 03:59 CET, 04:00 CET
    assert ok(2026, 10, 25, 0, 30) and ok(2026, 10, 25, 1, 30) and ok(2026, 10, 25, 2, 59)
    assert not ok(2026, 10, 25, 3, 0) and not ok(2026, 10, 24, 22, 59)  # 00:59 CEST


def test_leap_day_schedule():
    eng, t, clk = make(now=at(2028, 2, 29, 10, 30))
    t.add(Rec(1, schedules=(5,)), card="AA")
    assert eng.decide(CARD, "AA").granted
    clk.t = at(2028, 3, 1, 10, 30)
    assert reason(eng.decide(CARD, "AA")) == "schedule"


# --- admins, relay rights, floors, plates, order ----------------------------------------------

def test_admin_rule():
    eng, t, clk = make({"access": {"interval_same_s": 60}}, now=at(2026, 11, 28, 12))  # Saturday
    t.add(Rec(1, role=1, schedules=(2,)), card="ADM")
    t.add(Rec(2, role=1, relays=2), card="ADM2")
    t.add(Rec(3, role=1, valid_to=at(2026, 1, 1)), card="OLD")
    assert eng.decide(CARD, "ADM").granted and eng.decide(CARD, "ADM").granted  # schedule, interval skipped
    assert reason(eng.decide(CARD, "ADM2", relay=1)) == "no_relay_rights"  # Allow to Open still applies
    assert reason(eng.decide(CARD, "OLD")) == "expired"  # the valid period too
    eng, t, _ = make({"access": {"admin_bypass": False}}, now=at(2026, 11, 28, 12))
    t.add(Rec(1, role=1, schedules=(2,)), card="ADM")
    assert reason(eng.decide(CARD, "ADM")) == "schedule"


def test_relay_rights():
    eng, t, _ = make()
    t.add(Rec(1, relays=0b10), card="R2")
    t.add(Rec(2, relays=0b11), card="R12")
    t.add(Rec(3, relays=0b10000), card="R5")  # relay 5 is not on this board
    assert reason(eng.decide(CARD, "R2", relay=1)) == "no_relay_rights"
    assert eng.decide(CARD, "R2", relay=2).relays == (2,) and eng.decide(CARD, "R2").relays == (2,)
    assert eng.decide(CARD, "R12").relays == (1, 2) and eng.decide(CARD, "R12", relay=(1, 2)).relays == (1, 2)
    assert eng.decide(CARD, "R12", relay=1).relays == (1,)
    assert reason(eng.decide(CARD, "R12", relay=3)) == "no_relay_rights"
    assert reason(eng.decide(CARD, "R5")) == "no_relay_rights"
    assert eng.decide(CARD, "R12").relays is eng.decide(CARD, "R12").relays  # no tuple per decision


def test_floors_add_relays():
    eng, t, _ = make({"floors": {"3": 2, "4": 9, "5": 1}})
    f = lambda *fl: sum(1 << (x - 1) for x in fl)  # noqa: E731
    t.add(Rec(1, relays=0b01, floors=f(3, 4, 6)), card="A")
    t.add(Rec(2, relays=0b10, floors=f(5)), card="B")
    t.add(Rec(3, relays=0b10, floors=f(6)), card="C")
    d = eng.decide(CARD, "A")
    assert d.granted and d.relays == (1, 2, 9) and d.floors == (3, 4) and d.relay_mask() == 0b11
    d = eng.decide(CARD, "B", relay=1)  # no rights on this door's relay, but floor 5 -> relay 1
    assert d.granted and d.relays == (1,) and d.floors == (5,)
    assert reason(eng.decide(CARD, "C", relay=1)) == "no_relay_rights"  # floor 6 is not mapped


def test_plate_windows_and_check_order():
    lo, hi = at(2026, 6, 1), at(2026, 6, 30, 23, 59)
    eng, t, clk = make(now=lo - 60)
    t.add(Rec(1), plate=("XY99ZZZ", lo, hi))
    t.add(Rec(2, relays=0b10), plate=("NORIGHT", lo, hi))
    t.add(Rec(3, schedules=(2,), valid_to=at(2026, 1, 1)), card="OLDOFF")
    assert reason(eng.decide(PLATE, "XY99ZZZ")) == "not_yet_valid"
    clk.t = lo
    assert eng.decide(PLATE, "XY99ZZZ").granted
    clk.t = hi
    assert eng.decide(PLATE, "XY99ZZZ").granted
    clk.t = hi + 1
    assert reason(eng.decide(PLATE, "XY99ZZZ")) == "expired"
    assert reason(eng.decide(PLATE, "NORIGHT", relay=1)) == "no_relay_rights"  # relay rights come first
    clk.t = at(2026, 11, 28, 12)  # Saturday: outside the schedule and expired: the valid period comes first
    assert reason(eng.decide(CARD, "OLDOFF")) == "expired"


# --- unlock intervals ---------------------------------------------------------------------------

def test_intervals_same_and_other_user():
    eng, t, clk = make({"access": {"interval_same_s": 10, "interval_other_s": 5}})
    t.add(Rec(1), card="A")
    t.add(Rec(2), card="B")
    assert eng.decide(CARD, "A").granted
    clk.advance(1)
    assert reason(eng.decide(CARD, "B")) == "interval"
    clk.advance(4)  # 5 s after A
    assert eng.decide(CARD, "B").granted
    clk.advance(4)  # 9 s after A, 4 after B
    assert reason(eng.decide(CARD, "A")) == "interval"
    clk.advance(1)  # 10 s after A, 5 after B
    assert eng.decide(CARD, "A").granted
    clk.advance(5)
    assert eng.decide(CARD, "A").granted is False  # denied attempts don't restart the interval ...
    clk.advance(5)
    assert eng.decide(CARD, "A").granted  # ... 10 s after the last grant


def test_intervals_ignore_wall_clock_and_admins():
    eng, t, clk = make({"access": {"interval_same_s": 10, "interval_other_s": 5}})
    t.add(Rec(1), card="A")
    t.add(Rec(9, role=1), card="ADM")
    assert eng.decide(CARD, "A").granted
    clk.t -= 3600  # wall clock stepped back an hour (NTP): intervals use the monotonic clock
    clk.advance(10)
    assert eng.decide(CARD, "A").granted
    assert eng.decide(CARD, "ADM").granted and eng.decide(CARD, "ADM").granted  # admins skip intervals
    clk.advance(1)
    assert reason(eng.decide(CARD, "A")) == "interval"  # an admin's grant still counts for others


def test_interval_kinds_ble_only_and_default_off():
    eng, t, clk = make({"access": {"interval_same_s": 30, "interval_kinds": "ble"}})
    t.add(Rec(1), card="A", ble="k1")
    assert eng.decide(CARD, "A").granted and eng.decide(CARD, "A").granted
    assert eng.decide(BLE, "k1").granted and reason(eng.decide(BLE, "k1")) == "interval"
    assert eng.decide(CARD, "A").granted  # cards neither wait nor count
    eng, t, _ = make()
    t.add(Rec(1), card="A")
    assert all(eng.decide(CARD, "A").granted for _ in range(20))


# --- relay schedule hold ------------------------------------------------------------------------

def test_relay_hold_on_schedule():
    eng, t, clk = make({"relays": {"1": {"schedule": "Office hours"}, "2": {"schedule": "Always"}}})
    assert eng.held_relays(at(2026, 11, 23, 9)) == 0b11
    assert eng.held_relays(at(2026, 11, 23, 18)) == 0b10
    assert eng.held_relays(at(2026, 11, 28, 9)) == 0b10  # Saturday
    assert eng.held_relays(at(2026, 12, 25, 9)) == 0b10  # holiday
    assert eng.held_relays(0) == 0b10  # clock not set: only Always (fail secure otherwise)
    clk.t = at(2026, 11, 24, 8)
    assert eng.held_relays() == 0b11  # default: the engine's clock
    eng, _, _ = make({"relays": {"2": {"schedule": "3"}}})  # by id
    assert eng.held_relays(at(2026, 11, 28, 23)) == 0b10


def test_relay_hold_needs_badge_in():
    cfg = {"relays": {"1": {"schedule": "Office hours", "schedule_needs_badge": True}}}
    eng, t, clk = make(cfg, now=at(2026, 11, 23, 7, 30))
    t.add(Rec(1, rsa=False), card="PLAIN")
    t.add(Rec(2, rsa=True), card="RSA")
    t.add(Rec(3, rsa=True, relays=0b10), card="RSA2")
    t.add(Rec(4, rsa=True, schedules=(1,)), card="RSANEVER")
    assert eng.held_relays(at(2026, 11, 23, 9)) == 0  # nobody badged in yet
    assert eng.decide(CARD, "PLAIN").hold == 0 and eng.held_relays(at(2026, 11, 23, 9)) == 0
    assert not eng.decide(CARD, "RSANEVER").granted and eng.held_relays(at(2026, 11, 23, 9)) == 0
    assert eng.decide(CARD, "RSA2").hold == 0  # granted on relay 2 only
    assert eng.held_relays(at(2026, 11, 23, 9)) == 0
    d = eng.decide(CARD, "RSA")  # 07:30: before the schedule starts, counts for the day
    assert d.granted and d.hold == 0b01 and eng.badge_in(1) == 20261123
    assert eng.held_relays(at(2026, 11, 23, 7, 45)) == 0  # schedule not yet active
    assert eng.held_relays(at(2026, 11, 23, 8, 0)) == 1 and eng.held_relays(at(2026, 11, 23, 17, 59)) == 1
    assert eng.held_relays(at(2026, 11, 23, 18, 0)) == 0
    assert eng.decide(CARD, "RSA").hold == 0  # already active today
    assert eng.held_relays(at(2026, 11, 24, 9)) == 0  # next day: badge in again
    assert eng.held_relays(0) == 0


def test_badge_memory_resets_at_local_midnight():
    cfg = {"relays": {"1": {"schedule": "Night", "schedule_needs_badge": True}}}
    eng, t, clk = make(cfg, now=at(2026, 11, 28, 22, 30))  # Saturday night
    t.add(Rec(2, rsa=True, schedules=(3,)), card="RSA")
    assert eng.held_relays(at(2026, 11, 28, 22, 29)) == 0
    assert eng.decide(CARD, "RSA").hold == 1
    assert eng.held_relays(at(2026, 11, 28, 23, 59, 59)) == 1
    assert eng.held_relays(at(2026, 11, 29, 0, 0)) == 0  # the schedule still runs, the badge-in is yesterday's
    # local midnight, not UTC: a badge-in at 00:30 CET (23:30 UTC the day before) counts for the new day
    cfg = {"relays": {"1": {"schedule": "Office hours", "schedule_needs_badge": True}}}
    eng, t, clk = make(cfg, now=at(2026, 11, 23, 0, 30))
    t.add(Rec(2, rsa=True), card="RSA")
    assert eng.decide(CARD, "RSA").hold == 1 and eng.held_relays(at(2026, 11, 23, 12)) == 1
    # a new table keeps the memory; an unknown hold schedule is refused and changes nothing
    eng.set_table(t, schedule.compile_all(SCHEDULES))
    assert eng.held_relays(at(2026, 11, 23, 12)) == 1
    try:
        eng.set_table(Table([]), [])
    except ConfigError as e:
        assert e.field == "relays.1.schedule" and "Office hours" in e.message
    else:
        raise AssertionError("unknown schedule accepted")
    assert eng.held_relays(at(2026, 11, 23, 12)) == 1 and eng.schedules.get(2) is not None


def test_unknown_hold_schedule_names_the_field():
    try:
        make({"relays": {"2": {"schedule": "Weekends"}}})
    except ConfigError as e:
        assert e.file == "config.json" and e.field == "relays.2.schedule"
    else:
        raise AssertionError("unknown schedule accepted")


def test_engine_accepts_definitions_list():
    table = Table()
    eng = engine.AccessEngine(table, SCHEDULES, schema.defaults(board()), TZ, Clock(at(2026, 11, 23, 9)))
    table.add(Rec(1, schedules=(2,)), card="AA")
    assert eng.decide(CARD, "AA").granted


# --- config -------------------------------------------------------------------------------------

def test_config_defaults_for_the_engine():
    cfg = schema.defaults(board())
    assert cfg["access"] == {"interval_same_s": 0, "interval_other_s": 0, "interval_kinds": "all", "admin_bypass": True}
    assert cfg["relays"]["1"] == {"hold_ms": 5000, "schedule": "", "schedule_needs_badge": False}
    assert cfg["floors"] == {} and cfg["time"]["tz"] == "UTC0" and cfg["time"]["ntp_interval_s"] == 3600
    cfg = schema.validate({"floors": {"03": 2, "32": 40}, "time": {"tz": CET},
                           "relays": {"1": {"schedule": "Office hours", "schedule_needs_badge": True}}}, board())
    assert cfg["floors"] == {"3": 2, "32": 40}
    assert schema.validate(cfg, board()) == cfg  # a validated config validates to itself (API merges)


def test_config_errors_name_the_field():
    b = board()
    cases = [
        ({"time": {"tz": "CET-1CEST"}}, "time.tz", "needs start and end rules"),
        ({"time": {"tz": "Europe/Berlin"}}, "time.tz", "POSIX rule"),
        ({"time": {"ntp_interval_s": 10}}, "time.ntp_interval_s", "between 60 and 86400"),
        ({"access": {"interval_same_s": 3601}}, "access.interval_same_s", "between 0 and 3600"),
        ({"access": {"interval_kinds": "card"}}, "access.interval_kinds", "all/ble"),
        ({"access": {"admin_bypass": "yes"}}, "access.admin_bypass", "true or false"),
        ({"access": {"lockout": 1}}, "access.lockout", "unknown setting"),
        ({"relays": {"1": {"schedule": "x" * 64}}}, "relays.1.schedule", "characters"),
        ({"relays": {"1": {"schedule_needs_badge": 1}}}, "relays.1.schedule_needs_badge", "true or false"),
        ({"floors": []}, "floors", "object"),
        ({"floors": {"33": 1}}, "floors.33", "1-32"),
        ({"floors": {"x": 1}}, "floors.x", "1-32"),
        ({"floors": {"3": 5}}, "floors.3", "no relay 5 on this board"),
        ({"floors": {"3": 41}}, "floors.3", "9-40"),
        ({"floors": {"3": True}}, "floors.3", "relay number"),
    ]
    for doc, field, text in cases:
        try:
            schema.validate(doc, b, "config.json")
        except ConfigError as e:
            assert e.field == field and e.file == "config.json", (doc, e.field)
            assert text in e.message, (doc, e.message)
        else:
            raise AssertionError("accepted %r" % (doc,))
    try:
        schema.validate({"floors": {"3": 1, "03": 2}}, b, "config.json")
    except ConfigError as e:
        assert e.field in ("floors.3", "floors.03") and "twice" in e.message
    else:
        raise AssertionError("floor given twice accepted")


# --- clock and NTP sync -------------------------------------------------------------------------

def _reset_clock():
    clock.mark_synced("")  # back to the system clock, as at import
    clock._synced_at = 0


def test_clock_set_and_status():
    try:
        clock.set_unix(1800000000)
        assert abs(clock.now() - 1800000000) <= 2 and clock.is_set()
        st = clock.status()
        assert st["set"] and st["source"] == "control" and st["synced_at"] == 1800000000
        clock.set_unix(0)  # the simulator can un-set the clock
        assert clock.now() == 0 and not clock.is_set() and not clock.status()["set"]
        assert clock.ticks_diff(clock.ticks_ms(), clock.ticks_ms()) <= 0
        assert clock.EPOCH_OFFSET in (0, 946684800)
        seen = []
        clock.use_rtc(seen.append)  # a board's RTC: set it instead of keeping an offset
        clock.set_unix(1800000000 + 86400 * 3 + 3723)  # 2027-01-18 09:02:03 UTC, a Monday
        assert seen == [(2027, 1, 18, 0, 9, 2, 3, 0)] and clock._offset == 0
    finally:
        clock.use_rtc(None)
        _reset_clock()


class FakeNtp:
    def __init__(self, fail=0):
        self.fail = fail
        self.calls = 0
        self.host = None
        self.timeout = None

    def settime(self):
        self.calls += 1
        if self.calls <= self.fail:
            raise OSError(110)


def test_timesync_backoff_and_success():
    up = [False]
    seen = []
    ntp = FakeNtp(fail=9)
    ts = timesync.TimeSync("ntp.example", 3600, ntp, lambda: up[0], lambda a, b: seen.append((a, b)))
    try:
        assert ts.step() == timesync.NETWORK_POLL_S and ntp.calls == 0 and ts.failures == 0
        up[0] = True
        waits = [ts.step() for _ in range(9)]
        assert waits == [5, 10, 20, 40, 80, 160, 320, 600, 600] and ts.failures == 9
        assert "OSError" in ts.last_error and ntp.host == "ntp.example" and ntp.timeout == 1
        assert ts.step() == 3600 and ts.syncs == 1 and ts.retry_s == 0 and ts.last_error == ""
        assert clock.status()["source"] == "ntp" and len(seen) == 1
        ntp.fail = 99
        assert ts.step() == 5  # backoff starts over after a success
        assert ts.state()["failures"] == 10
    finally:
        _reset_clock()


def test_timesync_task_loop():
    ntp = FakeNtp(fail=2)
    ts = timesync.TimeSync("pool", 120, ntp)
    slept = []

    class Stop(Exception):
        pass

    async def fake_sleep(ms):
        slept.append(ms)
        if len(slept) == 4:
            raise Stop()

    ts._sleep_ms = fake_sleep
    try:
        asyncio.run(ts.run())
    except Stop:
        pass
    finally:
        _reset_clock()
    assert slept == [5000, 10000, 120000, 120000] and ntp.calls == 4

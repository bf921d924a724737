"""Schedules: compile errors name the field; weekly ranges, ranges past midnight, date ranges,
holidays, leap day, and DST change days evaluated on the local wall clock."""
import tzrule
from configerror import ConfigError
from doorapp.access import schedule

CET = tzrule.parse("CET-1CEST,M3.5.0,M10.5.0/3")


def lt(y, m, d, hh=0, mm=0):
    """A local time tuple as tzrule gives it (weekday from the date)."""
    days = tzrule.days_from_civil(y, m, d)
    return (y, m, d, hh, mm, 0, tzrule.weekday(days), 0, False)


def one(weekly=None, dates=None, holidays=None, sid=2, name="S"):
    d = {"id": sid, "name": name}
    if weekly is not None:
        d["weekly"] = [{"days": w[0], "from": w[1], "to": w[2]} for w in weekly]
    if dates is not None:
        d["dates"] = dates
    if holidays is not None:
        d["holidays"] = holidays
    return schedule.compile_schedule(d, "users.json", "schedules[0]")


def field_of(fn, *args):
    try:
        fn(*args)
    except ConfigError as e:
        assert e.file == "users.json"
        return e.field
    raise AssertionError("no ConfigError")


def test_builtins_and_resolve():
    ss = schedule.compile_all([{"id": 2, "name": "Office hours", "weekly": [{"days": "mon", "from": "08:00", "to": "09:00"}]}])
    assert schedule.admits(ss.get(0), lt(2026, 1, 1)) and not schedule.admits(ss.get(1), lt(2026, 1, 1))
    assert not schedule.admits(None, lt(2026, 1, 1)) and ss.get(7) is None
    assert ss.resolve("office HOURS") == 2 and ss.resolve("Always") == 0 and ss.resolve("never") == 1
    assert ss.resolve(2) == 2 and ss.resolve("2") == 2 and ss.resolve("x") is None and ss.resolve(9) is None
    assert ss.ids() == [0, 1, 2] and len(ss) == 3
    assert len(schedule.compile_all(None)) == 2


def test_weekly_range_bounds():
    s = one([("mon-fri", "08:00", "18:00")])
    mon = (2026, 11, 23)
    assert not schedule.admits(s, lt(*mon, hh=7, mm=59))
    assert schedule.admits(s, lt(*mon, hh=8, mm=0)) and schedule.admits(s, lt(*mon, hh=17, mm=59))
    assert not schedule.admits(s, lt(*mon, hh=18, mm=0))  # `to` is exclusive
    assert schedule.admits(s, lt(2026, 11, 27, 12)) and not schedule.admits(s, lt(2026, 11, 28, 12))  # Fri / Sat
    s = one([("mon,wed", "00:00", "24:00")])
    assert schedule.admits(s, lt(2026, 11, 25, 23, 59)) and not schedule.admits(s, lt(2026, 11, 24, 12))
    s = one([("fri-mon", "10:00", "11:00")])  # wraps over the weekend
    got = [schedule.admits(s, lt(2026, 11, 23 + i, 10, 30)) for i in range(7)]
    assert got == [True, False, False, False, True, True, True]
    s = one([])  # no weekly ranges: all day (within dates, minus holidays)
    assert schedule.admits(s, lt(2026, 11, 28, 3, 17))


def test_ranges_past_midnight():
    s = one([("sat", "22:00", "02:00")])
    assert s.overnight
    assert not schedule.admits(s, lt(2026, 11, 28, 21, 59))
    assert schedule.admits(s, lt(2026, 11, 28, 22, 0)) and schedule.admits(s, lt(2026, 11, 28, 23, 59))
    assert schedule.admits(s, lt(2026, 11, 29, 0, 0)) and schedule.admits(s, lt(2026, 11, 29, 1, 59))
    assert not schedule.admits(s, lt(2026, 11, 29, 2, 0))
    assert not schedule.admits(s, lt(2026, 11, 28, 1, 0))  # Friday night was not in the range
    s = one([("sun", "22:00", "06:00")])  # Sunday night runs into Monday: the week wraps
    assert schedule.admits(s, lt(2026, 11, 30, 5, 59)) and not schedule.admits(s, lt(2026, 11, 30, 6, 0))
    s = one([("wed", "07:30", "07:30")])  # from == to: 24 hours from Wednesday 07:30
    assert not schedule.admits(s, lt(2026, 11, 25, 7, 29)) and schedule.admits(s, lt(2026, 11, 25, 7, 30))
    assert schedule.admits(s, lt(2026, 11, 26, 7, 29)) and not schedule.admits(s, lt(2026, 11, 26, 7, 30))
    s = one([("mon-sun", "00:00", "00:00")])
    assert schedule.admits(s, lt(2026, 1, 1, 0, 0)) and schedule.admits(s, lt(2026, 12, 31, 23, 59))
    # over new year and over a month end
    s = one([("thu", "20:00", "04:00")])
    assert schedule.admits(s, lt(2027, 1, 1, 3, 0))  # Thu 2026-12-31 night
    assert schedule.admits(s, lt(2026, 5, 1, 3, 0))  # Thu 2026-04-30 night


def test_date_ranges_and_holidays():
    s = one([("mon-sun", "09:00", "17:00")], dates=[{"from": "2026-06-01", "to": "2026-06-30"}, {"from": "2026-09-01"}],
            holidays=["2026-06-15", "2026-12-25", "2026-06-15"])
    assert not schedule.admits(s, lt(2026, 5, 31, 12)) and schedule.admits(s, lt(2026, 6, 1, 12))
    assert schedule.admits(s, lt(2026, 6, 30, 16, 59)) and not schedule.admits(s, lt(2026, 7, 1, 12))
    assert not schedule.admits(s, lt(2026, 6, 15, 12)) and schedule.admits(s, lt(2026, 6, 16, 12))
    assert schedule.admits(s, lt(2030, 1, 2, 12)) and not schedule.admits(s, lt(2026, 12, 25, 12))
    assert list(s.holidays) == [20260615, 20261225]
    s = one(dates=[{"to": "2026-01-31"}])
    assert schedule.admits(s, lt(1999, 1, 1, 1)) and not schedule.admits(s, lt(2026, 2, 1))


def test_overnight_part_belongs_to_the_start_day():
    # Friday-night shift; Friday 2026-12-25 is a holiday, Saturday 2026-12-26 is one too
    s = one([("fri", "22:00", "06:00")], dates=[{"from": "2026-12-01", "to": "2026-12-18"}],
            holidays=["2026-12-11", "2026-12-12"])
    assert schedule.admits(s, lt(2026, 12, 5, 5, 0))  # Fri Dec 4 night, ending on Sat Dec 5
    assert not schedule.admits(s, lt(2026, 12, 11, 23, 0))  # Fri Dec 11 is a holiday ...
    assert not schedule.admits(s, lt(2026, 12, 12, 1, 0))  # ... so its night is off
    assert schedule.admits(s, lt(2026, 12, 19, 5, 0))  # Fri Dec 18 (last date) night ends after the range
    assert not schedule.admits(s, lt(2026, 12, 26, 1, 0))  # Fri Dec 25 is outside the dates
    s = one([("sat", "22:00", "02:00")], holidays=["2026-12-13"])
    assert schedule.admits(s, lt(2026, 12, 13, 1, 0))  # a holiday Sunday: Saturday's night still ends


def test_leap_day():
    # weekly: Tuesday 2028-02-29 is an ordinary Tuesday
    s = one([("tue", "08:00", "09:00")])
    assert schedule.admits(s, lt(2028, 2, 29, 8, 30)) and not schedule.admits(s, lt(2028, 3, 1, 8, 30))
    # date ranges include or exclude Feb 29; a holiday on Feb 29
    s = one(dates=[{"from": "2028-02-28", "to": "2028-03-01"}])
    assert schedule.admits(s, lt(2028, 2, 29, 12))
    s = one(dates=[{"to": "2028-02-28"}])
    assert not schedule.admits(s, lt(2028, 2, 29, 0, 0))
    s = one(dates=[{"from": "2028-02-29", "to": "2028-02-29"}], holidays=["2024-02-29"])
    assert schedule.admits(s, lt(2028, 2, 29, 23, 59)) and not schedule.admits(s, lt(2028, 3, 1))
    # a night starting on Feb 28 ends on Feb 29 (leap year) or Mar 1; the day before Mar 1
    s = one([("mon,tue", "23:00", "01:00")], holidays=["2028-02-29"])
    assert schedule.admits(s, lt(2028, 2, 29, 0, 30))  # Mon Feb 28 night
    assert not schedule.admits(s, lt(2028, 3, 1, 0, 30))  # Tue Feb 29 night: a holiday
    s = one([("sun", "23:00", "01:00")])
    assert schedule.admits(s, lt(2027, 3, 1, 0, 30))  # Sun 2027-02-28 night ends on Mon Mar 1
    assert not schedule.admits(s, lt(2028, 3, 1, 0, 30))  # 2028: the night before Mar 1 is Tue Feb 29
    assert schedule._prev_day(2028, 3, 1) == 20280229 and schedule._prev_day(2027, 3, 1) == 20270228
    assert schedule._prev_day(2027, 1, 1) == 20261231 and schedule._prev_day(2026, 5, 1) == 20260430
    assert field_of(one, None, [{"from": "2027-02-29"}]) == "schedules[0].dates[0].from"
    assert field_of(one, None, None, ["2100-02-29"]) == "schedules[0].holidays[0]"


def _admitted_minutes(s, tz, y, m, d):
    """Real minutes of the UTC day window around local date y-m-d that the schedule admits."""
    t0 = tz.local_to_unix(y, m, d, 0, 0)
    n = 0
    for i in range(26 * 60):
        t = t0 + i * 60
        lt_ = tz.utc_to_local(t)
        if lt_[2] != d:
            break
        if schedule.admits(s, lt_):
            n += 1
    return n


def test_dst_change_days_on_the_wall_clock():
    early = one([("sun", "02:00", "03:00")])
    span = one([("sun", "01:00", "04:00")])
    # an ordinary Sunday: 60 and 180 minutes
    assert _admitted_minutes(early, CET, 2026, 3, 22) == 60 and _admitted_minutes(span, CET, 2026, 3, 22) == 180
    # spring forward (2026-03-29): 02:00-03:00 does not exist, 01:00-04:00 lasts two real hours
    assert _admitted_minutes(early, CET, 2026, 3, 29) == 0
    assert _admitted_minutes(span, CET, 2026, 3, 29) == 120
    # fall back (2026-10-25): 02:00-03:00 happens twice, 01:00-04:00 lasts four real hours
    assert _admitted_minutes(early, CET, 2026, 10, 25) == 120
    assert _admitted_minutes(span, CET, 2026, 10, 25) == 240
    # the day itself is still 23 / 25 hours long for an all-day schedule
    allday = one([("sun", "00:00", "24:00")])
    assert _admitted_minutes(allday, CET, 2026, 3, 29) == 23 * 60
    assert _admitted_minutes(allday, CET, 2026, 10, 25) == 25 * 60


def test_compile_errors_name_the_field():
    cases = [
        ({"id": 1, "name": "x"}, "schedules[0].id"),
        ({"id": 256, "name": "x"}, "schedules[0].id"),
        ({"id": True, "name": "x"}, "schedules[0].id"),
        ({"id": 2, "name": ""}, "schedules[0].name"),
        ({"id": 2, "name": "x", "color": 1}, "schedules[0].color"),
        ({"id": 2, "name": "x", "weekly": {}}, "schedules[0].weekly"),
        ({"id": 2, "name": "x", "weekly": [{"days": "mon-fry", "from": "08:00", "to": "09:00"}]}, "schedules[0].weekly[0].days"),
        ({"id": 2, "name": "x", "weekly": [{"days": "mon-tue-wed", "from": "08:00", "to": "09:00"}]}, "schedules[0].weekly[0].days"),
        ({"id": 2, "name": "x", "weekly": [{"days": "", "from": "08:00", "to": "09:00"}]}, "schedules[0].weekly[0].days"),
        ({"id": 2, "name": "x", "weekly": [{"days": "mon", "from": "8:00", "to": "09:00"}]}, "schedules[0].weekly[0].from"),
        ({"id": 2, "name": "x", "weekly": [{"days": "mon", "from": "24:00", "to": "09:00"}]}, "schedules[0].weekly[0].from"),
        ({"id": 2, "name": "x", "weekly": [{"days": "mon", "from": "08:00", "to": "24:01"}]}, "schedules[0].weekly[0].to"),
        ({"id": 2, "name": "x", "weekly": [{"days": "mon", "from": "08:60", "to": "09:00"}]}, "schedules[0].weekly[0].from"),
        ({"id": 2, "name": "x", "weekly": [{"days": "mon", "from": "08:00"}]}, "schedules[0].weekly[0].to"),
        ({"id": 2, "name": "x", "weekly": [{"days": "mon", "from": "08:00", "to": "09:00", "x": 1}]}, "schedules[0].weekly[0].x"),
        ({"id": 2, "name": "x", "dates": [{"from": "2026-13-01"}]}, "schedules[0].dates[0].from"),
        ({"id": 2, "name": "x", "dates": [{"from": "2026-02-01", "to": "2026-01-31"}]}, "schedules[0].dates[0]"),
        ({"id": 2, "name": "x", "dates": [{"until": "2026-01-31"}]}, "schedules[0].dates[0].until"),
        ({"id": 2, "name": "x", "holidays": ["26-12-25"]}, "schedules[0].holidays[0]"),
        ({"id": 2, "name": "x", "holidays": "2026-12-25"}, "schedules[0].holidays"),
        ("x", "schedules[0]"),
    ]
    for doc, field in cases:
        got = field_of(schedule.compile_schedule, doc, "users.json", "schedules[0]")
        assert got == field, (doc, got)
    dup = [{"id": 2, "name": "A"}, {"id": 2, "name": "B"}]
    assert field_of(schedule.compile_all, dup, "users.json") == "schedules[1].id"
    dup = [{"id": 2, "name": "A"}, {"id": 3, "name": "a"}]
    assert field_of(schedule.compile_all, dup, "users.json") == "schedules[1].name"
    assert field_of(schedule.compile_all, [{"id": 3, "name": "Always"}], "users.json") == "schedules[0].name"
    assert field_of(schedule.compile_all, {}, "users.json") == "schedules"


def test_compact_form():
    s = one([("mon-fri", "08:00", "18:00"), ("sat", "22:00", "02:00")], dates=[{"from": "2026-01-01", "to": "2026-12-31"}],
            holidays=["2026-12-26", "2026-12-25"])
    assert list(s.ranges) == [0x1F, 480, 1080, 0x20, 1320, 1560]
    assert list(s.dates) == [20260101, 20261231] and list(s.holidays) == [20261225, 20261226]


def test_normalised_form_from_the_user_table():
    doc = {"id": 2, "name": "Office hours",
           "weekly": [{"days": "mon-fri", "from": "08:00", "to": "18:00"}, {"days": "sat", "from": "22:00", "to": "02:00"}],
           "dates": [{"from": "2026-01-01", "to": "2026-12-31"}], "holidays": ["2026-12-25"]}
    norm = {"id": 2, "name": "Office hours", "weekly": [[0x1F, 480, 1080], [0x20, 1320, 120]],
            "dates": [[20260101, 20261231]], "holidays": [20261225]}
    a = schedule.compile_schedule(doc)
    b = schedule.compile_schedule(norm)
    assert list(a.ranges) == list(b.ranges) and list(a.dates) == list(b.dates) and list(a.holidays) == list(b.holidays)
    assert b.overnight and schedule.admits(b, lt(2026, 11, 29, 1, 0))
    bad = [({"weekly": [[0, 0, 60]]}, "schedules[0].weekly[0]"), ({"weekly": [[1, 1440, 60]]}, "schedules[0].weekly[0]"),
           ({"weekly": [[1, 0]]}, "schedules[0].weekly[0]"), ({"dates": [[20270229, 20270301]]}, "schedules[0].dates[0][0]"),
           ({"holidays": [20261232]}, "schedules[0].holidays[0]")]
    for extra, field in bad:
        d = {"id": 2, "name": "x"}
        d.update(extra)
        assert field_of(schedule.compile_schedule, d, "users.json", "schedules[0]") == field, extra


SET = [{"id": 2, "name": "Office", "weekly": [{"days": "mon-fri", "from": "08:00", "to": "18:00"},
                                              {"days": "sat", "from": "09:00", "to": "24:00"}],
        "holidays": ["2026-12-25", "2026-12-24"]},
       {"id": 7, "name": "Night shift", "weekly": [{"days": "fri-mon", "from": "22:00", "to": "06:00"},
                                                    {"days": "wed", "from": "00:00", "to": "00:00"}],
        "dates": [{"from": "2026-12-01", "to": "2026-12-27"}]},
       {"id": 9, "name": "Weekdays", "weekly": [{"days": "mon,tue,wed,fri", "from": "00:00", "to": "24:00"}]}]


def _host_check(defs):
    from usertable import validate, validate_list

    return validate_list.schedules(defs, validate.Ctx(collect=False, file="schedules", ints_ok=True))


def test_the_table_checks_and_the_engine_agree():
    """The schedules PUT /api/v1/schedules takes: checked by the table's validator (which makes
    the normalised form the table stores), given back in the document's form (schedule_doc) and
    taken again unchanged, and decided alike by the engine from either form."""
    from usertable.validate_list import schedule_doc

    norm = _host_check(SET)
    back = [schedule_doc(s) for s in norm]
    assert back[0]["weekly"][0] == {"days": "mon-fri", "from": "08:00", "to": "18:00"}
    assert back[1]["weekly"][0]["days"] == "mon,fri-sun" and back[2]["weekly"][0]["days"] == "mon-wed,fri"
    assert back[0]["holidays"] == ["2026-12-25", "2026-12-24"] and back[1]["dates"] == [{"from": "2026-12-01", "to": "2026-12-27"}]
    assert _host_check(back) == norm
    a = schedule.compile_all(SET)
    b = schedule.compile_all(norm)
    c = schedule.compile_all(back)
    checked = 0
    for day in range(20, 32):  # 2026-12-20 .. 31: a date range's end, holidays, weekends
        for hh in range(0, 24):
            for mm in (0, 59):
                t = lt(2026, 12, day, hh, mm)
                for sid in (2, 7, 9):
                    want = schedule.admits(a.get(sid), t)
                    assert schedule.admits(b.get(sid), t) == want == schedule.admits(c.get(sid), t), (sid, t)
                    checked += want
    assert checked > 100


def _field(fn, *args):
    try:
        fn(*args)
    except ConfigError as e:
        assert e.file == "schedules"
        return e.field
    raise AssertionError("no ConfigError")


def test_the_table_checks_and_the_engine_refuse_alike():
    """A mistake is refused by both, naming the same field."""
    bad = [
        ({"weekly": [{"days": "mon", "from": "25:00", "to": "06:00"}]}, "schedules[1].weekly[0].from"),
        ({"weekly": [{"days": "someday", "from": "08:00", "to": "09:00"}]}, "schedules[1].weekly[0].days"),
        ({"weekly": [{"days": "mon", "from": "08:00", "to": "24:01"}]}, "schedules[1].weekly[0].to"),
        ({"id": 1}, "schedules[1].id"),
        ({"id": 256}, "schedules[1].id"),
        ({"id": 2}, "schedules[1].id"),
        ({"name": ""}, "schedules[1].name"),
        ({"holidays": ["2026-02-29"]}, "schedules[1].holidays[0]"),
        ({"dates": [{"from": "2026-05-01", "to": "2026-04-30"}]}, "schedules[1].dates[0]"),
        ({"colour": "red"}, "schedules[1].colour"),
    ]
    for extra, field in bad:
        d = {"id": 3, "name": "Second"}
        d.update(extra)
        defs = [SET[0], d]
        assert _field(_host_check, defs) == field, extra
        assert _field(schedule.compile_all, defs, "schedules") == field, extra

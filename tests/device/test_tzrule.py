"""POSIX TZ rules: parsing (errors name the problem), DST transitions north and south, Jn/n day
forms, extended transition times, DST change days in both directions, leap days."""
import tzrule

CET = "CET-1CEST,M3.5.0,M10.5.0/3"
NYC = "EST5EDT,M3.2.0,M11.1.0"
SYD = "AEST-10AEDT,M10.1.0,M4.1.0/3"


def utc(y, m, d, hh=0, mm=0, ss=0):
    return tzrule.days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss


def err(text):
    try:
        tzrule.parse(text)
    except tzrule.TzError as e:
        assert isinstance(e, ValueError)
        return str(e)
    raise AssertionError("accepted %r" % text)


def test_calendar_round_trip_and_weekdays():
    assert tzrule.days_from_civil(1970, 1, 1) == 0
    assert tzrule.days_from_civil(2000, 1, 1) == 10957
    assert tzrule.civil_from_days(-1) == (1969, 12, 31)
    assert tzrule.weekday(0) == 3  # Thursday
    assert tzrule.weekday(tzrule.days_from_civil(2028, 2, 29)) == 1  # a Tuesday
    prev = tzrule.days_from_civil(1899, 12, 31)
    for z in range(prev + 1, tzrule.days_from_civil(2101, 1, 1), 13):
        y, m, d = tzrule.civil_from_days(z)
        assert tzrule.days_from_civil(y, m, d) == z
        assert 1 <= d <= tzrule.month_days(y, m)
    assert tzrule.is_leap(2000) and tzrule.is_leap(2028) and not tzrule.is_leap(2100) and not tzrule.is_leap(2027)
    assert tzrule.month_days(2028, 2) == 29 and tzrule.month_days(2027, 2) == 28


def test_utc_and_fixed_offsets():
    r = tzrule.parse("UTC0")
    assert not r.has_dst() and r.transitions(2026) is None
    assert r.utc_to_local(0) == (1970, 1, 1, 0, 0, 0, 3, 1, False)
    assert r.local_to_unix(2026, 7, 1, 12, 0) == utc(2026, 7, 1, 12)
    r = tzrule.parse("<+03>-3")
    assert r.std_name == "+03" and r.offset(0) == 3 * 3600
    assert r.utc_to_local(utc(2026, 12, 31, 22, 30))[:6] == (2027, 1, 1, 1, 30, 0)
    r = tzrule.parse("<-0330>3:30")
    assert r.offset(utc(2026, 1, 1)) == -(3 * 3600 + 1800)
    assert tzrule.parse("IST-5:30").offset(0) == 5 * 3600 + 1800
    assert tzrule.parse("XYZ+0:00:30").offset(0) == -30


def test_cet_transitions_2026():
    r = tzrule.parse(CET)
    start, end = r.transitions(2026)
    assert start == utc(2026, 3, 29, 1) and end == utc(2026, 10, 25, 1)
    assert r.utc_to_local(start - 1) == (2026, 3, 29, 1, 59, 59, 6, 88, False)
    assert r.utc_to_local(start) == (2026, 3, 29, 3, 0, 0, 6, 88, True)
    assert r.utc_to_local(end - 1)[3:6] == (2, 59, 59) and r.is_dst(end - 1)
    assert r.utc_to_local(end)[3:6] == (2, 0, 0) and not r.is_dst(end)
    # cache: jump backwards and forwards across years
    for t, off in ((utc(2026, 7, 1), 7200), (utc(2025, 1, 1), 3600), (utc(2037, 7, 1), 7200), (utc(2000, 3, 26, 1), 7200)):
        assert r.offset(t) == off, t


def test_new_york_and_sydney():
    r = tzrule.parse(NYC)
    assert r.transitions(2026) == (utc(2026, 3, 8, 7), utc(2026, 11, 1, 6))
    assert r.utc_to_local(utc(2026, 7, 4, 16))[3] == 12 and r.is_dst(utc(2026, 7, 4))
    assert r.utc_to_local(utc(2026, 1, 1, 4, 59))[:5] == (2025, 12, 31, 23, 59)
    s = tzrule.parse(SYD)  # southern hemisphere: DST over new year, end before start in a year
    end, start = s.transitions(2026)[1], s.transitions(2026)[0]
    assert end == utc(2026, 4, 4, 16) and start == utc(2026, 10, 3, 16) and end < start
    assert s.is_dst(utc(2026, 1, 15)) and not s.is_dst(utc(2026, 7, 15)) and s.is_dst(utc(2026, 12, 31, 23))
    assert s.utc_to_local(end - 1)[2:6] == (5, 2, 59, 59) and s.utc_to_local(end)[2:6] == (5, 2, 0, 0)
    assert s.utc_to_local(start)[2:6] == (4, 3, 0, 0)
    assert s.utc_to_local(utc(2026, 12, 31, 13))[:4] == (2027, 1, 1, 0)


def test_julian_day_forms_and_leap_years():
    # Jn never counts Feb 29: J60 is March 1 in every year
    r = tzrule.parse("AAA3BBB,J60/0,J300/0")
    assert r.transitions(2028)[0] == utc(2028, 3, 1, 3) and r.transitions(2027)[0] == utc(2027, 3, 1, 3)
    # n counts Feb 29 (zero-based): day 59 is Feb 29 in a leap year, March 1 otherwise
    r = tzrule.parse("AAA3BBB,59/0,299/0")
    assert r.transitions(2028)[0] == utc(2028, 2, 29, 3) and r.transitions(2027)[0] == utc(2027, 3, 1, 3)
    # M2.5.2: the last Tuesday of February 2028 is the 29th
    r = tzrule.parse("AAA0BBB,M2.5.2/12,M11.1.0")
    assert r.transitions(2028)[0] == utc(2028, 2, 29, 12)
    lt = r.utc_to_local(utc(2028, 2, 29, 12))
    assert lt == (2028, 2, 29, 13, 0, 0, 1, 60, True)


def test_extended_times_and_all_year_dst():
    # America/Nuuk since 2023: transitions at -2:00 and -1:00 local (RFC 8536 extension)
    r = tzrule.parse("<-02>2<-01>,M3.5.0/-1,M10.5.0/0")
    start, end = r.transitions(2026)
    assert start == utc(2026, 3, 29, 1) and end == utc(2026, 10, 25, 1)
    # all-year daylight time (RFC 8536 example)
    r = tzrule.parse("EST5EDT,0/0,J365/25")
    for t in (utc(2026, 1, 1, 0), utc(2026, 1, 1, 4, 59), utc(2026, 6, 1), utc(2026, 12, 31, 23, 59), utc(2027, 1, 1, 5)):
        assert r.is_dst(t) and r.offset(t) == -4 * 3600, t
    r = tzrule.parse("XXX3YYY,M3.5.0/167,M10.5.0/-167")
    assert r.transitions(2026)[0] == utc(2026, 3, 29) + 167 * 3600 + 3 * 3600


def test_gap_and_repeated_hour():
    r = tzrule.parse(CET)
    # 02:30 on 2026-03-29 does not exist: read with CET (before the change) -> 03:30 CEST
    t = r.local_to_unix(2026, 3, 29, 2, 30)
    assert t == utc(2026, 3, 29, 1, 30) and r.utc_to_local(t)[3:5] == (3, 30)
    # 02:30 on 2026-10-25 happens twice: the earlier instant (still CEST)
    t = r.local_to_unix(2026, 10, 25, 2, 30)
    assert t == utc(2026, 10, 25, 0, 30) and r.utc_to_local(t)[8] is True
    assert r.utc_to_local(t + 3600)[3:5] == (2, 30) and r.utc_to_local(t + 3600)[8] is False
    # ordinary times round-trip
    for args in ((2026, 3, 29, 1, 59, 59), (2026, 3, 29, 3, 0, 0), (2026, 10, 25, 3, 0, 0), (2028, 2, 29, 12, 0, 0)):
        assert r.utc_to_local(r.local_to_unix(*args))[:6] == args
    s = tzrule.parse(SYD)
    assert s.local_to_unix(2026, 10, 4, 2, 30) == utc(2026, 10, 3, 16, 30)  # gap -> 03:30 AEDT
    assert s.local_to_unix(2026, 4, 5, 2, 30) == utc(2026, 4, 4, 15, 30)  # twice -> the AEDT one


def test_parse_errors_name_the_problem():
    assert "empty" in err("")
    assert "UTC offset" in err("CET")
    assert "needs start and end rules" in err("CET-1CEST")
    assert "month 13 out of range 1-12" in err("CET-1CEST,M13.5.0,M10.5.0/3")
    assert "week 6 out of range 1-5" in err("CET-1CEST,M3.6.0,M10.5.0/3")
    assert "weekday (0 = Sunday) 7 out of range" in err("CET-1CEST,M3.5.7,M10.5.0/3")
    assert "Julian day 0 out of range 1-365" in err("AAA3BBB,J0,J300")
    assert "day of year 366 out of range" in err("AAA3BBB,366,300")
    assert "end rule" in err("EST5EDT,M3.2.0")
    assert "unexpected 'x'" in err("EST5EDT,M3.2.0,M11.1.0x")
    assert "Europe/Berlin are not supported" in err("Europe/Berlin")
    assert "zone files" in err(":Europe/Berlin")
    assert "not closed" in err("<+03-3")
    assert "at least 3" in err("<+3>-3")
    assert "at least 3 letters" in err("E5")
    assert "hours 25 out of range 0-24" in err("CET25")
    assert "minutes 60 out of range" in err("CET1:60")
    assert "time hours 168 out of range 0-167" in err("AAA3BBB,M3.5.0/168,M10.5.0")
    assert "daylight time name" in err("CET-1,M3.5.0,M10.5.0")
    assert "must be text" in err(5)
    msg = err("CET-1CEST,M3.5.0,M10.5.0/3:99")
    assert "'CET-1CEST,M3.5.0,M10.5.0/3:99'" in msg and "position" in msg

"""lib/tzrule.py against independent references (CPython only, hypothesis).

- Python's zoneinfo (the system tzdata) for Europe/Berlin, America/New_York and Australia/Sydney
  at random instants 2000-2037 and around every DST change, each with the POSIX rule in force at
  the time. Left out: New York before 2007 uses its pre-2007 rule (first Sunday of April to last
  Sunday of October); Sydney's 2000 Olympics season (from Aug 27 2000), the 2006 Commonwealth
  Games season (to Apr 2 2006) and the 2007/08 season that began under the old rule and ended
  under the new one are not expressible as one POSIX rule and are skipped.
- local_to_unix against zoneinfo with fold=0 (the same choice for skipped and repeated times).
- glibc's own POSIX TZ implementation (TZ=... + time.tzset) for random rules: any offsets,
  M/J/n day forms, transition times from -5 h to 26 h, northern and southern hemisphere.
- the calendar arithmetic against datetime.date.
"""
import datetime
import os
import time
import zoneinfo

from hypothesis import given, settings
from hypothesis import strategies as st

import tzrule

UTC = datetime.timezone.utc


def ts(y, m, d):
    return int(datetime.datetime(y, m, d, tzinfo=UTC).timestamp())


# (zone, POSIX rule, [from, until) UTC instants where the rule is the zone's rule)
ERAS = [
    ("Europe/Berlin", "CET-1CEST,M3.5.0,M10.5.0/3", ts(2000, 1, 1), ts(2038, 1, 1)),
    ("America/New_York", "EST5EDT,M4.1.0,M10.5.0", ts(2000, 1, 1), ts(2007, 1, 1)),
    ("America/New_York", "EST5EDT,M3.2.0,M11.1.0", ts(2007, 1, 1), ts(2038, 1, 1)),
    ("Australia/Sydney", "AEST-10AEDT,M10.5.0,M3.5.0/3", ts(2000, 1, 1), ts(2000, 6, 1)),
    ("Australia/Sydney", "AEST-10AEDT,M10.5.0,M3.5.0/3", ts(2001, 1, 1), ts(2006, 1, 1)),
    ("Australia/Sydney", "AEST-10AEDT,M10.5.0,M3.5.0/3", ts(2006, 6, 1), ts(2007, 12, 1)),
    ("Australia/Sydney", "AEST-10AEDT,M10.1.0,M4.1.0/3", ts(2008, 6, 1), ts(2038, 1, 1)),
]
ZONES = {}
RULES = {}


def zone(name):
    if name not in ZONES:
        ZONES[name] = zoneinfo.ZoneInfo(name)
    return ZONES[name]


def rule(text):
    if text not in RULES:
        RULES[text] = tzrule.parse(text)
    return RULES[text]


def expected(t, z):
    dt = datetime.datetime.fromtimestamp(t, z)
    return (dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.weekday(),
            dt.timetuple().tm_yday, bool(dt.dst()))


eras = st.sampled_from(ERAS)


@settings(max_examples=600, deadline=None)
@given(eras, st.floats(0, 1, exclude_max=True))
def test_utc_to_local_matches_zoneinfo(era, frac):
    name, text, a, b = era
    t = a + int((b - a) * frac)
    assert rule(text).utc_to_local(t) == expected(t, zone(name))


@settings(max_examples=600, deadline=None)
@given(eras, st.integers(2000, 2037), st.booleans(), st.integers(-7200, 7200))
def test_utc_to_local_around_transitions(era, year, start, delta):
    name, text, a, b = era
    r = rule(text)
    t = r.transitions(year)[0 if start else 1] + delta
    if a <= t < b:
        assert r.utc_to_local(t) == expected(t, zone(name))


@settings(max_examples=600, deadline=None)
@given(eras, st.floats(0, 1, exclude_max=True), st.integers(-2 * 3600, 2 * 3600))
def test_local_to_unix_matches_zoneinfo_fold0(era, frac, jitter):
    name, text, a, b = era
    r = rule(text)
    # a local wall-clock time near a transition half the time, anywhere otherwise
    t = a + int((b - a) * frac)
    if jitter % 2:
        y = r.utc_to_local(t)[0]
        t = r.transitions(y)[jitter % 4 // 2] + jitter
    if not a + 86400 <= t < b - 86400:
        return
    lt = r.utc_to_local(t)
    local = datetime.datetime(*lt[:6], tzinfo=zone(name))  # fold=0
    want = int(local.timestamp())
    got = r.local_to_unix(*lt[:6])
    assert got == want, (lt, got, want)
    # round trip: the same instant, or its first occurrence in a repeated hour
    assert got == t or (got < t and r.utc_to_local(got)[:6] == lt[:6])


@settings(max_examples=300, deadline=None)
@given(st.integers(-719162, 2900000))  # years 1..9909
def test_calendar_matches_datetime(z):
    d = datetime.date(1970, 1, 1) + datetime.timedelta(days=z)
    assert tzrule.civil_from_days(z) == (d.year, d.month, d.day)
    assert tzrule.days_from_civil(d.year, d.month, d.day) == z
    assert tzrule.weekday(z) == d.weekday()


def _hms(s):
    sign = "-" if s < 0 else ""
    s = abs(s)
    return "%s%d:%02d:%02d" % (sign, s // 3600, s // 60 % 60, s % 60)


def _date(kind, lo_month, hi_month, draw):
    if kind == "M":
        return "M%d.%d.%d" % (draw(st.integers(lo_month, hi_month)), draw(st.integers(1, 5)), draw(st.integers(0, 6)))
    lo = (lo_month - 1) * 31
    hi = hi_month * 30
    if kind == "J":
        return "J%d" % draw(st.integers(lo + 1, hi))
    return "%d" % draw(st.integers(lo, hi))


@st.composite
def posix_rules(draw):
    """Random rules whose DST season has the same orientation every year (start in Feb-May and
    end in Aug-Nov, or the other way round for the southern hemisphere)."""
    std = draw(st.integers(-14 * 4, 12 * 4)) * 900
    dst = std - draw(st.sampled_from([3600, 1800, 7200, -3600]))
    north = draw(st.booleans())
    a, b = ((2, 5), (8, 11)) if north else ((8, 11), (2, 5))
    start = _date(draw(st.sampled_from("MJn")), a[0], a[1], draw)
    end = _date(draw(st.sampled_from("MJn")), b[0], b[1], draw)
    t1 = draw(st.integers(-5 * 3600, 26 * 3600))
    t2 = draw(st.integers(-5 * 3600, 26 * 3600))
    names = draw(st.sampled_from([("AAA", "BBB"), ("<+0530>", "<-07>")]))
    return "%s%s%s%s,%s/%s,%s/%s" % (names[0], _hms(std), names[1], _hms(dst), start, _hms(t1), end, _hms(t2))


@settings(max_examples=300, deadline=None)
@given(posix_rules(), st.lists(st.integers(946684800, 2145916799), min_size=20, max_size=20))
def test_random_rules_match_glibc(text, instants):
    r = tzrule.parse(text)
    old = os.environ.get("TZ")
    os.environ["TZ"] = text
    time.tzset()
    try:
        probes = list(instants)
        for y in (2001, 2024, 2028):  # and right at the transitions
            s, e = r.transitions(y)
            probes += [s - 1, s, e - 1, e]
        for t in probes:
            lt = time.localtime(t)
            want = tuple(lt[:8]) + (bool(lt.tm_isdst),)
            assert r.utc_to_local(t) == want, (text, t)
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


@settings(max_examples=300, deadline=None)
@given(posix_rules(), st.integers(946684800, 2145916799))
def test_random_rules_local_round_trip(text, t):
    r = tzrule.parse(text)
    lt = r.utc_to_local(t)
    assert r.offset(t) in (r.std_off, r.dst_off)
    back = r.local_to_unix(*lt[:6])
    assert back == t or (back < t and r.utc_to_local(back)[:6] == lt[:6])

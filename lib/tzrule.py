"""POSIX TZ rules ("CET-1CEST,M3.5.0,M10.5.0/3"): UTC <-> local time with daylight saving.

Why not a zone database: the device has no room for tzdata; one POSIX rule (the last line of
every tzdata file) describes today's rules of a zone exactly. Why our own calendar arithmetic:
`time.gmtime` counts from 2000 on the ESP32 and from 1970 elsewhere; this module works in unix
seconds only (doorapp/clock.py is the one place that converts the ESP32 epoch).

Grammar (POSIX + RFC 8536): `std offset [dst [offset] ,start[/time],end[/time]]`
  std, dst  3+ letters, or <...> with letters, digits, + and - (`<+03>-3`)
  offset    [+|-]hh[:mm[:ss]], hours 0-24, POSITIVE WEST of Greenwich (EST5 = UTC-5);
            dst defaults to one hour ahead of std
  start/end Mm.w.d (month 1-12, week 1-5 with 5 = last, day 0-6 with 0 = Sunday),
            Jn (1-365, Feb 29 never counted) or n (0-365, Feb 29 counted)
  time      [+|-]hh[:mm[:ss]], hours -167..167 (RFC 8536), default 02:00; the start time is
            in standard time, the end time in daylight time, as POSIX says
A DST name without rules is refused (POSIX leaves the default to the implementation).

Local times that don't exist or happen twice (`local_to_unix`): an ambiguous local time (the
hour repeated when clocks go back) gives the EARLIER instant (still daylight time); a
nonexistent one (skipped when clocks go forward) is read with the offset in force before the
change, so 02:30 on the spring-forward day of CET becomes 03:30 CEST. Both match Python's
zoneinfo with fold=0.
"""
from micropython import const

_DAY = const(86400)
_WEEKDAY_1970 = const(3)  # 1970-01-01 was a Thursday (Monday = 0)
_KIND_M = const(0)
_KIND_J = const(1)
_KIND_N = const(2)
_MDAYS = b"\x1f\x1c\x1f\x1e\x1f\x1e\x1f\x1f\x1e\x1f\x1e\x1f"


class TzError(ValueError):
    """The TZ text is not a POSIX rule; the message names the problem and its position."""


def is_leap(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def month_days(y, m):
    return 29 if m == 2 and is_leap(y) else _MDAYS[m - 1]


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (any year, no tables)."""
    if m <= 2:
        y -= 1
        mp = m + 9
    else:
        mp = m - 3
    era = y // 400
    yoe = y - era * 400
    doe = yoe * 365 + yoe // 4 - yoe // 100 + (153 * mp + 2) // 5 + d - 1
    return era * 146097 + doe - 719468


def civil_from_days(z):
    """(year, month, day) of a day number counted from 1970-01-01."""
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400
    if m <= 2:
        y += 1
    return y, m, d


def weekday(days):
    """Monday = 0 .. Sunday = 6 (as time.localtime) of a day number."""
    return (days + _WEEKDAY_1970) % 7


class _Parser:
    def __init__(self, text):
        self.s = text
        self.i = 0

    def fail(self, problem):
        raise TzError("TZ rule %r: %s at position %d" % (self.s, problem, self.i))

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else ""

    def name(self, what):
        s = self.s
        start = self.i
        if self.peek() == "<":
            end = s.find(">", start)
            if end < 0:
                self.fail("%s name opened with '<' is not closed with '>'" % what)
            body = s[start + 1:end]
            for c in body:
                if not (c.isalpha() or c.isdigit() or c in "+-"):
                    self.fail("%s name <%s> may hold only letters, digits, + and -" % (what, body))
            if len(body) < 3:
                self.fail("%s name <%s> needs at least 3 characters" % (what, body))
            self.i = end + 1
            return body
        while self.i < len(s) and s[self.i].isalpha():
            self.i += 1
        body = s[start:self.i]
        if len(body) < 3:
            self.fail("%s name must be at least 3 letters (or <...>), got %r" % (what, body))
        return body

    def number(self, what, lo, hi):
        s = self.s
        start = self.i
        while self.i < len(s) and s[self.i].isdigit():
            self.i += 1
        if self.i == start:
            self.fail("expected a number for %s" % what)
        v = int(s[start:self.i])
        if not lo <= v <= hi:
            self.i = start
            self.fail("%s %d out of range %d-%d" % (what, v, lo, hi))
        return v

    def hms(self, what, max_hours):
        """[+|-]hh[:mm[:ss]] in seconds."""
        sign = 1
        c = self.peek()
        if c == "+" or c == "-":
            sign = -1 if c == "-" else 1
            self.i += 1
        secs = self.number(what + " hours", 0, max_hours) * 3600
        if self.peek() == ":":
            self.i += 1
            secs += self.number(what + " minutes", 0, 59) * 60
            if self.peek() == ":":
                self.i += 1
                secs += self.number(what + " seconds", 0, 59)
        return sign * secs

    def date(self, what):
        c = self.peek()
        if c == "M":
            self.i += 1
            m = self.number(what + " month", 1, 12)
            self.expect(".", what + " week")
            w = self.number(what + " week", 1, 5)
            self.expect(".", what + " weekday")
            d = self.number(what + " weekday (0 = Sunday)", 0, 6)
            rule = (_KIND_M, m, w, d)
        elif c == "J":
            self.i += 1
            rule = (_KIND_J, self.number(what + " Julian day", 1, 365), 0, 0)
        elif c.isdigit():
            rule = (_KIND_N, self.number(what + " day of year", 0, 365), 0, 0)
        else:
            self.fail("expected %s date (Mm.w.d, Jn or n)" % what)
        at = 7200
        if self.peek() == "/":
            self.i += 1
            at = self.hms(what + " time", 167)
        return rule, at

    def expect(self, ch, what):
        if self.peek() != ch:
            self.fail("expected %r before %s" % (ch, what))
        self.i += 1


class TzRule:
    """A parsed POSIX TZ rule. Offsets are kept as seconds EAST of UTC (local = utc + offset)."""

    def __init__(self, text):
        if not isinstance(text, str):
            raise TzError("TZ rule must be text, got %r" % (text,))
        if not text:
            raise TzError("TZ rule is empty")
        if text[0] == ":":
            raise TzError("TZ rule %r: zone files (':name') are not supported, give a POSIX rule" % text)
        if "/" in text and "," not in text:
            raise TzError("TZ rule %r: zone names like Europe/Berlin are not supported, give the zone's "
                          "POSIX rule, e.g. CET-1CEST,M3.5.0,M10.5.0/3" % text)
        p = _Parser(text)
        self.text = text
        self.std_name = p.name("standard time")
        if not p.peek():
            p.fail("expected the UTC offset after the standard time name")
        self.std_off = -p.hms("UTC offset", 24)
        self.dst_name = ""
        self.dst_off = self.std_off
        self._rules = None
        if p.peek():
            if p.peek() == ",":
                p.fail("expected a daylight time name before the rules")
            self.dst_name = p.name("daylight time")
            c = p.peek()
            if c and (c.isdigit() or c in "+-"):
                self.dst_off = -p.hms("daylight UTC offset", 24)
            else:
                self.dst_off = self.std_off + 3600
            if not p.peek():
                p.fail("daylight time %s needs start and end rules, e.g. ',M3.5.0,M10.5.0/3'" % self.dst_name)
            p.expect(",", "the daylight start rule")
            start, start_at = p.date("start")
            p.expect(",", "the daylight end rule")
            end, end_at = p.date("end")
            self._rules = (start, start_at, end, end_at)
        if p.peek():
            p.fail("unexpected %r after the rule" % p.peek())
        # cache: [from, until) UTC interval with a constant offset (changes twice a year)
        self._c_from = 0
        self._c_until = 0
        self._c_off = self.std_off
        self._c_dst = False

    def has_dst(self):
        return self._rules is not None

    def _rule_day(self, y, rule):
        kind, a, b, c = rule
        if kind == _KIND_M:
            first = days_from_civil(y, a, 1)
            day = first + (c - (first + 4) % 7) % 7 + 7 * (b - 1)  # (first + 4) % 7: Sunday = 0
            if day >= first + month_days(y, a):
                day -= 7  # week 5 = the last such weekday of the month
            return day
        day = days_from_civil(y, 1, 1)
        if kind == _KIND_J:
            return day + a - (0 if a >= 60 and is_leap(y) else 1)
        return day + a

    def transitions(self, year):
        """(dst_start, dst_end) as unix seconds for the rule dates of `year`, or None without DST.
        For southern-hemisphere rules the end comes before the start within a year."""
        if self._rules is None:
            return None
        start, start_at, end, end_at = self._rules
        return (self._rule_day(year, start) * _DAY + start_at - self.std_off,
                self._rule_day(year, end) * _DAY + end_at - self.dst_off)

    def _find(self, t):
        """Fill the cache with the constant-offset interval holding t (slow path, rare)."""
        y = civil_from_days((t + self.std_off) // _DAY)[0]
        last = None
        last_dst = False
        nxt = None
        for yy in (y - 1, y, y + 1):
            s, e = self.transitions(yy)
            for tt, dst in ((e, False), (s, True)):  # at equal instants a start wins (all-year DST)
                if tt <= t:
                    if last is None or tt > last or (tt == last and dst):
                        last = tt
                        last_dst = dst
                elif nxt is None or tt < nxt:
                    nxt = tt
        self._c_from = t if last is None else last
        self._c_until = t + 1 if nxt is None else nxt
        self._c_dst = last_dst
        self._c_off = self.dst_off if last_dst else self.std_off

    def offset(self, t):
        """Seconds to add to unix time t to get local time."""
        if self._rules is None:
            return self.std_off
        if not self._c_from <= t < self._c_until:
            self._find(t)
        return self._c_off

    def is_dst(self, t):
        if self._rules is None:
            return False
        if not self._c_from <= t < self._c_until:
            self._find(t)
        return self._c_dst

    def utc_to_local(self, unix):
        """(year, month, day, hour, minute, second, weekday Mon=0, yearday 1-366, is_dst)."""
        t = int(unix)
        off = self.offset(t)
        dst = self._c_dst if self._rules is not None else False
        lt = t + off
        days = lt // _DAY
        secs = lt - days * _DAY
        y, m, d = civil_from_days(days)
        return (y, m, d, secs // 3600, secs // 60 % 60, secs % 60, weekday(days),
                days - days_from_civil(y, 1, 1) + 1, dst)

    def local_to_unix(self, y, m, d, hh, mm, ss=0):
        """Unix seconds of a local wall-clock time (see the module doc for DST change days)."""
        lt = days_from_civil(y, m, d) * _DAY + hh * 3600 + mm * 60 + ss
        if self._rules is None:
            return lt - self.std_off
        t_dst = lt - self.dst_off
        t_std = lt - self.std_off
        ok_dst = self.offset(t_dst) == self.dst_off
        ok_std = self.offset(t_std) == self.std_off
        if ok_dst and ok_std:
            return t_dst if t_dst < t_std else t_std  # happens twice: the earlier one
        if ok_dst:
            return t_dst
        if ok_std:
            return t_std
        # skipped: use the offset in force just before the change
        before = self.offset(min(t_dst, t_std) - 1)
        return lt - before

    def __repr__(self):
        return "TzRule(%r)" % self.text


def parse(text):
    """TzRule for a POSIX TZ text; TzError (a ValueError) naming the problem otherwise."""
    return TzRule(text)

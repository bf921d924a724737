"""Access schedules: Always / Never built in, custom weekly ranges with dates and holidays.

A definition (docs/user-model.md):
  {"id": 2, "name": "Office hours",
   "weekly": [{"days": "mon-fri", "from": "08:00", "to": "18:00"},
              {"days": "sat", "from": "22:00", "to": "02:00"}],
   "dates": [{"from": "2026-01-01", "to": "2026-12-31"}],
   "holidays": ["2026-12-25"]}
compiles to arrays (a few dozen bytes per schedule, no dicts or strings per range). The
normalised form lib/usertable stores is accepted too: weekly [day mask, from min, to min],
dates [yyyymmdd, yyyymmdd], holidays yyyymmdd.

Semantics (docs/access-engine.md), all in the site's local wall-clock time:
- a weekly range admits from `from` (inclusive) to `to` (exclusive), minute resolution; `to`
  may be "24:00"; `to` <= `from` runs past midnight into the next day ("00:00"-"00:00" = 24 h);
  no weekly ranges = all day on every day
- the part after midnight belongs to the day the range started on: that day's date ranges and
  holidays decide it (a Friday-night shift still ends normally on a Saturday holiday)
- `dates` (inclusive) limit when the schedule applies at all; none = always
- `holidays` are dates on which the schedule admits nothing
- on DST change days the wall clock decides: a skipped hour admits nobody, a repeated hour
  admits both times
"""
from array import array

from micropython import const

from configerror import ConfigError
from tzrule import month_days

ALWAYS = const(0)
NEVER = const(1)
_FIRST_CUSTOM = const(2)
MAX_ID = const(255)
_MAX_WEEKLY = const(32)
_MAX_DATES = const(32)
_MAX_HOLIDAYS = const(400)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FIELDS = ("id", "name", "weekly", "dates", "holidays")
_RANGE_FIELDS = ("days", "from", "to")
_DAY_MIN = const(1440)
_ALL_WEEK = const(0x7F)
_NO_END = const(99991231)


class Schedule:
    """A compiled schedule: ranges = (day mask bit0=Mon, start min, end min) triplets with
    end up to 2880 (past midnight); dates = (from, to) pairs and holidays as sorted yyyymmdd."""

    __slots__ = ("id", "name", "ranges", "dates", "holidays", "overnight")

    def __init__(self, sid, name, ranges=None, dates=None, holidays=None):
        self.id = sid
        self.name = name
        self.ranges = ranges if ranges is not None else array("H")
        self.dates = dates if dates is not None else array("I")
        self.holidays = holidays if holidays is not None else array("I")
        o = False
        r = self.ranges
        for i in range(2, len(r), 3):
            if r[i] > _DAY_MIN:
                o = True
        self.overnight = o

    def __repr__(self):
        return "Schedule(%d, %r)" % (self.id, self.name)


ALWAYS_SCHEDULE = Schedule(ALWAYS, "Always")
NEVER_SCHEDULE = Schedule(NEVER, "Never")


def _day_ok(s, day):
    """Does the schedule apply on date `day` (yyyymmdd): inside its dates, not a holiday."""
    dates = s.dates
    if dates:
        inside = False
        for i in range(0, len(dates), 2):
            if dates[i] <= day <= dates[i + 1]:
                inside = True
                break
        if not inside:
            return False
    h = s.holidays
    lo = 0
    hi = len(h)
    while lo < hi:  # binary search: holidays are sorted
        mid = (lo + hi) >> 1
        v = h[mid]
        if v == day:
            return False
        if v < day:
            lo = mid + 1
        else:
            hi = mid
    return True


def _prev_day(y, m, d):
    if d > 1:
        return y * 10000 + m * 100 + d - 1
    if m == 1:
        return (y - 1) * 10000 + 1231
    return y * 10000 + (m - 1) * 100 + month_days(y, m - 1)


def admits(s, lt):
    """Does schedule `s` (a Schedule, or None = unknown) admit local time tuple `lt`
    (year, month, day, hour, minute, second, weekday Mon=0, ...) as tzrule.utc_to_local gives."""
    if s is None:
        return False
    if s.id == ALWAYS:
        return True
    if s.id == NEVER:
        return False
    r = s.ranges
    minute = lt[3] * 60 + lt[4]
    wd = lt[6]
    if _day_ok(s, lt[0] * 10000 + lt[1] * 100 + lt[2]):
        if not r:
            return True
        bit = 1 << wd
        for i in range(0, len(r), 3):
            if r[i] & bit and r[i + 1] <= minute < r[i + 2]:
                return True
    if s.overnight and _day_ok(s, _prev_day(lt[0], lt[1], lt[2])):
        bit = 1 << ((wd + 6) % 7)
        minute += _DAY_MIN
        for i in range(0, len(r), 3):
            if r[i] & bit and minute < r[i + 2]:
                return True
    return False


# --- compiling definitions ----------------------------------------------------------------

def _hhmm(text, path, field, allow_24):
    ok = isinstance(text, str) and len(text) == 5 and text[2] == ":"
    if ok:
        hh = text[:2]
        mm = text[3:]
        ok = hh.isdigit() and mm.isdigit()
    if ok:
        h = int(hh)
        m = int(mm)
        if h * 60 + m == _DAY_MIN and allow_24:
            return _DAY_MIN
        if h < 24 and m < 60:
            return h * 60 + m
    raise ConfigError(path, field, "must be a time HH:MM (00:00-%s), got %r" % ("24:00" if allow_24 else "23:59", text))


def _int_in(v, lo, hi):
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def parse_date(text, path, field):
    """'YYYY-MM-DD' (or a yyyymmdd int, the normalised form) -> yyyymmdd int; ConfigError
    naming the field if it is no real date."""
    if _int_in(text, 19700101, 99991231):
        y = text // 10000
        m = text // 100 % 100
        d = text % 100
        ok = True
    else:
        ok = isinstance(text, str) and len(text) == 10 and text[4] == "-" and text[7] == "-"
        if ok:
            ys = text[:4]
            ms = text[5:7]
            ds = text[8:]
            ok = ys.isdigit() and ms.isdigit() and ds.isdigit()
        if ok:
            y = int(ys)
            m = int(ms)
            d = int(ds)
    if ok and 1970 <= y <= 9999 and 1 <= m <= 12 and 1 <= d <= month_days(y, m):
        return y * 10000 + m * 100 + d
    raise ConfigError(path, field, "must be a date YYYY-MM-DD that exists, got %r" % (text,))


def parse_days(text, path, field):
    """'mon-fri', 'mon,wed', 'sat', 'fri-mon' (wraps) -> bit mask, bit 0 = Monday."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(path, field, "must be days like 'mon-fri' or 'mon,wed,sat'")
    mask = 0
    for part in text.lower().split(","):
        ends = part.split("-")
        if len(ends) > 2:
            raise ConfigError(path, field, "bad day range %r" % part.strip())
        idx = []
        for e in ends:
            e = e.strip()
            if e not in DAYS:
                raise ConfigError(path, field, "unknown day %r (use mon tue wed thu fri sat sun)" % e)
            idx.append(DAYS.index(e))
        i = idx[0]
        while True:
            mask |= 1 << i
            if i == idx[-1]:
                break
            i = (i + 1) % 7
    return mask


def _list(defn, key, path, at, limit):
    v = defn.get(key, [])
    if not isinstance(v, list):
        raise ConfigError(path, at + "." + key, "must be a list")
    if len(v) > limit:
        raise ConfigError(path, at + "." + key, "at most %d entries" % limit)
    return v


def compile_schedule(defn, path="users.json", at="schedule"):
    """One definition -> Schedule; ConfigError naming the file and field on any mistake."""
    if not isinstance(defn, dict):
        raise ConfigError(path, at, "must be an object")
    for key in defn:
        if key not in _FIELDS:
            raise ConfigError(path, at + "." + key, "unknown field")
    sid = defn.get("id")
    if isinstance(sid, bool) or not isinstance(sid, int) or not _FIRST_CUSTOM <= sid <= MAX_ID:
        raise ConfigError(path, at + ".id", "must be a number %d-%d (0 Always and 1 Never are built in)"
                          % (_FIRST_CUSTOM, MAX_ID))
    name = defn.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 63:
        raise ConfigError(path, at + ".name", "must be text of 1-63 characters")
    ranges = array("H")
    for i, w in enumerate(_list(defn, "weekly", path, at, _MAX_WEEKLY)):
        wat = "%s.weekly[%d]" % (at, i)
        if isinstance(w, (list, tuple)):  # normalised: [day mask, from min, to min]
            if len(w) != 3 or not _int_in(w[0], 1, _ALL_WEEK) or not _int_in(w[1], 0, _DAY_MIN - 1) \
                    or not _int_in(w[2], 0, _DAY_MIN):
                raise ConfigError(path, wat, "must be [day mask 1-127, from 0-1439, to 0-1440]")
            mask, start, end = w
        elif isinstance(w, dict):
            for key in w:
                if key not in _RANGE_FIELDS:
                    raise ConfigError(path, wat + "." + key, "unknown field")
            for key in _RANGE_FIELDS:
                if key not in w:
                    raise ConfigError(path, wat + "." + key, "missing")
            mask = parse_days(w["days"], path, wat + ".days")
            start = _hhmm(w["from"], path, wat + ".from", False)
            end = _hhmm(w["to"], path, wat + ".to", True)
        else:
            raise ConfigError(path, wat, "must be an object with days, from, to")
        if end <= start:
            end += _DAY_MIN  # runs past midnight into the next day
        ranges.append(mask)
        ranges.append(start)
        ranges.append(end)
    dates = array("I")
    for i, dr in enumerate(_list(defn, "dates", path, at, _MAX_DATES)):
        dat = "%s.dates[%d]" % (at, i)
        if isinstance(dr, (list, tuple)) and len(dr) == 2:  # normalised: [yyyymmdd, yyyymmdd]
            lo = parse_date(dr[0], path, dat + "[0]")
            hi = parse_date(dr[1], path, dat + "[1]")
        elif isinstance(dr, dict):
            for key in dr:
                if key not in ("from", "to"):
                    raise ConfigError(path, dat + "." + key, "unknown field")
            lo = parse_date(dr["from"], path, dat + ".from") if "from" in dr else 0
            hi = parse_date(dr["to"], path, dat + ".to") if "to" in dr else _NO_END
        else:
            raise ConfigError(path, dat, "must be an object with from and/or to")
        if hi < lo:
            raise ConfigError(path, dat, "to is before from")
        dates.append(lo)
        dates.append(hi)
    hol = []
    for i, h in enumerate(_list(defn, "holidays", path, at, _MAX_HOLIDAYS)):
        v = parse_date(h, path, "%s.holidays[%d]" % (at, i))
        if v not in hol:
            hol.append(v)
    hol.sort()
    return Schedule(sid, name, ranges, dates, array("I", hol))


class ScheduleSet:
    """The site's schedules by id (0 Always and 1 Never always present) and by name."""

    def __init__(self, schedules=()):
        self._by_id = {ALWAYS: ALWAYS_SCHEDULE, NEVER: NEVER_SCHEDULE}
        for s in schedules:
            self._by_id[s.id] = s

    def get(self, sid):
        return self._by_id.get(sid)

    def ids(self):
        return sorted(self._by_id)

    def __len__(self):
        return len(self._by_id)

    def resolve(self, ref):
        """Schedule id of a name (case-insensitive), an id or a numeric text; None if unknown."""
        if isinstance(ref, int) and not isinstance(ref, bool):
            return ref if ref in self._by_id else None
        if not isinstance(ref, str):
            return None
        low = ref.strip().lower()
        for sid in self._by_id:
            if self._by_id[sid].name.lower() == low:
                return sid
        if low.isdigit() and int(low) in self._by_id:
            return int(low)
        return None


def compile_all(defs, path="users.json", at="schedules"):
    """The `schedules` list of a user list document -> ScheduleSet. Ids and names (case-
    insensitive, including Always/Never) must be unique."""
    if defs is None:
        defs = []
    if not isinstance(defs, list):
        raise ConfigError(path, at, "must be a list")
    out = []
    names = {"always": ALWAYS, "never": NEVER}
    ids = {}
    for i, d in enumerate(defs):
        s = compile_schedule(d, path, "%s[%d]" % (at, i))
        if s.id in ids:
            raise ConfigError(path, "%s[%d].id" % (at, i), "id %d already used by %s[%d]" % (s.id, at, ids[s.id]))
        low = s.name.lower()
        if low in names:
            raise ConfigError(path, "%s[%d].name" % (at, i), "name %r already used" % s.name)
        ids[s.id] = i
        names[low] = s.id
        out.append(s)
    return ScheduleSet(out)

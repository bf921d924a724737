"""The site's local time as document text <-> unix seconds (docs/user-model.md: times in a user
document are local time of the site, config `time.tz`), shared by host and device.

A device edit (UserTable.add_or_replace) converts a document's text times with `unix_times`
before the checks; exports convert back with `local`. The POSIX TZ rule code (lib/tzrule) is
imported only for a site whose rule is not UTC.
"""
UTC_NAMES = ("UTC0", "UTC", "GMT0", "GMT", "UTC+0", "UTC-0")
_DIGITS = "0123456789"


def _days(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (civil-from-days inverse)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil(days):
    """(y, m, d) of a day number since 1970-01-01."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


_RULES = {}  # TZ text -> parsed tzrule.TzRule (a site has one or two)


def _rule(tz):
    """The parsed rule (kept: a site has one or two)."""
    r = _RULES.get(tz)
    if r is None:
        import tzrule  # only for non-UTC sites

        r = _RULES[tz] = tzrule.parse(tz)
    return r


def check_tz(tz):
    """Raise ValueError (tzrule.TzError) for a TZ rule that can't be used to convert times."""
    if tz not in UTC_NAMES:
        _rule(tz)


def _local_to_unix(y, m, d, hh, mm, tz):
    """Local wall time of the site -> unix seconds, with the site's POSIX TZ rule (lib/tzrule:
    daylight saving; a time skipped when clocks go forward counts with the earlier offset, a
    repeated one as its first occurrence). UTC rules take a shortcut that loads nothing."""
    if tz in UTC_NAMES:
        return _days(y, m, d) * 86400 + hh * 3600 + mm * 60
    return _rule(tz).local_to_unix(y, m, d, hh, mm)


def unix_to_local(t, tz):
    """Unix seconds -> "YYYY-MM-DDTHH:MM" local text (export)."""
    if tz in UTC_NAMES:
        days = t // 86400
        s = t - days * 86400
        y, m, d = civil(days)
        return "%04d-%02d-%02dT%02d:%02d" % (y, m, d, s // 3600, (s // 60) % 60)
    lt = _rule(tz).utc_to_local(t)
    return "%04d-%02d-%02dT%02d:%02d" % lt[:5]


def _num(text, lo, hi):
    if not text or len(text) > 4:
        return -1
    for ch in text:
        if ch not in _DIGITS:
            return -1
    v = int(text)
    return v if lo <= v <= hi else -1


def parse_date(text):
    """"YYYY-MM-DD" -> (y, m, d) or None."""
    if not isinstance(text, str) or len(text) != 10 or text[4] != "-" or text[7] != "-":
        return None
    y = _num(text[:4], 1970, 2105)
    m = _num(text[5:7], 1, 12)
    d = _num(text[8:], 1, 31)
    if y < 0 or m < 0 or d < 0:
        return None
    if d > 28 and civil(_days(y, m, d))[1] != m:  # e.g. 2026-02-30
        return None
    return y, m, d


def parse_hhmm(text, allow_24=False):
    """"HH:MM" -> minutes since midnight, or -1."""
    if not isinstance(text, str) or len(text) != 5 or text[2] != ":":
        return -1
    hh = _num(text[:2], 0, 24)
    mm = _num(text[3:], 0, 59)
    if hh < 0 or mm < 0 or (hh == 24 and (mm or not allow_24)):
        return -1
    return hh * 60 + mm


def parse_time(value, end, tz, ints_ok=False):
    """Local "YYYY-MM-DD[THH:MM]" -> unix seconds; a bare date as `end` means 23:59:59 of it.

    Returns -1 if malformed. Ints (unix seconds) are accepted when `ints_ok` (device edits).
    """
    if ints_ok and isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value <= 0xFFFFFFFF else -1
    if not isinstance(value, str):
        return -1
    date = parse_date(value[:10])
    if date is None:
        return -1
    if len(value) == 10:
        if end:
            return _local_to_unix(date[0], date[1], date[2], 23, 59, tz) + 59
        return _local_to_unix(date[0], date[1], date[2], 0, 0, tz)
    if len(value) != 16 or value[10] not in "T ":
        return -1
    mins = parse_hhmm(value[11:])
    if mins < 0:
        return -1
    return _local_to_unix(date[0], date[1], date[2], mins // 60, mins % 60, tz)


def unix_times(tz, u):
    """A copy of user document `u` with its well-formed local times (valid_from, valid_to,
    plates' from/to) as unix seconds, for a device edit at a site with TZ rule `tz`.
    Everything else, malformed times included, is left for validate.user to check."""
    if not isinstance(u, dict):
        return u
    out = dict(u)
    for k in ("valid_from", "valid_to"):
        x = _unix(u.get(k), k == "valid_to", tz)
        if x >= 0:
            out[k] = x
    pl = u.get("plates")
    if isinstance(pl, list):
        out["plates"] = pl = list(pl)
        for i in range(len(pl)):
            if isinstance(pl[i], dict):
                item = pl[i] = dict(pl[i])
                for k in ("from", "to"):
                    x = _unix(item.get(k), k == "to", tz)
                    if x >= 0:
                        item[k] = x
    return out


def _unix(v, end, tz):
    """Unix seconds of local time text `v` if it is well-formed and in range, else -1."""
    if not isinstance(v, str):
        return -1
    x = parse_time(v, end, tz)
    return x if x <= 0xFFFFFFFF else -1


def local(d, tz):
    """An exported user dict (Record.to_dict) with its unix times as the site's local time
    text "YYYY-MM-DDTHH:MM" (None where unbounded); changed in place and returned."""
    for k in ("valid_from", "valid_to"):
        d[k] = unix_to_local(d[k], tz) if d[k] else None
    for p in d["plates"]:
        for k in ("from", "to"):
            if p.get(k):
                p[k] = unix_to_local(p[k], tz)
    return d

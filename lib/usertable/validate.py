"""User list validation and normalisation (docs/user-model.md), shared by host and device.

`Ctx(collect=True)` gathers every error as (path, message, other_path) so the host can report
them all with line numbers; `collect=False` (device edits) raises ConfigError at the first one.
A normalised user is a plain dict: id, name, role (0/1), phone, cards (normalised codes), pin,
qr, ble (normalised text or None), plates [(plate, from, to)], relays and floors (bit masks),
web_relay, rsa, valid_from, valid_to (unix seconds, 0 = unbounded), schedules (tuple of ids).
"""
import cardfmt
import plates as platesmod
from configerror import ConfigError
from usertable import fmt

FIELDS = ("id", "name", "role", "phone", "cards", "pin", "qr", "ble", "plates", "relays",
          "floors", "web_relay", "relay_schedule_activation", "valid_from", "valid_to", "schedules")
READONLY = ("has_pin", "has_qr", "has_ble")  # export-only fields, ignored by device edits
SCHEDULE_FIELDS = ("id", "name", "weekly", "dates", "holidays")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BUILTIN = {"always": 0, "never": 1}
MAX_UID = 4294967294
UTC_NAMES = ("UTC0", "UTC", "GMT0", "GMT", "UTC+0", "UTC-0")
_DIGITS = "0123456789"
_HEXD = "0123456789ABCDEFabcdef"


# --- time -----------------------------------------------------------------------------------
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


# --- context --------------------------------------------------------------------------------
class Ctx:
    """Site settings a user list is checked against, and where errors go."""

    def __init__(self, card_format=cardfmt.DEFAULT, tz="UTC0", relay_ids=None, site_key=None,
                 collect=False, file="users", ints_ok=False):
        self.fid = cardfmt.format_id(card_format)
        self.fmt = cardfmt.format_name(self.fid)
        check_tz(tz)
        self.tz = tz
        self.relay_ids = tuple(relay_ids) if relay_ids else (1, 2, 3, 4, 5, 6, 7, 8)
        self.keyed = None
        if site_key:
            import keyedhash

            if len(site_key) != 32:
                raise ValueError("site key must be 32 bytes")
            self.keyed = keyedhash.Keyed(site_key)
        self.collect = collect
        self.file = file
        self.ints_ok = ints_ok
        self.errors = []
        self.missing_key = []  # paths of secrets given without a site key
        self.sched_names = {}  # custom schedule name -> id
        self.sched_ids = {0: "Always", 1: "Never"}

    def err(self, path, msg, other=None):
        if not self.collect:
            raise ConfigError(self.file, path, msg)
        self.errors.append((path, msg, other))

    def use_schedules(self, normalised):
        """Make schedule names/ids of an already normalised list known (device edits)."""
        for s in normalised:
            self.sched_names[s["name"]] = s["id"]
            self.sched_ids[s["id"]] = s["name"]


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


# --- schedules ------------------------------------------------------------------------------
def _daymask(text):
    if not isinstance(text, str) or not text.strip():
        return 0
    mask = 0
    for part in text.lower().replace(" ", "").split(","):
        ends = part.split("-")
        if len(ends) > 2 or ends[0] not in DAYS or ends[-1] not in DAYS:
            return 0
        a = DAYS.index(ends[0])
        b = DAYS.index(ends[-1])
        while True:
            mask |= 1 << a
            if a == b:
                break
            a = (a + 1) % 7
    return mask


def _ymd(d):
    return d[0] * 10000 + d[1] * 100 + d[2]


def schedules(items, ctx, at="schedules"):
    """Normalise the custom schedules of a document; registers names/ids in ctx."""
    out = []
    if items is None:
        return out
    if not isinstance(items, list):
        ctx.err(at, "must be a list of schedules")
        return out
    for i, s in enumerate(items):
        p = "%s[%d]" % (at, i)
        if not isinstance(s, dict):
            ctx.err(p, "must be an object")
            continue
        bad = False
        for k in s:
            if k not in SCHEDULE_FIELDS:
                ctx.err(p + "." + k, "unknown field")
                bad = True
        sid = s.get("id")
        if not _is_int(sid) or not 2 <= sid <= 255:
            ctx.err(p + ".id", "schedule id must be a number 2-255 (0 Always and 1 Never are built in)")
            bad = True
        elif sid in ctx.sched_ids:
            ctx.err(p + ".id", "schedule id %d used twice" % sid)
            bad = True
        name = s.get("name")
        if not isinstance(name, str) or not name.strip() or len(name.encode()) > 31:
            ctx.err(p + ".name", "must be text of 1-31 bytes")
            bad = True
        elif name.lower() in BUILTIN or name in ctx.sched_names:
            ctx.err(p + ".name", "schedule name %r used twice (Always and Never are built in)" % name)
            bad = True
        weekly = []
        wl = s.get("weekly", [])
        if not isinstance(wl, list):
            ctx.err(p + ".weekly", "must be a list of {days, from, to}")
            wl = []
            bad = True
        for j, w in enumerate(wl):
            q = "%s.weekly[%d]" % (p, j)
            if not isinstance(w, dict):
                ctx.err(q, "must be an object {days, from, to}")
                bad = True
                continue
            for k in w:
                if k not in ("days", "from", "to"):
                    ctx.err(q + "." + k, "unknown field")
                    bad = True
            mask = _daymask(w.get("days"))
            t0 = parse_hhmm(w.get("from", "00:00"))
            t1 = parse_hhmm(w.get("to", "24:00"), True)
            if not mask:
                ctx.err(q + ".days", "days must be like mon-fri, sat or mon,wed")
                bad = True
            if t0 < 0:
                ctx.err(q + ".from", "time must be HH:MM")
                bad = True
            if t1 < 0:
                ctx.err(q + ".to", "time must be HH:MM (24:00 allowed)")
                bad = True
            weekly.append([mask, t0, t1])
        dates = []
        dl = s.get("dates", [])
        if not isinstance(dl, list):
            ctx.err(p + ".dates", "must be a list of {from, to}")
            dl = []
            bad = True
        for j, r in enumerate(dl):
            q = "%s.dates[%d]" % (p, j)
            if not isinstance(r, dict):
                ctx.err(q, "must be an object {from, to}")
                bad = True
                continue
            d0 = parse_date(r.get("from"))
            d1 = parse_date(r.get("to"))
            if d0 is None:
                ctx.err(q + ".from", "date must be YYYY-MM-DD")
                bad = True
            if d1 is None:
                ctx.err(q + ".to", "date must be YYYY-MM-DD")
                bad = True
            if d0 and d1:
                if _ymd(d1) < _ymd(d0):
                    ctx.err(q, "to is before from")
                    bad = True
                dates.append([_ymd(d0), _ymd(d1)])
        hol = []
        hl = s.get("holidays", [])
        if not isinstance(hl, list):
            ctx.err(p + ".holidays", "must be a list of dates")
            hl = []
            bad = True
        for j, h in enumerate(hl):
            d = parse_date(h)
            if d is None:
                ctx.err("%s.holidays[%d]" % (p, j), "date must be YYYY-MM-DD")
                bad = True
            else:
                hol.append(_ymd(d))
        if _is_int(sid) and isinstance(name, str) and not bad:
            ctx.sched_ids[sid] = name
            ctx.sched_names[name] = sid
            out.append({"id": sid, "name": name, "weekly": weekly, "dates": dates, "holidays": hol})
    return out


# --- users ----------------------------------------------------------------------------------
def _text(u, key, limit, ctx, p):
    v = u.get(key, "")
    if v is None:
        v = ""
    if not isinstance(v, str) or len(v.encode()) > limit:
        ctx.err(p + "." + key, "must be text of at most %d bytes" % limit)
        return None
    return v


def _numbers(v, lo, hi, ctx, p, what):
    """List of ints lo..hi -> bit mask (bit 0 = lo); None on error."""
    if not isinstance(v, list):
        ctx.err(p, "must be a list of %s numbers %d-%d" % (what, lo, hi))
        return None
    mask = 0
    ok = True
    for x in v:
        if not _is_int(x) or not lo <= x <= hi:
            ctx.err(p, "%s %r is not a number %d-%d" % (what, x, lo, hi))
            ok = False
        else:
            mask |= 1 << (x - lo)
    return mask if ok else None


def _secret(u, key, ctx, p, check):
    """A PIN/QR/BLE value: normalised text, None if absent, False if invalid."""
    v = u.get(key)
    if v is None or v == "":
        return None
    why = check(v)
    if why:
        ctx.err(p + "." + key, why)
        return False
    if isinstance(v, str):
        v = v.strip()
    if key == "ble":
        v = v.upper()
    if ctx.keyed is None:
        if ctx.collect:
            ctx.missing_key.append(p + "." + key)
        else:
            ctx.err(p + "." + key, "PIN/QR/BLE credentials need the site key (secrets.json site_key)")
        return False
    return v


def _check_pin(v):
    if not isinstance(v, str) or not 2 <= len(v) <= 8 or any(c not in _DIGITS for c in v):
        return "PIN must be text of 2-8 digits, got %r" % (v,)
    return None


def _check_qr(v):
    if not isinstance(v, str) or not 4 <= len(v.strip()) <= 32 or any(ord(c) < 32 for c in v):
        return "QR id must be text of 4-32 characters"
    return None


def _check_ble(v):
    if not isinstance(v, str) or not 4 <= len(v.strip()) <= 32 or any(c not in _HEXD for c in v.strip()):
        return "BLE key id must be 4-32 hex digits"
    return None


def user(u, ctx, p, partial=False):
    """Normalised dict for one user document, or None if it has errors (reported to ctx).

    partial=True returns (dict, ok): the fields that were valid, so the caller can still
    check them against other users and report every error at once.
    """
    if not isinstance(u, dict):
        ctx.err(p, "must be an object")
        return (None, False) if partial else None
    n0 = len(ctx.errors)
    for k in u:
        if k not in FIELDS and not (ctx.ints_ok and k in READONLY):
            ctx.err(p + "." + k, "unknown field")
    out = {}
    uid = u.get("id")
    if not _is_int(uid) or not 1 <= uid <= MAX_UID:
        ctx.err(p + ".id", "user id must be a number 1-%d, got %r" % (MAX_UID, uid))
    out["id"] = uid
    out["name"] = _text(u, "name", fmt.MAX_NAME, ctx, p)
    out["phone"] = _text(u, "phone", fmt.MAX_PHONE, ctx, p)
    role = u.get("role", "user")
    if role not in ("user", "admin"):
        ctx.err(p + ".role", "must be user or admin, got %r" % (role,))
    out["role"] = 1 if role == "admin" else 0
    cards = u.get("cards", [])
    if cards is None:
        cards = []
    norm = []
    if not isinstance(cards, list):
        ctx.err(p + ".cards", "must be a list of card codes")
    else:
        if len(cards) > fmt.MAX_CARDS:
            ctx.err(p + ".cards", "too many cards: %d (at most %d)" % (len(cards), fmt.MAX_CARDS))
        for j, c in enumerate(cards):
            q = "%s.cards[%d]" % (p, j)
            if not isinstance(c, str):
                ctx.err(q, "card code must be text")
                continue
            try:
                code = cardfmt.normalize(c, ctx.fid)
            except ValueError as e:
                ctx.err(q, str(e))
                continue
            if code in norm:
                ctx.err(q, "card %s listed twice" % code)
                continue
            norm.append(code)
    out["cards"] = norm
    out["pin"] = _secret(u, "pin", ctx, p, _check_pin)
    out["qr"] = _secret(u, "qr", ctx, p, _check_qr)
    out["ble"] = _secret(u, "ble", ctx, p, _check_ble)
    pl = u.get("plates", [])
    if pl is None:
        pl = []
    plist = []
    if not isinstance(pl, list):
        ctx.err(p + ".plates", "must be a list of plates")
    else:
        if len(pl) > fmt.MAX_PLATES:
            ctx.err(p + ".plates", "too many plates: %d (at most %d)" % (len(pl), fmt.MAX_PLATES))
        for j, item in enumerate(pl):
            q = "%s.plates[%d]" % (p, j)
            if isinstance(item, str):
                item = {"plate": item}
            if not isinstance(item, dict):
                ctx.err(q, "must be a plate text or {plate, from, to}")
                continue
            for k in item:
                if k not in ("plate", "from", "to"):
                    ctx.err(q + "." + k, "unknown field")
            try:
                plate = platesmod.normalize(item.get("plate"))
            except ValueError as e:
                ctx.err(q + ".plate", str(e))
                continue
            t0 = t1 = 0
            if item.get("from") is not None:
                t0 = parse_time(item["from"], False, ctx.tz, ctx.ints_ok)
                if t0 < 0:
                    ctx.err(q + ".from", "malformed time %r (YYYY-MM-DD or YYYY-MM-DDTHH:MM)" % (item["from"],))
            if item.get("to") is not None:
                t1 = parse_time(item["to"], True, ctx.tz, ctx.ints_ok)
                if t1 < 0:
                    ctx.err(q + ".to", "malformed time %r (YYYY-MM-DD or YYYY-MM-DDTHH:MM)" % (item["to"],))
            if t0 > 0 and t1 > 0 and t1 < t0:
                ctx.err(q + ".to", "plate window ends before it starts")
            if any(x[0] == plate for x in plist):
                ctx.err(q + ".plate", "plate %s listed twice" % plate)
                continue
            plist.append((plate, max(t0, 0), max(t1, 0)))
    out["plates"] = plist
    relays = _numbers(u.get("relays", [1]), 1, 8, ctx, p + ".relays", "relay")
    if relays == 0:
        ctx.err(p + ".relays", "must name at least one relay")
    elif relays is not None:
        for r in u["relays"] if "relays" in u else [1]:
            if r not in ctx.relay_ids:
                ctx.err(p + ".relays", "unknown relay %d (this site has %s)" % (r, ",".join(str(x) for x in ctx.relay_ids)))
                break
    out["relays"] = relays
    out["floors"] = _numbers(u.get("floors", []), 1, 32, ctx, p + ".floors", "floor")
    wr = u.get("web_relay", 0)
    if not _is_int(wr) or not 0 <= wr <= 255:
        ctx.err(p + ".web_relay", "must be a number 0-255")
    out["web_relay"] = wr
    rsa = u.get("relay_schedule_activation", False)
    if not isinstance(rsa, bool):
        ctx.err(p + ".relay_schedule_activation", "must be true or false")
    out["rsa"] = rsa is True
    vf = vt = 0
    if u.get("valid_from") not in (None, ""):
        vf = parse_time(u["valid_from"], False, ctx.tz, ctx.ints_ok)
        if vf < 0:
            ctx.err(p + ".valid_from", "malformed time %r (YYYY-MM-DD or YYYY-MM-DDTHH:MM)" % (u["valid_from"],))
    if u.get("valid_to") not in (None, ""):
        vt = parse_time(u["valid_to"], True, ctx.tz, ctx.ints_ok)
        if vt < 0:
            ctx.err(p + ".valid_to", "malformed time %r (YYYY-MM-DD or YYYY-MM-DDTHH:MM)" % (u["valid_to"],))
    if vf > 0 and vt > 0 and vt < vf:
        ctx.err(p + ".valid_to", "valid_to is before valid_from")
    out["valid_from"] = max(vf, 0)
    out["valid_to"] = max(vt, 0)
    sl = u.get("schedules", ["Always"])
    if sl is None or sl == []:
        sl = ["Always"]
    ids = []
    if not isinstance(sl, list):
        ctx.err(p + ".schedules", "must be a list of schedule names or ids")
    else:
        if len(sl) > fmt.MAX_SCHEDULES:
            ctx.err(p + ".schedules", "too many schedules: %d (at most %d)" % (len(sl), fmt.MAX_SCHEDULES))
        for s in sl:
            sid = -1
            if _is_int(s):
                sid = s if s in ctx.sched_ids else -1
            elif isinstance(s, str):
                sid = BUILTIN.get(s.strip().lower(), ctx.sched_names.get(s.strip(), -1))
            if sid < 0:
                ctx.err(p + ".schedules", "unknown schedule %r" % (s,))
            elif sid not in ids:
                ids.append(sid)
    out["schedules"] = tuple(ids) if ids else (0,)
    ok = len(ctx.errors) == n0 and not any(out[k] is None for k in ("name", "phone", "relays", "floors")) \
        and out["pin"] is not False and out["qr"] is not False and out["ble"] is not False
    if partial:
        return out, ok
    return out if ok else None


_OWNED = (("cards", "card"), ("plates", "plate"), ("pin", "PIN"), ("qr", "QR id"), ("ble", "BLE key id"))


def document(doc, ctx):
    """Validate a whole user list document; returns (schedules, users) normalised.

    Every error goes to ctx (collect mode reports them all): duplicate user ids, a card/PIN/
    plate/QR/BLE id owned twice, per-user field errors, unknown schedules or relays.
    """
    if isinstance(doc, list):
        doc = {"users": doc}
    if not isinstance(doc, dict) or not isinstance(doc.get("users"), list):
        ctx.err("users", "must be an object with a list named users")
        return [], []
    for k in doc:
        if k not in ("users", "schedules"):
            ctx.err(k, "unknown top-level field")
    sched = schedules(doc.get("schedules"), ctx)
    users = []
    seen = {}  # ("id"|kind, value) -> path of the first owner
    for i, u in enumerate(doc["users"]):
        p = "users[%d]" % i
        nu, ok = user(u, ctx, p, True)
        if nu is None:
            continue
        uid = nu["id"]
        if _is_int(uid):
            first = seen.get(("id", uid))
            if first is not None:
                ctx.err(p + ".id", "user id %d already used" % uid, first)
                ok = False
            else:
                seen[("id", uid)] = p
        dup = False
        for field, what in _OWNED:
            vals = nu[field]
            if field == "plates":
                vals = [x[0] for x in vals]
            elif field != "cards":
                vals = [vals] if isinstance(vals, str) else []
            for j, v in enumerate(vals):
                key = (field, v)
                first = seen.get(key)
                q = p + "." + field + ("[%d]" % j if field in ("cards", "plates") else "")
                if first is not None:
                    ctx.err(q, ("%s %s" % (what, v) if field in ("cards", "plates") else "this " + what)
                            + " already belongs to another user", first)
                    dup = True
                else:
                    seen[key] = p
        if ok and not dup:
            users.append(nu)
    if ctx.missing_key:
        ctx.err(ctx.missing_key[0], "%d PIN/QR/BLE credential(s) given but no site key (--site-key-file): "
                "they can only be stored as keyed hashes" % len(ctx.missing_key))
    return sched, users

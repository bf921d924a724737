"""Whole user-list validation (docs/user-model.md): custom schedules and the document with its
site-wide uniqueness checks (ids, cards, plates, PIN/QR/BLE). Host builds and tests; a device
edit checks one user (validate.user) and never loads this.
"""
from usertable.sitetime import parse_date, parse_hhmm
from usertable.validate import BUILTIN, _is_int, user

SCHEDULE_FIELDS = ("id", "name", "weekly", "dates", "holidays")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


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


def _days_text(mask):
    """Day mask (bit 0 = Monday) -> "mon-fri", "mon,wed,fri-sun" (runs of 3 or more as ranges)."""
    parts = []
    i = 0
    while i < 7:
        if not mask >> i & 1:
            i += 1
            continue
        j = i
        while j < 6 and mask >> (j + 1) & 1:
            j += 1
        if j - i >= 2:
            parts.append(DAYS[i] + "-" + DAYS[j])
        else:
            for k in range(i, j + 1):
                parts.append(DAYS[k])
        i = j + 1
    return ",".join(parts)


def _ymd_text(v):
    return "%04d-%02d-%02d" % (v // 10000, v // 100 % 100, v % 100)


def schedule_doc(s):
    """A normalised schedule (as schedules() makes it and the table stores it) in the document's
    form, which schedules() takes back unchanged: weekly {days, from, to}, dates {from, to},
    holidays as YYYY-MM-DD."""
    return {"id": s["id"], "name": s["name"],
            "weekly": [{"days": _days_text(w[0]), "from": "%02d:%02d" % (w[1] // 60, w[1] % 60),
                        "to": "%02d:%02d" % (w[2] // 60, w[2] % 60)} for w in s["weekly"]],
            "dates": [{"from": _ymd_text(d[0]), "to": _ymd_text(d[1])} for d in s["dates"]],
            "holidays": [_ymd_text(h) for h in s["holidays"]]}


# --- documents ------------------------------------------------------------------------------
_OWNED = (("cards", "card"), ("plates", "plate"), ("pin", "PIN"), ("qr", "QR id"), ("ble", "BLE key"))


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

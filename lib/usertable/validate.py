"""One user's validation and normalisation (docs/user-model.md), shared by host and device. Whole
lists (schedules, documents, uniqueness across users) are in validate_list and local time text
in sitetime: a device edit needs neither (UserTable.add_or_replace converts text times first).

`Ctx(collect=True)` gathers every error as (path, message, other_path) so the host can report
them all with line numbers; `collect=False` (device edits) raises ConfigError at the first one.
A normalised user is a plain dict: id, name, role (0/1), phone, cards (normalised codes), pin,
qr, ble (normalised text or None), plates [(plate, from, to)], relays and floors (bit masks),
web_relay, rsa, valid_from, valid_to (unix seconds, 0 = unbounded), schedules (tuple of ids).
"""
import cardfmt
from configerror import ConfigError
from usertable import fmt

FIELDS = ("id", "name", "role", "phone", "cards", "pin", "qr", "ble", "plates", "relays",
          "floors", "web_relay", "relay_schedule_activation", "valid_from", "valid_to", "schedules")
READONLY = ("has_pin", "has_qr", "has_ble")  # export-only fields, ignored by device edits
BUILTIN = {"always": 0, "never": 1}
MAX_UID = 4294967294
_DIGITS = "0123456789"
_HEXD = "0123456789ABCDEFabcdef"


# --- context --------------------------------------------------------------------------------
class Ctx:
    """Site settings a user list is checked against, and where errors go."""

    def __init__(self, card_format=cardfmt.DEFAULT, tz="UTC0", relay_ids=None, site_key=None,
                 collect=False, file="users", ints_ok=False):
        self.fid = cardfmt.format_id(card_format)
        self.fmt = cardfmt.format_name(self.fid)
        if not ints_ok:  # device edits: the config validator checked the site's rule already
            from usertable import sitetime

            sitetime.check_tz(tz)
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


def _time(v, end, ctx):
    """sitetime.parse_time, which is loaded only for text: on a device edit the times are unix
    seconds already (sitetime.unix_times), unless malformed."""
    if ctx.ints_ok and _is_int(v):
        return v if 0 <= v <= 0xFFFFFFFF else -1
    from usertable import sitetime

    return sitetime.parse_time(v, end, ctx.tz)


def _only(text, chars):
    for c in text:
        if c not in chars:
            return False
    return True


def ble_id(text):
    """A key fob's id as the door reads it from an advert (docs/ble.md): 12 hex digits of its
    address or 40 of an iBeacon's UUID, major and minor, upper case; ':', '-', ' ' and '/'
    separators dropped. None if it is neither."""
    s = text.replace(":", "").replace("-", "").replace(" ", "").replace("/", "").upper()
    if len(s) not in (12, 40) or not _only(s, _HEXD):
        return None
    return s


def _secret(u, key, ctx, p):
    """A PIN/QR/BLE value: normalised text, None if absent, False if invalid."""
    v = u.get(key)
    if v is None or v == "":
        return None
    ok = isinstance(v, str)
    if ok:
        s = v.strip()
        if key == "pin":
            ok = 2 <= len(v) <= 8 and _only(v, _DIGITS)
        elif key == "ble":  # a key fob: its address or iBeacon id, separators dropped
            s = ble_id(s)
            ok = s is not None
        else:  # QR: no control characters
            ok = 4 <= len(s) <= 32 and min(v) >= " "
    if not ok:
        ctx.err(p + "." + key, "PIN must be text of 2-8 digits, got %r" % (v,) if key == "pin" else
                "QR id must be text of 4-32 characters" if key == "qr" else
                "BLE key must be a fob address (12 hex digits, e.g. C0:FF:EE:00:10:01) or an iBeacon "
                "UUID+major+minor (40 hex digits), got %r" % (v,))
        return False
    v = s
    if ctx.keyed is None:
        if ctx.collect:
            ctx.missing_key.append(p + "." + key)
        else:
            ctx.err(p + "." + key, "PIN/QR/BLE credentials need the site key (secrets.json site_key)")
        return False
    return v


def user(u, ctx, p, partial=False):
    """Normalised dict for one user document, or None if it has errors (reported to ctx).

    partial=True returns (dict, ok): the fields that were valid, so the caller can still
    check them against other users and report every error at once.
    Each group of fields has its own small function: a device edit loads this module into a
    fragmented heap, where one large function body would need one large block.
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
    out["cards"] = _cards(u, ctx, p)
    out["pin"] = _secret(u, "pin", ctx, p)
    out["qr"] = _secret(u, "qr", ctx, p)
    out["ble"] = _secret(u, "ble", ctx, p)
    out["plates"] = _plates(u, ctx, p)
    out["relays"] = _relays(u, ctx, p)
    out["floors"] = _numbers(u.get("floors", []), 1, 32, ctx, p + ".floors", "floor")
    wr = u.get("web_relay", 0)
    if not _is_int(wr) or not 0 <= wr <= 255:
        ctx.err(p + ".web_relay", "must be a number 0-255")
    out["web_relay"] = wr
    rsa = u.get("relay_schedule_activation", False)
    if not isinstance(rsa, bool):
        ctx.err(p + ".relay_schedule_activation", "must be true or false")
    out["rsa"] = rsa is True
    _validity(u, ctx, p, out)
    out["schedules"] = _schedules(u, ctx, p)
    ok = len(ctx.errors) == n0 and None not in (out["name"], out["phone"], out["relays"], out["floors"]) \
        and out["pin"] is not False and out["qr"] is not False and out["ble"] is not False
    if partial:
        return out, ok
    return out if ok else None


def _cards(u, ctx, p):
    cards = u.get("cards", [])
    if cards is None:
        cards = []
    norm = []
    if not isinstance(cards, list):
        ctx.err(p + ".cards", "must be a list of card codes")
        return norm
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
    return norm


def _window_end(item, key, end, ctx, q):
    """A plate's from/to: unix seconds, 0 if absent, -1 (reported) if malformed."""
    if item.get(key) is None:
        return 0
    t = _time(item[key], end, ctx)
    if t < 0:
        ctx.err(q + "." + key, "malformed time %r (YYYY-MM-DD or YYYY-MM-DDTHH:MM)" % (item[key],))
    return t


def _plates(u, ctx, p):
    pl = u.get("plates", [])
    if pl is None:
        pl = []
    plist = []
    if not isinstance(pl, list):
        ctx.err(p + ".plates", "must be a list of plates")
        return plist
    if len(pl) > fmt.MAX_PLATES:
        ctx.err(p + ".plates", "too many plates: %d (at most %d)" % (len(pl), fmt.MAX_PLATES))
    if not pl:
        return plist
    import plates as platesmod  # only for users with plates

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
        t0 = _window_end(item, "from", False, ctx, q)
        t1 = _window_end(item, "to", True, ctx, q)
        if t0 > 0 and t1 > 0 and t1 < t0:
            ctx.err(q + ".to", "plate window ends before it starts")
        twice = False
        for x in plist:
            if x[0] == plate:
                twice = True
        if twice:
            ctx.err(q + ".plate", "plate %s listed twice" % plate)
            continue
        plist.append((plate, max(t0, 0), max(t1, 0)))
    return plist


def _relays(u, ctx, p):
    relays = _numbers(u.get("relays", [1]), 1, 8, ctx, p + ".relays", "relay")
    if relays == 0:
        ctx.err(p + ".relays", "must name at least one relay")
    elif relays is not None:
        for r in u["relays"] if "relays" in u else [1]:
            if r not in ctx.relay_ids:
                ctx.err(p + ".relays", "unknown relay %d (this site has %s)"
                        % (r, str(list(ctx.relay_ids))[1:-1].replace(" ", "")))  # "1,2"
                break
    return relays


def _validity(u, ctx, p, out):
    vf = vt = 0
    if u.get("valid_from") not in (None, ""):
        vf = _time(u["valid_from"], False, ctx)
        if vf < 0:
            ctx.err(p + ".valid_from", "malformed time %r (YYYY-MM-DD or YYYY-MM-DDTHH:MM)" % (u["valid_from"],))
    if u.get("valid_to") not in (None, ""):
        vt = _time(u["valid_to"], True, ctx)
        if vt < 0:
            ctx.err(p + ".valid_to", "malformed time %r (YYYY-MM-DD or YYYY-MM-DDTHH:MM)" % (u["valid_to"],))
    if vf > 0 and vt > 0 and vt < vf:
        ctx.err(p + ".valid_to", "valid_to is before valid_from")
    out["valid_from"] = max(vf, 0)
    out["valid_to"] = max(vt, 0)


def _schedules(u, ctx, p):
    sl = u.get("schedules", ["Always"])
    if sl is None or sl == []:
        sl = ["Always"]
    ids = []
    if not isinstance(sl, list):
        ctx.err(p + ".schedules", "must be a list of schedule names or ids")
        return (0,)
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
    return tuple(ids) if ids else (0,)


def table_user(u, fid, tz, relay_ids, schedules, keyed, path):
    """User document `u` normalised for a device edit of a table (its card format id `fid`, the
    site's time zone, its relays, custom schedules and keyed hash, None without a usable site
    key; times may be unix seconds); ConfigError at the first error, naming the field as
    "user.<field>" of the table file `path`."""
    ctx = Ctx(fid, tz, relay_ids, None, False, path, True)
    ctx.keyed = keyed
    ctx.use_schedules(schedules)
    nu = user(u, ctx, "user")
    if nu is None:  # not reached: collect=False raises at the first error
        raise ConfigError(path, "user", "invalid user")
    return nu

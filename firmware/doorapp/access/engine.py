"""The access engine: credential -> user -> checks in a fixed order -> Decision.

Pure logic: the user table, schedules, config, TZ rule and clock are injected, so every rule is
tested without hardware (docs/access-engine.md has the full rules). Check order, first failure
wins and names the event log reason:

  1 credential kind enabled          disabled
  2 lookup in the user table         unknown_credential
  3 user valid period                not_yet_valid / expired (clock_not_set if bounded and
                                     the clock is not set)
  4 schedules: Never                 schedule (Never wins over every other schedule, admins too)
  5 schedules: clock not set         clock_not_set unless Always (or an admin with bypass)
  6 schedules: custom                schedule (admins skip this with access.admin_bypass)
  7 relay rights                     no_relay_rights (none of this reader's relays and no
                                     mapped floor)
  8 credential validity (plates)     clock_not_set / not_yet_valid / expired
  9 unlock intervals                 interval (admins skip this with access.admin_bypass)
    granted                          ok

Times: validity windows are unix seconds (inclusive both ends, 0 = unbounded); schedules are
evaluated in local time from the TZ rule; intervals use the monotonic clock, so setting the
wall clock never blocks or frees anybody.
"""
import eventlog
from micropython import const

from compat import ticks_diff
from configerror import ConfigError
from doorapp.access.decision import Decision

# the event log's codes (lib/eventcodes.py names them)
_KIND_CARD = const(1)
_KIND_PIN = const(2)
_KIND_QR = const(3)
_KIND_BLE = const(4)
_KIND_PLATE = const(5)
_KIND_API = const(7)
_REASON_OK = const(0)
_REASON_UNKNOWN_CREDENTIAL = const(1)
_REASON_NO_RELAY_RIGHTS = const(2)
_REASON_SCHEDULE = const(3)
_REASON_EXPIRED = const(4)
_REASON_NOT_YET_VALID = const(5)
_REASON_DISABLED = const(6)
_REASON_CLOCK_NOT_SET = const(7)
_REASON_INTERVAL = const(13)

# schedule ids as doorapp.access.schedule numbers them; that module (and tzrule) is only loaded when
# the site has custom schedules or relay holds: most doors need neither, and both cost heap
_ALWAYS = const(0)
_NEVER = const(1)
_ROLE_ADMIN = const(1)
_RING = const(16)  # grants remembered for the unlock intervals
_MAX_BOARD_RELAY = const(8)

PROMPTS = {
    _REASON_OK: "Welcome",
    _REASON_UNKNOWN_CREDENTIAL: "Unknown credential",
    _REASON_DISABLED: "Not enabled",
    _REASON_NOT_YET_VALID: "Not valid yet",
    _REASON_EXPIRED: "Access expired",
    _REASON_CLOCK_NOT_SET: "Clock not set",
    _REASON_SCHEDULE: "Not allowed now",
    _REASON_NO_RELAY_RIGHTS: "No door rights",
    _REASON_INTERVAL: "Please wait",
}

# credential kind -> user table lookup method (KIND_API: value is a user id)
_LOOKUPS = (
    (_KIND_CARD, "by_card"),
    (_KIND_PIN, "by_pin"),
    (_KIND_QR, "by_qr"),
    (_KIND_BLE, "by_ble"),
    (_KIND_PLATE, "by_plate"),
    (_KIND_API, "by_id"),
)


def _mask(nums):
    m = 0
    for n in nums:
        m |= 1 << (n - 1)
    return m


class AccessEngine:
    """`decide(kind, value, relay=None)` for credentials, `held_relays(now)` for schedule holds.

    table: by_card/by_pin/by_plate/by_qr/by_ble/by_id -> record or None (docs/user-model.md);
    schedules: a schedule.ScheduleSet (or the document's list of definitions);
    config: the validated config.json (doorapp/config/schema.py); tz: a tzrule.TzRule, or a POSIX TZ
    text parsed on first use (only custom schedules and holds need local time);
    clock: now() -> unix seconds or 0 when not set, ticks_ms() monotonic (doorapp.clock).
    Raises ConfigError if a relay's hold schedule names no schedule.
    """

    def __init__(self, table, schedules, config, tz, clock, path="config.json"):
        self.tz = tz
        self.clock = clock
        self.path = path
        self.cards_enabled = config["card"]["enabled"]
        acc = config["access"]
        self.admin_bypass = acc["admin_bypass"]
        self.same_ms = acc["interval_same_s"] * 1000
        self.other_ms = acc["interval_other_s"] * 1000
        self.interval_ble_only = acc["interval_kinds"] == "ble"
        self.relay_cfg = config["relays"]
        self.board_mask = _mask([int(k) for k in config["relays"] if int(k) <= _MAX_BOARD_RELAY])
        self._floor_relay = [0] * 33  # index = floor, value = relay number (0 = not mapped)
        self.floor_mask = 0
        for f in config["floors"]:
            self._floor_relay[int(f)] = config["floors"][f]
            self.floor_mask |= 1 << (int(f) - 1)
        self._tuples = {}  # bit mask -> tuple of numbers, filled as masks occur
        self._iv_user = [0] * _RING
        self._iv_t = [0] * _RING
        self._iv_next = 0
        self._badge = [0] * (_MAX_BOARD_RELAY + 1)  # relay -> local date (yyyymmdd) of an RSA badge-in
        self._lt_at = None
        self._lt = None
        self.table = None
        self.schedules = None
        self.holds = ()
        self.set_table(table, schedules)

    def set_table(self, table, schedules):
        """Use a new user table / schedule set (users changed) keeping interval and badge-in
        memory. Checks the relay hold schedules first: ConfigError and nothing changed if one
        is unknown."""
        holds = []
        refs = [k for k in self.relay_cfg if self.relay_cfg[k].get("schedule", "")]
        if schedules is None or (isinstance(schedules, list) and not schedules and not refs):
            schedules = None  # Always and Never only: no schedule code loaded
        else:
            from doorapp.access import schedule as schedmod

            if not isinstance(schedules, schedmod.ScheduleSet):
                schedules = schedmod.compile_all(schedules)
            self._admits = schedmod.admits
        for key in refs:
            rc = self.relay_cfg[key]
            ref = rc["schedule"]
            sid = schedules.resolve(ref)
            if sid is None:
                raise ConfigError(self.path, "relays.%s.schedule" % key, "no schedule named %r" % ref)
            holds.append((int(key), schedules.get(sid), rc.get("schedule_needs_badge", False)))
        lookups = {}
        for kind, name in _LOOKUPS:
            fn = getattr(table, name, None)
            if fn is not None:
                lookups[kind] = fn
        self.table = table
        self.schedules = schedules
        self.holds = tuple(holds)
        self._lookups = lookups

    # --- helpers ----------------------------------------------------------------------------
    def local(self, now):
        """Local time tuple of unix `now` (cached for the current second)."""
        if now != self._lt_at:
            if isinstance(self.tz, str):
                import tzrule

                self.tz = tzrule.parse(self.tz)
            self._lt = self.tz.utc_to_local(now)
            self._lt_at = now
        return self._lt

    def _tuple(self, mask):
        t = self._tuples.get(mask)
        if t is None:
            nums = []
            n = 1
            m = mask
            while m:
                if m & 1:
                    nums.append(n)
                m >>= 1
                n += 1
            t = tuple(nums)
            self._tuples[mask] = t
        return t

    def _deny(self, user, reason):
        return Decision(False, user, (), reason, PROMPTS[reason])

    def _reader_mask(self, relay):
        if relay is None:
            return self.board_mask
        if isinstance(relay, int):
            return (1 << (relay - 1)) & self.board_mask if relay > 0 else 0
        return _mask(relay) & self.board_mask

    def _interval_blocked(self, uid, t):
        """Same user granted < interval_same_s ago, or another user < interval_other_s ago.
        Expired entries are dropped here (and in held_relays) long before ticks wrap."""
        same = self.same_ms
        other = self.other_ms
        longest = same if same > other else other
        users = self._iv_user
        times = self._iv_t
        blocked = False
        for i in range(_RING):
            u = users[i]
            if not u:
                continue
            age = ticks_diff(t, times[i])
            if age < 0 or age >= longest:
                users[i] = 0
            elif age < (same if u == uid else other):
                blocked = True
        return blocked

    def _remember(self, uid, t):
        i = self._iv_next
        self._iv_user[i] = uid
        self._iv_t[i] = t
        self._iv_next = (i + 1) % _RING

    # --- the decision -----------------------------------------------------------------------
    def decide(self, kind, value, relay=None):
        """Decision for a credential of `kind` (eventcodes.KIND_*) with its normalised value
        (card code in the configured format, plate via plates.normalize, ...). `relay`: the
        relay number(s) this reader/door controls, None = every relay on the board."""
        if kind == _KIND_CARD and not self.cards_enabled:
            return self._deny(None, _REASON_DISABLED)
        look = self._lookups.get(kind)
        if look is None:
            if kind in (_KIND_CARD, _KIND_PIN, _KIND_QR, _KIND_BLE,
                        _KIND_PLATE, _KIND_API):
                return self._deny(None, _REASON_DISABLED)
            raise ValueError("no access decision for credential kind %r" % (kind,))
        if kind == _KIND_BLE and isinstance(value, int):
            look = self.table.by_id  # a paired phone (doorapp/readers/ble.py): its user's id
        u = look(value)
        if u is None:
            return self._deny(None, _REASON_UNKNOWN_CREDENTIAL)
        now = self.clock.now()
        # 3 user valid period
        r = _window(u.valid_from, u.valid_to, now)
        if r:
            return self._deny(u, r)
        # 4-6 schedules
        sch = u.schedules
        if _NEVER in sch:
            return self._deny(u, _REASON_SCHEDULE)
        admin = self.admin_bypass and u.role == _ROLE_ADMIN
        if not admin and _ALWAYS not in sch:
            if not sch or self.schedules is None:  # no schedule, or one the table doesn't define
                return self._deny(u, _REASON_SCHEDULE)
            if not now:
                return self._deny(u, _REASON_CLOCK_NOT_SET)
            lt = self.local(now)
            ok = False
            admits = self._admits
            for sid in sch:
                if admits(self.schedules.get(sid), lt):
                    ok = True
                    break
            if not ok:
                return self._deny(u, _REASON_SCHEDULE)
        # 7 relay rights (+ floors)
        rmask = u.relays & self._reader_mask(relay)
        fmask = u.floors & self.floor_mask
        out = rmask
        if fmask:
            fr = self._floor_relay
            for f in range(1, 33):
                if fmask >> (f - 1) & 1:
                    out |= 1 << (fr[f] - 1)
        if not out:
            return self._deny(u, _REASON_NO_RELAY_RIGHTS)
        # 8 credential validity: a plate's own window
        if kind == _KIND_PLATE:
            r = _window(u.plate_from, u.plate_to, now)
            if r:
                return self._deny(u, r)
        # 9 unlock intervals
        if (self.same_ms or self.other_ms) and (kind == _KIND_BLE or not self.interval_ble_only):
            t = self.clock.ticks_ms()
            if not admin and self._interval_blocked(u.id, t):
                return self._deny(u, _REASON_INTERVAL)
            self._remember(u.id, t)
        hold = 0
        if u.rsa and now and self.holds:
            today = self._today(now)
            for rid, _s, needs_badge in self.holds:
                if needs_badge and rmask >> (rid - 1) & 1 and self._badge[rid] != today:
                    self._badge[rid] = today
                    hold |= 1 << (rid - 1)
        return Decision(True, u, self._tuple(out), _REASON_OK, PROMPTS[_REASON_OK],
                        self._tuple(fmask) if fmask else (), hold)

    def _today(self, now):
        lt = self.local(now)
        return lt[0] * 10000 + lt[1] * 100 + lt[2]

    # --- relay schedule hold ----------------------------------------------------------------
    def held_relays(self, now=None):
        """Bit mask (bit 0 = relay 1) of relays to hold open now: their schedule admits the
        local time and, if schedule_needs_badge, an RSA user was granted on it today (the
        memory resets at local midnight and on reboot). Nothing is held while the clock is not
        set, except relays held on Always without badge. Poll about once a second."""
        if now is None:
            now = self.clock.now()
        if self.same_ms or self.other_ms:
            self._interval_blocked(0, self.clock.ticks_ms())  # drop expired entries
        mask = 0
        if not self.holds:
            return 0
        admits = self._admits
        for rid, s, needs_badge in self.holds:
            if not now:
                if s.id == _ALWAYS and not needs_badge:
                    mask |= 1 << (rid - 1)
                continue
            if admits(s, self.local(now)) and (not needs_badge or self._badge[rid] == self._today(now)):
                mask |= 1 << (rid - 1)
        return mask

    def badge_in(self, relay):
        """Local date (yyyymmdd) of today's RSA badge-in on `relay`, 0 = none (state/API)."""
        return self._badge[relay] if 0 < relay <= _MAX_BOARD_RELAY else 0


def _window(lo, hi, now):
    """Reason a [lo, hi] validity window (0 = unbounded) refuses `now` (0 = clock not set)."""
    if not lo and not hi:
        return 0
    if not now:
        return _REASON_CLOCK_NOT_SET
    if lo and now < lo:
        return _REASON_NOT_YET_VALID
    if hi and now > hi:
        return _REASON_EXPIRED
    return 0

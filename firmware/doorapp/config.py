"""Device configuration (config.json on flash): schema with types, ranges and defaults.

Validated on load and on every change; an invalid file stops start-up with one message naming
the file and the field, and nothing on flash is touched. Unknown keys are errors (typos must not
silently fall back to defaults). Secrets never live here (see DESIGN §4).
"""
import sys

import cardfmt
from configerror import ConfigError
from doorapp.cfgvalue import check_value

MAX_FLOOR = 32
EXPANDER_FIRST = 9  # relay numbers 9..40 are I/O expander outputs (floor map only)
EXPANDER_LAST = 40

# field: (kind, default, lo, hi) — kind is int, bool, str (lo/hi = length) or a tuple of choices
SECTIONS = {
    "device": {"id": (str, "door-1", 1, 12), "name": (str, "doorctl", 1, 63)},
    "card": {"enabled": (bool, True, 0, 0), "format": (cardfmt.FORMATS, cardfmt.DEFAULT, 0, 0)},
    # poll_ms: pause between reader polls (each poll itself waits ~15 ms for a card);
    # removal_ms: a card must be gone this long before the same card counts as a new tap
    "reader": {"poll_ms": (int, 10, 0, 1000), "removal_ms": (int, 300, 50, 5000)},
    "events": {"capacity": (int, 1000, 100, 50000)},
    # tz: POSIX TZ rule, e.g. "CET-1CEST,M3.5.0,M10.5.0/3" (schedules use local time; checked
    # with tzrule); ntp: NTP server, "" = don't sync (clock set by RTC / control channel only);
    # ntp_interval_s: re-sync period after a success (failures retry sooner, with backoff)
    "time": {"tz": (str, "UTC0", 3, 63), "ntp": (str, "pool.ntp.org", 0, 63),
             "ntp_interval_s": (int, 3600, 60, 86400)},
    # access engine (docs/access-engine.md): unlock intervals (0 = off) for the same user /
    # different users, which credential kinds they apply to ("ble" = the vendor's behaviour),
    # and whether administrators skip custom schedules and intervals (never Never)
    "access": {"interval_same_s": (int, 0, 0, 3600), "interval_other_s": (int, 0, 0, 3600),
               "interval_kinds": (("all", "ble"), "all", 0, 0), "admin_bypass": (bool, True, 0, 0)},
    # Wi-Fi station; the password lives in secrets.json, never here
    "network": {"ssid": (str, "", 0, 32), "hostname": (str, "doorctl", 1, 32)},
    # HTTP API: the vendor's "Open Relay Via HTTP" (/fcgi/do) is off until enabled, with its own
    # user name (its password is a hash in secrets.json)
    "http": {"open_relay_via_http": (bool, False, 0, 0), "open_username": (str, "", 0, 32)},
    # licence plates from an LPR camera (POST /api/v1/lpr): off until enabled; relay: the gate
    # relay a plate opens unless the request names another; username: the camera's own account,
    # good for nothing but POST /api/v1/lpr ("" = none; its password is a hash in secrets.json,
    # set with POST /api/v1/lpr/camera)
    "lpr": {"enabled": (bool, False, 0, 0), "relay": (int, 1, 1, 8), "username": (str, "", 0, 32)},
}
# schedule: name or id of a schedule during which the relay is held open ("" = none);
# schedule_needs_badge: only once a user with Relay Schedule Activation has been granted it today
RELAY = {"hold_ms": (int, 5000, 100, 600000), "schedule": (str, "", 0, 63),
         "schedule_needs_badge": (bool, False, 0, 0)}
INPUT = {
    "enabled": (bool, True, 0, 0),
    "trigger": (("low", "high"), "low", 0, 0),
    "debounce_ms": (int, 50, 0, 2000),
    "relay": (int, 0, 0, 8),  # 0 = opens nothing
}
# door sensor: reed switch closes to GND while the door is shut, so "high" means open
INPUT_DEFAULTS = {"exit_button": {"relay": 1, "trigger": "low"}, "door_sensor": {"trigger": "high"}}


def _section(given, schema, path, prefix, defaults=None):
    if not isinstance(given, dict):
        raise ConfigError(path, prefix, "must be an object")
    for key in given:
        if key not in schema:
            raise ConfigError(path, prefix + "." + key, "unknown setting")
    out = {}
    for key in schema:
        spec = schema[key]
        default = spec[1]
        if defaults and key in defaults:
            default = defaults[key]
        out[key] = check_value(given[key], spec, path, prefix + "." + key) if key in given else default
    return out


def validate(cfg, board_spec, path="config.json", known_tz=None, known_verify=None):
    """Return a complete config (defaults filled in) or raise ConfigError naming the field.

    A change of a live config passes the live time.tz and verify section: when they are
    unchanged their (big) checkers aren't loaded again."""
    if not isinstance(cfg, dict):
        raise ConfigError(path, "(top)", "must be a JSON object")
    for key in cfg:
        if key not in SECTIONS and key not in ("relays", "inputs", "floors", "verify"):
            raise ConfigError(path, key, "unknown section")
    out = {}
    for name in SECTIONS:
        out[name] = _section(cfg.get(name, {}), SECTIONS[name], path, name)
    if out["time"]["tz"] != known_tz:  # a change of a live, already checked config skips it
        _check_tz(out["time"]["tz"], path)
    relay_ids = [r["id"] for r in board_spec["relays"]]
    given = cfg.get("relays", {})
    if not isinstance(given, dict):
        raise ConfigError(path, "relays", "must be an object keyed by relay id")
    for key in given:
        if key not in [str(i) for i in relay_ids]:
            raise ConfigError(path, "relays." + key, "no such relay on this board")
    out["relays"] = {}
    for rid in relay_ids:
        out["relays"][str(rid)] = _section(given.get(str(rid), {}), RELAY, path, "relays.%d" % rid)
    given = cfg.get("inputs", {})
    if not isinstance(given, dict):
        raise ConfigError(path, "inputs", "must be an object keyed by input id")
    kinds = {}
    for inp in board_spec["inputs"]:
        kinds[inp["id"]] = inp["kind"]
    for key in given:
        if key not in kinds:
            raise ConfigError(path, "inputs." + key, "no such input on this board")
    out["inputs"] = {}
    for name in kinds:
        sec = _section(given.get(name, {}), INPUT, path, "inputs." + name, INPUT_DEFAULTS.get(kinds[name]))
        if sec["relay"] and sec["relay"] not in relay_ids:
            raise ConfigError(path, "inputs.%s.relay" % name, "no relay %d on this board" % sec["relay"])
        out["inputs"][name] = sec
    if out["lpr"]["relay"] not in relay_ids:
        raise ConfigError(path, "lpr.relay", "no relay %d on this board" % out["lpr"]["relay"])
    out["floors"] = _floors(cfg.get("floors", {}), relay_ids, path)
    if known_verify is not None and cfg.get("verify") == known_verify:
        out["verify"] = known_verify  # checked for this board already
    else:
        from doorapp import verify_config

        out["verify"] = verify_config.validate(cfg.get("verify", {}), path, relay_ids)
    return out


def _check_tz(text, path):
    """time.tz must parse with tzrule; tzrule is dropped again unless it was loaded already
    (config is validated at start-up and on changes: its helpers don't stay in the heap)."""
    had = "tzrule" in sys.modules
    import tzrule

    try:
        tzrule.parse(text)
    except ValueError as e:
        raise ConfigError(path, "time.tz", str(e))
    finally:
        if not had:
            sys.modules.pop("tzrule", None)


def _floors(given, relay_ids, path):
    """Elevator floor map {"floor": relay}: relays 1-8 on the board, 9-40 on an I/O expander."""
    if not isinstance(given, dict):
        raise ConfigError(path, "floors", "must be an object mapping floor numbers to relay numbers")
    out = {}
    for key in given:
        field = "floors." + key
        if not key.isdigit() or not 1 <= int(key) <= MAX_FLOOR:
            raise ConfigError(path, field, "floor must be a number 1-%d" % MAX_FLOOR)
        floor = str(int(key))
        if floor in out:
            raise ConfigError(path, field, "floor %s given twice" % floor)
        r = given[key]
        if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= EXPANDER_LAST:
            raise ConfigError(path, field, "must be a relay number 1-8 on the board or %d-%d on an I/O expander, "
                              "got %r" % (EXPANDER_FIRST, EXPANDER_LAST, r))
        if r < EXPANDER_FIRST and r not in relay_ids:
            raise ConfigError(path, field, "no relay %d on this board (%d-%d are I/O expander outputs)"
                              % (r, EXPANDER_FIRST, EXPANDER_LAST))
        out[floor] = r
    return out


def defaults(board_spec):
    return validate({}, board_spec)

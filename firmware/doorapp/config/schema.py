"""Device configuration (config.json on flash): schema with types, ranges and defaults.

Validated on load and on every change; an invalid file stops start-up with one message naming
the file and the field, and nothing on flash is touched. Unknown keys are errors (typos must not
silently fall back to defaults). Secrets never live here (doorapp/config/secrets.py).

The `verify` section (third-party verification, docs/verify.md) is checked by
validate_verify(), which also compiles its URL template: an unknown or unavailable {Variable}
is refused when the config is saved, not when the first card is presented.
"""
import cardfmt
from configerror import ConfigError

MAX_FLOOR = 32
_UTC = "UTC0"  # the default time.tz: valid without loading the TZ rule parser
# what a lean board (ESP32-WROOM-32) can't hold next to its core, refused when configured:
# (section, field, the setting's "off" value, what it is) (docs/memory.md)
LEAN_OFF = (("network", "ssid", "", "Wi-Fi with the HTTP API"), ("verify", "mode", "off", "third-party verification"),
            ("lpr", "enabled", False, "licence plates from LPR cameras"), ("ble", "enabled", False, "BLE unlock"),
            ("http", "tls", "off", "HTTPS"))
EXPANDER_FIRST = 9  # relay numbers 9..40 are I/O expander outputs (floor map only)
EXPANDER_LAST = 40

# field: (kind, default, lo, hi) — kind is int, bool, str (lo/hi = length) or a tuple of choices
SECTIONS = {
    "device": {"id": (str, "door-1", 1, 12), "name": (str, "doorctl", 1, 63)},
    # mifare: the card code read from an encrypted MIFARE Classic sector instead of the UID
    # (MIFARE below; docs/cards-mifare.md); desfire: from a DESFire file (doorapp/config/desfirecfg.py,
    # docs/cards-desfire.md), plus: from a MIFARE Plus SL3 block (doorapp/config/pluscfg.py,
    # docs/cards-plus.md), nfc: from a phone app (doorapp/config/nfccfg.py, docs/cards-nfc.md), not listed here: validate() checks them apart (_APART: their names stay
    # off lean boards)
    "card": {"enabled": (bool, True, 0, 0), "format": (cardfmt.FORMATS, cardfmt.DEFAULT, 0, 0), "mifare": None},
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
    # tls: "on" serves the API over HTTPS (port 443; key and certificate files on flash, made by
    # `doorctl provision --tls`; docs/https.md), and the plain port 80 then only redirects to it
    # (redirect_http) or is off; used from the next start
    "http": {"open_relay_via_http": (bool, False, 0, 0), "open_username": (str, "", 0, 32),
             "tls": (("off", "on"), "off", 0, 0), "redirect_http": (bool, True, 0, 0)},
    # licence plates from an LPR camera (POST /api/v1/lpr): off until enabled; relay: the gate
    # relay a plate opens unless the request names another; username: the camera's own account,
    # good for nothing but POST /api/v1/lpr ("" = none; its password is a hash in secrets.json,
    # set with POST /api/v1/lpr/camera)
    "lpr": {"enabled": (bool, False, 0, 0), "relay": (int, 1, 1, 8), "username": (str, "", 0, 32)},
    # BLE unlock (docs/ble.md): key fobs (users' `ble`) open within bkey_range_m as they come
    # near; phones within trigger_m (hands_free) or when waved at the reader; movement_detection:
    # a phone's message must say it moved in the last seconds; rssi_1m and path_loss_x10 (the
    # exponent n x 10): the distance model, RSSI = rssi_1m - 10 n log10(metres). The unlock
    # intervals are access.interval_same_s / interval_other_s (interval_kinds "ble": BLE alone).
    "ble": {"enabled": (bool, False, 0, 0), "hands_free": (bool, True, 0, 0), "trigger_m": (int, 1, 1, 3),
            "bkey_range_m": (("1-3", "4-6", "7-9"), "1-3", 0, 0), "movement_detection": (bool, False, 0, 0),
            "rssi_1m": (int, -59, -100, -20), "path_loss_x10": (int, 20, 10, 50)},
}
# card.mifare (docs/cards-mifare.md): sector 0-15 and block 0-2 in it (3 is the sector trailer)
# holding the card code, read with key A or B (the key: secrets.json mifare_key); uid_fallback:
# cards that are not MIFARE Classic are decided on their UID (off: denied, card_not_mifare)
MIFARE = {"enabled": (bool, False, 0, 0), "sector": (int, 1, 0, 15), "block": (int, 0, 0, 3),
          "key_type": (("A", "B"), "A", 0, 0), "uid_fallback": (bool, False, 0, 0)}
SECTIONS["card"]["mifare"] = (MIFARE, None, 0, 0)
# card.felica (docs/cards-felica.md): the reader polls FeliCa cards too (IDm as the card number)
SECTIONS["card"]["felica"] = ({"enabled": (bool, False, 0, 0), "kbps": ((212, 424), 212, 0, 0)}, None, 0, 0)
_OFF = {"enabled": False}  # card.desfire, card.plus on a lean board (their own checkers: the whole section)
# card sections checked by a module of their own: (field, its checker doorapp.config.<module>,
# what the lean refusal calls it)
_APART = (("desfire", "desfirecfg", "DESFire cards"), ("plus", "pluscfg", "MIFARE Plus cards"),
          ("nfc", "nfccfg", "NFC phones"))
# schedule: name or id of a schedule during which the relay is held open ("" = none);
# schedule_needs_badge: only once a user with Relay Schedule Activation has been granted it today
RELAY = {"hold_ms": (int, 5000, 100, 600000), "schedule": (str, "", 0, 63),
         "schedule_needs_badge": (bool, False, 0, 0)}
# an input's actions when it triggers (docs/inputs.md): relay = "Execute Relay" (0 = none),
# http_url = a GET to send (ACTION_VARIABLES), after action_delay_s, unconditionally or only
# if the input is still triggered then; door sensors: the held-open alarm after
# door_opened_timeout_s, the break-in (forced door) alarm, door_relay = the relay of its door
INPUT = {
    "enabled": (bool, True, 0, 0),
    "trigger": (("low", "high"), "low", 0, 0),
    "debounce_ms": (int, 50, 0, 2000),
    "relay": (int, 0, 0, 8),
    "http_url": (str, "", 0, 255),
    "action_delay_s": (int, 0, 0, 3600),
    "delay_mode": (("unconditional", "still_triggered"), "unconditional", 0, 0),
}
DOOR_SENSOR = dict(INPUT)
DOOR_SENSOR.update({
    "alarm_door_opened": (bool, True, 0, 0),
    "door_opened_timeout_s": (int, 60, 1, 86400),
    "break_in": (bool, True, 0, 0),
    "door_relay": (int, 1, 1, 8),
})
# door sensor: reed switch closes to GND while the door is shut, so "high" means open
INPUT_DEFAULTS = {"exit_button": {"relay": 1, "trigger": "low"}, "door_sensor": {"trigger": "high"}}


def check_value(value, spec, path, field):
    kind, _default, lo, hi = spec
    if isinstance(kind, dict):  # a nested object (card.mifare)
        value = _section(value, kind, path, field)
        if kind is MIFARE:
            _check_mifare(value, path, field)
    elif isinstance(kind, tuple):
        if value not in kind:
            raise ConfigError(path, field, "must be one of %s, got %r" % ("/".join([str(k) for k in kind]), value))
    elif kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, field, "must be true or false, got %r" % (value,))
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, field, "must be an integer, got %r" % (value,))
        if not lo <= value <= hi:
            raise ConfigError(path, field, "must be between %d and %d, got %d" % (lo, hi, value))
    elif kind is str:
        if not isinstance(value, str) or not lo <= len(value) <= hi:
            raise ConfigError(path, field, "must be text of %d-%d characters" % (lo, hi))
    return value


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
        if key in given:
            out[key] = check_value(given[key], spec, path, prefix + "." + key)
        elif isinstance(spec[0], dict):  # (a nested object's defaults: a dict of its own)
            out[key] = _section({}, spec[0], path, prefix + "." + key)
        else:
            out[key] = default
    return out


def _check_mifare(m, path, field):
    if m["block"] == 3:
        raise ConfigError(path, field + ".block", "block 3 is the sector trailer (keys and access bits): "
                          "the card code goes in block 0, 1 or 2")
    if m["sector"] == 0 and m["block"] == 0:
        raise ConfigError(path, field + ".block", "sector 0 block 0 is the manufacturer block (UID): "
                          "use block 1 or 2, or another sector")


def validate(cfg, board_spec, path="config.json", known_tz=None, known_verify=None):
    """Return a complete config (defaults filled in) or raise ConfigError naming the field.

    A change of a live config passes the live time.tz and verify section: when they are
    unchanged their (big) checkers aren't loaded again."""
    if not isinstance(cfg, dict):
        raise ConfigError(path, "(top)", "must be a JSON object")
    for key in cfg:
        if key not in SECTIONS and key not in ("relays", "inputs", "floors", "verify", "web_relays", "wiegand_out"):
            raise ConfigError(path, key, "unknown section")
    out = {}
    lean = board_spec.get("profile", "lean") == "lean"
    apart = {}
    for name in SECTIONS:
        given = cfg.get(name, {})
        if name == "card" and isinstance(given, dict):
            given = dict(given)
            for field, _m, _w in _APART:
                if field in given:
                    apart[field] = given.pop(field)
        out[name] = _section(given, SECTIONS[name], path, name)
    for field, module, _w in _APART:
        given = apart.get(field)
        if given is None or given == _OFF:
            given = None if lean else {}
        if given is None:  # a lean board with it off: its checker and names not loaded
            out["card"][field] = dict(_OFF)
        else:
            out["card"][field] = __import__("doorapp.config." + module, None, None, ("check",)).check(
                given, path, _section)
    if out["ble"]["enabled"]:  # the device ID goes into the door's advert (docs/ble.md)
        for ch in out["device"]["id"]:
            if not " " <= ch <= "~":
                raise ConfigError(path, "device.id", "must be printable ASCII while BLE is on (it is advertised), "
                                  "got %r" % out["device"]["id"])
    if out["time"]["tz"] not in (known_tz, _UTC):  # (a live config's, checked already; the default)
        _check_tz(out["time"]["tz"], path)
    if "wiegand_out" in board_spec or "wiegand_out" in cfg:  # its own module: boards with the pins
        from doorapp.config import wgout

        wgout.check(cfg.get("wiegand_out", {}), board_spec, path, out, _section)
    relay_ids = [r["id"] for r in board_spec["relays"]]
    if lean:
        for sec, key, off, what in LEAN_OFF:
            given = cfg.get(sec)
            if isinstance(given, dict) and given.get(key, off) != off:
                raise ConfigError(path, sec + "." + key, "%s does not fit a lean board's heap (board %s, profile lean): "
                                  "use a psram board (docs/memory.md)" % (what, board_spec.get("name", "?")))
        if out["card"]["mifare"]["enabled"]:  # (nested: not in LEAN_OFF; ~2 KB, measured in docs/cards-mifare.md)
            raise ConfigError(path, "card.mifare.enabled", "MIFARE encryption does not fit a lean board's heap (board %s, "
                              "profile lean): use a psram board (docs/memory.md)" % board_spec.get("name", "?"))
        if out["card"]["felica"]["enabled"]:
            raise ConfigError(path, "card.felica.enabled", "FeliCa cards do not fit a lean board's heap (board %s, "
                              "profile lean): use a psram board (docs/memory.md)" % board_spec.get("name", "?"))
        for field, _m, what in _APART:  # (docs/cards-desfire.md, docs/cards-plus.md)
            if out["card"][field]["enabled"]:
                raise ConfigError(path, "card.%s.enabled" % field, "%s do not fit a lean board's heap (board %s, "
                                  "profile lean): use a psram board (docs/memory.md)" % (what, board_spec.get("name", "?")))
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
        g = given.get(name, {})
        door = kinds[name] == "door_sensor"  # (only door sensors have alarms: an exit button's are unknown settings)
        sec = _section(g, DOOR_SENSOR if door else INPUT, path, "inputs." + name, INPUT_DEFAULTS.get(kinds[name]))
        if sec["relay"] and sec["relay"] not in relay_ids:
            raise ConfigError(path, "inputs.%s.relay" % name, "no relay %d on this board" % sec["relay"])
        if door and sec["door_relay"] not in relay_ids:
            raise ConfigError(path, "inputs.%s.door_relay" % name, "no relay %d on this board" % sec["door_relay"])
        if sec["http_url"]:
            from doorapp.config import actions

            actions.check_url(sec["http_url"], board_spec, path, "inputs.%s.http_url" % name)
        out["inputs"][name] = sec
    out["web_relays"] = {}
    if cfg.get("web_relays", {}) != {}:
        from doorapp.config import actions

        out["web_relays"] = actions.web_relays(cfg["web_relays"], board_spec, path)
    if out["lpr"]["relay"] not in relay_ids:
        raise ConfigError(path, "lpr.relay", "no relay %d on this board" % out["lpr"]["relay"])
    out["floors"] = _floors(cfg.get("floors", {}), relay_ids, path)
    if known_verify is not None and cfg.get("verify") == known_verify:
        out["verify"] = known_verify  # checked for this board already
    else:
        out["verify"] = validate_verify(cfg.get("verify", {}), path, relay_ids)
    return out


def _check_tz(text, path):
    """time.tz must parse with tzrule."""
    import tzrule

    try:
        tzrule.parse(text)
    except ValueError as e:
        raise ConfigError(path, "time.tz", str(e))


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


MODES = ("off", "general", "customize")
AUTH_MODES = ("any", "card_pin", "pin_card")
SOURCES = ("local", "remote", "remote_fallback")
PROMPTS = ("default", "return_value")
METHODS = ("qr", "card", "pin", "ble")

# Variables each mode can fill (seed 004: General sends QR codes only).
GENERAL_VARIABLES = ("QRCode", "DeviceID", "Time")

# field: (kind, default, lo, hi), as SECTIONS
VERIFY_FIELDS = {
    "mode": (MODES, "off", 0, 0),
    "url": (str, "", 0, 255),
    "device_id": (str, "", 0, 63),
    "auth_mode": (AUTH_MODES, "any", 0, 0),
    "timeout_ms": (int, 3000, 500, 10000),
    "step_timeout_ms": (int, 10000, 2000, 60000),
    "prompt": (PROMPTS, "default", 0, 0),
    "prompt_field": (str, "message", 1, 31),
    "max_redirects": (int, 3, 0, 5),
    "ca_file": (str, "", 0, 63),
}
METHOD_DEFAULTS = {  # BLE (fobs, phones) is local unless a site sends it (docs/verify.md)
    "general": {"qr": "remote", "card": "local", "pin": "local", "ble": "local"},
    "customize": {"qr": "remote", "card": "remote", "pin": "remote", "ble": "local"},
    "off": {"qr": "local", "card": "local", "pin": "local", "ble": "local"},
}


def verify_defaults():
    """The `verify` section as it is when config.json has none (verification off)."""
    return validate_verify({})


def validate_verify(section, path="config.json", relay_ids=None):
    """Complete `verify` section or ConfigError(path, "verify.<field>", message); `relay_ids`:
    the board's relays (the ones verify.relays may name), None = not checked."""
    if not isinstance(section, dict):
        raise ConfigError(path, "verify", "must be an object")
    for key in section:
        if key not in VERIFY_FIELDS and key not in ("methods", "relays"):
            raise ConfigError(path, "verify." + key, "unknown setting")
    out = {}
    for key in VERIFY_FIELDS:
        spec = VERIFY_FIELDS[key]
        out[key] = check_value(section[key], spec, path, "verify." + key) if key in section else spec[1]
    mode = out["mode"]

    methods = section.get("methods", {})
    if not isinstance(methods, dict):
        raise ConfigError(path, "verify.methods", "must be an object such as "
                          '{"qr": "remote", "card": "remote_fallback", "pin": "local"}')
    for key in methods:
        if key not in METHODS:
            raise ConfigError(path, "verify.methods." + key, "unknown method (known: qr, card, pin, ble)")
    out["methods"] = {}
    for m in METHODS:
        v = methods.get(m, METHOD_DEFAULTS[mode][m])
        out["methods"][m] = check_value(v, (SOURCES, 0, 0, 0), path, "verify.methods." + m)

    relays = section.get("relays", [1])
    if not isinstance(relays, list) or not relays:
        raise ConfigError(path, "verify.relays", "must be a non-empty list of relay numbers")
    seen = []
    for i, r in enumerate(relays):
        if r is True or r is False or not isinstance(r, int) or not 1 <= r <= 8:
            raise ConfigError(path, "verify.relays[%d]" % i, "must be a relay number 1-8, got %r" % (r,))
        if r in seen:
            raise ConfigError(path, "verify.relays[%d]" % i, "relay %d listed twice" % r)
        if relay_ids is not None and r not in relay_ids:
            raise ConfigError(path, "verify.relays", "no relay %d on this board" % r)
        seen.append(r)
    out["relays"] = seen

    if mode == "off":
        if out["url"]:
            _verify_url(out, path)
        return out
    if not out["url"]:
        raise ConfigError(path, "verify.url", "is required when verify.mode is %s" % mode)
    _verify_url(out, path)
    ms = out["methods"]
    if mode == "general":
        if ms["card"] != "local" or ms["pin"] != "local" or ms["ble"] != "local":
            f = "card" if ms["card"] != "local" else "pin" if ms["pin"] != "local" else "ble"
            raise ConfigError(path, "verify.methods." + f, "general mode verifies QR codes only: "
                              "must be local (use mode customize to send cards and PINs)")
        if ms["qr"] == "local":
            raise ConfigError(path, "verify.methods.qr",
                              "general mode sends QR codes to the server: must be remote or remote_fallback")
    elif out["auth_mode"] != "any":
        if ms["card"] == "local" or ms["card"] != ms["pin"]:
            raise ConfigError(path, "verify.methods.pin" if ms["card"] != "local" else "verify.methods.card",
                              "two-factor mode %s sends both steps to the server: card and pin must "
                              "both be remote or both remote_fallback" % out["auth_mode"])
    return out


def _verify_url(out, path):
    import verifyurl  # only when a URL is configured

    allowed = GENERAL_VARIABLES if out["mode"] == "general" else verifyurl.VARIABLES
    try:
        verifyurl.compile_template(out["url"], allowed)
    except verifyurl.TemplateError as e:
        raise ConfigError(path, "verify.url", str(e))

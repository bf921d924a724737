"""The `verify` section of config.json (third-party verification, docs/verify.md).

`validate(section, path)` returns the complete section with defaults filled in, or raises
ConfigError naming the field (``verify.url``, ``verify.methods.card``, ...). The URL template is
compiled here, so an unknown or unavailable {Variable} is rejected when the config is saved,
not when the first card is presented.
"""
from configerror import ConfigError
from doorapp.cfgvalue import check_value as _check


MODES = ("off", "general", "customize")
AUTH_MODES = ("any", "card_pin", "pin_card")
SOURCES = ("local", "remote", "remote_fallback")
PROMPTS = ("default", "return_value")
METHODS = ("qr", "card", "pin")

# Variables each mode can fill (seed 004: General sends QR codes only).
GENERAL_VARIABLES = ("QRCode", "DeviceID", "Time")

# field: (kind, default, lo, hi) as in config.py; kind int/bool/str (lo/hi = length) or choices
FIELDS = {
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
METHOD_DEFAULTS = {
    "general": {"qr": "remote", "card": "local", "pin": "local"},
    "customize": {"qr": "remote", "card": "remote", "pin": "remote"},
    "off": {"qr": "local", "card": "local", "pin": "local"},
}


def defaults():
    """The section as it is when config.json has no `verify` (verification off)."""
    return validate({})


def validate(section, path="config.json", relay_ids=None):
    """Complete `verify` section or ConfigError(path, "verify.<field>", message); `relay_ids`:
    the board's relays (the ones verify.relays may name), None = not checked."""
    if not isinstance(section, dict):
        raise ConfigError(path, "verify", "must be an object")
    for key in section:
        if key not in FIELDS and key not in ("methods", "relays"):
            raise ConfigError(path, "verify." + key, "unknown setting")
    out = {}
    for key in FIELDS:
        spec = FIELDS[key]
        out[key] = _check(section[key], spec, path, "verify." + key) if key in section else spec[1]
    mode = out["mode"]

    methods = section.get("methods", {})
    if not isinstance(methods, dict):
        raise ConfigError(path, "verify.methods", "must be an object such as "
                          '{"qr": "remote", "card": "remote_fallback", "pin": "local"}')
    for key in methods:
        if key not in METHODS:
            raise ConfigError(path, "verify.methods." + key, "unknown method (known: qr, card, pin)")
    out["methods"] = {}
    for m in METHODS:
        v = methods.get(m, METHOD_DEFAULTS[mode][m])
        out["methods"][m] = _check(v, (SOURCES, 0, 0, 0), path, "verify.methods." + m)

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
            _template(out, path)
        return out
    if not out["url"]:
        raise ConfigError(path, "verify.url", "is required when verify.mode is %s" % mode)
    _template(out, path)
    ms = out["methods"]
    if mode == "general":
        if ms["card"] != "local" or ms["pin"] != "local":
            f = "card" if ms["card"] != "local" else "pin"
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


def _template(out, path):
    import verifyurl  # only when a URL is configured

    allowed = GENERAL_VARIABLES if out["mode"] == "general" else verifyurl.VARIABLES
    try:
        verifyurl.compile_template(out["url"], allowed)
    except verifyurl.TemplateError as e:
        raise ConfigError(path, "verify.url", str(e))

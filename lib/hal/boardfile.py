"""Board files: parse and validate boards/<name>.json (start-up only).

Format: boards/README.md. Errors name the file and the field.
"""
from configerror import ConfigError
from jsoncheck import read_json

LEVELS = ("low", "high")
PULLS = ("none", "up", "down")
INPUT_KINDS = ("exit_button", "door_sensor", "generic")
BACKENDS = ("esp32", "sim")
# memory profiles: psram (ESP32-S3 N16R8, ESP32-WROVER-E: every feature at once) and lean
# (ESP32-WROOM-32: the product's core); a board file without one is lean (docs/memory.md)
PROFILES = ("psram", "lean")


def _need(d, key, where, kinds):
    if key not in d:
        raise ConfigError(where[0], where[1] + key, "missing")
    v = d[key]
    if not isinstance(v, kinds) or (kinds is int and isinstance(v, bool)):
        raise ConfigError(where[0], where[1] + key, "wrong type: " + repr(v))
    return v


def _pin(d, key, where):
    v = _need(d, key, where, int)
    if v < 0 or v > 48:
        raise ConfigError(where[0], where[1] + key, "GPIO number out of range 0-48: %d" % v)
    return v


def _choice(d, key, where, choices, default=None):
    v = d.get(key, default)
    if v not in choices:
        raise ConfigError(where[0], where[1] + key, "must be one of %s, got %r" % ("/".join(choices), v))
    return v


def validate_board(spec, path="board"):
    """Check a parsed board file; returns it with defaults filled in, or raises ConfigError."""
    if not isinstance(spec, dict):
        raise ConfigError(path, "(top)", "must be a JSON object")
    at = (path, "")
    _need(spec, "name", at, str)
    _choice(spec, "backend", at, BACKENDS)
    spec["profile"] = _choice(spec, "profile", at, PROFILES, "lean")
    used = {}

    def claim(pin, field):
        if pin in used:
            raise ConfigError(path, field, "GPIO %d already used by %s" % (pin, used[pin]))
        used[pin] = field

    pn = _need(spec, "pn532", at, dict)
    bus = _choice(pn, "bus", (path, "pn532."), ("uart", "i2c"))
    if bus == "uart":
        _need(pn, "uart", (path, "pn532."), int)
        pn.setdefault("baudrate", 115200)
        _need(pn, "baudrate", (path, "pn532."), int)
        if spec["backend"] == "esp32":
            claim(_pin(pn, "tx", (path, "pn532.")), "pn532.tx")
            claim(_pin(pn, "rx", (path, "pn532.")), "pn532.rx")
    else:
        _need(pn, "i2c", (path, "pn532."), int)
        pn.setdefault("addr", 0x24)
        pn.setdefault("freq", 100000)
        if spec["backend"] == "esp32":
            claim(_pin(pn, "sda", (path, "pn532.")), "pn532.sda")
            claim(_pin(pn, "scl", (path, "pn532.")), "pn532.scl")
    if spec["backend"] == "sim":
        pn.setdefault("transport", "emulator")
        _need(pn, "transport", (path, "pn532."), str)

    relays = _need(spec, "relays", at, list)
    if not relays:
        raise ConfigError(path, "relays", "at least one relay is needed")
    ids = []
    for i, r in enumerate(relays):
        w = (path, "relays[%d]." % i)
        if not isinstance(r, dict):
            raise ConfigError(path, "relays[%d]" % i, "must be an object")
        rid = _need(r, "id", w, int)
        if rid < 1 or rid in ids:
            raise ConfigError(path, w[1] + "id", "relay ids must be unique numbers >= 1")
        ids.append(rid)
        claim(_pin(r, "pin", w), w[1] + "pin")
        _choice(r, "active", w, LEVELS, "high")
        r.setdefault("active", "high")
    names = []
    for i, inp in enumerate(_need(spec, "inputs", at, list)):
        w = (path, "inputs[%d]." % i)
        if not isinstance(inp, dict):
            raise ConfigError(path, "inputs[%d]" % i, "must be an object")
        name = _need(inp, "id", w, str)
        if not name or name in names:
            raise ConfigError(path, w[1] + "id", "input ids must be unique, non-empty")
        names.append(name)
        claim(_pin(inp, "pin", w), w[1] + "pin")
        inp["pull"] = _choice(inp, "pull", w, PULLS, "none")
        inp["kind"] = _choice(inp, "kind", w, INPUT_KINDS, "generic")
    for opt in ("led", "buzzer"):
        if opt in spec:
            o = _need(spec, opt, at, dict)
            claim(_pin(o, "pin", (path, opt + ".")), opt + ".pin")
            o["active"] = _choice(o, "active", (path, opt + "."), LEVELS, "high")
    _readers(spec, path, claim)
    if "wiegand_out" in spec:  # Wiegand output to a panel (docs/wiegand-out.md): two outputs, idle high
        w = _need(spec, "wiegand_out", at, dict)
        for key in ("d0", "d1"):
            claim(_pin(w, key, (path, "wiegand_out.")), "wiegand_out." + key)
    return spec


def _readers(spec, path, claim):
    """Optional credential readers beside the PN532 (docs/credentials.md)."""
    if "wiegand" in spec:
        w = _need(spec, "wiegand", (path, ""), dict)
        for key in ("d0", "d1"):
            claim(_pin(w, key, (path, "wiegand.")), "wiegand." + key)
        w.setdefault("frame_gap_us", 25000)
        if not 2000 <= _need(w, "frame_gap_us", (path, "wiegand."), int) <= 200000:
            raise ConfigError(path, "wiegand.frame_gap_us", "must be between 2000 and 200000")
    if "keypad" in spec:
        k = _need(spec, "keypad", (path, ""), dict)
        for key, count in (("rows", 4), ("cols", 3)):
            pins = _need(k, key, (path, "keypad."), list)
            if len(pins) != count:
                raise ConfigError(path, "keypad." + key, "a 3x4 keypad has %d %s" % (count, key))
            for i in range(count):
                field = "keypad.%s[%d]" % (key, i)
                claim(_pin({field: pins[i]}, field, (path, "")), field)
        k.setdefault("debounce_ms", 30)
        if not 0 <= _need(k, "debounce_ms", (path, "keypad."), int) <= 500:
            raise ConfigError(path, "keypad.debounce_ms", "must be between 0 and 500")
    if "qr_scanner" in spec:
        q = _need(spec, "qr_scanner", (path, ""), dict)
        _need(q, "uart", (path, "qr_scanner."), int)
        q.setdefault("baudrate", 9600)
        _need(q, "baudrate", (path, "qr_scanner."), int)
        if spec["backend"] == "esp32":
            claim(_pin(q, "rx", (path, "qr_scanner.")), "qr_scanner.rx")
            claim(_pin(q, "tx", (path, "qr_scanner.")), "qr_scanner.tx")


def load_board(path):
    """Read and validate a board file; errors name the file and the field."""
    return validate_board(read_json(path), path)

"""Config section `wiegand_out`: the Wiegand output to a panel (docs/wiegand-out.md).

Checked by schema.validate on boards whose board file declares `wiegand_out` pins, where the
config always has the section (defaults filled in), and whenever a config names it; on other
boards the section may only say it is off and is then left out of the config (a lean board's
heap keeps nothing for a feature it can't have). Cold: loaded for the check, dropped after it.
"""
from configerror import ConfigError

# field: (kind, default, lo, hi), as schema.SECTIONS
FIELDS = {
    "enabled": (bool, False, 0, 0),
    "format": (("w26", "w34"), "w26", 0, 0),  # W26 (H10301: 8-bit facility + 16-bit number) or W34 (32 bits)
    "send": (("granted", "all"), "granted", 0, 0),  # cards granted, or every card read
    "pulse_us": (int, 50, 20, 200),  # width of each low pulse
    "interval_us": (int, 2000, 200, 20000),  # from one pulse's start to the next one's
}


def check(given, board_spec, path, out, section):
    """Put the checked section into `out` (the config being built); ConfigError names the field.
    `section`: schema's checker of a section's fields (passed in: this module imports no schema)."""
    w = section(given, FIELDS, path, "wiegand_out")
    if "wiegand_out" not in board_spec:
        if w["enabled"]:
            raise ConfigError(path, "wiegand_out.enabled", "board %s has no Wiegand output pins (board file "
                              "`wiegand_out`: boards/README.md)" % board_spec.get("name", "?"))
        return
    if w["interval_us"] < w["pulse_us"] + 100:
        raise ConfigError(path, "wiegand_out.interval_us", "must be at least pulse_us + 100 (%d)" % (w["pulse_us"] + 100))
    out["wiegand_out"] = w

"""JSON documents read strictly: what standard JSON refuses and MicroPython's `json` module lets
through is refused too, before parsing.

MicroPython's json.loads accepts trailing commas (`[1, 2,]`, `{"a": 1,}`); a config file or an
API body that another tool would reject must be refused here too. One pass over the text (strings
skipped) also measures the nesting, so a deeply nested document is refused before parsing costs
heap. Loaded when a JSON document is read (settings, an API body), then dropped on lean boards.
"""
from configerror import ConfigError


def read_json(path):
    """Parse a JSON file; a missing or malformed file is a ConfigError naming it."""
    import json

    try:
        with open(path, "rb") as f:  # (bytes: scanning a str would intern each character seen)
            text = f.read()
    except OSError:
        raise ConfigError(path, "(file)", "cannot be read")
    why = flaw(text, 16)
    if why is not None:
        raise ConfigError(path, "(file)", "is not valid JSON: " + why)
    try:
        return json.loads(text)
    except ValueError:
        raise ConfigError(path, "(file)", "is not valid JSON")


def flaw(b, limit):
    """None if `b` (bytes or str of JSON text) has no trailing comma and nests at most `limit`
    arrays/objects; else what is wrong, in words."""
    if isinstance(b, str):
        b = b.encode()  # (iterating a str makes a 1-character string of each: MicroPython interns them)
    depth = 0
    quoted = escaped = False
    comma = False  # the last character outside strings and blanks was a comma
    for c in b:
        if quoted:
            if escaped:
                escaped = False
            elif c == 0x5C:  # backslash
                escaped = True
            elif c == 0x22:  # "
                quoted = False
            continue
        if c == 0x20 or c == 0x0A or c == 0x0D or c == 0x09:
            continue
        if c == 0x22:
            quoted = True
        elif c == 0x5B or c == 0x7B:  # [ {
            depth += 1
            if depth > limit:
                return "nested more than %d deep" % limit
        elif c == 0x5D or c == 0x7D:  # ] }
            if comma:
                return "a comma before a closing bracket (not allowed in JSON)"
            depth -= 1
        comma = c == 0x2C
    return None

"""One config value checked against its schema entry (kind, default, lo, hi): shared by the
whole-config validator (doorapp/config.py) and the `verify` section's (doorapp/verify_config.py),
so that a change of verification alone is checked without loading the whole schema."""
from configerror import ConfigError


def check_value(value, spec, path, field):
    kind, _default, lo, hi = spec
    if isinstance(kind, tuple):
        if value not in kind:
            raise ConfigError(path, field, "must be one of %s, got %r" % ("/".join(kind), value))
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

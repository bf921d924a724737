"""Settings of input actions and web relays (docs/inputs.md): URL templates with
verifyurl.ACTION_VARIABLES, HTTP only on boards that run Wi-Fi. Loaded only when a config has
them."""
import verifyurl
from configerror import ConfigError

MAX_WEB_RELAYS = 16


def _lean(board_spec, path, field):
    if board_spec.get("profile", "lean") == "lean":
        raise ConfigError(path, field, "HTTP actions need Wi-Fi, which a lean board's heap can't hold (board %s, "
                          "profile lean): use a psram board (docs/memory.md)" % board_spec.get("name", "?"))


def check_url(url, board_spec, path, field):
    """An input's or web relay's URL template (verifyurl.ACTION_VARIABLES); not on lean boards."""
    _lean(board_spec, path, field)
    try:
        verifyurl.compile_template(url, None, verifyurl.ACTION_VARIABLES)
    except verifyurl.TemplateError as e:
        raise ConfigError(path, field, str(e))


def web_relays(given, board_spec, path):
    """Web relays {"id": {"url": template}}: the HTTP calls a granted user's `web_relay` makes
    (ids 1-255, at most MAX_WEB_RELAYS)."""
    if not isinstance(given, dict):
        raise ConfigError(path, "web_relays", 'must be an object such as {"1": {"url": "http://10.0.0.9/relay/0?turn=on"}}')
    if len(given) > MAX_WEB_RELAYS:
        raise ConfigError(path, "web_relays", "at most %d web relays" % MAX_WEB_RELAYS)
    out = {}
    for key in given:
        field = "web_relays." + key
        if not key.isdigit() or not 1 <= int(key) <= 255 or str(int(key)) != key:
            raise ConfigError(path, field, "a web relay's id must be a number 1-255")
        item = given[key]
        if not isinstance(item, dict):
            raise ConfigError(path, field, "must be an object")
        for k in item:
            if k != "url":
                raise ConfigError(path, field + "." + k, "unknown setting")
        url = item.get("url")
        if url is None:
            raise ConfigError(path, field + ".url", "is required")
        if not isinstance(url, str) or not 1 <= len(url) <= 255:
            raise ConfigError(path, field + ".url", "must be text of 1-255 characters")
        check_url(url, board_spec, path, field + ".url")
        out[key] = {"url": url}
    return out

"""URL templates for third-party verification (seed 004): check and compile a template such as
``http://10.0.0.5:8090/api/visitor/scan?codeKey={QRCode}&deviceId={DeviceID}``, fill it in with
URL-encoded values, split a URL into its parts.

Separate from verifyclient (the HTTP client) so that checking a configured URL on a config
change doesn't load the client's code.
"""
VARIABLES = ("QRCode", "Card", "CardCode", "Pin", "PINCode", "Face", "FaceData", "DeviceID",
             "Token", "Type", "Time")
_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_HEXU = "0123456789ABCDEF"


class TemplateError(ValueError):
    """A URL template that can't be used; `variable` names the offending {Variable}, if any."""

    def __init__(self, message, variable=None):
        super().__init__(message)
        self.variable = variable


def compile_template(url, allowed=None):
    """Check a URL template and split it into literal text and variable numbers.

    Returns a tuple of parts: str (literal) or int (index into VARIABLES). Rejects: no
    http:// or https://, no host, a variable in the scheme/host/port, white space or control
    characters, unbalanced braces, unknown variables and (when `allowed`, a tuple of names, is
    given) variables not available in the caller's mode - each error names the variable.
    """
    if not isinstance(url, str):
        raise TemplateError("URL must be text")
    if url.startswith("http://"):
        rest = 7
    elif url.startswith("https://"):
        rest = 8
    else:
        raise TemplateError("URL must start with http:// or https://")
    for ch in url:
        if ch <= " " or ch == "\x7f":
            raise TemplateError("URL must not contain spaces or control characters")
    end = len(url)
    for stop in "/?#":
        i = url.find(stop, rest)
        if 0 <= i < end:
            end = i
    authority = url[rest:end]
    if "{" in authority or "}" in authority:
        raise TemplateError("variables are allowed only in the path and query, not in the host")
    parse_url(url[:end] + "/")  # host and port checks
    parts = []
    pos = 0
    while True:
        i = url.find("{", pos)
        j = url.find("}", pos)
        if i < 0:
            if j >= 0:
                raise TemplateError("unbalanced '}' at position %d" % j)
            break
        if 0 <= j < i:
            raise TemplateError("unbalanced '}' at position %d" % j)
        if j < 0:
            raise TemplateError("unclosed '{' at position %d" % i)
        name = url[i + 1:j]
        if name not in VARIABLES:
            hint = ""
            for v in VARIABLES:
                if v.lower() == name.lower():
                    hint = " (did you mean {%s}?)" % v
            raise TemplateError("unknown variable {%s}%s; known: %s" % (
                name, hint, " ".join("{%s}" % v for v in VARIABLES)), name)
        if allowed is not None and name not in allowed:
            raise TemplateError("variable {%s} is not available in this mode (available: %s)" % (
                name, " ".join("{%s}" % v for v in allowed)), name)
        if i > pos:
            parts.append(url[pos:i])
        parts.append(VARIABLES.index(name))
        pos = j + 1
    if pos < len(url):
        parts.append(url[pos:])
    return tuple(parts)


def template_variables(parts):
    """Names of the variables a compiled template uses, in order of first use."""
    out = []
    for p in parts:
        if isinstance(p, int) and VARIABLES[p] not in out:
            out.append(VARIABLES[p])
    return out


def quote(value):
    """Percent-encode a value for a URL: UTF-8, everything but A-Z a-z 0-9 - . _ ~ as %XX."""
    if not isinstance(value, str):
        value = str(value)
    for ch in value:
        if ch not in _UNRESERVED:
            break
    else:
        return value  # nothing to encode: no allocation
    out = []
    for b in value.encode():
        c = chr(b)
        if c in _UNRESERVED:
            out.append(c)
        else:
            out.append("%" + _HEXU[b >> 4] + _HEXU[b & 15])
    return "".join(out)


def expand(parts, values):
    """The URL for `parts` with `values` (sequence indexed by variable number; None = empty)."""
    out = []
    for p in parts:
        if isinstance(p, int):
            v = values[p]
            if v is not None and v != "":
                out.append(quote(v))
        else:
            out.append(p)
    return "".join(out)


def parse_url(url):
    """(tls, host, port, target) for an http(s) URL; TemplateError if it can't be one.

    `target` is the path and query as sent on the request line (fragment dropped, "/" if empty).
    IPv6 literals go in brackets: http://[fd00::5]:8090/x.
    """
    if url.startswith("http://"):
        tls = False
        rest = url[7:]
    elif url.startswith("https://"):
        tls = True
        rest = url[8:]
    else:
        raise TemplateError("URL must start with http:// or https://")
    i = rest.find("#")
    if i >= 0:
        rest = rest[:i]
    end = len(rest)
    for stop in "/?":
        i = rest.find(stop)
        if 0 <= i < end:
            end = i
    authority = rest[:end]
    target = rest[end:] or "/"
    if target[0] == "?":
        target = "/" + target
    if "@" in authority:
        raise TemplateError("user:password@ in the URL is not supported")
    port = 443 if tls else 80
    if authority.startswith("["):
        i = authority.find("]")
        if i < 0:
            raise TemplateError("unclosed [ in the host")
        host = authority[1:i]
        tail = authority[i + 1:]
    else:
        i = authority.rfind(":")
        host = authority if i < 0 else authority[:i]
        tail = "" if i < 0 else authority[i:]
    if tail:
        if tail[0] != ":" or not tail[1:].isdigit() or not 0 < int(tail[1:]) < 65536:
            raise TemplateError("bad port %r" % tail[1:])
        port = int(tail[1:])
    if not host:
        raise TemplateError("URL has no host")
    return tls, host, port, target

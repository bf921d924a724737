"""What a running door needs of third-party verification besides the HTTP client: the template
variables' indices, the client's answer reasons (documented in verifyclient), filling in a
compiled template with URL-encoded values (`expand`, `quote`) and splitting a URL
(`parse_url`). Shared by the URL templates (verifyurl: compiling and checking, loaded at start
and on config changes), the client (verifyclient, loaded per request) and the modes
(doorapp/verify.py), so that a door waiting for credentials holds only this small module."""
from micropython import const

V_QRCODE = const(0)
V_CARD = const(1)
V_CARDCODE = const(2)
V_PIN = const(3)
V_PINCODE = const(4)
V_FACE = const(5)
V_FACEDATA = const(6)
V_DEVICEID = const(7)
V_TOKEN = const(8)
V_TYPE = const(9)
V_TIME = const(10)
N_VARIABLES = const(11)

OK = "ok"
DENIED = "denied"
TIMEOUT = "timeout"
REFUSED = "refused"
DNS = "dns"
TLS = "tls"
NETWORK = "network"
HTTP_STATUS = "http_status"
NOT_JSON = "not_json"
NO_FIELD = "no_field"
BAD_VALUE = "bad_value"
TOO_LARGE = "too_large"
REDIRECT_LOOP = "redirect_loop"
REASONS = (OK, DENIED, TIMEOUT, REFUSED, DNS, TLS, NETWORK, HTTP_STATUS, NOT_JSON, NO_FIELD,
           BAD_VALUE, TOO_LARGE, REDIRECT_LOOP)
# UNREACHABLE: "the server could not be
# reached", the ones that allow a local fallback.
UNREACHABLE = (TIMEOUT, REFUSED, DNS, TLS, NETWORK)

_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_HEXU = "0123456789ABCDEF"


class TemplateError(ValueError):
    """A URL template that can't be used; `variable` names the offending {Variable}, if any."""

    def __init__(self, message, variable=None):
        super().__init__(message)
        self.variable = variable


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

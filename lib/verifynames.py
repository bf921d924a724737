"""What a running door needs of third-party verification besides the HTTP client: the template
variables' indices, the client's answer reasons (documented in verifyclient), filling in a
compiled template with URL-encoded values (`expand`, `quote`). Shared by the URL templates
(verifyurl: compiling and checking, loaded at start and on config changes), the client
(verifyclient, loaded per request) and the modes (doorapp/verify/verifier.py), so that a door waiting
for credentials holds only this small module. Splitting a URL: lib/urlsplit.py."""
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
# UNREACHABLE: "the server could not be reached", the ones that allow a local fallback.
UNREACHABLE = (TIMEOUT, REFUSED, DNS, TLS, NETWORK)

_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_HEXU = "0123456789ABCDEF"


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

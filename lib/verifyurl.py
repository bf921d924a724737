"""URL templates for third-party verification (seed 004): check and compile a template such as
``http://10.0.0.5:8090/api/visitor/scan?codeKey={QRCode}&deviceId={DeviceID}``. Filling one in
with URL-encoded values is in lib/verifynames.py (what a running door needs per request),
splitting a URL into its parts in lib/urlsplit.py.

Separate from verifyclient (the HTTP client) so that checking a configured URL on a config
change doesn't load the client's code. Loaded at start and on config changes only (dropped
after), so it imports nothing it doesn't use.
"""
from urlsplit import TemplateError, parse_url

VARIABLES = ("QRCode", "Card", "CardCode", "Pin", "PINCode", "Face", "FaceData", "DeviceID",
             "Token", "Type", "Time")
# what an input's or a web relay's HTTP action can send (doorapp/actions.py)
ACTION_VARIABLES = ("DeviceID", "Input", "Event", "Time", "UserID")


def compile_template(url, allowed=None, variables=VARIABLES):
    """Check a URL template and split it into literal text and variable numbers.

    Returns a tuple of parts: str (literal) or int (index into VARIABLES). Rejects: no
    http:// or https://, no host, a variable in the scheme/host/port, white space or control
    characters, unbalanced braces, unknown variables and (when `allowed`, a tuple of names, is
    given) variables not available in the caller's mode - each error names the variable.
    `variables`: the names a template may use (verification's by default).
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
        if name not in variables:
            hint = ""
            for v in variables:
                if v.lower() == name.lower():
                    hint = " (did you mean {%s}?)" % v
            raise TemplateError("unknown variable {%s}%s; known: %s" % (
                name, hint, " ".join("{%s}" % v for v in variables)), name)
        if allowed is not None and name not in allowed:
            raise TemplateError("variable {%s} is not available in this mode (available: %s)" % (
                name, " ".join("{%s}" % v for v in allowed)), name)
        if i > pos:
            parts.append(url[pos:i])
        parts.append(variables.index(name))
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

"""Splitting an http(s) URL into what a request needs, and the error a bad URL template raises.

Used by the verification client (lib/verifyclient.py, per request) and the template check
(lib/verifyurl.py, on config changes) - never by a door waiting for credentials, so it stays
out of the resident lib/verifynames.py.
"""


class TemplateError(ValueError):
    """A URL template that can't be used; `variable` names the offending {Variable}, if any."""

    def __init__(self, message, variable=None):
        super().__init__(message)
        self.variable = variable


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

"""HTTPS for the device API (config http.tls "on", psram boards; docs/https.md).

The key and certificate are files on flash, made by `doorctl provision --tls` (an EC P-256 key,
DER; the certificate self-signed for the device's host name and IP, or signed by a site CA):
KEY_FILE is a secret like secrets.json (no route serves it, nothing logs it, no export holds
it), CERT_FILE is public. MicroPython's `ssl` is mbedTLS; its buffers come from ESP-IDF's heap
on the ESP32 (the C heap on the unix port), not the GC heap: a connection costs the GC heap
about half a kilobyte (measured: docs/https.md).

Each accepted socket is wrapped without a handshake (`do_handshake_on_connect=False`): the
handshake runs in the connection's own task, inside its first read, so the server's head
deadline (doorapp/http/server.py, _HEAD_TIMEOUT_MS) bounds it too. A client that never finishes
it holds its place that long, then is closed without an answer (a TLS peer could not read a
plain-text 408 anyway). With TLS on, the plain HTTP port only redirects (308) to the https URL
(http.redirect_http) or is off.
"""
import asyncio

KEY_FILE = "tls_key.der"
CERT_FILE = "tls_cert.der"
HTTPS_PORT = 443
_IPPROTO_TCP = 6  # (the same numbers in lwIP and Linux; MicroPython's socket module names neither)
_TCP_NODELAY = 1
_HOST_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.:[]"


def _read(data_dir, name):
    path = data_dir + "/" + name
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        raise ValueError("%s is missing (http.tls is on): make it with `doorctl provision --tls` and deploy it, "
                         "or set http.tls off" % path)


def context(data_dir):
    """The server's ssl.SSLContext from CERT_FILE and KEY_FILE in data_dir; ValueError naming
    the file that is missing or unusable (never its content)."""
    import ssl

    cert = _read(data_dir, CERT_FILE)
    key = _read(data_dir, KEY_FILE)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(cert, key)
    except Exception as e:  # mbedTLS: ValueError or OSError with its error code (no key bytes)
        raise ValueError("%s/%s and %s: not a usable certificate and key (%s): make them again with "
                         "`doorctl provision --tls`" % (data_dir, CERT_FILE, KEY_FILE, e))
    return ctx


class Stream(asyncio.StreamReader):
    """A TLS connection's stream. MicroPython's TLS socket answers a read None while the
    handshake (or a record) needs more bytes: read on until there are some. `opened`: the
    handshake ended and the client sent something (before that, the connection gets no
    answer)."""

    opened = False
    tls = None  # the TLS socket (kept here: a stream's own socket attribute is asyncio's business)

    async def readinto(self, buf):
        while True:
            n = await asyncio.StreamReader.readinto(self, buf)
            if n is not None:
                self.opened = True
                return n

    def end(self):
        try:
            self.tls.close()  # frees mbedTLS's buffers now, not when the collector finds the socket
        except Exception:
            pass


def wrapper(ctx):
    """sock -> Stream, for doorapp.http.server.Server.wrap."""

    def wrap(sock):
        try:  # the handshake's flight goes out in several writes: Nagle would hold the later ones
            sock.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)  # until the client's delayed ACK (~40 ms)
        except (OSError, AttributeError):
            pass
        t = ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        st = Stream(t)
        st.tls = t
        return st

    return wrap


def location(req, fallback, port):
    """The https URL of a plain HTTP request: its Host's name (else `fallback`), `port` (left
    out if 443), the same path and query; None if the Host is not a plain host name or address
    (a header value is never copied into the answer unchecked)."""
    host = req.headers.get("host") or fallback
    if host.startswith("["):
        host = host[:host.find("]") + 1]
    else:
        host = host.partition(":")[0]
    if not host or len(host) > 253:
        return None
    for c in host:
        if c not in _HOST_CHARS:
            return None
    url = "https://" + host
    if port != HTTPS_PORT:
        url += ":%d" % port
    url += req.path
    if req.query:
        url += "?" + req.query
    return url


def redirector(fallback, port):
    """A Server (doorapp.http.server) for the plain HTTP port: every request, whatever its
    method or path, gets 308 to the same URL on https (no handler of the API runs there)."""
    from doorapp.http.server import HTTPError, Server

    srv = Server()

    async def moved(req):
        url = location(req, fallback, port)
        if url is None:
            raise HTTPError(400, "bad Host header")
        return None, 308, {"Location": url}

    row = ("GET", "/", moved)

    def find(method, path):
        return row, {}

    srv.find = find
    return srv


async def serve(door, data_dir, host, port, plain_port=0, redirect=True):
    """HTTPS on host:port and, if `plain_port` and `redirect`, the redirect on host:plain_port.
    ValueError naming a missing key or certificate file; OSError if a port is taken. Returns
    the API app."""
    from doorapp.http import api
    from doorapp.http.server import serve as listen

    wrap = wrapper(context(data_dir))
    app = await api.serve(door, host, port, wrap)
    if plain_port and redirect:
        r = redirector(door.cfg["network"]["hostname"], port)
        app.redirect = await listen(r, host, plain_port)
    return app

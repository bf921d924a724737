"""The installer web UI: the static files of www_dir on the device's HTTP server (doorapp.http.server).

They hold no data, so no authentication. Only files found in www_dir at start-up are reachable
(an allow-list: nothing from the URL reaches open() unless it is exactly one of those names);
`name.gz` is sent as `name` with Content-Encoding: gzip (the device holds only .gz files, the
simulator the plain ones). Bodies stream in the server's small chunks, never whole in RAM.
"""
import os
import sys

from doorapp.http.server import HTTPError, Stream

# extension -> Content-Type; files with other extensions in www_dir are not served
TYPES = {
    "html": "text/html; charset=UTF-8",
    "js": "text/javascript; charset=UTF-8",
    "css": "text/css; charset=UTF-8",
    "svg": "image/svg+xml",
    "png": "image/png",
    "ico": "image/x-icon",
    "json": "application/json",
}
# Not fingerprinted, so always revalidate: they change with a firmware update, and a stale
# app.js against a newer API is worse than ~10 KB more over Wi-Fi.
CACHE = "no-cache"
# The pages load nothing from elsewhere and run no inline script: a stored name or card code
# can never become script, and no other site can frame the page to click "open" for you.
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def default_www_dir():
    """The board's /www; elsewhere (simulator, tests) the checkout's firmware/www, also when
    this module runs from the simulator's .mpy cache (build/mpy-cache/firmware/doorapp/)."""
    f = globals().get("__file__") or ""
    if sys.platform == "esp32" or "/firmware/" not in f:
        return "/www"
    root = f.rsplit("/firmware/", 1)[0]
    if root.endswith("/build/mpy-cache"):
        root = root[:-16]
    return root + "/firmware/www"


def scan(www_dir):
    """{url name: has a .gz} for the servable files directly in www_dir (dot-files skipped)."""
    files = {}
    try:
        names = os.listdir(www_dir)
    except OSError:
        return files
    for name in names:
        gz = name.endswith(".gz")
        base = name[:-3] if gz else name
        if base.startswith(".") or base.rsplit(".", 1)[-1] not in TYPES:
            continue
        try:
            if os.stat(www_dir + "/" + name)[0] & 0x4000:  # a directory
                continue
        except OSError:
            continue
        files[base] = files.get(base, False) or gz
    return files


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


def send(request, www_dir, files, name):
    """The answer for allow-listed `name` (a Stream), or 404."""
    if name not in files:
        raise HTTPError(404, "not found")
    path = www_dir + "/" + name
    gz = files[name]
    size = _size(path + ".gz") if gz else -1
    if gz and "gzip" not in request.headers.get("accept-encoding", ""):
        plain = _size(path)
        if plain >= 0:  # a client without gzip gets the plain file where there is one
            gz, size = False, plain
    if not gz:
        size = _size(path)
    elif size >= 0:
        path += ".gz"
    if size < 0:  # removed since start-up (e.g. during an update)
        raise HTTPError(404, "not found")
    h = {"Cache-Control": CACHE, "X-Content-Type-Options": "nosniff"}
    if gz:
        h["Content-Encoding"] = "gzip"
        h["Vary"] = "Accept-Encoding"
    if name.endswith(".html"):
        h["Content-Security-Policy"] = CSP
        h["X-Frame-Options"] = "DENY"
        h["Referrer-Policy"] = "no-referrer"
    # HEAD: the headers only, so no file is opened that nobody reads
    try:
        src = () if request.method == "HEAD" else open(path, "rb")
    except OSError:
        raise HTTPError(404, "not found")
    return Stream(src, TYPES[name.rsplit(".", 1)[-1]], size, h)


def _site(api):
    """(folder, allow-list) of the Api's web UI, scanned on first use and kept on the Api."""
    if api.www is None:
        www_dir = default_www_dir()
        api.www = (www_dir, scan(www_dir))
    return api.www


async def ui_index(api, request):
    """`GET /` for doorapp.http.api (loaded on demand, like its api_* modules)."""
    www_dir, files = _site(api)
    return send(request, www_dir, files, "index.html")


async def ui_file(api, request, name):
    """`GET /ui/<name>` for doorapp.http.api."""
    www_dir, files = _site(api)
    return send(request, www_dir, files, name)


def register(app, www_dir=None):
    """Add `GET /` (index.html) and `GET /ui/<name>` to a doorapp.http.server Server; returns the
    allow-list {name: gzipped}. www_dir defaults to default_www_dir()."""
    www_dir = (www_dir or default_www_dir()).rstrip("/") or "/"
    files = scan(www_dir)

    @app.route("GET", "/")
    async def ui_index(request):
        return send(request, www_dir, files, "index.html")

    @app.route("GET", "/ui/<name>")
    async def ui_file(request, name):
        return send(request, www_dir, files, name)

    return files

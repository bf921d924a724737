"""The web UI's static files, without a browser: what the device serves (firmware/doorapp/http/webui.py
on the device's own HTTP server, under MicroPython with the ESP32 heap and under CPython), the
gzip build for the flash image (host_tools/doorctl/webui.py), and the pages' self-containment."""
import gzip
import http.client
import os
import re
import shutil
import subprocess
import sys

import pytest

from mpy import mpy_env, micropython
from simproc import ROOT, Sim, free_port

sys.path.insert(0, os.path.join(ROOT, "host_tools"))
from doorctl import paths, webui as build  # noqa: E402

from doorapp.http import webui  # noqa: E402  (device module; conftest puts firmware/ on the path)

WWW = os.path.join(ROOT, "firmware", "www")
SHIPPED = ["app.js", "index.html", "style.css"]
# uncompressed, all files together: streamed from flash, so a download size (~1/3 gzipped), not
# heap; gzipped: what the flash holds (every setting has a page since issue #19; the schedules
# editor and the Wi-Fi form took it past 24 KiB)
SIZE_LIMIT = 96 * 1024
GZIP_LIMIT = 28 * 1024

SERVER = r"""
import asyncio, sys
from doorapp.http.server import Server, serve
from doorapp.http import webui
app = Server()
files = webui.register(app, sys.argv[2] or None)
print("files " + ",".join(sorted(files)) + " default " + webui.default_www_dir())
async def main():
    await serve(app, "127.0.0.1", int(sys.argv[1]))
    print("ready")
    while True:
        await asyncio.sleep(1)
asyncio.run(main())
"""


class Served:
    """webui.register on a bare doorapp.http.server Server in a subprocess (MicroPython or CPython)."""

    def __init__(self, tmp, interp, www_dir):
        script = os.path.join(str(tmp), "serve_www.py")
        with open(script, "w") as f:
            f.write(SERVER)
        self.port = free_port()
        if interp == "micropython":
            argv = [micropython(), "-X", "heapsize=112000w", script]
            env = mpy_env()
        else:
            argv = [sys.executable, script]
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join([paths.SHIMS, paths.LIB, paths.FIRMWARE])
        self.proc = subprocess.Popen(argv + [str(self.port), www_dir or ""], env=env, cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        first = self.proc.stdout.readline()
        ready = self.proc.stdout.readline()
        if not first.startswith("files ") or ready.strip() != "ready":
            self.stop()
            raise RuntimeError("server did not start: " + first + ready + self.proc.stdout.read())
        names, _, default = first[6:].strip().partition(" default ")
        self.files = names.split(",") if names else []
        self.default = default

    def get(self, path, headers=None, method="GET"):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.putrequest(method, path, skip_accept_encoding=True)  # the path goes out as it is
            for k, v in (headers or {}).items():
                c.putheader(k, v)
            c.endheaders()
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def read(name, folder=WWW):
    with open(os.path.join(folder, name), "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def device_dir(tmp_path_factory):
    """A /www as the device holds it (only .gz), plus a plain style.css, junk that must not be
    served, a file bigger than the whole heap, and a secret next to the folder."""
    root = tmp_path_factory.mktemp("flash")
    d = os.path.join(str(root), "www")
    build.build_www(d)
    shutil.copy(os.path.join(WWW, "style.css"), d)
    for name, text in (("notes.txt", "not a web file"), (".hidden.js", "hidden"),
                       ("README.md", "readme")):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    os.mkdir(os.path.join(d, "sub.js"))  # a directory with a servable-looking name
    os.mkdir(os.path.join(d, "sub"))
    with open(os.path.join(d, "sub", "inner.js"), "w") as f:
        f.write("inner")
    with open(os.path.join(str(root), "secrets.json"), "w") as f:
        f.write('{"admin_hash": "SECRET"}')
    with open(os.path.join(d, "big.js"), "wb") as f:  # > the 221 KB heap: must stream
        for i in range(12000):
            f.write(b"// line %06d of a file larger than the ESP32 heap ...........\n" % i)
    return d


@pytest.fixture(scope="module", params=["micropython", "cpython"])
def served(request, tmp_path_factory, device_dir):
    s = Served(tmp_path_factory.mktemp("srv"), request.param, device_dir)
    yield s
    s.stop()


@pytest.fixture(scope="module", params=["micropython", "cpython"])
def served_checkout(request, tmp_path_factory):
    s = Served(tmp_path_factory.mktemp("srv"), request.param, None)  # default www dir
    yield s
    s.stop()


def test_checkout_files_served_plain_with_types_and_headers(served_checkout):
    s = served_checkout
    assert s.default == WWW  # the simulator finds the checkout's firmware/www
    assert s.files == SHIPPED  # the allow-list is exactly the shipped files
    for path, name, ctype in (("/", "index.html", "text/html; charset=UTF-8"),
                              ("/ui/index.html", "index.html", "text/html; charset=UTF-8"),
                              ("/ui/app.js", "app.js", "text/javascript; charset=UTF-8"),
                              ("/ui/style.css", "style.css", "text/css; charset=UTF-8")):
        st, h, body = s.get(path, {"Accept-Encoding": "gzip"})
        assert st == 200, path
        assert body == read(name), path
        assert h["content-type"] == ctype
        assert h["content-length"] == str(len(body))
        assert "content-encoding" not in h  # no .gz in the checkout: plain files
        assert h["cache-control"] == "no-cache"
        assert h["x-content-type-options"] == "nosniff"
        assert "www-authenticate" not in h
        if name == "index.html":
            assert "default-src 'self'" in h["content-security-policy"]
            assert "frame-ancestors 'none'" in h["content-security-policy"]
            assert h["x-frame-options"] == "DENY"


def test_gzip_variant_served_with_content_encoding(served, device_dir):
    s = served
    for path, name in (("/", "index.html"), ("/ui/app.js", "app.js")):
        for accept in ({"Accept-Encoding": "gzip, deflate, br"}, {}):
            st, h, body = s.get(path, accept)
            assert st == 200
            assert h["content-encoding"] == "gzip"  # only the .gz is on flash: sent either way
            assert h["vary"] == "Accept-Encoding"
            assert body == read(name + ".gz", device_dir)
            assert h["content-length"] == str(len(body))
            assert gzip.decompress(body) == read(name)
    # both variants present: gzip for clients that take it, the plain file for the others
    st, h, body = s.get("/ui/style.css", {"Accept-Encoding": "gzip"})
    assert st == 200 and h["content-encoding"] == "gzip" and gzip.decompress(body) == read("style.css")
    assert h["content-type"] == "text/css; charset=UTF-8"
    st, h, body = s.get("/ui/style.css")
    assert st == 200 and "content-encoding" not in h and body == read("style.css")


def test_head_sends_headers_only(served, device_dir):
    st, h, body = served.get("/ui/app.js", {"Accept-Encoding": "gzip"}, method="HEAD")
    assert st == 200 and body == b""
    assert h["content-length"] == str(len(read("app.js.gz", device_dir)))


def test_allow_list_is_the_servable_files_only(served):
    assert served.files == ["app.js", "big.js", "index.html", "style.css"]


@pytest.mark.parametrize("path", [
    "/ui/../secrets.json", "/ui/..%2fsecrets.json", "/ui/%2e%2e%2fsecrets.json", "/ui/%2E%2E/secrets.json",
    "/ui/..", "/ui/%2e%2e", "/ui//etc/passwd", "/ui/%2fetc%2fpasswd", "/ui/%2Fetc/passwd",
    "/ui/sub%2finner.js", "/ui/./app.js", "/ui/app.js%00", "/ui/app.js%00.css", "/ui/", "/%2e%2e/secrets.json",
])
def test_other_spellings_of_a_path_are_refused(served, path):
    """Dot segments, empty segments, %-escapes, a trailing slash: 400 before any route is looked
    up (the router and the authentication see one spelling of a path)."""
    st, h, body = served.get(path)
    assert st == 400, path
    assert b"SECRET" not in body and b"inner" not in body and b"function" not in body


@pytest.mark.parametrize("path", [
    "/ui/sub/inner.js", "/ui/sub.js", "/ui/notes.txt", "/ui/README.md", "/ui/.hidden.js", "/ui/app.js.gz",
    "/ui/APP.JS", "/ui", "/index.html", "/www/app.js", "/firmware/www/app.js", "/ui/nothing.js",
])
def test_unlisted_names_are_404(served, path):
    st, h, body = served.get(path)
    assert st == 404, path
    assert b"SECRET" not in body and b"inner" not in body and b"function" not in body


def test_file_larger_than_the_heap_streams(served, device_dir):
    # 780 KB under a 112000-word heap (221 KB on the unix port): only chunked streaming can do it
    st, h, body = served.get("/ui/big.js")
    assert st == 200
    assert len(body) == os.path.getsize(os.path.join(device_dir, "big.js")) > 700000
    assert body == read("big.js", device_dir)


def test_through_the_device_app_no_auth_for_pages_api_still_gated(tmp_path):
    s = Sim(tmp_path, http=True)
    try:
        srv = Served.__new__(Served)
        srv.port = int(s.http.rsplit(":", 1)[1])
        st, h, body = srv.get("/")
        assert st == 200 and body == read("index.html")
        st, h, body = srv.get("/ui/app.js")
        assert st == 200 and body == read("app.js")
        assert srv.get("/api/v1/status")[0] == 401  # the API is not opened by the UI routes
        st, h, body = srv.get("/ui/../doorapp/http/api.py")
        assert st == 400 and b"import" not in body
    finally:
        s.stop()


def test_build_www_is_small_reproducible_and_round_trips(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    os.makedirs(a)
    with open(os.path.join(a, "gone.js.gz"), "wb") as f:  # stale output of a removed file
        f.write(b"old")
    ra = build.build_www(a)
    rb = build.build_www(b)
    assert ra == rb
    assert sorted(ra["files"]) == SHIPPED == build.www_files()
    assert sorted(os.listdir(a)) == [n + ".gz" for n in SHIPPED]  # gone.js.gz removed
    for name in SHIPPED:
        packed = read(name + ".gz", a)
        assert packed == read(name + ".gz", b)  # byte-identical: mtime 0, no file name
        assert gzip.decompress(packed) == read(name)
        assert ra["files"][name] == {"size": len(read(name)), "gzip": len(packed)}
    print("\nweb UI: %d bytes, %d gzipped (%s)" % (ra["size"], ra["gzip"], ", ".join(
        "%s %d/%d" % (n, v["size"], v["gzip"]) for n, v in sorted(ra["files"].items()))))
    assert ra["size"] == sum(len(read(n)) for n in SHIPPED)
    assert ra["size"] < SIZE_LIMIT
    assert ra["gzip"] < GZIP_LIMIT


def test_pages_are_self_contained_and_build_no_html_from_data():
    html = read("index.html").decode()
    js = read("app.js").decode()
    css = read("style.css").decode()
    # every asset the page loads is one of ours, under /ui/
    refs = re.findall(r'(?:src|href)="([^"#][^"]*)"', html)
    assert sorted(refs) == ["/ui/app.js", "/ui/style.css", "data:,"]
    for text in (html, css):
        assert not re.search(r"https?://", text)  # no CDN, nothing fetched from elsewhere
    for text in (html, js, css):
        assert "@import" not in text
    # app.js asks only its own device: one fetch, of the API paths it is given
    assert js.count("fetch(") == 1 and "fetch(path, " in js
    calls = re.findall(r"\bapi\('([A-Z]+)', ('[^']*'|[^,)]+)", js)
    assert calls and all(p.startswith("'/api/v1/") for _m, p in calls), calls
    # URLs in app.js are examples shown to the installer (placeholders, hints): a bare scheme or
    # a private 10.x address, never a host the page could load from
    for url in re.findall(r"https?://[^\s'\\]*", js):
        assert re.fullmatch(r"https?://(10\.\d+\.\d+\.\d+/\S*)?,?", url), url
    # the CSP forbids inline script: none in the page
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"\son[a-z]+=", html)
    assert "style=" not in html
    # data goes into the page as text only
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in js, sink
    # only documented API routes (docs/http-api.md)
    doc = read(os.path.join(ROOT, "docs", "http-api.md")).decode()
    used = set(re.findall(r"'(/api/v1/[a-z-]+)", js))
    assert used and all(u in doc for u in used), used
    # every element app.js looks up by a fixed id exists in the page
    ids = set(re.findall(r'\bid="([^"]+)"', html))
    wanted = set(re.findall(r"\$\('#([A-Za-z0-9_-]+)'\)", js))
    assert wanted and wanted <= ids, wanted - ids


def test_default_www_dir(monkeypatch):
    f = os.path.join(ROOT, "firmware", "doorapp", "webui.py")
    monkeypatch.setattr(webui, "__file__", f)
    assert webui.default_www_dir() == WWW
    monkeypatch.setattr(webui, "__file__", os.path.join(ROOT, "build", "mpy-cache", "firmware", "doorapp", "webui.mpy"))
    assert webui.default_www_dir() == WWW  # the simulator's bytecode cache maps back to the checkout
    monkeypatch.setattr(webui, "__file__", "doorapp/http/webui.py")  # frozen / relative: the board's
    assert webui.default_www_dir() == "/www"
    monkeypatch.setattr(webui, "__file__", f)
    monkeypatch.setattr(webui.sys, "platform", "esp32")
    assert webui.default_www_dir() == "/www"

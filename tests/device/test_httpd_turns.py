"""doorapp.http.server under concurrent clients (MicroPython and CPython): heads are read side by side,
handlers and answers run one at a time in arrival order, and a request that finds no heap gets
the ready-made 503 instead of a bare close."""
import asyncio

from compat import sleep_ms
from doorapp.http import server
from localport import listen


def _server(log):
    app = server.Server()

    @app.route("GET", "/w/<int:n>")
    async def work(req, n):
        log.append(("start", n))
        await sleep_ms(40)  # an answer that takes a while (a users page, a search)
        log.append(("end", n))
        return {"n": n}

    @app.route("GET", "/nomem")
    async def nomem(req):
        raise MemoryError

    @app.route("GET", "/nomem-late")
    async def nomem_late(req):
        return {"big": "answer"}  # json_parts is made to fail below

    return app


async def _start(app):
    return await listen(lambda host, port: server.serve(app, host, port))


async def _get(port, path, delay_ms=0):
    await sleep_ms(delay_ms)
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
    await w.drain()
    out = b""
    while True:
        chunk = await r.read(512)
        if not chunk:
            break
        out += chunk
    w.close()
    return out


def test_handlers_take_turns_in_arrival_order():
    async def main():
        log = []
        srv, port = await _start(_server(log))
        try:
            outs = await asyncio.gather(*[_get(port, "/w/%d" % n, 15 * n) for n in range(4)])
        finally:
            srv.close()
        for n, out in enumerate(outs):
            assert out.startswith(b"HTTP/1.1 200 ") and out.endswith(b'{"n": %d}' % n), out
        # one at a time (each ends before the next starts), first come first served
        assert log == [(e, n) for n in range(4) for e in ("start", "end")], log

    asyncio.run(main())


def test_no_heap_is_answered_503_not_a_bare_close():
    async def main():
        srv, port = await _start(_server([]))
        parts = server.json_parts

        def no_heap(obj):
            if "big" in obj:
                raise MemoryError
            return parts(obj)

        server.json_parts = no_heap
        try:
            for path in ("/nomem", "/nomem-late"):
                out = await _get(port, path)
                head, _, body = out.partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 503 "), out
                assert body == b'{"error": "out of memory"}' and b"Content-Length: %d" % len(body) in head, out
            assert (await _get(port, "/w/7")).endswith(b'{"n": 7}')  # and it goes on serving
        finally:
            server.json_parts = parts
            srv.close()

    asyncio.run(main())


def test_one_spelling_of_a_path():
    """The router and the authentication see the same path: every other spelling is refused."""
    ok = {"/": ("/", ""), "/api/v1/status": ("/api/v1/status", ""),
          "/api/v1/events?since=3&limit=2": ("/api/v1/events", "since=3&limit=2"),
          "/ui/app.js": ("/ui/app.js", ""), "/api/v1/users/1001?x=%2F": ("/api/v1/users/1001", "x=%2F")}
    for target, want in ok.items():
        assert server.split_target(target) == want, target
    bad = ("//api/v1/status", "/api//v1/status", "/api/v1/status/", "/api/./v1/status", "/api/v1/../v1/status",
           "/api/v1/%73tatus", "/api%2Fv1/status", "/api/v1/status%2e", "/api\\v1/status", "/api/v1/status#x",
           "/?a#b", "api/v1/status", "http://door/api/v1/status", "*", "/api/v1/st\x00atus", "/..", "/.")
    for target in bad:
        try:
            server.split_target(target)
        except server.HTTPError as e:
            assert e.status == 400, target
            continue
        raise AssertionError("accepted %r" % target)


def test_json_nesting_is_bounded_before_parsing_and_trailing_commas_refused():
    from jsoncheck import flaw

    deep = b"[" * 200 + b"]" * 200
    assert "deep" in flaw(deep, 8)
    assert flaw(b'{"a": [1, {"b": [2]}], "s": "[[[[[[[[[[[[[["}', 8) is None  # brackets in strings
    assert flaw(b'{"s": "\\"[[[[[[[[[[[[[[["}', 8) is None
    for bad in (b"[1, 2,]", b'{"a": 1,}', b'{"a": [1,\n ]}', '{"x": {"y": 2 , } }'):
        assert "comma" in flaw(bad, 8), bad
    assert flaw(b'{"s": "a,]", "t": ",}"}', 8) is None  # commas and brackets inside strings
    req = server.Request()
    req.body = b'{"relays": {"1": {"hold_ms": 400,}}}'
    try:
        req.json()
    except server.HTTPError as e:
        assert e.status == 400 and "comma" in e.message
    else:
        raise AssertionError("a trailing comma was accepted")
    req.body = deep
    try:
        req.json()
    except server.HTTPError as e:
        assert e.status == 400 and "deep" in e.message
    else:
        raise AssertionError("a 200-deep document was parsed")
    req.body = b'{"relays": {"1": {"hold_ms": 400}}}'
    assert req.json() == {"relays": {"1": {"hold_ms": 400}}}

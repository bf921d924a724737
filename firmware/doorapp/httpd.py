"""A small HTTP/1.1 server for the device API, built for a 112 KB heap.

Why not microdot: it costs ~23 KB of resident heap here, and MicroPython's readline() has no
length limit, so a client can grow a request line until the heap is gone before any check runs.
This server reads each request head into one of _MAX_CLIENTS fixed buffers (made once, kept; a
head larger than _HEAD_MAX is refused), gives the whole head _HEAD_TIMEOUT_MS to arrive
(slowloris), then answers the requests read one at a time, in arrival order (`_turn`), reads
small bodies whole and leaves large ones to routes that stream them, and closes every
connection after one answer (no keep-alive: one task, one buffer, bounded). Timeouts are
deadline.Deadline, not asyncio.wait_for (see there); a request that finds no heap gets a
ready-made 503, never a bare close. A missing
Content-Length means an empty body; Transfer-Encoding is refused (411). HEAD runs the GET route
and sends its status and headers without the body, unless the route was registered with
head=False (a GET that acts, like the vendor's OpenDoor): then HEAD gets 405 and the handler
does not run.

Handlers: `async def h(req, **params)` returning a dict/list (JSON 200), a `(body, status)` or
`(body, status, headers)` tuple, or a `Stream` (file or generator of chunks). Routes:
`@app.route("GET", "/api/v1/relays/<int:num>/open")`, `@app.route("GET", "/x", head=False)`.
"""
import asyncio
import gc
import json

from micropython import const

from compat import print_exception, sleep_ms, ticks_diff, ticks_ms
from deadline import Deadline

_MAX_CLIENTS = const(4)
_HEAD_MAX = const(1536)
_HEAD_TIMEOUT_MS = const(5000)
_BODY_MAX = const(4096)
_BODY_TIMEOUT_MS = const(10000)
_WRITE_TIMEOUT_MS = const(10000)
_DRAIN_READ_MS = const(200)
CHUNK = const(512)
_TURN_WAIT_MS = const(8000)  # a request whose turn doesn't come this long: 503 busy
_TURN_POLL_MS = const(4)
_SLOT_WAIT_MS = const(1000)  # a connection finding every head buffer in use waits this long
_SLOT_POLL_MS = const(10)
_ACCEPT_TRIES = const(10)  # a new connection waits up to 10 x 20 ms for heap for its task
_ACCEPT_RETRY_MS = const(20)
_START_MS = const(2000)  # a connection whose task hasn't begun serving it by then is closed

REASONS = {200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified", 400: "Bad Request",
           401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
           408: "Request Timeout", 411: "Length Required", 413: "Payload Too Large",
           429: "Too Many Requests", 431: "Request Header Fields Too Large",
           500: "Internal Server Error", 503: "Service Unavailable"}


# the answer when a request found no heap, ready-made (for HEAD without its body)
OOM_HEAD = (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: application/json\r\n"
            b"Content-Length: 26\r\n\r\n")
OUT_OF_MEMORY = OOM_HEAD + b'{"error": "out of memory"}'


BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: application/json\r\n"
        b"Content-Length: 17\r\n\r\n{\"error\": \"busy\"}")


class HTTPError(Exception):
    allow = None  # a 405's Allow header: the methods the path has

    def __init__(self, status, message, field=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


class Stream:
    """A streamed body: a file object (read in CHUNK pieces, closed after) or a generator of
    bytes/str chunks (an empty one lets other tasks run; a tuple of them is written together:
    small pieces find room in a fragmented heap where one large chunk may not), closed after
    (its clean-up runs even when the client went away); `size` if known (else the connection
    close ends the body)."""

    def __init__(self, source, content_type="application/octet-stream", size=None, headers=None):
        self.source = source
        self.content_type = content_type
        self.size = size
        self.headers = headers or {}


class Headers:
    """Request headers, stored with lower-case names; lookups ignore case."""

    def __init__(self):
        self._d = {}

    def get(self, name, default=None):
        return self._d.get(name.lower(), default)

    def __setitem__(self, name, value):
        self._d[name.lower()] = value

    def __contains__(self, name):
        return name.lower() in self._d


class Request:
    __slots__ = ("method", "path", "query", "headers", "body", "reader", "content_length", "client",
                 "role", "_args")

    def __init__(self):
        self.headers = Headers()
        self.body = b""
        self.role = ""  # who signed in, as the app's `before` hook sets it
        self._args = None

    @property
    def args(self):
        """Query string parameters (decoded on first use)."""
        if self._args is None:
            self._args = parse_qs(self.query)
        return self._args

    def json(self):
        try:
            return json.loads(self.body)  # an empty body (no Content-Length) too
        except ValueError:
            raise HTTPError(400, "body is empty or not valid JSON")


def unquote(s):
    if "%" not in s and "+" not in s:
        return s
    s = s.replace("+", " ")
    out = bytearray()
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == "%" and i + 2 < n:
            try:
                out.append(int(s[i + 1:i + 3], 16))
                i += 3
                continue
            except ValueError:
                pass
        out.extend(c.encode())
        i += 1
    try:
        return out.decode()
    except UnicodeError:
        raise HTTPError(400, "query is not UTF-8")


def parse_qs(q):
    args = {}
    if q:
        for pair in q.split("&"):
            if pair:
                k, _, v = pair.partition("=")
                args[unquote(k)] = unquote(v)
    return args


def _match(pattern, segs):
    """URL params if the route pattern ("/api/v1/relays/<int:num>/open") matches the path's
    segments, else None. Walks the pattern in place: no per-route copies, kept or per request."""
    params = None
    i = 1
    n = len(pattern)
    for s in segs:
        if i > n:
            return None
        j = pattern.find("/", i)
        if j < 0:
            j = n
        if pattern.startswith("<", i):
            if params is None:
                params = {}
            colon = pattern.find(":", i, j)
            if colon >= 0 and pattern.startswith("int", i + 1):
                if not s.isdigit() or len(s) > 9:
                    return None
                params[pattern[colon + 1:j - 1]] = int(s)
            else:
                params[pattern[(colon if colon >= 0 else i) + 1:j - 1]] = unquote(s)
        elif j - i != len(s) or not pattern.startswith(s, i):
            return None
        i = j + 1
    if i <= n:
        return None
    return params if params is not None else {}


class Server:
    """Routes are rows (method, pattern, ...); `call(row, req, params)` runs one. By default the
    row's third item is the handler; doorapp.httpapi replaces `call` to load handlers on demand.
    A row whose last item is False is a GET without HEAD (see `route(..., head=False)`)."""

    def __init__(self):
        self.routes = []  # (method, pattern, handler) or (method, pattern, handler, False)
        self.before = None  # async fn(req) -> None or an answer that short-circuits
        self.active = 0
        self.waiting = 0  # connections waiting for a head buffer
        self.working = False  # a request is past its head and being answered (one at a time)
        self._queue = []  # the requests waiting for their turn (their Deadlines), oldest first
        self.refused = 0
        self.served = 0
        # connections accepted whose task has not begun yet: [stream, ticks_ms] (see _sweep)
        self._starting = [[None, 0] for _ in range(_MAX_CLIENTS * 2)]
        # request head buffers: one made now, so that one client can always be served (the web
        # UI, a push); more are made when clients come at once and then kept (a board that is
        # never asked by several doesn't hold ~1.5 KB each for nothing; no block: 503 busy)
        self._free = []
        gc.collect()
        try:
            self._free.append(bytearray(_HEAD_MAX))
        except MemoryError:
            pass

    def route(self, method, pattern, head=True):
        """Register `fn` for method and pattern. A GET route also answers HEAD (it runs, the body
        is dropped) unless head=False: a handler with side effects must never run for HEAD, which
        clients, proxies and link checkers send freely; it gets 405 instead."""

        def deco(fn):
            self.routes.append((method, pattern, fn) if head else (method, pattern, fn, False))
            return fn

        return deco

    async def call(self, row, req, params):
        return await row[2](req, **params)

    async def _turn(self, me):
        """Wait until no other request is being answered and those that waited longer have had
        their turn, then take it (False if it does not come within _TURN_WAIT_MS). `me` stands
        for this request in the queue (its Deadline: compared by identity). Heads are read side
        by side (a slow client holds only its own buffer), but handlers and answers run one at a
        time: each needs route code, a table buffer and its answer's pieces, and four at once
        don't fit a 112 KB heap that the door's own work shares. Polling, not a queue of
        events: waiting allocates nothing."""
        q = self._queue
        q.append(me)
        try:
            t0 = ticks_ms()
            while self.working or q[0] is not me:
                if ticks_diff(ticks_ms(), t0) > _TURN_WAIT_MS:
                    return False
                await sleep_ms(_TURN_POLL_MS)
            self.working = True
            return True
        finally:
            q.remove(me)

    def find(self, method, path):
        """(route row, params) or raises 404, or 405 with the path's methods for Allow. HEAD
        takes a GET row unless the row ends in False (head=False): that handler never runs."""
        segs = path.strip("/").split("/")
        allow = None
        for row in self.routes:
            params = _match(row[1], segs)
            if params is not None:
                m = row[0]
                head = m == "GET" and row[-1] is not False
                if m == method or (head and method == "HEAD"):
                    return row, params
                if head:
                    m = "GET, HEAD"
                allow = allow + ", " + m if allow else m
        if allow is None:
            raise HTTPError(404, "not found")
        e = HTTPError(405, "method not allowed")
        e.allow = allow
        raise e

    async def _head(self, reader, buf):
        """Read the request head into buf; returns its length (up to the blank line) and how many
        bytes of body were read along with it (they stay in buf after the head)."""
        mv = memoryview(buf)
        into = getattr(reader, "readinto", None)  # MicroPython: no 512-byte chunk per read
        n = 0
        while True:
            if n >= _HEAD_MAX:
                raise HTTPError(431, "request head too large")
            k = min(CHUNK, _HEAD_MAX - n)
            if into is not None:
                got = await into(mv[n:n + k])
            else:
                chunk = await reader.read(k)
                got = len(chunk)
                mv[n:n + got] = chunk
            if not got:
                raise HTTPError(400, "connection closed mid-request")
            start = n - 3 if n > 3 else 0
            n += got
            end = buf.find(b"\r\n\r\n", start, n)
            if end >= 0:
                return end, n

    def _parse(self, buf, end, n):
        req = Request()
        try:
            head = bytes(buf[:end]).decode()
        except UnicodeError:
            raise HTTPError(400, "request head is not UTF-8")
        lines = head.split("\r\n")
        words = lines[0].split(" ")
        if len(words) != 3 or not words[2].startswith("HTTP/1.") or not words[1].startswith("/"):
            raise HTTPError(400, "bad request line")
        req.method = words[0]
        req.path, _, req.query = words[1].partition("?")
        for line in lines[1:]:
            k, sep, v = line.partition(":")
            if not sep or not k or k.strip() != k:
                raise HTTPError(400, "bad header line")
            req.headers[k.lower()] = v.strip()
        cl = req.headers.get("content-length", "0")
        if not cl.isdigit() or len(cl) > 9:
            raise HTTPError(400, "bad Content-Length")
        req.content_length = int(cl)
        if "transfer-encoding" in req.headers:
            raise HTTPError(411, "chunked bodies are not accepted; send Content-Length")
        req.body = bytes(buf[end + 4:n])
        return req

    async def _body(self, req, reader, dl):
        """Read a small body whole (others are left on `req.reader` for streaming routes)."""
        need = req.content_length - len(req.body)
        if need < 0:
            raise HTTPError(400, "body longer than Content-Length")
        if req.content_length > _BODY_MAX:
            return
        if need:
            into = getattr(reader, "readinto", None)
            if into is None:  # CPython (tests)
                req.body += await dl.run(reader.readexactly(need), _BODY_TIMEOUT_MS)
                return
            # one block of the body's size, read into in place: a busy heap often has no room
            # for the read and the joined copy at once
            body = bytearray(req.content_length)
            pos = len(req.body)
            body[:pos] = req.body
            req.body = body
            await dl.run(self._fill(into, memoryview(body), pos), _BODY_TIMEOUT_MS)

    async def _fill(self, into, mv, pos):
        while pos < len(mv):
            got = await into(mv[pos:])
            if not got:
                raise HTTPError(400, "connection closed mid-body")
            pos += got

    async def _busy(self, reader, writer):
        self.refused += 1
        # the request is read (and dropped) first: a socket closed with it unread resets the
        # connection, and the client never sees the 503
        try:
            await self._drain(reader, Deadline(), b"\r\n\r\n")
            writer.write(BUSY)
            await writer.drain()
        except Exception:  # (no heap, client gone): the socket is closed all the same
            pass
        self._close(writer)

    async def _slot(self):
        """A head buffer for a new connection (None: busy), waiting up to _SLOT_WAIT_MS when all
        _MAX_CLIENTS are in use or no buffer can be made: a client that connects again straight
        after its answer often comes before its old connection is closed here. At most
        _MAX_CLIENTS connections wait; more are answered busy at once."""
        if self.waiting >= _MAX_CLIENTS:
            return None
        self.waiting += 1
        try:
            t0 = ticks_ms()
            while True:
                if self.active < _MAX_CLIENTS:
                    if self._free:
                        return self._free.pop()
                    try:
                        return bytearray(_HEAD_MAX)
                    except MemoryError:
                        pass
                if ticks_diff(ticks_ms(), t0) > _SLOT_WAIT_MS:
                    return None
                await sleep_ms(_SLOT_POLL_MS)
        finally:
            self.waiting -= 1

    async def handle(self, reader, writer):
        """A connection's task: exactly `return await self._serve(...)`. The accept loop makes
        this coroutine while clients pile up and the heap is at its fullest; the connection's
        state (_serve's frame, ~0.4 KB here) is made when the task first runs. Measured under
        the HTTP bench (10 s, 4 clients, taps): with _serve's frame made by the accept loop, or
        with `serve = self._serve(...)` in a try here and `await serve` after it, 100-1,000
        answers were 503 out of memory and some connections got no answer; with this, none (a
        256-byte variant without the local and the try was fine too: why the first two are not
        is not understood). If the task can't make _serve's frame it ends, and the accept loop
        closes that socket (_sweep)."""
        return await self._serve(reader, writer)

    def _track(self, st):
        """Note a connection whose task has not started yet (for _sweep); no allocation."""
        for e in self._starting:
            if e[0] is None:
                e[0] = st
                e[1] = ticks_ms()
                return

    def _sweep(self):
        """Close connections whose task never began serving them (no heap for its state)."""
        now = ticks_ms()
        for e in self._starting:
            st = e[0]
            if st is not None and ticks_diff(now, e[1]) > _START_MS:
                e[0] = None
                self.refused += 1
                self._close(st)

    async def _serve(self, reader, writer):
        for e in self._starting:  # started: no longer the sweep's
            if e[0] is reader:
                e[0] = None
        buf = await self._slot()
        if buf is None:
            return await self._busy(reader, writer)
        self.active += 1
        req = ans = None
        complete = False  # whole request read: nothing to drain before closing
        turn = written = False
        try:
            dl = Deadline()  # the connection's timeouts (no asyncio.wait_for: see deadline.py)
            try:
                end, n = await dl.run(self._head(reader, buf), _HEAD_TIMEOUT_MS)
                # the head waits for its turn as bytes in its buffer: parsed, it would hold ~1 KB
                # more of the heap while others are answered
                turn = await self._turn(dl)
                if not turn:
                    raise HTTPError(503, "busy")
                req = self._parse(buf, end, n)
                req.reader = reader
                req.client = client_address(writer.get_extra_info("peername"))
                row, params = self.find(req.method, req.path)
                await self._body(req, reader, dl)
                complete = req.content_length <= len(req.body)
                ans = await self.before(req) if self.before else None
                if ans is None:
                    ans = await self.call(row, req, params)
            except HTTPError as e:
                ans = error(e.status, e.message, e.field, req)
                if e.allow:
                    ans[2]["Allow"] = e.allow
            except asyncio.TimeoutError:
                ans = error(408, "request took too long")
            except MemoryError as e:  # where it ran out goes to the log (code, not request data)
                _close_source(ans)
                ans = OUT_OF_MEMORY
                try:
                    print_exception(e)
                except MemoryError:
                    pass
            except Exception as e:  # a bug: log it (tracebacks hold code, not request data)
                print_exception(e)
                ans = error(500, "internal error")
            # the status line and headers go out at once, before anything that may find no heap
            # (with none even for them: the ready-made 503): a client never gets a bare close
            head = req is not None and req.method == "HEAD"
            top = None
            if ans is not OUT_OF_MEMORY:
                try:
                    top, body = _begin(ans, head)
                except MemoryError:
                    _close_source(ans)
            if top is None:
                top, body = OOM_HEAD if head else OUT_OF_MEMORY, None
            written = True
            writer.write(top)
            top = None
            await dl.run(self._body_out(writer, body, head), _WRITE_TIMEOUT_MS)
            body = None
            # answered: let go of the request and answer before draining and closing, which can
            # take a while, so the client's next request doesn't find them still in the heap
            req = ans = row = params = None
            if turn:
                self.working = turn = False
            self.served += 1
            if not complete:
                await self._drain(reader, dl)  # unread request bytes would turn close() into a reset
        except Exception:  # (no heap even for the connection's deadline): the ready-made 503
            if not written:
                try:
                    writer.write(OUT_OF_MEMORY)
                    await writer.drain()
                except Exception:
                    pass
        finally:
            _close_source(ans)  # an answer never written (no heap for it) lets go of its source
            if turn:
                self.working = False
            self._free.append(buf)
            self.active -= 1
            self._close(writer)

    async def _body_out(self, writer, body, head):
        """Write what follows the head (_begin's second part), then drain."""
        if isinstance(body, Stream):
            await self._stream(writer, body, head)
        elif isinstance(body, list):
            for p in body:
                writer.write(p)
                await writer.drain()
        elif body:
            writer.write(body)
        await writer.drain()

    async def _stream(self, writer, ans, head):
        src = ans.source
        try:
            if hasattr(src, "readinto"):
                chunk = bytearray(CHUNK)
                while not head:
                    k = src.readinto(chunk)
                    if not k:
                        break
                    writer.write(chunk if k == CHUNK else chunk[:k])
                    await writer.drain()
            else:
                for part in () if head else src:
                    if not part:  # an empty piece: the source lets other tasks run (long scans)
                        await sleep_ms(0)
                        continue
                    if isinstance(part, tuple):  # small pieces, written together
                        for p in part:
                            writer.write(p.encode() if isinstance(p, str) else p)
                    else:
                        writer.write(part.encode() if isinstance(part, str) else part)
                    part = None
                    await writer.drain()
        finally:
            _close_source(ans)  # a generator left mid-way (client gone): its finally runs now

    async def _drain(self, reader, dl, until=None):
        """Read and drop what the client is still sending, briefly and boundedly (up to a piece
        holding `until`, if given). Never raises (no heap, a slow client)."""
        try:
            for _ in range(16):
                chunk = await dl.run(reader.read(CHUNK), _DRAIN_READ_MS)
                if not chunk or (until and until in chunk):
                    break
        except Exception:
            pass

    def _close(self, writer):
        """Close the connection now. MicroPython's stream closes its socket only in
        wait_closed(), a coroutine: with no heap to make one, the socket stayed open and the
        client waited for an end that never came. Its socket is closed here directly."""
        try:
            writer.close()
            s = getattr(writer, "s", None)  # (MicroPython: the socket; CPython closes above)
            if s is not None:
                s.close()
        except Exception:
            pass


def _begin(ans, head):
    """A handler's answer -> (the response head as bytes, what follows it: bytes, a list of
    JSON pieces, a Stream, or None), without writing anything (a MemoryError here leaves the
    connection clean for the ready-made 503). For HEAD (`head`) only a Stream follows (to be
    closed, not sent)."""
    status, headers = 200, None
    if isinstance(ans, tuple):
        if len(ans) > 2:
            headers = ans[2]
        status = ans[1]
        ans = ans[0]
    if isinstance(ans, Stream):
        return _top(status, ans.content_type, ans.headers, ans.size), ans
    if ans is None or status == 204:
        return _top(status, None, headers, 0), None
    if isinstance(ans, (dict, list)):
        parts = json_parts(ans)
        size = 0
        for p in parts:
            size += len(p)
        return _top(status, "application/json", headers, size), None if head else parts
    if isinstance(ans, str):
        ans, ctype = ans.encode(), "text/plain; charset=UTF-8"
    else:
        ctype = "application/octet-stream"
    return _top(status, ctype, headers, len(ans)), None if head else ans


def _top(status, ctype, headers, size):
    """The response head (status line, headers, blank line) as bytes; size None: no
    Content-Length (the connection's close ends the body)."""
    top = "HTTP/1.1 %d %s\r\nConnection: close\r\n" % (status, REASONS.get(status, "Status"))
    if ctype:
        top += "Content-Type: %s\r\n" % ctype
    if size is not None:
        top += "Content-Length: %d\r\n" % size
    if headers:
        for k in headers:
            top += "%s: %s\r\n" % (k, headers[k])
    return (top + "\r\n").encode()


def _close_source(ans):
    """Close the source of a Stream answer (or of a (Stream, status, ...) tuple): a file, or a
    generator, whose clean-up (finally) then runs even if it was never read to its end."""
    if isinstance(ans, tuple):
        ans = ans[0]
    if isinstance(ans, Stream):
        close = getattr(ans.source, "close", None)
        if close:
            try:
                close()
            except Exception:  # (no heap for its clean-up): the connection is let go of anyway
                pass


def client_address(peer):
    """The client's IP as text: ESP32 gives ('ip', port); the unix port a raw sockaddr."""
    if isinstance(peer, (tuple, list)):
        return str(peer[0])
    if isinstance(peer, (bytes, bytearray)):
        try:
            import socket

            addr = socket.sockaddr(peer)[1]
            if len(addr) == 4:
                return "%d.%d.%d.%d" % tuple(addr)
            return addr.hex()
        except Exception:
            return bytes(peer).hex()
    return str(peer)


def json_parts(obj):
    """JSON text of a dict or list as a list of pieces: one per member, and a list member item
    by item: a busy heap often has no single block for a whole users or event page (or the
    copies that building one text takes), but has room for its parts."""
    out = []
    if not isinstance(obj, dict):
        _items(out, obj, "")
        return out
    dumps = json.dumps
    sep = "{"
    for k in obj:
        v = obj[k]
        if isinstance(v, list):
            _items(out, v, sep + dumps(k) + ": ")
        else:
            out.append((sep + dumps(k) + ": " + dumps(v)).encode())
        sep = ", "
    out.append(b"}" if out else b"{}")
    return out


def _items(out, seq, lead):
    sep = lead + "["
    for x in seq:
        out.append((sep + json.dumps(x)).encode())
        sep = ", "
    out.append((sep + "]").encode() if sep != ", " else b"]")


def error(status, message, field=None, req=None):
    body = {"error": message}
    if field:
        body["field"] = field
    # no Basic challenge to a Bearer client: it would make a browser pop up its login dialog
    if status == 401 and not (req and req.headers.get("authorization", "").startswith("Bearer ")):
        return body, status, {"WWW-Authenticate": 'Basic realm="doorctl"'}
    return body, status, {}


async def serve(server, host, port):
    """Listen on host:port (raises OSError if the address is taken) and run `server.handle`
    for each connection; returns the listening socket (MicroPython) or asyncio server.

    On MicroPython the accept loop is our own: asyncio's start_server ends its loop for good
    when taking a connection fails for lack of heap, and the device would stop answering. Ours
    closes that one connection and goes on."""
    import sys

    if sys.implementation.name != "micropython":
        return await asyncio.start_server(server.handle, host, port)
    import socket

    addr = socket.getaddrinfo(host, port)[0][-1]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(addr)
    s.listen(_MAX_CLIENTS + 1)
    s.setblocking(False)
    asyncio.create_task(_accept(server, s))
    return s


def _accept(server, s):
    """The accept loop, a generator task as MicroPython's own stream server: it waits on the
    listening socket through asyncio's I/O queue (asyncio.core, frozen in the firmware)."""
    from asyncio import core

    io = core._io_queue
    while True:
        server._sweep()
        try:
            yield io.queue_read(s)
        except MemoryError:  # no heap to wait on the socket: undo the half-made entry, retry soon
            io.map.pop(id(s), None)
            try:
                io.poller.unregister(s)
            except Exception:
                pass
            gc.collect()
            yield from asyncio.sleep_ms(_ACCEPT_RETRY_MS)  # (a generator task sleeps by iterating it)
            continue
        try:
            c, peer = s.accept()
        except MemoryError:  # no heap for the new socket: it stays queued, try again shortly
            gc.collect()
            yield from asyncio.sleep_ms(_ACCEPT_RETRY_MS)
            continue
        except OSError:
            continue
        c.setblocking(False)
        for _ in range(_ACCEPT_TRIES):
            try:
                st = asyncio.StreamReader(c, {"peername": peer})
                asyncio.create_task(server.handle(st, st))
                server._track(st)
                break
            except MemoryError:  # no heap for this connection now: soon, perhaps (meanwhile
                st = None  # the next clients wait in the listen queue)
                gc.collect()
                yield from asyncio.sleep_ms(_ACCEPT_RETRY_MS)
        else:  # closed unread: the client sees a reset, but the device keeps listening
            c.close()
            server.refused += 1
        c = st = peer = None

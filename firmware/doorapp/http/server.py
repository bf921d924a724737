"""A small HTTP/1.1 server for the device API, built for a 112 KB heap shared with the door.

Why not microdot: it costs ~23 KB of resident heap here, makes a task per connection (a flood of
clients then takes the heap that reading cards needs), and MicroPython's readline() has no
length limit, so a client can grow a request line until the heap is gone before any check runs.

Here at most _CLIENTS connections are served at once, and a new one only while the heap is
above the reserve kept for the door; any other is refused at once with a ready-made 503 (lib/tcpserve.py). Each request head is read into a fixed buffer (a
head larger than _HEAD_MAX is refused), within _HEAD_TIMEOUT_MS (slowloris); requests are
answered one at a time, in arrival order (`_turn`); small bodies are read whole, large ones left
to routes that stream them; every connection closes after one answer (no keep-alive). The
request target has one spelling (`split_target`): the router and the authentication see the
same path. Timeouts are deadline.Deadline, not asyncio.wait_for (see there); a request that
finds no heap gets a ready-made 503, never a bare close. A missing Content-Length means an empty
body; Transfer-Encoding is refused (411). HEAD runs the GET route and sends its status and
headers without the body, unless the route was registered with head=False (a GET that acts,
like the vendor's OpenDoor): then HEAD gets 405 and the handler does not run.

Handlers: `async def h(req, **params)` returning a dict/list (JSON 200), a `(body, status)` or
`(body, status, headers)` tuple, or a `Stream` (file or generator of chunks). Routes:
`@app.route("GET", "/api/v1/relays/<int:num>/open")`, `@app.route("GET", "/x", head=False)`.
`app.before(req, row)`, if set, runs before the handler (doorapp.http.api: authentication).
`app.wrap(sock)`, if set, makes each connection's stream (doorapp.http.tls: HTTPS; a connection
whose handshake fails or doesn't end within the head's timeout is closed without an answer).
"""
import asyncio
import gc
import json

from micropython import const

from compat import print_exception, sleep_ms, ticks_diff, ticks_ms
from deadline import Deadline

_CLIENTS = const(4)  # connections served at once (each: a task and a head buffer)
_HEAD_MAX = const(1536)
_HEAD_TIMEOUT_MS = const(5000)
_BODY_MAX = const(4096)
_BODY_TIMEOUT_MS = const(10000)
_WRITE_TIMEOUT_MS = const(10000)
_DRAIN_READ_MS = const(200)
_DRAIN_MAX = const(32768)  # what a refused request may still send is read up to this (then: reset)
CHUNK = const(512)
_TURN_WAIT_MS = const(8000)  # a request whose turn doesn't come this long: 503 busy
_TURN_POLL_MS = const(4)
_JSON_DEPTH = const(8)  # JSON bodies nest at most this deep (checked before parsing)
# heap kept for the door's own work: no new connection, and no handler, below it (after a
# collection): 1/_RESERVE_SHARE of the heap, at least _RESERVE_MIN bytes. The door reads cards
# and logs with far less; its share can't be taken by clients
_RESERVE_SHARE = const(32)
_RESERVE_MIN = const(6144)
_PATH_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"

REASONS = {200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified", 308: "Permanent Redirect", 400: "Bad Request",
           401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
           408: "Request Timeout", 411: "Length Required", 413: "Payload Too Large",
           415: "Unsupported Media Type",
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
    challenge = False  # a 401 that asks for Basic credentials (WWW-Authenticate)

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
        """The body as JSON, nested at most _JSON_DEPTH deep (checked first: parsing deeper
        documents costs heap a client should not be able to take)."""
        b = self.body
        from jsoncheck import flaw

        why = flaw(b, _JSON_DEPTH)
        if why is not None:
            raise HTTPError(400, "body is not valid JSON: " + why)
        try:
            return json.loads(b)  # an empty body (no Content-Length) too
        except ValueError:
            raise HTTPError(400, "body is empty or not valid JSON")


def split_target(target):
    """The request target -> (path, query), refusing (400) every other spelling of a path, so
    that the router and the authentication see one and the same path: segments of letters,
    digits and - . _ ~ only (no %-escapes, no backslash), no empty, "." or ".." segment, no
    trailing slash but the root's; a query may follow "?"; a fragment ("#") is refused."""
    path, _, query = target.partition("?")
    if path != "/":
        if not path.startswith("/") or "#" in query:
            raise HTTPError(400, "bad request target")
        for seg in path[1:].split("/"):
            if seg == "" or seg == "." or seg == "..":
                raise HTTPError(400, "bad request target")
            for c in seg:
                if c not in _PATH_CHARS:
                    raise HTTPError(400, "bad request target")
    elif "#" in query:
        raise HTTPError(400, "bad request target")
    return path, query


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
    row's third item is the handler; doorapp.http.api replaces `call` to load handlers on demand.
    A row whose last item is False is a GET without HEAD (see `route(..., head=False)`)."""

    def __init__(self):
        self.routes = []  # (method, pattern, handler) or (method, pattern, handler, False)
        self.before = None  # async fn(req, row) -> None or an answer that short-circuits
        self.wrap = None  # fn(sock) -> stream for each connection: doorapp.http.tls (HTTPS)
        heap = getattr(gc, "mem_alloc", None)
        self.reserve = max(_RESERVE_MIN, (heap() + gc.mem_free()) // _RESERVE_SHARE) if heap else 0
        self.active = 0
        self.working = False  # a request is past its head and being answered (one at a time)
        self._queue = []  # the requests waiting for their turn (their Deadlines), oldest first
        self.refused = 0
        self.served = 0
        # request head buffers: one made now, so that one client can always be served (the web
        # UI, a push); the others are made when clients come at once and then kept (a
        # board that is never asked by several doesn't hold ~1.5 KB each for nothing)
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
        segs = path[1:].split("/")  # (a path split_target accepted: no empty segment but the root's)
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
        if len(words) != 3 or not words[2].startswith("HTTP/1."):
            raise HTTPError(400, "bad request line")
        req.method = words[0]
        req.path = words[1]  # the target as sent: split (and refused if odd) by _serve
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

    def _admit(self):
        """May a new connection be served, or a handler run, now? Not when the heap is below
        the reserve kept for the door's own work (cards, relays, the event log) after a
        collection. (CPython, the tests' reference: no heap to count.)"""
        free = getattr(gc, "mem_free", None)
        if free is None or free() >= self.reserve:
            return True
        gc.collect()
        return free() >= self.reserve

    async def serve_socket(self, sock, peer):
        """A connection from tcpserve (MicroPython): served here, closed by tcpserve (a TLS
        stream, `wrap`, is closed here: its buffers go at once)."""
        if self.wrap is None:
            st = asyncio.StreamReader(sock)
            await self._serve(st, st, peer)
            return
        try:
            st = self.wrap(sock)
        except OSError:  # (mbedTLS found no memory for the session): closed by tcpserve, no traceback
            return
        try:
            await self._serve(st, st, peer)
        finally:
            st.end()

    async def handle(self, reader, writer):
        """A connection's task where asyncio makes one per connection (CPython's start_server:
        the tests' reference server)."""
        await self._serve(reader, writer, writer.get_extra_info("peername"))
        writer.close()

    async def _serve(self, reader, writer, peer):
        buf = self._buffer()
        if buf is None:  # no heap for a head buffer: busy
            self.refused += 1
            await self._drain(reader, Deadline(), b"\r\n\r\n")
            writer.write(BUSY)
            await writer.drain()
            return
        self.active += 1
        req = ans = None
        complete = False  # whole request read: nothing to drain before closing
        turn = written = False
        try:
            dl = Deadline()  # the connection's timeouts (no asyncio.wait_for: see deadline.py)
            try:
                try:
                    end, n = await dl.run(self._head(reader, buf), _HEAD_TIMEOUT_MS)
                except Exception:
                    if getattr(reader, "opened", True) is False:
                        return  # a TLS handshake that failed or never ended: nobody to answer
                    raise
                # the head waits for its turn as bytes in its buffer: parsed, it would hold ~1 KB
                # more of the heap while others are answered
                turn = await self._turn(dl)
                if not turn:
                    raise HTTPError(503, "busy")
                req = self._parse(buf, end, n)
                # no body announced and none sent: nothing to drain whatever the answer (a 404
                # would otherwise wait _DRAIN_READ_MS for bytes that never come)
                complete = req.content_length == 0 and n == end + 4
                req.path, req.query = split_target(req.path)
                req.reader = reader
                req.client = client_address(peer)
                row, params = self.find(req.method, req.path)
                await self._body(req, reader, dl)
                complete = req.content_length <= len(req.body)
                ans = await self.before(req, row) if self.before else None
                if ans is None:
                    if not self._admit():  # a handler may need heap the door can't spare now
                        raise HTTPError(503, "busy")
                    ans = await self.call(row, req, params)
            except HTTPError as e:
                ans = error(e.status, e.message, e.field, e.challenge)
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

    def _buffer(self):
        """A request head buffer: a kept one, else a new one (kept after its connection: at
        most _CLIENTS); None if the heap has no block for it."""
        if self._free:
            return self._free.pop()
        try:
            return bytearray(_HEAD_MAX)
        except MemoryError:
            return None

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
        """Read and drop what the client is still sending, boundedly (_DRAIN_MAX bytes, each
        piece within _DRAIN_READ_MS; up to a piece holding `until`, if given): closing with
        bytes unread would reset the connection, and the client might lose its answer. Never
        raises (no heap, a slow client)."""
        try:
            for _ in range(_DRAIN_MAX // CHUNK):
                chunk = await dl.run(reader.read(CHUNK), _DRAIN_READ_MS)
                if not chunk or (until and until in chunk):
                    break
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


def error(status, message, field=None, challenge=False):
    """An error answer. A Basic challenge (WWW-Authenticate) only where the route asks for it
    (the vendor routes): a browser that answers one keeps sending the password to the device,
    also with requests that other web pages make it send."""
    body = {"error": message}
    if field:
        body["field"] = field
    if challenge and status == 401:
        return body, status, {"WWW-Authenticate": 'Basic realm="doorctl"'}
    return body, status, {}


async def serve(server, host, port):
    """Listen on host:port (raises OSError if the address is taken) and serve `server` there;
    returns what close() stops (a tcpserve.Listener on MicroPython, the asyncio server on CPython).

    On MicroPython the connections are bounded by lib/tcpserve.py: asyncio's start_server makes
    a task per connection, as many as come, so a flood of clients would take the heap that
    reading cards needs, and its accept loop ends for good when taking a connection fails for
    lack of heap. A connection refused there gets the ready-made 503 busy."""
    import sys

    if sys.implementation.name != "micropython":
        return await asyncio.start_server(server.handle, host, port)
    import tcpserve

    # (a TLS client can't read the plain-text 503: a connection refused there is just closed)
    return tcpserve.listen(host, port, server.serve_socket, _CLIENTS, BUSY if server.wrap is None else b"",
                           server._admit)

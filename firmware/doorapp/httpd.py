"""A small HTTP/1.1 server for the device API, built for a 112 KB heap.

Why not microdot: it costs ~23 KB of resident heap here, and MicroPython's readline() has no
length limit, so a client can grow a request line until the heap is gone before any check runs.
This server reads each request head into one of MAX_CLIENTS preallocated buffers (a head larger
than HEAD_MAX is refused), gives the whole head HEAD_TIMEOUT_S to arrive (slowloris), reads
small bodies whole and leaves large ones to routes that stream them, and closes every
connection after one answer (no keep-alive: one task, one buffer, bounded). A missing
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

from compat import print_exception

MAX_CLIENTS = const(4)
HEAD_MAX = const(1536)
HEAD_RESERVE = const(16384)  # free heap kept when preallocating head buffers beyond the first
HEAD_TIMEOUT_S = const(5)
BODY_MAX = const(4096)
BODY_TIMEOUT_S = const(10)
WRITE_TIMEOUT_S = const(10)
CHUNK = const(512)

REASONS = {200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified", 400: "Bad Request",
           401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
           408: "Request Timeout", 411: "Length Required", 413: "Payload Too Large",
           429: "Too Many Requests", 431: "Request Header Fields Too Large",
           500: "Internal Server Error", 503: "Service Unavailable"}


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
        self.refused = 0
        self.served = 0
        # request head buffers: made now while the heap has room for them and a reserve (a
        # fragmented heap later may lack 1.5 KB blocks); a board whose heap is full of readers'
        # and verification code makes them when clients come, or answers busy
        self._free = []
        free = getattr(gc, "mem_free", None)  # (CPython, which runs this for tests: no limit)
        for _ in range(MAX_CLIENTS):
            gc.collect()
            if free is not None and free() < HEAD_RESERVE:
                break
            try:
                self._free.append(bytearray(HEAD_MAX))
            except MemoryError:  # free heap in small pieces only
                break

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
            if n >= HEAD_MAX:
                raise HTTPError(431, "request head too large")
            k = min(CHUNK, HEAD_MAX - n)
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

    async def _body(self, req, reader):
        """Read a small body whole (others are left on `req.reader` for streaming routes)."""
        need = req.content_length - len(req.body)
        if need < 0:
            raise HTTPError(400, "body longer than Content-Length")
        if req.content_length > BODY_MAX:
            return
        if need:
            into = getattr(reader, "readinto", None)
            if into is None:  # CPython (tests)
                req.body += await asyncio.wait_for(reader.readexactly(need), BODY_TIMEOUT_S)
                return
            # one block of the body's size, read into in place: a busy heap often has no room
            # for the read and the joined copy at once
            body = bytearray(req.content_length)
            pos = len(req.body)
            body[:pos] = req.body
            req.body = body
            await asyncio.wait_for(self._fill(into, memoryview(body), pos), BODY_TIMEOUT_S)

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
        await self._drain(reader, b"\r\n\r\n")
        try:
            await self._send(writer, 503, b'{"error": "busy"}', "application/json", {})
        except Exception:  # (no heap, client gone): the socket is closed all the same
            pass
        await self._close(writer)

    async def handle(self, reader, writer):
        if self.active >= MAX_CLIENTS:
            return await self._busy(reader, writer)
        try:
            buf = self._free.pop() if self._free else bytearray(HEAD_MAX)
        except MemoryError:
            return await self._busy(reader, writer)
        self.active += 1
        req = ans = None
        complete = False  # whole request read: nothing to drain before closing
        try:
            try:
                end, n = await asyncio.wait_for(self._head(reader, buf), HEAD_TIMEOUT_S)
                req = self._parse(buf, end, n)
                req.reader = reader
                req.client = client_address(writer.get_extra_info("peername"))
                row, params = self.find(req.method, req.path)
                await self._body(req, reader)
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
                ans = error(503, "out of memory")
                try:
                    print_exception(e)
                except MemoryError:
                    pass
            except Exception as e:  # a bug: log it (tracebacks hold code, not request data)
                print_exception(e)
                ans = error(500, "internal error")
            await asyncio.wait_for(self._answer(writer, ans, req and req.method == "HEAD"),
                                   WRITE_TIMEOUT_S)
            # answered: let go of the request and answer before draining and closing, which can
            # take a while, so the client's next request doesn't find them still in the heap
            req = ans = row = params = None
            self.served += 1
            if not complete:
                await self._drain(reader)  # unread request bytes would turn close() into a reset
        except Exception:
            pass
        finally:
            _close_source(ans)  # an answer never written (no heap for it) lets go of its source
            self._free.append(buf)
            self.active -= 1
            await self._close(writer)

    async def _answer(self, writer, ans, head):
        """Write the answer; for HEAD (`head`) the same status and headers, no body."""
        status, headers = 200, {}
        if isinstance(ans, tuple):
            if len(ans) > 2:
                headers = ans[2]
            status = ans[1]
            ans = ans[0]
        if isinstance(ans, Stream):
            src = ans.source
            try:
                await self._send(writer, status, None, ans.content_type, ans.headers, ans.size)
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
                            await asyncio.sleep_ms(0)
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
            return
        if ans is None or status == 204:
            body, ctype = b"", None
        elif isinstance(ans, (dict, list)):
            parts = json_parts(ans)
            size = 0
            for p in parts:
                size += len(p)
            await self._send(writer, status, None, "application/json", headers, size)
            for p in () if head else parts:
                writer.write(p)
                await writer.drain()
            return
        elif isinstance(ans, str):
            body, ctype = ans.encode(), "text/plain; charset=UTF-8"
        else:
            body, ctype = ans, "application/octet-stream"
        await self._send(writer, status, None if head else body, ctype, headers, len(body))

    async def _send(self, writer, status, body, ctype, headers, size=None):
        head = "HTTP/1.1 %d %s\r\nConnection: close\r\n" % (status, REASONS.get(status, "Status"))
        if ctype:
            head += "Content-Type: %s\r\n" % ctype
        if body is not None:
            size = len(body)
        if size is not None:
            head += "Content-Length: %d\r\n" % size
        for k in headers:
            head += "%s: %s\r\n" % (k, headers[k])
        writer.write(head.encode() + b"\r\n")
        if body:
            writer.write(body)
        await writer.drain()

    async def _drain(self, reader, until=None):
        """Read and drop what the client is still sending, briefly and boundedly (up to a piece
        holding `until`, if given). Never raises (no heap, a slow client)."""
        try:
            for _ in range(16):
                chunk = await asyncio.wait_for(reader.read(CHUNK), 0.2)
                if not chunk or (until and until in chunk):
                    break
        except Exception:
            pass

    async def _close(self, writer):
        try:
            writer.close()
            await writer.wait_closed()
        except Exception:
            pass


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
    s.listen(MAX_CLIENTS + 1)
    s.setblocking(False)
    asyncio.create_task(_accept(server, s))
    return s


def _accept(server, s):
    """The accept loop, a generator task as MicroPython's own stream server: it waits on the
    listening socket through asyncio's I/O queue (asyncio.core, frozen in the firmware)."""
    from asyncio import core

    io = core._io_queue
    while True:
        try:
            yield io.queue_read(s)
        except MemoryError:  # no heap to wait on the socket: undo the half-made entry, retry soon
            io.map.pop(id(s), None)
            try:
                io.poller.unregister(s)
            except Exception:
                pass
            gc.collect()
            yield from asyncio.sleep_ms(20)  # (a generator task sleeps by iterating the sleep)
            continue
        try:
            c, peer = s.accept()
        except MemoryError:  # no heap for the new socket: it stays queued, try again shortly
            gc.collect()
            continue
        except OSError:
            continue
        try:
            c.setblocking(False)
            st = asyncio.StreamReader(c, {"peername": peer})
            asyncio.create_task(server.handle(st, st))
        except MemoryError:  # no heap for this connection now: drop it, keep listening
            c.close()
            server.refused += 1
            st = None
            gc.collect()

"""Third-party verification client (seed 004): URL templates and one bounded HTTP(S) GET.

The device sends a credential to an installer's server by filling a URL template such as
``http://10.0.0.5:8090/api/visitor/scan?codeKey={QRCode}&deviceId={DeviceID}`` and reads a
JSON answer: ``"isvalid": true`` / ``1`` or ``"validation_result": "1"`` grants, ``false`` /
``0`` / ``"0"`` denies, anything else is a failure with its own reason. The whole exchange
(DNS, connect, TLS, request, answer, redirects) is bounded by one timeout, 3 s by default.

Reasons (`verify()` -> ``(granted, reason, prompt)``):

============== =====================================================================
ok             the answer grants
denied         the answer denies (isvalid false/0, validation_result "0")
timeout        no complete answer within the timeout
refused        connection refused (nothing listens on the port)
dns            the host name does not resolve
tls            TLS handshake or certificate check failed
network        connection reset / unreachable / closed before a complete answer
http_status    final HTTP status not 2xx (after redirects), or an unusable redirect
not_json       the body is not JSON
no_field       JSON without isvalid / validation_result (or not an object)
bad_value      isvalid / validation_result present with an undocumented value
too_large      header or body larger than the preallocated buffer
redirect_loop  more than `max_redirects` redirects
============== =====================================================================

Memory: one response buffer (`bufsize`, default 2048 bytes) is allocated with the client and
reused; a request allocates only small objects (URL and request text, a few slices, the parsed
JSON). Measured by host_tools/doorctl/bench_verify.py.

DNS: MicroPython's ``socket.getaddrinfo`` blocks the event loop (no async resolver on the
ESP32); a lookup of a name the resolver knows is fast, an unreachable DNS server can stall the
loop for seconds. The time it takes counts against the timeout, failures are reason ``dns``,
and a successful answer is cached for 60 s. Use an IP address in the URL where possible.

TLS: https uses MicroPython's ``ssl`` (mbedTLS; its buffers come from the IDF heap on the ESP32,
not the GC heap) or CPython's. Without a CA (`ca`) the connection is encrypted but the server is
not authenticated; with a CA certificate (DER or PEM, one certificate) the chain and the host
name are checked.
"""
import asyncio
import json
import socket
import sys

from micropython import const

from compat import ticks_diff, ticks_ms
from deadline import Deadline
from verifynames import (BAD_VALUE, DENIED, DNS, HTTP_STATUS, N_VARIABLES, NETWORK, NO_FIELD,  # noqa: F401 (API)
                         NOT_JSON, OK, REDIRECT_LOOP, REFUSED, TIMEOUT, TLS, TOO_LARGE,
                         UNREACHABLE, V_CARD, V_CARDCODE, V_DEVICEID, V_FACE, V_FACEDATA, V_PIN,
                         V_PINCODE, V_QRCODE, V_TIME, V_TOKEN, V_TYPE, expand, quote)
from urlsplit import TemplateError, parse_url  # noqa: F401 (API)

_MICROPYTHON = sys.implementation.name == "micropython"
_ECONNREFUSED = const(111)
_DNS_TTL_MS = const(60000)
_PROMPT_MAX = const(64)
_REDIRECTS = (301, 302, 303, 307, 308)


def interpret(doc, prompt_field="message"):
    """(granted, reason, prompt) for a parsed JSON answer (seed 004 forms only).

    Success: "isvalid": true or 1, "validation_result": "1". Failure: false, 0, "0". Any
    documented failure value wins over a success value; a field with another value is
    bad_value; neither field is no_field. `prompt` is the text of `prompt_field` (<= 64 chars).
    """
    prompt = ""
    if not isinstance(doc, dict):
        return False, NO_FIELD, prompt
    if prompt_field:
        p = doc.get(prompt_field)
        if isinstance(p, str):
            prompt = p[:_PROMPT_MAX]
        elif isinstance(p, (int, float)) and p is not True and p is not False:
            prompt = str(p)
    yes = no = bad = False
    if "isvalid" in doc:
        v = doc["isvalid"]
        if v is True or (type(v) is int and v == 1):
            yes = True
        elif v is False or (type(v) is int and v == 0):
            no = True
        else:
            bad = True
    if "validation_result" in doc:
        v = doc["validation_result"]
        if v == "1":
            yes = True
        elif v == "0":
            no = True
        else:
            bad = True
    if no:
        return False, DENIED, prompt
    if bad:
        return False, BAD_VALUE, prompt
    if yes:
        return True, OK, prompt
    return False, NO_FIELD, prompt


def load_ca(data):
    """DER bytes of the first certificate in `data` (PEM text or DER bytes)."""
    if isinstance(data, str):
        data = data.encode()
    begin = data.find(b"-----BEGIN CERTIFICATE-----")
    if begin < 0:
        return bytes(data)
    from binascii import a2b_base64

    begin = data.find(b"\n", begin) + 1
    end = data.find(b"-----END CERTIFICATE-----", begin)
    if begin <= 0 or end < 0:
        raise ValueError("PEM certificate is incomplete")
    return a2b_base64(data[begin:end].replace(b"\r", b"").replace(b"\n", b""))


class _Fail(Exception):
    def __init__(self, reason, detail=""):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def _ip_of(sockaddr, host):
    # ESP32 port: ('1.2.3.4', port); unix port: raw struct sockaddr (family, port, addr);
    # CPython: (ip, port[, flow, scope])
    if isinstance(sockaddr, tuple):
        return sockaddr[0]
    if len(sockaddr) >= 8 and sockaddr[0] + sockaddr[1] * 256 in (2, 512):  # AF_INET
        return "%d.%d.%d.%d" % (sockaddr[4], sockaddr[5], sockaddr[6], sockaddr[7])
    return host


class VerifyClient:
    """One request at a time over a buffer allocated once. `verify(url)` never raises."""

    def __init__(self, timeout_ms=3000, bufsize=2048, max_redirects=3, prompt_field="message",
                 ca=None, user_agent="doorctl", buf=None):
        self.timeout_ms = timeout_ms
        self.max_redirects = max_redirects
        self.prompt_field = prompt_field
        self.ca = load_ca(ca) if ca else None
        self.user_agent = user_agent
        self.buf = buf if buf is not None else bytearray(bufsize)  # buf: the caller's, kept between clients
        self._mv = memoryview(self.buf)
        self._scratch = bytearray(16)
        self._ctx = None
        self._dns = None  # (host, ip, ticks_ms)
        self._got = 0  # bytes of answer received on the current connection
        self._dl = Deadline()  # the request's timeout (not asyncio.wait_for: see deadline.py)
        # What the last request did (for events, logs, the benchmark)
        self.status = 0  # final HTTP status, 0 = none
        self.detail = ""  # short text about a failure
        self.elapsed_ms = 0
        self.redirects = 0

    async def verify(self, url):
        """(granted, reason, prompt) for one GET of `url` (already expanded)."""
        t0 = ticks_ms()
        self.status = 0
        self.detail = ""
        self.redirects = 0
        try:
            res = await self._dl.run(self._verify(url, t0), self.timeout_ms)
        except asyncio.TimeoutError:
            self.detail = "no complete answer within %d ms" % self.timeout_ms
            res = (False, TIMEOUT, "")
        except _Fail as e:
            self.detail = e.detail
            res = (False, e.reason, "")
        except Exception as e:  # never let a bad answer kill the caller's task
            self.detail = "%s: %s" % (type(e).__name__, e)
            res = (False, NETWORK, "")
        self.elapsed_ms = ticks_diff(ticks_ms(), t0)
        return res

    async def notify(self, url):
        """(True, OK) once `url` answered 2xx (after redirects; the body is not read as JSON, a
        body too large for the buffer is fine), else (False, reason). Never raises."""
        t0 = ticks_ms()
        self.status = 0
        self.detail = ""
        self.redirects = 0
        try:
            await self._dl.run(self._get(url, t0), self.timeout_ms)
            res = (True, OK)
        except asyncio.TimeoutError:
            self.detail = "no complete answer within %d ms" % self.timeout_ms
            res = (False, TIMEOUT)
        except _Fail as e:
            ok = e.reason == TOO_LARGE and 200 <= self.status < 300 and e.detail.startswith("body")
            self.detail = e.detail
            res = (True, OK) if ok else (False, e.reason)
        except Exception as e:
            self.detail = "%s: %s" % (type(e).__name__, e)
            res = (False, NETWORK)
        self.elapsed_ms = ticks_diff(ticks_ms(), t0)
        return res

    async def _verify(self, url, t0):
        b0, b1 = await self._get(url, t0)
        body = self._mv[b0:b1] if _MICROPYTHON else bytes(self._mv[b0:b1])
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeError):
            raise _Fail(NOT_JSON, "%d bytes" % (b1 - b0))
        return interpret(doc, self.prompt_field)

    async def _get(self, url, t0):
        """GET `url` following redirects: (start, end) of a 2xx answer's body in buf."""
        for hop in range(self.max_redirects + 1):
            try:
                tls, host, port, target = parse_url(url)
            except TemplateError as e:
                raise _Fail(HTTP_STATUS, "bad URL: %s" % e)
            status, location, b0, b1 = await self._fetch(tls, host, port, target, t0)
            self.status = status
            if status in _REDIRECTS and location:
                url = self._join(tls, host, port, target, location)
                self.redirects = hop + 1
                continue
            if not 200 <= status < 300:
                raise _Fail(HTTP_STATUS, "HTTP %d" % status)
            return b0, b1
        raise _Fail(REDIRECT_LOOP, "more than %d redirects" % self.max_redirects)

    def _join(self, tls, host, port, target, location):
        if location.startswith("http://") or location.startswith("https://"):
            return location
        base = ("https://" if tls else "http://") + ("[%s]" % host if ":" in host else host) + ":%d" % port
        if location.startswith("//"):
            return ("https:" if tls else "http:") + location
        if location.startswith("/"):
            return base + location
        path = target.split("?", 1)[0]
        return base + path[:path.rfind("/") + 1] + location

    def _resolve(self, host, port, t0):
        c = self._dns
        if c and c[0] == host and ticks_diff(ticks_ms(), c[2]) < _DNS_TTL_MS:
            return c[1]
        try:
            infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except OSError as e:  # CPython: socket.gaierror; MicroPython: OSError(-2 / -202 ...)
            raise _Fail(DNS, "%s: %s" % (host, e))
        if not infos:
            raise _Fail(DNS, host)
        ai = infos[0]
        for a in infos:
            if a[0] == socket.AF_INET:
                ai = a
                break
        ip = _ip_of(ai[-1], host)
        self._dns = (host, ip, ticks_ms())
        if ticks_diff(ticks_ms(), t0) >= self.timeout_ms:  # the blocking lookup ate the budget
            raise asyncio.TimeoutError()
        return ip

    def _ssl(self):
        if self._ctx is None:
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            if self.ca is None:
                if hasattr(ctx, "check_hostname"):
                    ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            else:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(cadata=self.ca)
            self._ctx = ctx
        return self._ctx

    def _classify(self, e, tls):
        err = e.args[0] if e.args and isinstance(e.args[0], int) else getattr(e, "errno", None)
        text = "%s %s" % (type(e).__name__, e)
        if err == _ECONNREFUSED or type(e).__name__ == "ConnectionRefusedError":
            return _Fail(REFUSED, text)
        if tls and self._got == 0:
            return _Fail(TLS, text)
        return _Fail(NETWORK, text)

    async def _fetch(self, tls, host, port, target, t0):
        """One request; returns (status, location, body_start, body_end) with the body in buf."""
        ip = self._resolve(host, port, t0)
        self._got = 0
        writer = None
        try:
            try:
                if tls:
                    reader, writer = await asyncio.open_connection(ip, port, ssl=self._ssl(),
                                                                   server_hostname=host)
                else:
                    reader, writer = await asyncio.open_connection(ip, port)
                hosthdr = ("[%s]" % host) if ":" in host else host
                if port != (443 if tls else 80):
                    hosthdr = "%s:%d" % (hosthdr, port)
                writer.write(("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n"
                              "Accept: application/json\r\nConnection: close\r\n\r\n"
                              % (target, hosthdr, self.user_agent)).encode())
                await writer.drain()
                return await self._answer(reader)
            except (OSError, ValueError) as e:  # ssl.SSLError is an OSError; mbedTLS raises both
                raise self._classify(e, tls)
        finally:
            if writer is not None:
                try:
                    writer.close()
                except Exception:
                    pass

    async def _read(self, reader, pos):
        """Read more of the answer into buf at pos; returns bytes read, 0 at end of stream."""
        if _MICROPYTHON:
            while True:
                n = await reader.readinto(self._mv[pos:])
                if n is not None:
                    break
        else:
            data = await reader.read(len(self.buf) - pos)
            n = len(data)
            self.buf[pos:pos + n] = data
        self._got += n
        return n

    async def _more(self, reader):
        """After the buffer filled up: True if the server still sends data (answer too large)."""
        if _MICROPYTHON:
            while True:
                n = await reader.readinto(self._scratch)
                if n is not None:
                    return n > 0
        return bool(await reader.read(16))

    async def _answer(self, reader):
        buf = self.buf
        size = len(buf)
        pos = 0
        head = -1
        while head < 0:
            if pos >= size:
                raise _Fail(TOO_LARGE, "header over %d bytes" % size)
            n = await self._read(reader, pos)
            if n == 0:
                raise _Fail(NETWORK, "connection closed after %d bytes, before the header ended" % pos)
            head = buf.find(b"\r\n\r\n", max(0, pos - 3), pos + n)
            pos += n
        # status line
        if buf[:5] != b"HTTP/" or buf.find(b" ", 0, 12) != 8:
            raise _Fail(HTTP_STATUS, "not an HTTP answer")
        try:
            status = int(bytes(buf[9:12]))
        except ValueError:
            raise _Fail(HTTP_STATUS, "bad status line")
        self.status = status
        length = -1
        chunked = False
        location = None
        i = buf.find(b"\r\n", 0, head) + 2
        while i < head + 2:
            j = buf.find(b"\r\n", i, head + 2)
            if j < 0:
                break
            colon = buf.find(b":", i, j)
            if colon > i:
                k = colon - i
                if k in (8, 14, 17):
                    name = bytes(buf[i:colon]).lower()
                    value = bytes(buf[colon + 1:j]).strip()
                    if name == b"content-length":
                        try:
                            length = int(value)
                        except ValueError:
                            raise _Fail(HTTP_STATUS, "bad Content-Length")
                    elif name == b"transfer-encoding":
                        chunked = b"chunked" in value.lower()
                    elif name == b"location":
                        location = value.decode()
            i = j + 2
        b0 = head + 4
        if status in _REDIRECTS and location:
            return status, location, b0, b0
        if length > size - b0:
            raise _Fail(TOO_LARGE, "body of %d bytes" % length)
        want = b0 + length if length >= 0 and not chunked else size
        while pos < want:
            n = await self._read(reader, pos)
            if n == 0:
                break
            pos += n
        if length >= 0 and not chunked:
            if pos < want:
                raise _Fail(NETWORK, "body cut short: %d of %d bytes" % (pos - b0, length))
            return status, location, b0, want
        if pos >= size and await self._more(reader):
            raise _Fail(TOO_LARGE, "body over %d bytes" % (size - b0))
        if chunked:
            return status, location, b0, self._dechunk(b0, pos)
        return status, location, b0, pos

    def _dechunk(self, b0, end):
        """Decode a chunked body in place in buf[b0:end]; returns the end of the decoded body."""
        buf = self.buf
        mv = self._mv
        r = w = b0
        while True:
            j = buf.find(b"\r\n", r, end)
            if j < 0:
                raise _Fail(NETWORK, "chunked body cut short")
            k = buf.find(b";", r, j)
            try:
                n = int(bytes(buf[r:j if k < 0 else k]).strip(), 16)
            except ValueError:
                raise _Fail(HTTP_STATUS, "bad chunk size")
            if n == 0:
                return w
            r = j + 2
            if r + n > end:
                raise _Fail(NETWORK, "chunked body cut short")
            mv[w:w + n] = mv[r:r + n]
            w += n
            r += n + 2


def from_config(cfg, data_dir="", path="config.json", buf=None):
    """The VerifyClient for a validated `verify` section; reads `ca_file` (relative to
    data_dir) once. ConfigError naming verify.ca_file if it can't be used. `buf`: the answer
    buffer to use (verifyclient.VerifyClient)."""
    from configerror import ConfigError

    ca = None
    name = cfg["ca_file"]
    if name:
        full = name if name.startswith("/") or not data_dir else data_dir + "/" + name
        try:
            with open(full, "rb") as f:
                ca = load_ca(f.read())
        except OSError:
            raise ConfigError(path, "verify.ca_file", "%s cannot be read" % full)
        except ValueError as e:
            raise ConfigError(path, "verify.ca_file", "%s is not a certificate: %s" % (full, e))
        if len(ca) < 100 or ca[0] != 0x30:
            raise ConfigError(path, "verify.ca_file", "%s is not a PEM or DER certificate" % full)
    return VerifyClient(timeout_ms=cfg["timeout_ms"], max_redirects=cfg["max_redirects"],
                        prompt_field=cfg["prompt_field"], ca=ca, buf=buf)

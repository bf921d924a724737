"""`doorctl push`: send a built user table to one or many devices (`PUT /api/v1/users/table`).

A whole table goes in one request and the device swaps it in atomically, so a door never runs
on half a list. The file is checked here first with the device's own reader (header, checksum,
card format), so a damaged or wrong file never reaches a door. Each device gets one connection
at a time (the device serves one answer per connection: login, then the upload); devices are
pushed in parallel. The password comes from a file or the environment, never the command line,
and is never printed.
"""
import argparse
import http.client
import json
import os
import select
import socket
import ssl
import sys
import threading
import time
import urllib.parse

from doorctl import __version__, paths, tlstrust
from doorctl.errors import CliError

ROUTE = "/api/v1/users/table"
LOGIN_ROUTE = "/api/v1/login"
CHUNK = 2048  # bytes per send: the device streams to flash in small pieces
RETRY_WAIT_S = 1.0  # first wait before a retry on 409/503 (doubles each time)
RETRY_AFTER_MAX_S = 30.0  # cap on a device's Retry-After
ANSWER_MAX = 65536  # device answers are small JSON documents
ENV_PASSWORD = "DOORCTL_PASSWORD"
RESULT_KEYS = ("device", "ok", "serial", "users", "seconds", "error")
FIRST_BOOT = ("change the first-boot password first (the device web UI, or `doorctl provision` "
              "before flashing)")
LIST_SUFFIXES = (".json", ".csv")


# --- the local table ------------------------------------------------------------------------
class Table:
    """A checked table file held in memory: every device gets exactly these bytes."""

    def __init__(self, path, data, serial, users, card_format):
        self.path = path
        self.data = data
        self.serial = serial
        self.users = users
        self.card_format = card_format

    @property
    def size(self):
        return len(self.data)


def _looks_like_list(path):
    try:
        with open(path, "rb") as f:
            head = f.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return False
    return head[:1] in (b"{", b"[") or head.lower().startswith(b"id,") or b",id," in head.lower()


def load_table(path):
    """Open `path` with the device's reader, verify its checksum and read it; CliError if it is
    not a good table (a user list gets a hint to build one first)."""
    hint = "build a table first: doorctl users build %s -o users.tbl" % path
    if path.lower().endswith(LIST_SUFFIXES):
        raise CliError("%s is a user list, not a table: %s" % (path, hint))
    paths.use_device_code()
    import cardfmt
    from usertable.reader import Base

    try:
        base = Base(path)
    except OSError as e:
        raise CliError("cannot read %s: %s" % (path, e.strerror or e))
    except ValueError as e:
        if _looks_like_list(path):
            raise CliError("%s is not a user table (%s); it looks like a user list: %s" % (path, e, hint))
        raise CliError("%s is not a user table (%s)" % (path, e))
    try:
        try:
            base.verify()
        except ValueError as e:
            raise CliError("%s: damaged table (%s): rebuild it with doorctl users build" % (path, e))
        try:
            card_format = cardfmt.format_name(base.fid)
        except ValueError as e:
            raise CliError("%s: damaged table (%s)" % (path, e))
        serial, users, size = base.serial, base.users, base.size
    finally:
        base.close()
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CliError("cannot read %s: %s" % (path, e.strerror or e))
    if len(data) != size:
        raise CliError("%s changed while it was being checked; try again" % path)
    return Table(path, data, serial, users, card_format)


# --- device addresses ----------------------------------------------------------------------
class Target:
    def __init__(self, scheme, host, port, prefix):
        self.scheme = scheme
        self.host = host
        self.port = port
        self.prefix = prefix
        self.trust = tlstrust.Trust()  # https: what certificate is accepted (doorctl.tlstrust)


def parse_url(url):
    """`http://host[:port][/prefix]` (a bare `host:port` means http) -> Target; ValueError."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    u = urllib.parse.urlsplit(text)
    if u.scheme not in ("http", "https"):
        raise ValueError("%s: only http:// and https:// devices" % url)
    if not u.hostname:
        raise ValueError("%s: no host name" % url)
    try:
        port = u.port or (443 if u.scheme == "https" else 80)
    except ValueError:
        raise ValueError("%s: bad port" % url)
    if u.query or u.fragment or u.username:
        raise ValueError("%s: give the device's base URL only (no query, fragment or user)" % url)
    return Target(u.scheme, u.hostname, port, u.path.rstrip("/"))


def normalize_url(url):
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    return text.rstrip("/")


# --- one device -----------------------------------------------------------------------------
class _Failed(Exception):
    def __init__(self, message, retry=False, retry_after=None):
        super().__init__(message)
        self.message = message
        self.retry = retry
        self.retry_after = retry_after


class _TokenRejected(Exception):
    pass


def _remaining(deadline, timeout):
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Failed("no answer within %g s (--timeout)" % timeout)
    return left


def _connect(target, deadline, timeout):
    if target.scheme == "https":
        conn = tlstrust.HTTPSConnection(target.host, target.port, _remaining(deadline, timeout), target.trust)
    else:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=_remaining(deadline, timeout))
    try:
        conn.connect()
    except tlstrust.Untrusted as e:
        conn.close()
        raise _Failed(str(e))
    except ssl.SSLCertVerificationError as e:
        conn.close()
        raise _Failed(tlstrust.explain(e))
    except ssl.SSLError as e:
        conn.close()
        raise _Failed(tlstrust.explain(e), retry=True)
    except (socket.timeout, TimeoutError):
        conn.close()
        raise _Failed("no answer within %g s (--timeout)" % timeout)
    except socket.gaierror as e:
        conn.close()
        raise _Failed("cannot resolve %s: %s" % (target.host, e.strerror or e))
    except ConnectionRefusedError:
        conn.close()
        raise _Failed("connection refused (is the device on, and the port right?)")
    except OSError as e:
        conn.close()
        raise _Failed("cannot connect: %s" % (e.strerror or e), retry=True)
    return conn


def _answer(conn, deadline, timeout):
    """Read the device's answer -> (status, doc or None, text, Retry-After or None)."""
    try:
        conn.sock.settimeout(_remaining(deadline, timeout))
        resp = conn.getresponse()
        raw = resp.read(ANSWER_MAX)
    except (socket.timeout, TimeoutError):
        raise _Failed("no answer within %g s (--timeout)" % timeout)
    except (OSError, http.client.HTTPException) as e:
        raise _Failed("connection lost before the answer (%s)" % (e.__class__.__name__,), retry=True)
    if resp.status in (301, 302, 307, 308):  # (the device with http.tls on: its plain port)
        raise _Failed("the device redirects to %s (HTTP %d): it serves HTTPS only; give its https:// URL with "
                      "--pin-cert or --ca (docs/https.md)" % (resp.getheader("Location") or "?", resp.status))
    retry_after = None
    ra = resp.getheader("Retry-After")
    if ra and ra.strip().isdigit():
        retry_after = min(float(ra.strip()), RETRY_AFTER_MAX_S)
    try:
        doc = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        doc = None
    text = ""
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        text = doc["error"]
    elif raw and doc is None:
        text = raw[:200].decode("utf-8", "replace").strip()
    return resp.status, doc, text, retry_after


_STATUS = {  # status -> (what it means here, default detail, retry)
    400: ("device refused the table", "damaged table or wrong card format", False),
    401: ("login refused", "wrong user name or password", False),
    403: ("forbidden", "", False),
    404: ("no table upload route on this device (firmware too old?)", "", False),
    409: ("device busy", "a compaction or another push runs", True),
    411: ("device wants a Content-Length", "", False),
    413: ("table too big for the device", "not enough free flash", False),
    429: ("login locked out", "too many failed logins", False),
    503: ("device out of memory or busy", "", True),
}


def _describe(status, text, retry_after):
    """A device error answer -> _Failed with a message that says what went wrong."""
    what, default, retry = _STATUS.get(status, ("device answered", http.client.responses.get(status, ""),
                                                status >= 500 and status != 501))
    detail = text or default
    msg = what + (": " + detail if detail else "") + " (HTTP %d)" % status
    return _Failed(msg, retry=retry, retry_after=retry_after if retry else None)


def _login(target, user, password, deadline, timeout):
    body = json.dumps({"username": user, "password": password}).encode()
    conn = _connect(target, deadline, timeout)
    try:
        try:
            conn.request("POST", target.prefix + LOGIN_ROUTE, body=body,
                         headers={"Content-Type": "application/json", "Connection": "close"})
        except (socket.timeout, TimeoutError):
            raise _Failed("no answer within %g s (--timeout)" % timeout)
        except OSError as e:
            raise _Failed("connection lost while signing in (%s)" % (e.strerror or e), retry=True)
        status, doc, text, retry_after = _answer(conn, deadline, timeout)
    finally:
        conn.close()
    if status != 200:
        raise _describe(status, text, retry_after)
    if not isinstance(doc, dict) or not isinstance(doc.get("token"), str) or not doc["token"]:
        raise _Failed("unexpected login answer (no token)")
    if doc.get("password_change_required"):
        raise _Failed(FIRST_BOOT)
    return doc["token"]


def _put(url, target, token, table, deadline, timeout, progress, cancel):
    """Send the table in CHUNK pieces; stop early if the device answers before the end (e.g. 413)."""
    n = table.size
    conn = _connect(target, deadline, timeout)
    try:
        try:
            conn.putrequest("PUT", target.prefix + ROUTE, skip_accept_encoding=True)
            conn.putheader("Authorization", "Bearer " + token)
            conn.putheader("Content-Type", "application/octet-stream")
            conn.putheader("Content-Length", str(n))
            conn.putheader("Connection", "close")
            conn.putheader("User-Agent", "doorctl/" + __version__)
            conn.endheaders()
        except (socket.timeout, TimeoutError):
            raise _Failed("no answer within %g s (--timeout)" % timeout)
        except OSError as e:
            raise _Failed("connection lost (%s)" % (e.strerror or e), retry=True)
        sock = conn.sock
        mv = memoryview(table.data)
        sent = 0
        lost = None
        if progress:
            progress(url, 0, n, None)
        while sent < n:
            if cancel is not None and cancel.is_set():
                raise _Failed("cancelled")
            piece = mv[sent:sent + CHUNK]
            try:
                sock.settimeout(_remaining(deadline, timeout))
                sock.sendall(piece)
            except (socket.timeout, TimeoutError):
                raise _Failed("no answer within %g s (--timeout)" % timeout)
            except OSError as e:
                lost = e  # perhaps the device answered early and closed: read that answer
                break
            sent += len(piece)
            if progress:
                progress(url, sent, n, None)
            if sent < n and not isinstance(sock, ssl.SSLSocket) and select.select([sock], [], [], 0)[0]:
                break  # the device answered before the end of the body (an error): stop sending
        try:
            status, doc, text, retry_after = _answer(conn, deadline, timeout)
        except _Failed as e:
            if lost is not None and e.retry:
                raise _Failed("connection lost after %d of %d bytes (%s)" % (sent, n, lost.strerror or lost),
                              retry=True)
            if sent == n and not e.retry and not (cancel is not None and cancel.is_set()):
                raise _Failed("all %d bytes sent, but %s: the device may still be installing the table "
                              "(check its serial; a large table on a slow board needs a longer --timeout)"
                              % (n, e.message))
            raise
    finally:
        conn.close()
    if status == 401:
        raise _TokenRejected(text)
    if not 200 <= status < 300:
        raise _describe(status, text, retry_after)
    if sent < n:
        raise _Failed("device answered HTTP %d after only %d of %d bytes" % (status, sent, n))
    if not isinstance(doc, dict) or not isinstance(doc.get("serial"), int) or not isinstance(doc.get("users"), int):
        raise _Failed("unexpected answer: %s" % (text or json.dumps(doc))[:200])
    return doc


def _scrub(message, password):
    if password and len(password) >= 4:
        message = message.replace(password, "***")
    return message


def push_table(url, table, password, user="admin", timeout=30, retries=3, progress=None, cancel=None, trust=None):
    """Push a loaded `Table` to the device at `url` -> result dict (RESULT_KEYS).

    Retries on 409 (busy) and 503 (out of memory) and on a dropped connection, waiting
    RETRY_WAIT_S, then twice as long each time (or the device's Retry-After), all within
    `timeout` seconds overall. A rejected token (expired, evicted) gets one fresh login.
    `progress(url, sent, total, note)`: after each chunk (note None) and on a retry (note text).
    `trust`: the certificates accepted on https (doorctl.tlstrust.Trust; default the system's CAs).
    """
    t0 = time.monotonic()
    deadline = t0 + timeout
    result = dict.fromkeys(RESULT_KEYS)
    result["device"] = url
    result["ok"] = False
    token = None
    relogin = True
    attempt = 0
    try:
        target = parse_url(url)
    except ValueError as e:
        target = None
        result["error"] = str(e)
    if target is not None and trust is not None:
        target.trust = trust
    while target is not None:
        try:
            if token is None:
                token = _login(target, user, password, deadline, timeout)
            doc = _put(url, target, token, table, deadline, timeout, progress, cancel)
            result.update(ok=True, serial=doc["serial"], users=doc["users"])
            break
        except _TokenRejected as e:
            token = None
            if relogin:  # the token may have expired or been evicted (the device keeps only a few)
                relogin = False
                continue
            result["error"] = _describe(401, str(e), None).message
            break
        except _Failed as e:
            msg = e.message
            if e.retry and attempt < retries:
                wait = e.retry_after if e.retry_after is not None else RETRY_WAIT_S * (2 ** attempt)
                if time.monotonic() + wait < deadline:
                    attempt += 1
                    if progress:
                        progress(url, 0, table.size, "retry %d/%d in %.1f s: %s" % (
                            attempt, retries, wait, _scrub(msg, password)))
                    if cancel is not None:
                        if cancel.wait(wait):
                            result["error"] = "cancelled"
                            break
                    else:
                        time.sleep(wait)
                    continue
                msg += " (no time left for a retry within %g s)" % timeout
            elif e.retry and retries:
                msg += " (gave up after %d %s)" % (retries, "retry" if retries == 1 else "retries")
            result["error"] = msg
            break
    if result["error"] is not None:
        result["error"] = _scrub(result["error"], password)
    result["seconds"] = round(time.monotonic() - t0, 3)
    return result


def push_one(url, table_path, password, user="admin", timeout=30, retries=3, progress=None, trust=None):
    """Check the table at `table_path` and push it to the device at `url` -> result dict with
    keys device, ok, serial, users, seconds, error (as `doorctl push --json`). A bad local file
    raises CliError (nothing is sent)."""
    return push_table(url, load_table(table_path), password, user=user, timeout=timeout, retries=retries,
                      progress=progress, trust=trust)


# --- progress on stderr ---------------------------------------------------------------------
def _mb(n):
    return "%.2f MB" % (n / 1e6)


class Progress:
    """Progress on `stream`: live (a terminal) redraws one line -- a bar for one device, or
    `k/N devices, X MB sent` for several; otherwise plain start / retry / finish lines.
    Result lines (stdout) go through `result()` so they never tear a live line."""

    REDRAW_S = 0.1
    BAR = 30

    def __init__(self, devices, table, stream, live, out=None, quiet_results=False):
        self.n = devices
        self.table = table
        self.stream = stream
        self.live = live
        self.out = out if out is not None else sys.stdout
        self.quiet_results = quiet_results
        self.lock = threading.Lock()
        self.sent = {}  # url -> bytes of the current attempt
        self.earlier = 0  # bytes sent by attempts that were retried
        self.done = 0
        self.failed = 0
        self.last = 0.0
        self.shown = False

    def _line(self):
        if self.n == 1:
            sent = sum(self.sent.values())
            total = self.table.size or 1
            filled = self.BAR * sent // total
            url = next(iter(self.sent), "")
            return "%s [%s%s] %3d%% %s / %s" % (url, "#" * filled, "-" * (self.BAR - filled), 100 * sent // total,
                                               _mb(sent), _mb(self.table.size))
        line = "%d/%d devices, %s sent" % (self.done, self.n, _mb(self.earlier + sum(self.sent.values())))
        if self.failed:
            line += ", %d failed" % self.failed
        return line

    def _clear(self):
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.shown = False

    def _draw(self, force=False):
        now = time.monotonic()
        if not force and now - self.last < self.REDRAW_S:
            return
        self.last = now
        self.stream.write("\r\x1b[K" + self._line())
        self.stream.flush()
        self.shown = True

    def start(self, url):
        with self.lock:
            self.sent[url] = 0
            if self.live:
                self._draw(force=True)
            else:
                self.stream.write("push: %s: sending %s (%d bytes)\n" % (url, os.path.basename(self.table.path),
                                                                      self.table.size))
                self.stream.flush()

    def update(self, url, sent, total, note=None):
        with self.lock:
            if note is None:
                before = self.sent.get(url, 0)
                if sent < before:  # a new attempt: what went before still counts as sent
                    self.earlier += before
                self.sent[url] = sent
                if self.live:
                    self._draw()
                return
            if self.live:
                self._clear()
            self.stream.write("push: %s: %s\n" % (url, note))
            if self.live:
                self._draw(force=True)
            self.stream.flush()

    def result(self, res, line):
        with self.lock:
            self.done += 1
            if not res["ok"]:
                self.failed += 1
            if self.live:
                self._clear()
                self.stream.flush()
            else:
                self.stream.write("push: [%d/%d] %s: %s after %.2f s\n" % (
                    self.done, self.n, res["device"], "ok" if res["ok"] else "failed", res["seconds"]))
                self.stream.flush()
            if not self.quiet_results:
                self.out.write(line + "\n")
                self.out.flush()
            if self.live and self.done < self.n:
                self._draw(force=True)

    def close(self):
        with self.lock:
            if self.live:
                self._clear()
                self.stream.flush()


def result_line(res):
    if res["ok"]:
        return "%s: ok, serial %d, %d users (%.2f s)" % (res["device"], res["serial"], res["users"], res["seconds"])
    return "%s: failed: %s" % (res["device"], res["error"])


# --- the command ----------------------------------------------------------------------------
def read_devices_file(path):
    """One URL per line; blank lines and `#` comments ignored."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise CliError("cannot read %s: %s" % (path, e.strerror or e))
    except UnicodeDecodeError:
        raise CliError("%s: not UTF-8 text" % path)
    urls = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            urls.append(line)
    return urls


def read_password(args):
    if args.password_file:
        try:
            with open(args.password_file, encoding="utf-8") as f:
                pw = f.read()
        except OSError as e:
            raise CliError("cannot read %s: %s" % (args.password_file, e.strerror or e))
        except UnicodeDecodeError:
            raise CliError("%s: not UTF-8 text" % args.password_file)
        pw = pw.splitlines()[0] if pw else ""
        if not pw:
            raise CliError("%s is empty (the admin password, on its first line)" % args.password_file)
        return pw
    pw = os.environ.get(ENV_PASSWORD, "")
    if not pw:
        args.push_parser.error("no password: give --password-file FILE or set %s" % ENV_PASSWORD)
    return pw


def cmd_push(args):
    parser = args.push_parser
    urls = list(args.device or [])
    if args.devices:
        urls += read_devices_file(args.devices)
    if not urls:
        parser.error("no device: give --device URL (any number of times) or --devices FILE")
    devices = []
    for u in urls:
        try:
            parse_url(u)
        except ValueError as e:
            parser.error(str(e))
        u = normalize_url(u)
        if u not in devices:
            devices.append(u)
    trust = tlstrust.from_args(args.pin_cert, args.pin_sha256, args.ca)
    if trust.given:
        plain = [u for u in devices if not u.startswith("https://")]
        if plain:
            parser.error("--pin-cert/--pin-sha256/--ca apply to https:// devices only; %s is not one" % plain[0])
    if args.parallel < 1:
        parser.error("--parallel must be at least 1")
    if args.retries < 0:
        parser.error("--retries must be 0 or more")
    if not args.timeout > 0:
        parser.error("--timeout must be more than 0 seconds")
    password = read_password(args)
    table = load_table(args.table)  # refused here, before any connection
    live = not args.json and sys.stderr.isatty()
    sys.stderr.write("%s: serial %d, %d users, card format %s, %d bytes -> %d device%s\n" % (
        args.table, table.serial, table.users, table.card_format, table.size, len(devices),
        "" if len(devices) == 1 else "s"))
    prog = Progress(len(devices), table, sys.stderr, live, quiet_results=args.json)
    cancel = threading.Event()
    results = {}

    def work(url):
        prog.start(url)
        res = push_table(url, table, password, user=args.user, timeout=args.timeout, retries=args.retries,
                         progress=prog.update, cancel=cancel, trust=trust)
        prog.result(res, result_line(res))
        return res

    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=min(args.parallel, len(devices)))
    try:
        futures = [(u, pool.submit(work, u)) for u in devices]
        for u, fut in futures:
            results[u] = fut.result()
    except KeyboardInterrupt:
        cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
        prog.close()
        raise
    pool.shutdown(wait=True)
    prog.close()
    ordered = [results[u] for u in devices]
    if args.json:
        print(json.dumps(ordered, indent=2))
    return 0 if all(r["ok"] for r in ordered) else 1


class _RefusePassword(argparse.Action):
    """`--password X` is refused without echoing X (argparse would print an unknown option's value)."""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error("--password is not accepted (a command line is visible to other users): "
                     "use --password-file FILE or %s" % ENV_PASSWORD)


def register(sub):
    p = sub.add_parser(
        "push", allow_abbrev=False, help="send a built user table to one or many devices",
        description="Check a table from `doorctl users build` locally (header, checksum, card format), then "
                    "send it to each device (PUT /api/v1/users/table), which swaps it in atomically and answers "
                    "with the new serial. Several devices are pushed in parallel; one result line each. "
                    "The admin password comes from --password-file or %s (never the command line). "
                    "Exit 0 if every device took the table, 1 if any failed, 2 on a usage error." % ENV_PASSWORD)
    p.add_argument("table", metavar="TABLE", help="the table file (users.tbl from `doorctl users build`)")
    p.add_argument("--device", action="append", metavar="URL",
                   help="device base URL, e.g. https://10.0.0.21 or http://127.0.0.1:8080 (repeatable)")
    p.add_argument("--devices", metavar="FILE", help="file with one device URL per line (# comments allowed)")
    p.add_argument("--pin-cert", action="append", metavar="FILE",
                   help="https: accept only this device certificate (tls_cert.pem from `doorctl provision --tls`; "
                        "repeatable: any of them)")
    p.add_argument("--pin-sha256", action="append", metavar="HEX",
                   help="https: accept only the certificate with this SHA-256 fingerprint (repeatable)")
    p.add_argument("--ca", metavar="FILE", help="https: trust certificates signed by this site CA (and no other CA)")
    p.add_argument("--user", default="admin", help="API user name (default %(default)s)")
    p.add_argument("--password-file", metavar="FILE",
                   help="file holding the admin password (first line); default: the %s environment variable"
                        % ENV_PASSWORD)
    p.add_argument("--password", nargs="?", action=_RefusePassword, help=argparse.SUPPRESS)
    p.add_argument("--parallel", type=int, default=8, metavar="N",
                   help="devices pushed at the same time (default %(default)s)")
    p.add_argument("--retries", type=int, default=3, metavar="N",
                   help="retries per device when it is busy (409) or out of memory (503) (default %(default)s)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="overall time limit per device in seconds, retries included (default %(default)g)")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of {device, ok, serial, users, seconds, error}")
    p.set_defaults(func=cmd_push, push_parser=p)

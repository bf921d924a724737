"""`doorctl push`: a built table reaches one or many devices byte-exact, against a fake device
that implements the route contract (login, bearer token, 411, 409/503, 413, 400, body read in
chunks and opened with the device's own table reader)."""
import base64
import io
import json
import os
import secrets
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from doorctl import cmd_push
from doorctl.cli import main
from usertable.reader import Base

PASSWORD = "correct horse battery"
SERIAL = 4242
NUSERS = 600
LOGIN = "/api/v1/login"
TABLE = "/api/v1/users/table"


# --- the fake device ------------------------------------------------------------------------
class Meter:
    """Counts uploads in progress across devices (shows pushes overlap, and never more than N)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0

    def enter(self):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)

    def leave(self):
        with self.lock:
            self.active -= 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def setup(self):
        super().setup()
        self.server.dev.connections += 1

    def _send(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def _error(self, status, message, field=None, drain=0):
        """Answer (before reading the body, like the device), then swallow what the client still sends."""
        self._send(status, {"error": message, "field": field})
        while drain > 0:
            try:
                got = self.rfile.read1(min(drain, 65536))
            except OSError:
                break
            if not got:
                break
            drain -= len(got)

    def do_POST(self):
        dev = self.server.dev
        if self.path != LOGIN:
            return self._error(404, "not found")
        n = int(self.headers.get("Content-Length") or 0)
        doc = json.loads(self.rfile.read(n) or b"{}")
        dev.logins += 1
        dev.login_bodies.append(doc)
        if dev.failures >= 3:
            return self._error(429, "too many failed logins: retry in 30 s")
        if doc.get("username") != "admin" or doc.get("password") != dev.password:
            dev.failures += 1
            return self._error(401, "wrong user name or password")
        dev.failures = 0
        token = secrets.token_hex(16)
        dev.tokens.add(token)
        self._send(200, {"token": token, "password_change_required": dev.first_boot})

    def _authorised(self):
        dev = self.server.dev
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Bearer "):
            return auth[7:] in dev.tokens
        if auth.startswith("Basic "):
            return base64.b64decode(auth[6:]).decode() == "admin:" + dev.password
        return False

    def do_PUT(self):
        dev = self.server.dev
        length = self.headers.get("Content-Length")
        n = int(length) if length and length.isdigit() else 0
        if self.path != TABLE:
            return self._error(404, "not found", drain=n)
        dev.puts += 1
        if dev.forget_tokens:  # e.g. the device rebooted or evicted the token since the login
            dev.forget_tokens -= 1
            dev.tokens.clear()
        if not self._authorised():
            return self._error(401, "sign in first", drain=n)
        if dev.first_boot:
            return self._error(403, "password change required")
        if length is None:
            return self._error(411, "Content-Length required")
        if dev.script:
            status = dev.script.pop(0)
            msg = "busy: a compaction runs" if status == 409 else "out of memory, try again"
            return self._error(status, msg, drain=n)
        if n > dev.free:
            return self._error(413, "table is %d bytes, only %d bytes free on flash" % (n, dev.free), drain=n)
        dev.meter.enter()
        try:
            body = bytearray()
            while len(body) < n:
                piece = self.rfile.read(min(1024, n - len(body)))
                if not piece:
                    break
                dev.chunk_reads += 1
                body += piece
            dev.received.append(bytes(body))
            path = os.path.join(dev.tmp, "incoming.tbl")
            with open(path, "wb") as f:
                f.write(body)
            try:
                t = Base(path)
                try:
                    t.verify()
                    serial, users, fid = t.serial, t.users, t.fid
                finally:
                    t.close()
            except ValueError as e:
                return self._error(400, "damaged table: %s" % e)
            if fid != dev.fid:
                return self._error(400, "wrong card format: table has format id %d, this device uses %d" % (
                    fid, dev.fid), field="card.format")
            if dev.stall:  # a slow board still writing and checking: no answer yet
                dev.release.wait(10)
            if dev.barrier is not None:
                try:
                    dev.barrier.wait()
                except threading.BrokenBarrierError:
                    return self._error(500, "the other uploads never arrived at the same time")
        finally:
            dev.meter.leave()
        self._send(200, {"serial": serial, "users": users, "size": len(body)})


class FakeDevice:
    def __init__(self, tmp, password=PASSWORD, free=10 ** 8, script=(), first_boot=False, barrier=None,
                 meter=None, forget_tokens=0, fid=1, stall=False):
        self.tmp = str(tmp)
        os.makedirs(self.tmp, exist_ok=True)
        self.password = password
        self.free = free
        self.script = list(script)
        self.first_boot = first_boot
        self.barrier = barrier
        self.meter = meter or Meter()
        self.forget_tokens = forget_tokens
        self.fid = fid
        self.stall = stall
        self.release = threading.Event()
        self.tokens = set()
        self.failures = 0
        self.connections = self.logins = self.puts = self.chunk_reads = 0
        self.login_bodies = []
        self.received = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.dev = self
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def device(tmp_path):
    made = []

    def make(**kw):
        d = FakeDevice(tmp_path / ("dev%d" % len(made)), **kw)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """A real table from `doorctl users build` (600 users: ~27 KB, many chunks)."""
    d = tmp_path_factory.mktemp("push")
    users = [{"id": 1000 + i, "name": "User %d" % i, "cards": ["%08X" % (0x10000000 + i)], "relays": [1]}
             for i in range(NUSERS)]
    (d / "users.json").write_text(json.dumps({"users": users}))
    out = d / "users.tbl"
    assert main(["users", "build", str(d / "users.json"), "-o", str(out), "--serial", str(SERIAL)]) == 0
    assert out.stat().st_size > 8 * cmd_push.CHUNK
    return out


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(cmd_push, "RETRY_WAIT_S", 0.01)
    monkeypatch.setenv("DOORCTL_PASSWORD", PASSWORD)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- one device -----------------------------------------------------------------------------
def test_table_arrives_byte_exact_and_serial_is_reported(device, table, capsys):
    dev = device()
    code, out, err = run(capsys, "push", "--device", dev.url, table)
    assert code == 0, err
    assert dev.received == [table.read_bytes()]  # exactly the file, in one upload
    assert dev.chunk_reads > 1
    assert out.startswith("%s: ok, serial %d, %d users (" % (dev.url, SERIAL, NUSERS))
    assert out.count("\n") == 1
    # one login (JSON credentials), then the upload with the token
    assert dev.logins == 1 and dev.puts == 1
    assert dev.login_bodies == [{"username": "admin", "password": PASSWORD}]
    # stderr is not a terminal here: plain start and finish lines, never the password
    assert "serial %d, %d users, card format 8HN" % (SERIAL, NUSERS) in err
    assert "push: %s: sending users.tbl (%d bytes)" % (dev.url, table.stat().st_size) in err
    assert "push: [1/1] %s: ok after" % dev.url in err
    assert PASSWORD not in out + err


def test_push_one_api_reports_progress_in_chunks(device, table):
    dev = device()
    calls = []
    res = cmd_push.push_one(dev.url, str(table), PASSWORD, progress=lambda *a: calls.append(a))
    assert set(res) == set(cmd_push.RESULT_KEYS)
    assert res["ok"] is True and res["serial"] == SERIAL and res["users"] == NUSERS and res["error"] is None
    assert isinstance(res["seconds"], float) and res["seconds"] >= 0
    size = table.stat().st_size
    sent = [c[1] for c in calls if c[3] is None]
    assert sent[0] == 0 and sent[-1] == size and sent == sorted(sent)
    assert len(sent) >= size // cmd_push.CHUNK
    assert all(c[0] == dev.url and c[2] == size for c in calls)
    assert dev.received == [table.read_bytes()]


def test_wrong_password_is_a_clear_error_without_the_password(device, table, tmp_path, capsys):
    dev = device()
    secret = "Wrong-But-Secret-Pw-9731"
    pwfile = tmp_path / "pw.txt"
    pwfile.write_text(secret + "\n")
    code, out, err = run(capsys, "push", "--device", dev.url, "--password-file", pwfile, table)
    assert code == 1
    assert out.strip() == "%s: failed: login refused: wrong user name or password (HTTP 401)" % dev.url
    assert secret not in out + err
    assert dev.logins == 1 and dev.puts == 0  # never retried (a lockout counts failures)
    assert dev.login_bodies[0]["password"] == secret  # the file's first line, newline stripped


def test_password_file_is_used_over_the_environment(device, table, tmp_path, capsys, monkeypatch):
    dev = device()
    monkeypatch.setenv("DOORCTL_PASSWORD", "not-this-one")
    pwfile = tmp_path / "pw.txt"
    pwfile.write_text(PASSWORD + "\r\n")
    code, out, err = run(capsys, "push", "--device", dev.url, "--password-file", pwfile, table)
    assert code == 0, out + err
    assert "not-this-one" not in out + err


def test_lockout_message_is_passed_on(device, table, capsys):
    dev = device()
    dev.failures = 3
    code, out, _ = run(capsys, "push", "--device", dev.url, table)
    assert code == 1
    assert "login locked out: too many failed logins: retry in 30 s (HTTP 429)" in out
    assert dev.logins == 1


def test_first_boot_password_must_be_changed(device, table, capsys):
    dev = device(first_boot=True)
    code, out, _ = run(capsys, "push", "--device", dev.url, table)
    assert code == 1
    assert "change the first-boot password first" in out
    assert dev.puts == 0


def test_expired_token_gets_one_fresh_login(device, table, capsys):
    dev = device(forget_tokens=1)
    code, out, err = run(capsys, "push", "--device", dev.url, table)
    assert code == 0, out + err
    assert dev.logins == 2 and dev.puts == 2
    assert dev.received == [table.read_bytes()]


# --- a bad local file never reaches a device -----------------------------------------------
@pytest.mark.parametrize("kind", ["garbage", "damaged", "truncated", "json", "csv", "json-as-tbl", "missing"])
def test_non_table_refused_before_any_connection(device, table, tmp_path, capsys, kind):
    dev = device()
    data = table.read_bytes()
    path = tmp_path / "x.tbl"
    if kind == "garbage":
        path.write_bytes(os.urandom(len(data)))
        expect = "is not a user table"
    elif kind == "damaged":
        bad = bytearray(data)
        bad[len(bad) // 2] ^= 0x40
        path.write_bytes(bytes(bad))
        expect = "damaged table (checksum mismatch)"
    elif kind == "truncated":
        path.write_bytes(data[:-100])
        expect = "is not a user table"
    elif kind == "json":
        path = tmp_path / "users.json"
        path.write_text('{"users": []}')
        expect = "is a user list, not a table: build a table first: doorctl users build"
    elif kind == "csv":
        path = tmp_path / "users.CSV"
        path.write_text("id,name\n1,A\n")
        expect = "is a user list, not a table: build a table first: doorctl users build"
    elif kind == "json-as-tbl":
        path.write_text('{"users": [{"id": 1}]}' + " " * 200)
        expect = "looks like a user list: build a table first: doorctl users build"
    else:
        path = tmp_path / "nothere.tbl"
        expect = "cannot read"
    code, out, err = run(capsys, "push", "--device", dev.url, path)
    assert code == 1
    assert expect in err, err
    assert out == ""
    assert dev.connections == 0
    with pytest.raises(cmd_push.CliError):
        cmd_push.push_one(dev.url, str(path), PASSWORD)
    assert dev.connections == 0


# --- device errors and retries ---------------------------------------------------------------
def test_retries_on_409_and_503_then_success(device, table, capsys):
    dev = device(script=[409, 503])
    code, out, err = run(capsys, "push", "--device", dev.url, table)
    assert code == 0, out + err
    assert dev.puts == 3 and dev.received == [table.read_bytes()]
    assert "retry 1/3" in err and "device busy: busy: a compaction runs (HTTP 409)" in err
    assert "retry 2/3" in err and "device out of memory or busy" in err
    assert "ok, serial %d" % SERIAL in out


def test_gives_up_after_the_retries(device, table, capsys):
    dev = device(script=[409, 409, 409])
    code, out, _ = run(capsys, "push", "--device", dev.url, "--retries", "1", table)
    assert code == 1
    assert dev.puts == 2
    assert out.strip() == ("%s: failed: device busy: busy: a compaction runs (HTTP 409) (gave up after 1 retry)"
                           % dev.url)


def test_table_too_big_for_the_device(device, table, capsys):
    dev = device(free=1000)
    code, out, _ = run(capsys, "push", "--device", dev.url, table)
    assert code == 1
    assert "table too big for the device: table is %d bytes, only 1000 bytes free on flash (HTTP 413)" % (
        table.stat().st_size) in out
    assert dev.puts == 1 and dev.received == []  # not retried


def test_device_refusing_the_table_says_why(device, table, capsys):
    dev = device(fid=3)  # the device runs another card format
    code, out, _ = run(capsys, "push", "--device", dev.url, table)
    assert code == 1
    assert "device refused the table: wrong card format: table has format id 1, this device uses 3 (HTTP 400)" in out
    assert dev.puts == 1


def test_unreachable_and_silent_devices(table, capsys):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused = "http://127.0.0.1:%d" % closed.getsockname()[1]
    closed.close()
    silent = socket.socket()  # accepts connections (backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        mute = "http://127.0.0.1:%d" % silent.getsockname()[1]
        code, out, _ = run(capsys, "push", "--device", refused, "--device", mute, "--timeout", "0.5", table)
    finally:
        silent.close()
    assert code == 1
    assert "%s: failed: connection refused" % refused in out
    assert "%s: failed: no answer within 0.5 s (--timeout)" % mute in out


def test_no_answer_after_the_whole_body_says_the_table_may_still_go_live(device, table, capsys):
    dev = device(stall=True)
    code, out, _ = run(capsys, "push", "--device", dev.url, "--timeout", "0.5", table)
    assert code == 1
    assert dev.received == [table.read_bytes()] and dev.puts == 1  # not sent twice
    assert ("failed: all %d bytes sent, but no answer within 0.5 s (--timeout): the device may still be "
            "installing the table" % table.stat().st_size) in out


# --- many devices ----------------------------------------------------------------------------
def test_many_devices_concurrently_one_failing(device, table, tmp_path, capsys):
    meter = Meter()
    barrier = threading.Barrier(3, timeout=10)  # the three good uploads must be in flight together
    good = [device(meter=meter, barrier=barrier) for _ in range(3)]
    bad = device(meter=meter, free=100)
    listfile = tmp_path / "doors.txt"
    listfile.write_text("# site A\n%s\n\n%s   # lobby\n%s/\n" % (good[1].url, bad.url, good[2].url))
    code, out, err = run(capsys, "push", "--device", good[0].url, "--devices", listfile, "--device", good[1].url,
                         table)
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 4  # one per device (a duplicate is pushed once)
    for d in good:
        assert "%s: ok, serial %d, %d users (" % (d.url, SERIAL, NUSERS) in out
        assert d.received == [table.read_bytes()]
    assert "%s: failed: table too big for the device" % bad.url in out
    assert meter.max_active == 3
    assert "-> 4 devices" in err and "push: [4/4]" in err


def test_parallel_limits_devices_in_flight(device, table, capsys):
    meter = Meter()
    barrier = threading.Barrier(2, timeout=10)
    devs = [device(meter=meter, barrier=barrier) for _ in range(4)]
    argv = ["push", "--parallel", "2", table]
    for d in devs:
        argv += ["--device", d.url]
    code, out, err = run(capsys, *argv)
    assert code == 0, out + err
    assert meter.max_active == 2


def test_json_output_shape(device, table, capsys):
    good = device()
    bad = device(script=[503, 503])
    code, out, err = run(capsys, "push", "--device", good.url, "--device", bad.url, "--retries", "1", "--json", table)
    assert code == 1
    doc = json.loads(out)  # stdout is only the JSON document
    assert [r["device"] for r in doc] == [good.url, bad.url]
    for r in doc:
        assert list(r) == list(cmd_push.RESULT_KEYS)
        assert isinstance(r["seconds"], float)
    assert doc[0]["ok"] is True and doc[0]["serial"] == SERIAL and doc[0]["users"] == NUSERS
    assert doc[0]["error"] is None
    assert doc[1]["ok"] is False and doc[1]["serial"] is None and doc[1]["users"] is None
    assert "out of memory" in doc[1]["error"] and "gave up after 1 retry" in doc[1]["error"]
    assert PASSWORD not in out + err


# --- usage -----------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    [],  # no device
    ["--device", "ftp://10.0.0.1"],
    ["--device", "http://"],
    ["--device", "http://h:99999"],
    ["--device", "http://h", "--parallel", "0"],
    ["--device", "http://h", "--timeout", "0"],
])
def test_usage_errors_exit_2(table, capsys, argv):
    with pytest.raises(SystemExit) as e:
        main(["push"] + argv + [str(table)])
    assert e.value.code == 2


def test_password_is_never_taken_from_the_command_line(table, capsys, monkeypatch):
    for argv in (["--password", "Cmdline-Secret-42"], ["--password=Cmdline-Secret-42"]):
        with pytest.raises(SystemExit) as e:
            main(["push", "--device", "http://127.0.0.1:9"] + argv + [str(table)])
        assert e.value.code == 2
        out, err = capsys.readouterr()
        assert "Cmdline-Secret-42" not in out + err and "--password-file" in err
    monkeypatch.delenv("DOORCTL_PASSWORD")
    with pytest.raises(SystemExit) as e:
        main(["push", "--device", "http://127.0.0.1:9", str(table)])
    assert e.value.code == 2
    assert "DOORCTL_PASSWORD" in capsys.readouterr().err


# --- the live progress line ------------------------------------------------------------------
def test_progress_bar_on_a_terminal(table):
    t = cmd_push.load_table(str(table))
    err, out = io.StringIO(), io.StringIO()
    p = cmd_push.Progress(1, t, err, live=True, out=out)
    p.REDRAW_S = 0
    p.start("http://d1")
    p.update("http://d1", t.size // 2, t.size)
    assert "http://d1 [" + "#" * 15 + "-" * 15 + "]  50%" in err.getvalue()
    p.update("http://d1", t.size, t.size)
    assert "100%" in err.getvalue()
    p.result({"device": "http://d1", "ok": True, "seconds": 0.5}, "http://d1: ok")
    p.close()
    assert out.getvalue() == "http://d1: ok\n"
    assert err.getvalue().endswith("\r\x1b[K")  # the live line is cleared at the end


def test_aggregate_line_for_several_devices(table):
    t = cmd_push.load_table(str(table))
    err, out = io.StringIO(), io.StringIO()
    p = cmd_push.Progress(3, t, err, live=True, out=out)
    p.REDRAW_S = 0
    for u in ("http://a", "http://b", "http://c"):
        p.start(u)
    p.update("http://a", 1_000_000, t.size)
    p.update("http://b", 500_000, t.size)
    assert err.getvalue().endswith("0/3 devices, 1.50 MB sent")
    p.result({"device": "http://a", "ok": False, "seconds": 0.1}, "http://a: failed: x")
    assert err.getvalue().endswith("1/3 devices, 1.50 MB sent, 1 failed")
    assert out.getvalue() == "http://a: failed: x\n"
    p.update("http://b", 0, t.size, "retry 1/3 in 1.0 s: device busy")  # a retry sends from 0 again...
    p.update("http://b", 0, t.size)
    p.update("http://b", 250_000, t.size)
    assert "push: http://b: retry 1/3 in 1.0 s: device busy\n" in err.getvalue()
    assert err.getvalue().endswith("1/3 devices, 1.75 MB sent, 1 failed")  # ...and the total never goes back

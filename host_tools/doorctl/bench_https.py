"""`make bench`, HTTPS part (issue #19; docs/https.md): TLS handshakes against the simulator
(psram board, MicroPython's mbedTLS as on the ESP32), a self-signed EC P-256 certificate made
by doorctl.devcert, the client pinning it (doorctl.tlstrust).

1. HANDSHAKES connections one after the other, each: TCP connect + TLS handshake (timed: the
   handshake figure), then GET /api/v1/status with a Bearer token (timed from connect to the
   last byte: the request figure);
2. the simulator's GC heap (control `heap`: free, largest block, after a collection) and the
   process's resident memory (VmRSS: mbedTLS's buffers come from the C heap on the unix port,
   as from ESP-IDF's heap on the ESP32, not the GC heap) before and after those handshakes;
3. the same with OPEN connections handshaken and held open at once (what each costs while
   alive), then closed;
4. for comparison, the same GET in plain HTTP on a simulator without TLS.

    run() -> dict           rows(result) -> [(measure, text)]
    python -m doorctl.bench_https
"""
import json
import os
import socket
import sys
import tempfile
import time

from doorctl import paths

HANDSHAKES = 20
OPEN = 4  # = the server's connection places (doorapp/http/server.py _CLIENTS)
PASSWORD = "s3cret-door"


def _rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _heap(sim):
    h = sim.call("heap")
    return {"free": h["free"], "used": h["used"], "largest": h["largest"], "rss_kb": _rss_kb(sim.proc.pid)}


def _handshake(hostport, ctx, trust):
    host, port = hostport.rsplit(":", 1)
    t0 = time.perf_counter()
    raw = socket.create_connection((host, int(port)), timeout=10)
    s = ctx.wrap_socket(raw, do_handshake_on_connect=True)
    t1 = time.perf_counter()
    trust.check_pin(s)
    return s, t0, t1


def run():
    sys.path.insert(0, os.path.join(paths.ROOT, "tests"))
    from simproc import Sim

    from doorctl import devcert, tlstrust
    from doorctl.bench import pct

    with tempfile.TemporaryDirectory() as d:
        key, cert, _pem = devcert.make("doorctl", ["127.0.0.1"])
        with open(os.path.join(d, devcert.KEY_FILE), "wb") as f:
            f.write(key)
        with open(os.path.join(d, devcert.CERT_FILE), "wb") as f:
            f.write(cert)
        cpath = os.path.join(d, devcert.CERT_FILE)
        trust = tlstrust.from_args([cpath])
        ctx = trust.context()
        os.makedirs(os.path.join(d, "sim"))
        sim = Sim(os.path.join(d, "sim"), config={"http": {"tls": "on"}}, http=True, https=True, extra=["--tls", d])
        try:
            time.sleep(0.5)
            # the first-boot password changed over HTTPS: then a token for the timed requests
            import httpclient

            api = httpclient.Api(sim.https, trust=trust)
            api.login("admin")
            st, _doc = api.post("/api/v1/password", {"old": "admin", "new": PASSWORD})
            assert st == 200, st
            api.login(PASSWORD)
            req = ("GET /api/v1/status HTTP/1.1\r\nHost: doorctl\r\nAuthorization: Bearer %s\r\n"
                   "Connection: close\r\n\r\n" % api.token).encode()
            before = _heap(sim)
            hs, total = [], []
            for _ in range(HANDSHAKES):
                s, t0, t1 = _handshake(sim.https, ctx, trust)
                s.sendall(req)
                got = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    got += chunk
                s.close()
                t2 = time.perf_counter()
                if not got.startswith(b"HTTP/1.1 200 "):
                    raise RuntimeError("unexpected answer: %r" % got[:80])
                hs.append(1000 * (t1 - t0))
                total.append(1000 * (t2 - t0))
            time.sleep(0.3)
            after = _heap(sim)
            held = [_handshake(sim.https, ctx, trust)[0] for _ in range(OPEN)]
            time.sleep(0.2)
            with_open = _heap(sim)
            for s in held:
                s.close()
            time.sleep(0.5)
            closed = _heap(sim)
        finally:
            sim.stop()
        os.makedirs(os.path.join(d, "plain"))
        sim = Sim(os.path.join(d, "plain"), http=True)  # the same request in plain HTTP, for comparison
        try:
            plain = httpclient.admin_session(sim.http, PASSWORD).token
            req = ("GET /api/v1/status HTTP/1.1\r\nHost: doorctl\r\nAuthorization: Bearer %s\r\n"
                   "Connection: close\r\n\r\n" % plain).encode()
            clear = []
            for _ in range(HANDSHAKES):
                t0 = time.perf_counter()
                got = httpclient.raw(sim.http, req)
                clear.append(1000 * (time.perf_counter() - t0))
                if not got.startswith(b"HTTP/1.1 200 "):
                    raise RuntimeError("unexpected answer: %r" % got[:80])
        finally:
            sim.stop()
    return {"handshakes": HANDSHAKES, "open": OPEN, "key": "EC P-256, self-signed, pinned",
            "handshake_ms": {"p50": round(pct(hs, 50), 1), "p90": round(pct(hs, 90), 1), "max": round(max(hs), 1)},
            "request_ms": {"p50": round(pct(total, 50), 1), "max": round(max(total), 1)},
            "plain_request_ms": {"p50": round(pct(clear, 50), 1), "max": round(max(clear), 1)},
            "heap": {"before": before, "after": after, "open": with_open, "closed": closed}}


def rows(r):
    h = r["heap"]
    b, a, o = h["before"], h["after"], h["open"]
    yield ("HTTPS: TLS handshake (%s; TCP connect to handshake done), %d connections one after the other"
           % (r["key"], r["handshakes"]),
           "p50 %.1f ms, p90 %.1f ms, max %.1f ms" % (r["handshake_ms"]["p50"], r["handshake_ms"]["p90"],
                                                     r["handshake_ms"]["max"]))
    yield ("HTTPS: GET /api/v1/status, connect to last byte (one request per connection); the same in plain HTTP",
           "p50 %.1f ms, max %.1f ms; plain p50 %.1f ms, max %.1f ms" % (
               r["request_ms"]["p50"], r["request_ms"]["max"], r["plain_request_ms"]["p50"],
               r["plain_request_ms"]["max"]))
    yield ("HTTPS: GC heap free before / after %d handshakes / with %d TLS connections open"
           % (r["handshakes"], r["open"]),
           "%d / %d / %d B (largest block %d / %d / %d B)" % (b["free"], a["free"], o["free"], b["largest"],
                                                              a["largest"], o["largest"]))
    yield ("HTTPS: simulator process resident memory (mbedTLS buffers: C heap) before / after / with %d open"
           % r["open"], "%d / %d / %d KB" % (b["rss_kb"], a["rss_kb"], o["rss_kb"]))


if __name__ == "__main__":
    res = run()
    print(json.dumps(res, indent=2))
    for row in rows(res):
        print("%s: %s" % row)

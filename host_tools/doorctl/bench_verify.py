"""Benchmark of the third-party verify client (lib/verifyclient.py) under the ESP32's heap.

Runs the device client under `micropython -X heapsize=112000w` against doorctl's reference
verify server (plain HTTP and HTTPS with a throw-away self-signed certificate) on localhost and
reports, per request: GC heap allocated (automatic GC off during the request, so the figure is
every byte the request allocated), latency (unix-port wall time; an ESP32 is far slower and
its network adds its own), and the heap left after all requests (leaks).

mbedTLS keeps its own buffers (~20-40 KB per connection) outside the GC heap - libc malloc on
the unix port, the IDF heap on the ESP32 - so the HTTPS figure is the GC share only.
"""
import json
import os
import subprocess
import tempfile

from doorctl import paths

HEAP = "112000w"

SCRIPT = r'''
import sys, gc, json, asyncio
from time import ticks_us, ticks_diff
import verifyclient as vc
from doorapp.config import schema
from doorapp.verify.verifier import Verifier

base, tbase, n_http, n_https = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]

async def series(client, url, n):
    heap, lat = [], []
    for i in range(n):
        gc.collect()
        gc.disable()
        a = gc.mem_alloc()
        t = ticks_us()
        g, r, p = await client.verify(url)
        lat.append(ticks_diff(ticks_us(), t))
        heap.append(gc.mem_alloc() - a)
        gc.enable()
        if r != "ok":
            raise SystemExit("request failed: %s %s" % (r, client.detail))
    return {"n": n, "heap_avg": sum(heap) // n, "heap_max": max(heap), "heap_min": min(heap),
            "p50_us": pct(lat, 50), "p99_us": pct(lat, 99), "max_us": max(lat)}

async def verifier_series(n):
    cfg = schema.validate_verify({"mode": "customize",
        "url": base + "/api/visitor/scan?codeKey={QRCode}/{Card}/{Pin}&deviceId={DeviceID}&time={Time}"})
    results = []
    v = Verifier(cfg, vc.VerifyClient(), results.append, device_id="door-1", clock=lambda: 1795428000)
    heap = []
    for i in range(n):
        gc.collect()
        gc.disable()
        a = gc.mem_alloc()
        v.submit("card", "04A1B2C3")
        while v.busy:
            await asyncio.sleep_ms(1)
        heap.append(gc.mem_alloc() - a)
        gc.enable()
    assert all(r.granted for r in results), results
    return {"n": n, "heap_avg": sum(heap) // n, "heap_max": max(heap)}

async def main():
    out = {}
    gc.collect()
    a = gc.mem_alloc()
    c = vc.VerifyClient()
    out["client_bytes"] = gc.mem_alloc() - a
    await c.verify(base + "/warmup")  # imports, first-use allocations
    gc.collect()
    free0 = gc.mem_free()
    out["http"] = await series(c, base + "/api/visitor/scan?codeKey=12345678&deviceId=door-1", n_http)
    gc.collect()
    out["leak_bytes"] = free0 - gc.mem_free()
    out["verifier"] = await verifier_series(50)
    ct = vc.VerifyClient()
    await ct.verify(tbase + "/warmup")
    out["https"] = await series(ct, tbase + "/api/visitor/scan?codeKey=12345678&deviceId=door-1", n_https)
    gc.collect()
    out["heap_total"] = gc.mem_free() + gc.mem_alloc()
    print(json.dumps(out))

asyncio.run(main())
'''


def _cert(d):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2)).sign(key, hashes.SHA256()))
    cp, kp = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    with open(cp, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(kp, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cp, kp


def run(n_http=200, n_https=20):
    from doorctl.verify_server import VerifyServer

    rules = {"allow": ["12345678", "04A1B2C3"], "rules": [{"path": "/warmup", "grant": True}]}
    with tempfile.TemporaryDirectory() as d:
        cp, kp = _cert(d)
        script = os.path.join(d, "bench_verify_mpy.py")
        with open(script, "w") as f:
            f.write(SCRIPT)
        with VerifyServer(rules) as plain, VerifyServer(rules, tls_cert=cp, tls_key=kp) as tls:
            env = dict(os.environ)
            env["MICROPYPATH"] = paths.micropython_path()
            r = subprocess.run([paths.micropython_binary(), "-X", "heapsize=" + HEAP, script, plain.url,
                                "https://localhost:%d" % tls.port, str(n_http), str(n_https)],
                               env=env, cwd=paths.ROOT, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("bench_verify failed:\n%s%s" % (r.stdout, r.stderr))
    return json.loads(r.stdout.strip().splitlines()[-1])


def _ms(us):
    return "%.2f ms" % (us / 1000.0)


def rows(res):
    h, s, v = res["http"], res["https"], res["verifier"]
    return [
        ("Verify client object (2048 B answer buffer preallocated)", "%d B" % res["client_bytes"]),
        ("Verify request, GC heap allocated per HTTP request (%d requests)" % h["n"],
         "avg %d B, max %d B" % (h["heap_avg"], h["heap_max"])),
        ("Verify request through the mode logic (card, Any Method; URL built + request + result)",
         "avg %d B, max %d B" % (v["heap_avg"], v["heap_max"])),
        ("Verify request, GC heap per HTTPS request (mbedTLS buffers are outside the GC heap)",
         "avg %d B, max %d B" % (s["heap_avg"], s["heap_max"])),
        ("Heap not returned after %d HTTP requests (leak check)" % h["n"], "%d B" % res["leak_bytes"]),
        ("Verify request latency, local HTTP server, %d requests" % h["n"],
         "p50 %s, p99 %s" % (_ms(h["p50_us"]), _ms(h["p99_us"]))),
        ("Verify request latency, local HTTPS server (full handshake each), %d requests" % s["n"],
         "p50 %s, p99 %s" % (_ms(s["p50_us"]), _ms(s["p99_us"]))),
    ]


if __name__ == "__main__":
    res = run()
    print(json.dumps(res, indent=2))
    for m, t in rows(res):
        print("| %s | %s |" % (m, t))

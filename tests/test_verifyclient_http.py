"""The device's verify client and mode logic against real local HTTP(S) servers, under
`micropython -X heapsize=112000w` and under CPython.

The servers are doorctl's reference verify server (host_tools/doorctl/verify_server.py) in
threads of this pytest process: one plain HTTP, one HTTPS with a self-signed certificate made
here. One client script (CLIENT below) runs every case concurrently - so the 2.9 s / 3.1 s
delay cases cost ~3 s per interpreter - and prints one JSON result per case.

TLS failure is shown two ways: an https:// URL pointing at the plain-HTTP server (the
handshake meets an HTTP answer), and the HTTPS server checked against a CA it isn't signed by.
"""
import asyncio
import datetime
import ipaddress
import json
import os
import socket
import subprocess
import sys

import pytest

from mpy import ROOT, run_micropython

from doorctl.verify_server import VerifyServer

NOW = 1795428000
ALLOW = ["12345678", "04A1B2C3", "4711"]

RULES = {
    "allow": ALLOW,
    "rules": [
        {"path": "*/f/isvalid_true", "answer": {"isvalid": True}},
        {"path": "*/f/isvalid_1", "answer": {"isvalid": 1}},
        {"path": "*/f/vr_1", "answer": {"validation_result": "1"}},
        {"path": "*/f/isvalid_false", "answer": {"isvalid": False}},
        {"path": "*/f/isvalid_0", "answer": {"isvalid": 0}},
        {"path": "*/f/vr_0", "answer": {"validation_result": "0"}},
        {"path": "*/f/prompt", "answer": {"isvalid": True, "message": "Hello Ann"}},
        {"path": "*/f/chunked", "answer": {"isvalid": 1, "message": "chunky"}, "chunked": True},
        {"path": "*/f/nolength", "answer": {"validation_result": "1"}, "no_length": True},
        {"path": "*/slow2900", "delay_ms": 2900, "answer": {"isvalid": True}},
        {"path": "*/slow3100", "delay_ms": 3100, "answer": {"isvalid": True}},
        {"path": "*/big", "body_size": 10 * 1024 * 1024},
        {"path": "*/bignolength", "body_size": 10 * 1024 * 1024, "no_length": True},
        {"path": "*/html", "body": "<html><body>Login</body></html>", "content_type": "text/html"},
        {"path": "*/nofield", "answer": {"valid": True}},
        {"path": "*/badvalue", "answer": {"isvalid": "yes"}},
        {"path": "*/e500", "status": 500, "answer": {"isvalid": True}},
        {"path": "*/loop", "redirect": "loop"},
        {"path": "*/redirected", "redirect": "f/vr_1", "status": 307},
    ],
}

# name -> (path, expected reason, expected prompt)
ANSWER_CASES = {
    "isvalid_true": ("f/isvalid_true", "ok"),
    "isvalid_1": ("f/isvalid_1", "ok"),
    "vr_1": ("f/vr_1", "ok"),
    "isvalid_false": ("f/isvalid_false", "denied"),
    "isvalid_0": ("f/isvalid_0", "denied"),
    "vr_0": ("f/vr_0", "denied"),
    "prompt": ("f/prompt", "ok"),
    "chunked": ("f/chunked", "ok"),
    "nolength": ("f/nolength", "ok"),
    "slow2900": ("slow2900", "ok"),
    "slow3100": ("slow3100", "timeout"),
    "big": ("big", "too_large"),
    "bignolength": ("bignolength", "too_large"),
    "html": ("html", "not_json"),
    "nofield": ("nofield", "no_field"),
    "badvalue": ("badvalue", "bad_value"),
    "e500": ("e500", "http_status"),
    "loop": ("loop", "redirect_loop"),
    "redirected": ("redirected", "ok"),
}

CLIENT = r'''
import sys, json, asyncio
import verifyclient as vc
from doorapp.verify import verifier
from doorapp.config import schema

def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    out = {}

    async def get(job):
        ca = None
        if job.get("ca"):
            with open(job["ca"], "rb") as f:
                ca = f.read()
        c = vc.VerifyClient(timeout_ms=job.get("timeout_ms", 3000), ca=ca)
        g, r, p = await c.verify(job["url"])
        out[job["name"]] = {"granted": g, "reason": r, "prompt": p, "status": c.status,
                            "detail": c.detail, "ms": c.elapsed_ms}

    async def flow(job):
        fake = [0]
        results = []
        cfg = schema.validate_verify(job["cfg"])
        c = vc.VerifyClient(timeout_ms=cfg["timeout_ms"])
        v = verifier.new(cfg, c, results.append, device_id="door-1", local=None,
                       clock=lambda: spec["now"], ticks=lambda: fake[0])
        log = []
        def rec(r):
            log.append([r.final, r.granted, r.reason, r.prompt, r.detail, r.kind, r.value])
        for step in job["steps"]:
            if step[0] == "submit":
                r = v.submit(step[1], step[2])
                rec(r)
                while v.busy:
                    await asyncio.sleep(0.005)
            elif step[0] == "advance":
                fake[0] += step[1]
            elif step[0] == "poll":
                r = v.poll()
                if r is not None:
                    rec(r)
            while results:
                rec(results.pop(0))
        out[job["name"]] = log

    async def all_jobs():
        # the slow cases together (they wait on the server), then the rest one at a time, as
        # the device does (one request at a time: ~5 KB of transient heap each)
        await asyncio.gather(*[get(j) for j in spec["gets"] if j.get("slow")])
        for j in spec["gets"]:
            if not j.get("slow"):
                await get(j)
        for j in spec["flows"]:
            await flow(j)

    asyncio.run(all_jobs())
    # written a case at a time: after all those connections the heap has no 5 KB block left
    # for the whole text at once (the harness's need, not the client's)
    w = sys.stdout.write
    sep = "{"
    for k in out:
        w(sep + json.dumps(k) + ": " + json.dumps(out[k]))
        sep = ", "
    w("}\n")

main()
'''


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _self_signed(path_cert, path_key, cn, names=(), ips=()):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True))
    san = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    cert = b.sign(key, hashes.SHA256())
    with open(path_cert, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(path_key, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    _self_signed(d / "server.pem", d / "server.key", "localhost", ["localhost"], ["127.0.0.1"])
    _self_signed(d / "other.pem", d / "other.key", "Some Other CA")
    return {"cert": str(d / "server.pem"), "key": str(d / "server.key"), "other": str(d / "other.pem")}


@pytest.fixture(scope="module")
def servers(certs):
    plain = VerifyServer(RULES).start()
    tls = VerifyServer(RULES, tls_cert=certs["cert"], tls_key=certs["key"]).start()
    yield plain, tls
    plain.stop()
    tls.stop()


TWO_FA_STEPS = {
    # card + PIN: wrong order first, then card, then PIN
    "card_pin": [["submit", "pin", "4711"], ["submit", "card", "04A1B2C3"], ["advance", 9000],
                 ["submit", "pin", "4711"]],
    # PIN + card
    "pin_card": [["submit", "card", "04A1B2C3"], ["submit", "pin", "4711"], ["advance", 3000],
                 ["submit", "card", "04A1B2C3"]],
    # card, then the PIN comes too late; then a new card and PIN in time
    "card_pin_timeout": [["submit", "card", "04A1B2C3"], ["advance", 10001], ["poll"],
                         ["submit", "pin", "4711"], ["submit", "card", "04A1B2C3"],
                         ["advance", 2000], ["submit", "pin", "4711"]],
    # the server refuses the first step: no second step asked for
    "card_pin_denied": [["submit", "card", "FFFFFFFF"], ["submit", "pin", "4711"]],
}


def _spec(tag, plain, tls, certs):
    """Every case, with paths under /<tag>/ so the two interpreters' requests stay apart."""
    base = "%s/%s/" % (plain.url, tag)
    tbase = "https://localhost:%d/%s/" % (tls.port, tag)
    gets = [{"name": n, "url": base + p, "slow": n.startswith("slow")} for n, (p, _r) in ANSWER_CASES.items()]
    gets += [
        {"name": "refused", "url": "http://127.0.0.1:%d/x" % _free_port()},
        {"name": "dns", "url": "http://doorctl-verify.invalid:8090/x"},
        {"name": "tls_to_plain_http", "url": "https://127.0.0.1:%d/%s/f/isvalid_true" % (plain.port, tag)},
        {"name": "tls_wrong_ca", "url": tbase + "f/isvalid_true", "ca": certs["other"]},
        {"name": "https_unverified", "url": tbase + "f/isvalid_true"},
        {"name": "https_verified", "url": tbase + "f/isvalid_1", "ca": certs["cert"]},
    ]
    mk = "%s/%s/m/" % (plain.url, tag)
    flows = [
        {"name": "general", "cfg": {"mode": "general", "device_id": "A08 #1/ü",
                                     "url": mk + "general?codeKey={QRCode}&deviceId={DeviceID}&time={Time}"},
         "steps": [["submit", "qr", "12345678"], ["submit", "qr", "a b&c=d/é?#%+"], ["submit", "card", "04A1B2C3"]]},
        {"name": "any", "cfg": {"mode": "customize", "device_id": "A08",
                                 "url": mk + "any?codeKey={QRCode}/{Card}/{Pin}&deviceId={DeviceID}"},
         "steps": [["submit", "qr", "12345678"], ["submit", "card", "04A1B2C3"], ["submit", "pin", "4711"],
                   ["submit", "pin", "0000"]]},
        {"name": "variables", "cfg": {"mode": "customize", "url": mk + "vars?" + "&".join(
            "%s={%s}" % (v.lower(), v) for v in ("QRCode", "Card", "CardCode", "Pin", "PINCode", "Face",
                                                  "FaceData", "DeviceID", "Token", "Type", "Time"))},
         "steps": [["submit", "card", "04A1B2C3"], ["submit", "pin", "47 11"], ["submit", "qr", "Grüße+1"]]},
    ]
    for order, steps in TWO_FA_STEPS.items():
        flows.append({"name": "2fa_" + order, "steps": steps, "cfg": {
            "mode": "customize", "auth_mode": order.split("_timeout")[0].split("_denied")[0],
            "url": mk + "2fa_%s?codeKey={Token}/{Type}&deviceId={DeviceID}" % order}})
    return {"now": NOW, "gets": gets, "flows": flows}


def _run_cpython(spec, tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "host_tools", "doorctl", "_shims"),
                                         os.path.join(ROOT, "lib"), os.path.join(ROOT, "firmware")])
    r = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True,
                       timeout=60, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def _run_micropython(spec, tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    r = run_micropython([str(script), str(path)], timeout=60,
                        extra_path=[os.path.join(ROOT, "firmware")])
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def _targets(server, prefix):
    return [e["target"] for e in server.requests if e["target"].startswith(prefix)]


@pytest.fixture(scope="module", params=["micropython", "cpython"])
def run(request, servers, certs, tmp_path_factory):
    """Runs the whole spec once per interpreter; returns (tag, results, plain, tls)."""
    plain, tls = servers
    tag = request.param
    spec = _spec(tag, plain, tls, certs)
    tmp = tmp_path_factory.mktemp(tag)
    out = (_run_micropython if tag == "micropython" else _run_cpython)(spec, tmp)
    return tag, out, plain, tls


def test_every_answer_form_and_failure(run):
    tag, out, _plain, _tls = run
    for name, (_path, reason) in ANSWER_CASES.items():
        assert out[name]["reason"] == reason, (tag, name, out[name])
        assert out[name]["granted"] == (reason == "ok"), (tag, name)
    assert out["prompt"]["prompt"] == "Hello Ann" and out["chunked"]["prompt"] == "chunky"
    assert out["e500"]["status"] == 500 and out["redirected"]["status"] == 200
    assert out["slow2900"]["granted"] and out["slow2900"]["ms"] >= 2900


def test_network_failures_have_distinct_reasons(run):
    tag, out, _plain, _tls = run
    got = {n: out[n]["reason"] for n in ("refused", "dns", "tls_to_plain_http", "tls_wrong_ca")}
    assert got == {"refused": "refused", "dns": "dns", "tls_to_plain_http": "tls", "tls_wrong_ca": "tls"}, tag
    assert out["https_unverified"]["reason"] == "ok" and out["https_verified"]["reason"] == "ok", (tag, out)


def test_redirect_loop_followed_three_times(run):
    tag, _out, plain, _tls = run
    hits = _targets(plain, "/%s/loop" % tag)
    assert len(hits) == 4  # the request and 3 redirects, then "redirect_loop"


def test_general_mode_urls_exact(run):
    tag, out, plain, _tls = run
    t = NOW
    assert _targets(plain, "/%s/m/general" % tag) == [
        "/%s/m/general?codeKey=12345678&deviceId=A08%%20%%231%%2F%%C3%%BC&time=%d" % (tag, t),
        "/%s/m/general?codeKey=a%%20b%%26c%%3Dd%%2F%%C3%%A9%%3F%%23%%25%%2B&deviceId=A08%%20%%231%%2F%%C3%%BC&time=%d"
        % (tag, t),
    ]
    log = [r for r in out["general"] if r[0]]  # final results
    assert [r[1] for r in log] == [True, False, False]
    assert log[2][4] == "no_local"  # a card in General mode is the device's own business


def test_any_method_urls_exact(run):
    tag, out, plain, _tls = run
    p = "/%s/m/any?codeKey=" % tag
    assert _targets(plain, p) == [p + "12345678//&deviceId=A08", p + "/04A1B2C3/&deviceId=A08",
                                  p + "//4711&deviceId=A08", p + "//0000&deviceId=A08"]
    assert [r[1] for r in out["any"] if r[0]] == [True, True, True, False]


def test_every_variable_url_exact(run):
    tag, _out, plain, _tls = run
    p = "/%s/m/vars?" % tag
    tail = "&face=&facedata=&deviceid=door-1&token=%s&type=&time=%d"
    assert _targets(plain, p) == [
        p + "qrcode=&card=04A1B2C3&cardcode=04A1B2C3&pin=&pincode=" + tail % ("04A1B2C3", NOW),
        p + "qrcode=&card=&cardcode=&pin=47%2011&pincode=47%2011" + tail % ("47%2011", NOW),
        p + "qrcode=Gr%C3%BC%C3%9Fe%2B1&card=&cardcode=&pin=&pincode=" + tail % ("Gr%C3%BC%C3%9Fe%2B1", NOW),
    ]


def test_two_factor_card_then_pin(run):
    tag, out, plain, _tls = run
    p = "/%s/m/2fa_card_pin?codeKey=" % tag
    assert _targets(plain, p) == [p + "04A1B2C3/1&deviceId=door-1", p + "4711/1&deviceId=door-1"]
    log = out["2fa_card_pin"]
    assert log[0][3] == "Present card first" and not log[0][0]  # wrong order: prompt only
    prompts = [r[3] for r in log if not r[0]]
    assert "Enter PIN" in prompts
    final = [r for r in log if r[0]]
    assert len(final) == 1 and final[0][1] and final[0][5] == "card" and final[0][6] == "04A1B2C3"


def test_two_factor_pin_then_card(run):
    tag, out, plain, _tls = run
    p = "/%s/m/2fa_pin_card?codeKey=" % tag
    assert _targets(plain, p) == [p + "4711/2&deviceId=door-1", p + "04A1B2C3/2&deviceId=door-1"]
    log = out["2fa_pin_card"]
    assert log[0][3] == "Enter PIN first" and "Present card" in [r[3] for r in log if not r[0]]
    final = [r for r in log if r[0]]
    assert len(final) == 1 and final[0][1] and final[0][6] == "04A1B2C3"


def test_two_factor_step_timeout(run):
    tag, out, plain, _tls = run
    p = "/%s/m/2fa_card_pin_timeout?codeKey=" % tag
    # the late PIN is never sent: card, (timeout), card, PIN
    assert _targets(plain, p) == [p + "04A1B2C3/1&deviceId=door-1", p + "04A1B2C3/1&deviceId=door-1",
                                  p + "4711/1&deviceId=door-1"]
    final = [r for r in out["2fa_card_pin_timeout"] if r[0]]
    assert [(r[1], r[4]) for r in final] == [(False, "step_timeout"), (True, "ok")]


def test_two_factor_first_step_denied(run):
    tag, out, plain, _tls = run
    p = "/%s/m/2fa_card_pin_denied?codeKey=" % tag
    assert _targets(plain, p) == [p + "FFFFFFFF/1&deviceId=door-1"]
    log = out["2fa_card_pin_denied"]
    assert log[1][0] and not log[1][1] and log[1][4] == "denied"
    assert log[2][3] == "Present card first"  # no second step pending


def test_server_saw_http11_headers(run):
    tag, _out, plain, _tls = run
    e = [x for x in plain.requests if x["target"].startswith("/%s/f/isvalid_true" % tag)][0]
    assert e["method"] == "GET"
    assert e["headers"]["Host"] == "127.0.0.1:%d" % plain.port
    assert e["headers"]["Connection"] == "close"

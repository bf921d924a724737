"""HTTPS on the device (issue #19; docs/https.md): `doorctl provision --tls` makes the key and
certificate, the simulator (psram board, MicroPython's mbedTLS) serves the API over TLS and
redirects plain HTTP; clients pin the certificate or trust a site CA; the key never leaves the
device's flash; a client that never finishes its handshake holds a connection place only until
the head timeout."""
import base64
import json
import os
import socket
import ssl
import threading
import time

import pytest

import httpclient
from httpclient import Api
from simproc import FAST_CONFIG, Sim

from doorctl import cli, cmd_push, devcert, simprep, tlstrust
from doorctl.errors import CliError

PASSWORD = "s3cret-door"
HEAD_TIMEOUT_S = 5.0  # doorapp/http/server.py _HEAD_TIMEOUT_MS: bounds the handshake too


def provision(out, *extra, board="sim"):
    rc = cli.main(["provision", "--out", str(out), "--board", board, "--no-input", "--tls",
                   "--admin-password", PASSWORD] + list(extra))
    assert rc == 0
    return out


@pytest.fixture(scope="module")
def prov(tmp_path_factory):
    return provision(tmp_path_factory.mktemp("prov"), "--ip", "127.0.0.1")


@pytest.fixture(scope="module")
def sim(tmp_path_factory, prov):
    config = dict(FAST_CONFIG, http={"tls": "on"})
    with open(prov / "secrets.json") as f:
        secrets = json.load(f)
    s = Sim(tmp_path_factory.mktemp("https"), config=config, secrets=secrets, http=True, https=True,
            extra=["--tls", str(prov)])
    yield s
    s.stop()
    print(s.output[-4000:])


def table(prov, path, serial, n=0):
    """The demo users (or `n` users: a table streamed in many TLS records) as a table for this
    site (its key from the provisioned secrets)."""
    with open(prov / "secrets.json") as f:
        site_key = bytes.fromhex(json.load(f)["site_key"])
    src = simprep.DEMO_USERS
    if n:
        src = str(path) + ".json"
        with open(src, "w") as f:
            json.dump({"users": [{"id": 1000 + i, "name": "User %d" % i, "cards": ["%08X" % (0x10000000 + i)],
                                  "relays": [1]} for i in range(n)]}, f)
    simprep.build_table(src, str(path), "8HN", "UTC0", [1, 2], site_key, serial)
    return path


def pinned(prov):
    return tlstrust.from_args([str(prov / "tls_cert.pem")])


def signed_in(sim, trust):
    api = Api(sim.https, trust=trust)
    api.login(PASSWORD)
    return api


def test_provision_makes_a_p256_key_and_a_certificate_for_the_device(prov):
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    assert oct(os.stat(prov / "tls_key.der").st_mode & 0o777) == "0o600"
    key = load_der_private_key((prov / "tls_key.der").read_bytes(), None)
    assert isinstance(key.curve, ec.SECP256R1)
    cert = x509.load_der_x509_certificate((prov / "tls_cert.der").read_bytes())
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert devcert.names_of((prov / "tls_cert.der").read_bytes()) == (["doorctl"], ["127.0.0.1"])
    assert devcert.issuer_of((prov / "tls_cert.der").read_bytes()) == "self"
    assert x509.load_pem_x509_certificate((prov / "tls_cert.pem").read_bytes()) == cert
    assert json.loads((prov / "config.json").read_text())["http"]["tls"] == "on"


def test_provision_rerun_keeps_the_key_unless_asked(tmp_path):
    out = provision(tmp_path / "p", "--ip", "10.0.0.21")
    first = (out / "tls_key.der").read_bytes()
    provision(out)  # same names: kept
    assert (out / "tls_key.der").read_bytes() == first
    provision(out, "--ip", "10.0.0.22")  # another address: a new certificate
    assert (out / "tls_key.der").read_bytes() != first
    assert devcert.names_of((out / "tls_cert.der").read_bytes())[1] == ["10.0.0.22"]


def test_lean_boards_refuse_https_naming_the_setting_and_profile(tmp_path, capsys):
    assert cli.main(["provision", "--out", str(tmp_path / "lean"), "--board", "sim-lean", "--no-input",
                     "--tls"]) != 0
    err = capsys.readouterr().err
    assert "http.tls" in err and "profile lean" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "lean").exists()  # nothing written


def test_signs_in_over_https_with_the_pinned_certificate(sim, prov):
    assert "device HTTPS: https://%s/" % sim.https in sim.output
    assert devcert.fingerprint((prov / "tls_cert.der").read_bytes()) in sim.output  # printed for pinning
    api = signed_in(sim, pinned(prov))
    st, doc = api.get("/api/v1/status")
    assert st == 200 and doc["device_id"] == "door-1"
    # the fingerprint alone pins as well
    fp = devcert.fingerprint((prov / "tls_cert.der").read_bytes())
    assert signed_in(sim, tlstrust.from_args(pin_sha256=[fp])).get("/api/v1/relays")[0] == 200


def test_another_pinned_certificate_is_refused_before_anything_is_sent(sim, prov, tmp_path):
    other = devcert.make("doorctl", ["127.0.0.1"])
    (tmp_path / "other.der").write_bytes(other[1])
    api = Api(sim.https, trust=tlstrust.from_args([str(tmp_path / "other.der")]))
    before = sim.state(events=50)["events"]
    with pytest.raises(tlstrust.Untrusted) as e:
        api.post("/api/v1/login", {"username": "admin", "password": "wrong-password"})
    assert "not the pinned one" in str(e.value)
    assert devcert.fingerprint((prov / "tls_cert.der").read_bytes()) in str(e.value)
    # nothing reached the device: no failed sign-in was logged for that attempt
    assert sim.state(events=50)["events"] == before


def test_an_unpinned_self_signed_certificate_is_refused_with_advice(sim, prov, tmp_path):
    res = cmd_push.push_one(sim.https_url, str(table(prov, tmp_path / "users.tbl", 7)), PASSWORD, retries=0,
                            timeout=10)
    assert not res["ok"] and "not trusted" in res["error"] and "--pin-cert" in res["error"]


def test_push_over_https_with_the_pin_and_plain_http_is_told_to_use_https(sim, prov, tmp_path):
    tbl = str(table(prov, tmp_path / "users.tbl", 4242, n=600))
    assert os.path.getsize(tbl) > 16384  # (more than the largest TLS record: the body comes in several)
    res = cmd_push.push_one(sim.https_url, tbl, PASSWORD, trust=pinned(prov), timeout=20)
    assert res["ok"], res
    assert res["serial"] == 4242 and res["users"] == 600
    res = cmd_push.push_one(sim.url, tbl, PASSWORD, retries=0, timeout=10)
    assert not res["ok"] and "serves HTTPS only" in res["error"] and sim.https_url in res["error"]


def test_push_refuses_a_pin_for_a_plain_http_device(sim, prov, tmp_path):
    tbl = tmp_path / "t.tbl"
    tbl.write_bytes(b"")
    with pytest.raises(SystemExit):
        cli.main(["push", str(tbl), "--device", sim.url, "--pin-cert", str(prov / "tls_cert.pem")])


def test_plain_http_only_redirects(sim):
    host, port = sim.http.rsplit(":", 1)
    out = httpclient.raw(sim.http, b"GET /api/v1/events?since=0&limit=5 HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n\r\n"
                         % port.encode())
    assert out.startswith(b"HTTP/1.1 308 ")
    assert b"\r\nLocation: %s/api/v1/events?since=0&limit=5\r\n" % sim.https_url.encode() in out
    # a request that would act is not run over plain HTTP, only redirected
    body = b'{"username": "admin", "password": "x"}'
    out = httpclient.raw(sim.http, b"POST /api/v1/relays/1/open HTTP/1.1\r\nHost: door\r\nContent-Type: "
                         b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    assert out.startswith(b"HTTP/1.1 308 ") and b"\r\nLocation: https://door:%s/api/v1/relays/1/open\r\n" \
        % sim.https.rsplit(":", 1)[1].encode() in out
    assert not sim.state()["relays"]["1"]["on"]
    # a Host that is not a plain name is never copied into the answer
    out = httpclient.raw(sim.http, b"GET / HTTP/1.1\r\nHost: evil\nSet-Cookie: x=1\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ") and b"Set-Cookie" not in out and b"Location" not in out
    # without a Host header: the device's host name (config network.hostname)
    out = httpclient.raw(sim.http, b"GET /ui/app.js HTTP/1.0\r\n\r\n")
    assert b"\r\nLocation: https://doorctl:%s/ui/app.js\r\n" % sim.https.rsplit(":", 1)[1].encode() in out


def test_the_key_never_leaves_the_device(sim, prov):
    key = (prov / "tls_key.der").read_bytes()
    api = signed_in(sim, pinned(prov))
    seen = []
    for path in ("/api/v1/config", "/api/v1/status", "/api/v1/users/export", "/api/v1/events?since=0&limit=50"):
        st, doc = api.get(path)
        assert st == 200, path
        seen.append(json.dumps(doc) if not isinstance(doc, bytes) else doc.decode("latin-1"))
    assert api.get("/api/v1/config")[1]["http"]["tls"] == "on"
    for name in ("tls_key.der", "tls_cert.der", "secrets.json"):
        assert api.get("/ui/" + name)[0] == 404
    seen.append(sim.output)
    text = "\n".join(seen)
    for form in (key.hex(), key.hex().upper(), base64.b64encode(key).decode(), key[-32:].hex()):
        assert form not in text


def test_config_changes_of_http_tls_wait_for_a_restart(sim, prov):
    api = signed_in(sim, pinned(prov))
    st, doc = api.patch("/api/v1/config", {"http": {"redirect_http": False}})
    assert st == 200 and doc["http"]["redirect_http"] is False
    assert api.last_headers.get("Restart-Required") == "http.tls"
    assert httpclient.raw(sim.http, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 308 ")  # (running)
    st, doc = api.patch("/api/v1/config", {"http": {"redirect_http": True}})
    assert st == 200 and doc["http"]["redirect_http"] is True


def _stall(hostport, hello=b""):
    host, port = hostport.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=15)
    if hello:
        s.sendall(hello)
    return s


def _closed_after(s):
    """Seconds until the device closes `s`, and what it sent meanwhile."""
    t0 = time.time()
    got = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    finally:
        s.close()
    return time.time() - t0, got


def test_attack_handshakes_never_finished_free_their_place_after_the_timeout(sim, prov):
    trust = pinned(prov)
    # one stalled client: the others are served at once
    lone = _stall(sim.https)
    t0 = time.time()
    assert signed_in(sim, trust).get("/api/v1/relays")[0] == 200
    assert time.time() - t0 < 2.0
    # every place taken by clients that never finish (nothing sent; half a ClientHello record)
    stalled = [_stall(sim.https, b"\x16\x03\x01\x02\x00" if i % 2 else b"") for i in range(4)]
    results = [None] * len(stalled)

    def watch(i, s):
        results[i] = _closed_after(s)

    threads = [threading.Thread(target=watch, args=(i, s)) for i, s in enumerate(stalled)]
    for t in threads:
        t.start()
    # a good client gets in once the stalled ones are let go (retrying: it may be turned away meanwhile)
    t0 = time.time()
    ok = False
    while not ok and time.time() - t0 < 2 * HEAD_TIMEOUT_S + 2:
        try:
            ok = signed_in(sim, trust).get("/api/v1/relays")[0] == 200
        except (OSError, ssl.SSLError, AssertionError):
            time.sleep(0.2)
    for t in threads:
        t.join(20)
    assert ok
    for waited, got in results + [_closed_after(lone)]:
        assert waited < HEAD_TIMEOUT_S + 2.5  # let go after the timeout, not held
        assert b"HTTP/" not in got  # no plain-text answer into a TLS connection
    # a plain HTTP request on the HTTPS port: closed, nothing in plain text, nothing logged as a bug
    waited, got = _closed_after(_stall(sim.https, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert waited < 2.0 and b"HTTP/" not in got
    assert "Traceback" not in sim.output
    assert sim.state()["reader"]["status"] == "ok"  # the door went on


def test_tls_on_without_the_key_and_certificate_serves_no_http_at_all(tmp_path):
    s = Sim(tmp_path, config={"http": {"tls": "on"}}, http=True, https=True)
    try:
        lines = [ln for ln in s.output.splitlines() if "tls_cert.der" in ln]
        assert len(lines) == 1 and lines[0].startswith("doorctl: HTTPS off: /flash/tls_cert.der is missing")
        for hostport in (s.http, s.https):  # no plain-text API instead
            with pytest.raises(OSError):
                httpclient.raw(hostport, b"GET / HTTP/1.1\r\n\r\n", timeout=2)
        assert s.state()["reader"]["status"] == "ok"
    finally:
        s.stop()


def test_turning_tls_on_needs_the_key_and_certificate_on_the_device(tmp_path):
    s = Sim(tmp_path, http=True)
    try:
        api = httpclient.admin_session(s.http)
        st, doc = api.patch("/api/v1/config", {"http": {"tls": "on"}})
        assert st == 400 and doc["field"] == "http.tls" and "tls_cert.der" in doc["error"]
        assert api.get("/api/v1/config")[1]["http"]["tls"] == "off"
    finally:
        s.stop()


# --- a site CA (host side: CPython's TLS server with a certificate provision signed) ---------
def _ca(tmp_path, name):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    cp, kp = tmp_path / (name + ".pem"), tmp_path / (name + ".key")
    cp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    kp.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    return cp, kp


def _tls_server(prov, tmp_path):
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_der_private_key((prov / "tls_key.der").read_bytes(), None)
    kp = tmp_path / "device.key.pem"
    kp.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(prov / "tls_cert.pem"), str(kp))
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)

    def loop():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            try:
                with ctx.wrap_socket(c, server_side=True) as t:
                    t.recv(4096)
                    t.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
            except (OSError, ssl.SSLError):
                pass

    threading.Thread(target=loop, daemon=True).start()
    return srv, srv.getsockname()[1]


def _get(port, trust, host="127.0.0.1"):
    c = tlstrust.HTTPSConnection(host, port, 5, trust)
    try:
        c.request("GET", "/")
        return c.getresponse().status
    finally:
        c.close()


def test_a_certificate_signed_by_the_site_ca_is_trusted_with_that_ca_only(tmp_path):
    ca_cert, ca_key = _ca(tmp_path, "site-ca")
    other_ca, _ = _ca(tmp_path, "other-ca")
    prov = provision(tmp_path / "p", "--ip", "127.0.0.1", "--ca-cert", str(ca_cert), "--ca-key", str(ca_key))
    assert devcert.issuer_of((prov / "tls_cert.der").read_bytes()) == "CN=site-ca"
    srv, port = _tls_server(prov, tmp_path)
    try:
        assert _get(port, tlstrust.from_args(ca=str(ca_cert))) == 200
        with pytest.raises(ssl.SSLCertVerificationError) as e:
            _get(port, tlstrust.from_args(ca=str(other_ca)))
        assert "pin it with --pin-cert" in tlstrust.explain(e.value)
        with pytest.raises(ssl.SSLCertVerificationError):  # a name the certificate doesn't hold
            _get(port, tlstrust.from_args(ca=str(ca_cert)), host="localhost")
        with pytest.raises(ssl.SSLCertVerificationError):  # no silent trust: the system's CAs don't know it
            _get(port, tlstrust.Trust())
    finally:
        srv.close()


def test_a_ca_key_that_is_not_the_ca_certificates_is_refused(tmp_path):
    ca_cert, _ = _ca(tmp_path, "site-ca")
    _, wrong_key = _ca(tmp_path, "other-ca")
    with pytest.raises(CliError, match="is not the key of"):
        devcert.make("door", [], str(ca_cert), str(wrong_key))
    with pytest.raises(CliError, match="private key, not a certificate"):
        tlstrust.cert_der(str(wrong_key))

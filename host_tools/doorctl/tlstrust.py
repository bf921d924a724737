"""Which device certificates the host tools trust on https:// (docs/https.md).

Two ways, never neither (no silent verify=False):

- pinning: the device's own certificate (`--pin-cert FILE`, the tls_cert.pem or .der that
  `doorctl provision --tls` wrote, or its SHA-256 `--pin-sha256 HEX`). The handshake's
  signature is still checked by TLS; the certificate chain, names and dates are not: the
  certificate must be byte for byte the pinned one, compared before anything (the password) is
  sent. Several pins: any of them.
- a site CA (`--ca FILE`): the usual chain and host-name checks against that CA only (not the
  system's CAs).

Without either, the system's CAs decide, and a device with a self-signed certificate is
refused with a message that says how to pin it.
"""
import hashlib
import http.client
import ssl

from doorctl.errors import CliError


class Untrusted(Exception):
    """The device's certificate is not the one pinned, or not trusted: nothing was sent."""


def _hex(digest):
    return ":".join("%02X" % b for b in digest)


def cert_der(path):
    """A certificate file (PEM or DER) -> its DER bytes; CliError naming the file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CliError("%s: cannot read the certificate (%s)" % (path, e.strerror or e))
    if b"-----BEGIN CERTIFICATE-----" in data:
        try:
            return ssl.PEM_cert_to_DER_cert(data.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            raise CliError("%s: not a PEM certificate" % path)
    if b"PRIVATE KEY" in data:
        raise CliError("%s: this is a private key, not a certificate (pin tls_cert.pem, never the key)" % path)
    if not data.startswith(b"\x30"):
        raise CliError("%s: not a PEM or DER certificate" % path)
    return data


def fingerprint(der):
    """SHA-256 of a DER certificate, as AB:CD:... (what the simulator and provision print)."""
    return _hex(hashlib.sha256(der).digest())


def parse_sha256(text):
    """A SHA-256 fingerprint typed with or without colons -> 32 bytes; ValueError."""
    h = text.strip().replace(":", "").replace(" ", "").lower()
    if len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
        raise ValueError("--pin-sha256 must be 64 hex digits (colons allowed), got %r" % text)
    return bytes.fromhex(h)


class Trust:
    """What an https connection accepts: `pins` (SHA-256 digests) or a CA file, or the system's
    CAs (neither)."""

    def __init__(self, pins=(), ca=None):
        self.pins = tuple(pins)
        self.ca = ca
        if self.pins and ca:
            raise CliError("give either --pin-cert/--pin-sha256 or --ca, not both")
        if ca:
            cert_der(ca)  # a readable certificate, or a clear error now

    @property
    def given(self):
        return bool(self.pins or self.ca)

    def context(self):
        if self.pins:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE  # the pin decides (check_pin), before anything is sent
            return ctx
        if self.ca:
            ctx = ssl.create_default_context(cadata=cert_der(self.ca))  # this CA only, not the system's
            ctx.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)  # (a site CA made by hand may not be strict)
            return ctx
        return ssl.create_default_context()

    def check_pin(self, sock):
        """After the handshake: the peer's certificate must be a pinned one (else Untrusted)."""
        if not self.pins:
            return
        der = sock.getpeercert(binary_form=True)
        got = hashlib.sha256(der or b"").digest()
        if got not in self.pins:
            raise Untrusted("the device's certificate (SHA-256 %s) is not the pinned one (%s): refused, nothing "
                            "sent (another device, or someone in between; after `doorctl provision --tls --new-tls` "
                            "pin the new tls_cert.pem)" % (fingerprint(der or b""), ", ".join(_hex(p) for p in self.pins)))


def from_args(pin_certs=None, pin_sha256=None, ca=None):
    pins = [hashlib.sha256(cert_der(p)).digest() for p in (pin_certs or ())]
    for text in pin_sha256 or ():
        try:
            pins.append(parse_sha256(text))
        except ValueError as e:
            raise CliError(str(e))
    return Trust(pins, ca)


def explain(e):
    """An ssl error of a handshake -> a sentence saying what to do."""
    if isinstance(e, ssl.SSLCertVerificationError):
        return ("the device's certificate is not trusted (%s): pin it with --pin-cert FILE (the tls_cert.pem "
                "`doorctl provision --tls` wrote) or trust its site CA with --ca FILE" % (e.verify_message or e))
    return "TLS handshake failed (%s)" % (getattr(e, "reason", None) or e)


class HTTPSConnection(http.client.HTTPSConnection):
    """http.client's HTTPS connection that checks the pin right after the handshake."""

    def __init__(self, host, port, timeout, trust):
        super().__init__(host, port, timeout=timeout, context=trust.context())
        self.trust = trust

    def connect(self):
        super().connect()
        try:
            self.trust.check_pin(self.sock)
        except Untrusted:
            self.close()
            raise

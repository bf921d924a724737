"""The device's HTTPS key and certificate (`doorctl provision --tls`; docs/https.md).

An EC P-256 key (mbedTLS on the ESP32 handles it, and its handshake is much cheaper than RSA's)
and an X.509 certificate for it: self-signed, or signed by a site CA the installer gives. Its
subjectAltName holds the device's host name and any IP addresses given: clients that trust the
site CA check the name they connect to against it; clients that pin the certificate compare
its bytes (doorctl.tlstrust).

Files (in the provision folder; the device gets the .der ones):
  tls_key.der   the private key (PKCS#8 DER), a secret: mode 0600, never printed
  tls_cert.der  the certificate (DER), what the device serves
  tls_cert.pem  the same certificate (PEM): pin it (`doorctl push --pin-cert`), or give it to
                curl / a browser
"""
import datetime
import hashlib
import ipaddress
import os

from doorctl.errors import CliError

KEY_FILE = "tls_key.der"
CERT_FILE = "tls_cert.der"
CERT_PEM = "tls_cert.pem"
DAYS = 3650  # the device's clock may be unset for a while; a client checks dates only via a CA


def _load_ca(cert_path, key_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        with open(cert_path, "rb") as f:
            data = f.read()
        ca = x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except (OSError, ValueError) as e:
        raise CliError("--ca-cert %s: not a readable certificate (%s)" % (cert_path, e))
    try:
        with open(key_path, "rb") as f:
            data = f.read()
        load = serialization.load_pem_private_key if b"-----BEGIN" in data else serialization.load_der_private_key
        key = load(data, password=None)
    except TypeError:
        raise CliError("--ca-key %s: the key is encrypted; give an unencrypted copy (e.g. `openssl pkey -in KEY "
                       "-out plain.pem`, kept safe)" % key_path)
    except (OSError, ValueError) as e:  # (never the key's bytes)
        raise CliError("--ca-key %s: not a readable private key (%s)" % (key_path, e.__class__.__name__))
    pub = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*pub) != ca.public_key().public_bytes(*pub):
        raise CliError("--ca-key %s is not the key of --ca-cert %s" % (key_path, cert_path))
    try:
        bc = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is None or not bc.ca:
        raise CliError("--ca-cert %s is not a CA certificate (basicConstraints CA:TRUE)" % cert_path)
    return ca, key


def make(hostname, ips=(), ca_cert=None, ca_key=None, now=None):
    """(key DER, certificate DER, certificate PEM) for `hostname` and `ips`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    names = [x509.DNSName(hostname)]
    for ip in ips:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError:
            raise CliError("--ip %r is not an IP address" % ip)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    issuer_key = key
    issuer = subject
    ca = None
    if ca_cert or ca_key:
        if not (ca_cert and ca_key):
            raise CliError("--ca-cert and --ca-key go together (the site CA's certificate and its key)")
        ca, issuer_key = _load_ca(ca_cert, ca_key)
        issuer = ca.subject
    now = now or datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=DAYS))
         .add_extension(x509.SubjectAlternativeName(names), critical=False)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                      data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                      crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if ca is not None:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key()), critical=False)
    cert = b.sign(issuer_key, hashes.SHA256())
    key_der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_der, cert.public_bytes(serialization.Encoding.DER), cert.public_bytes(serialization.Encoding.PEM)


def names_of(cert_der):
    """(host names, IP addresses as text) in a certificate's subjectAltName."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(cert_der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return san.get_values_for_type(x509.DNSName), [str(a) for a in san.get_values_for_type(x509.IPAddress)]


def issuer_of(cert_der):
    """"self" for a self-signed certificate, else its issuer's name."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(cert_der)
    return "self" if cert.issuer == cert.subject else cert.issuer.rfc4514_string()


def fingerprint(cert_der):
    return ":".join("%02X" % b for b in hashlib.sha256(cert_der).digest())


def write(out, key_der, cert_der, cert_pem, write_file):
    """The three files into `out` (write_file(path, bytes, mode): atomic); returns their paths."""
    paths = [os.path.join(out, n) for n in (KEY_FILE, CERT_FILE, CERT_PEM)]
    write_file(paths[0], key_der, 0o600)
    write_file(paths[1], cert_der, 0o644)
    write_file(paths[2], cert_pem, 0o644)
    return paths

"""`doorctl provision`: write a device's config.json and secrets.json (Wi-Fi, device id, admin
password, site keys, time zone), from flags, environment or interactive prompts.

Both files are checked with the firmware's own validators (doorapp.config.schema / doorapp.config.secrets)
before anything is written, so the host never writes what the device would reject. Secrets are
never printed: prompts use getpass (no echo), the summary says only "set", "kept" or
"generated". The admin password is stored only as a salted PBKDF2 hash made by the device's
own doorapp.config.passwords.hash_password. Existing files in the output directory are updated, not
replaced: other settings are kept, and so are the site keys (a new site key would orphan every
PIN/QR hash in the user table) unless --new-keys.

Output goes to a directory (`--out DIR`), which `doorctl build --provision DIR` and
`doorctl deploy --provision DIR` take.

`--tls` also makes the device's HTTPS key and certificate there (doorctl.devcert: self-signed
for the host name and `--ip` addresses, or signed by `--ca-cert/--ca-key`) and sets http.tls
"on"; a rerun keeps them unless --new-tls, a site CA, or other names ask for new ones.
"""
import getpass
import ipaddress
import json
import os
import secrets as pysecrets
import sys

from doorctl import manifest
from doorctl.errors import CliError

ENV = {"wifi_password": "DOORCTL_WIFI_PASSWORD", "admin_password": "DOORCTL_ADMIN_PASSWORD",
       "site_key": "DOORCTL_SITE_KEY", "qr_key": "DOORCTL_QR_KEY", "mifare_key": "DOORCTL_MIFARE_KEY",
       "desfire_key": "DOORCTL_DESFIRE_KEY", "plus_keys": "DOORCTL_PLUS_KEYS"}
# flag -> (config section, key, prompt)
CONFIG_FIELDS = (
    ("device_id", "device", "id", "Device ID (1-12 characters)"),
    ("device_name", "device", "name", "Device name"),
    ("tz", "time", "tz", "Time zone (POSIX TZ rule, e.g. CET-1CEST,M3.5.0,M10.5.0/3)"),
    ("ntp", "time", "ntp", "NTP server (empty = none)"),
    ("ssid", "network", "ssid", "Wi-Fi SSID"),
    ("hostname", "network", "hostname", "Host name"),
)
PROMPTED = ("device_id", "device_name", "tz", "ssid")  # asked interactively; the others by flag only


def _read_json(path):
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise CliError("%s: (file): cannot be read as JSON (%s)" % (path, e))
    if not isinstance(doc, dict):
        raise CliError("%s: (top): must be a JSON object" % path)
    return doc


def _write(path, doc, mode):
    _write_bytes(path, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode(), mode)


def _write_bytes(path, data, mode):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _tls(args, cfg, full, out, summary):
    """--tls: the device's key and certificate (new, or kept from the folder) -> the files'
    bytes to write, or None to keep; sets http.tls on in cfg."""
    from doorctl import devcert

    cfg.setdefault("http", {})["tls"] = "on"
    summary["config"]["http.tls"] = "on"
    host = cfg.get("network", {}).get("hostname") or full["network"]["hostname"]
    cert_path = os.path.join(out, devcert.CERT_FILE)
    old = None
    if os.path.exists(cert_path) and os.path.exists(os.path.join(out, devcert.KEY_FILE)):
        with open(cert_path, "rb") as f:
            old = f.read()
    try:
        ips = [str(ipaddress.ip_address(a)) for a in args.ip] if args.ip is not None else \
            (devcert.names_of(old)[1] if old else [])
    except ValueError as e:
        raise CliError("--ip: %s; nothing written" % e)
    if old is None:
        how = "generated"
    elif args.new_tls:
        how = "regenerated"
    elif args.ca_cert or args.ca_key:
        how = "regenerated (signed by the site CA)"
    elif devcert.names_of(old) != ([host], ips):
        how = "regenerated (host name or IP changed)"
    else:
        how = None
    made = None
    if how is not None:
        made = devcert.make(host, ips, args.ca_cert, args.ca_key)
        old = made[1]
    summary["tls"] = {"key": how or "kept", "names": [host] + ips, "sha256": devcert.fingerprint(old),
                      "signed_by": devcert.issuer_of(old)}
    return made


class Answers:
    """Where values come from: flags, then environment, then prompts (if interactive)."""

    def __init__(self, args, interactive, inp=input, getpw=getpass.getpass, out=sys.stderr):
        self.args = args
        self.interactive = interactive
        self.input = inp
        self.getpw = getpw
        self.out = out

    def plain(self, name, prompt, current):
        v = getattr(self.args, name, None)
        if v is not None:
            return v
        if self.interactive and name in PROMPTED:
            ans = self.input("%s [%s]: " % (prompt, current if current is not None else ""))
            return ans.strip() if ans.strip() else None
        return None

    def secret(self, name, prompt, confirm=False):
        v = getattr(self.args, name, None)
        if v is None:
            v = os.environ.get(ENV[name])
        if v is not None:
            return v
        if not self.interactive:
            return None
        v = self.getpw("%s (empty = keep): " % prompt)
        if v and confirm and self.getpw("Repeat %s: " % prompt.lower()) != v:
            raise CliError("the two %s entries differ; nothing written" % prompt.lower())
        return v or None


def provision(args, answers):
    """Compute, validate and write config.json and secrets.json; returns the summary (no secrets)."""
    manifest._device_code()
    from configerror import ConfigError
    from doorapp.config import schema as configmod
    from doorapp.config import secrets as secretsmod

    try:
        _path, _data, spec = manifest.load_board(args.board)
    except manifest.ManifestError as e:
        raise CliError(str(e))
    out = args.out
    cfg_path = os.path.join(out, manifest.CONFIG_FILE)
    sec_path = os.path.join(out, manifest.SECRETS_FILE)
    cfg = _read_json(cfg_path)
    sec = _read_json(sec_path)
    summary = {"dir": out, "config": {}, "secrets": {}}
    full = configmod.validate(cfg, spec, cfg_path) if cfg else configmod.defaults(spec)

    for name, section, key, prompt in CONFIG_FIELDS:
        v = answers.plain(name, prompt, full.get(section, {}).get(key))
        if v is not None:
            cfg.setdefault(section, {})[key] = v
            summary["config"]["%s.%s" % (section, key)] = v

    def set_secret(key, value, how):
        sec[key] = value
        summary["secrets"][key] = how

    pw = answers.secret("wifi_password", "Wi-Fi password")
    if pw is not None:
        set_secret("wifi_password", pw, "set")
    elif "wifi_password" in sec:
        summary["secrets"]["wifi_password"] = "kept"
    admin = answers.secret("admin_password", "Admin password", confirm=True)
    if admin is not None:
        if "admin_hash" not in secretsmod.FIELDS:
            raise CliError("this firmware's secrets.json has no admin_hash field yet: the admin password "
                           "can't be stored; nothing written")
        from doorapp.config import passwords

        if len(admin) < 8:
            raise CliError("the admin password must have at least 8 characters; nothing written")
        set_secret("admin_hash", passwords.hash_password(admin), "set (salted PBKDF2 hash)")
    elif "admin_hash" in sec:
        summary["secrets"]["admin_hash"] = "kept"
    for key in ("site_key", "qr_key"):
        given = getattr(args, key, None) or os.environ.get(ENV[key])  # keys are generated, not typed
        if given is not None:
            set_secret(key, given.strip().lower(), "given")
        elif key in sec and not args.new_keys:
            summary["secrets"][key] = "kept"
        else:
            set_secret(key, pysecrets.token_hex(32), "generated" if key not in sec else "regenerated")
    # the MIFARE Classic sector key (docs/cards-mifare.md) and the DESFire AES key
    # (docs/cards-desfire.md): kept like the others, but only --new-mifare-key / --new-desfire-key
    # replaces one (every card encoded with the old one would stop opening)
    for key, nbytes in (("mifare_key", 6), ("desfire_key", 16)):
        given = getattr(args, key, None) or os.environ.get(ENV[key])
        if given is not None:
            set_secret(key, given.strip().lower(), "given")
        elif key in sec and not getattr(args, "new_" + key, False):
            summary["secrets"][key] = "kept"
        else:
            set_secret(key, pysecrets.token_hex(nbytes), "generated" if key not in sec else "regenerated")
    # the MIFARE Plus SL3 AES keys (docs/cards-plus.md): 1-3 choices, kept; --new-plus-key puts a
    # new one first and keeps the older ones as the next choices (cards encoded with them still
    # open while they are re-encoded)
    given = getattr(args, "plus_key", None) or (os.environ.get(ENV["plus_keys"]) or "").replace(",", " ").split()
    if given:
        set_secret("plus_keys", [k.strip().lower() for k in given], "given")
    elif "plus_keys" in sec and not getattr(args, "new_plus_key", False):
        summary["secrets"]["plus_keys"] = "kept"
    elif "plus_keys" in sec:
        old = sec["plus_keys"] if isinstance(sec["plus_keys"], list) else []
        set_secret("plus_keys", [pysecrets.token_hex(16)] + old[:2], "regenerated (older keys kept as the next choices)")
    else:
        set_secret("plus_keys", [pysecrets.token_hex(16)], "generated")

    tls = None
    if getattr(args, "tls", False):
        tls = _tls(args, cfg, full, out, summary)  # (in memory: nothing written before the checks)
    elif getattr(args, "new_tls", False) or getattr(args, "ca_cert", None) or getattr(args, "ip", None):
        raise CliError("--new-tls, --ip and --ca-cert/--ca-key make the HTTPS certificate: add --tls; nothing written")
    try:
        configmod.validate(cfg, spec, cfg_path)
        secretsmod.validate(sec, sec_path)
    except ConfigError as e:
        raise CliError("%s; nothing written" % e)
    os.makedirs(out, exist_ok=True)
    _write(cfg_path, cfg, 0o644)
    _write(sec_path, sec, 0o600)
    summary["files"] = [cfg_path, sec_path]
    if tls is not None:
        from doorctl import devcert

        summary["files"] += devcert.write(out, tls[0], tls[1], tls[2], _write_bytes)
    return summary


def cmd_provision(args):
    interactive = not args.no_input and sys.stdin.isatty()
    s = provision(args, Answers(args, interactive))
    if args.json:
        print(json.dumps(s, indent=2, sort_keys=True))
        return 0
    print("wrote %s and %s (readable by you only)" % tuple(s["files"][:2]))
    if len(s["files"]) > 2:
        print("wrote %s (the HTTPS key: readable by you only), %s and %s" % tuple(s["files"][2:]))
    for k, v in sorted(s["config"].items()):
        print("  config  %-16s %s" % (k, v))
    for k, v in sorted(s["secrets"].items()):
        print("  secret  %-16s %s" % (k, v))
    if "tls" in s:
        t = s["tls"]
        print("  tls     key and certificate %s, for %s, signed by %s" % (t["key"], ", ".join(t["names"]), t["signed_by"]))
        print("  tls     certificate SHA-256 %s" % t["sha256"])
        print("  tls     pin it: doorctl push --device https://%s --pin-cert %s ..." % (
            t["names"][-1], os.path.join(s["dir"], "tls_cert.pem")))
    print("next: doorctl build --provision %s ...  or  doorctl deploy --provision %s --board ..." % (s["dir"], s["dir"]))
    return 0


def register(sub):
    p = sub.add_parser(
        "provision", help="write a device's config.json and secrets.json (Wi-Fi, id, admin password, keys, TZ)",
        description="Create or update config.json and secrets.json in a directory, validated by the firmware's own "
                    "validators. Values come from flags, then the environment (%s), then prompts when run on a "
                    "terminal; secrets are read without echo and never printed. Site and QR keys are generated "
                    "(32 random bytes) unless given or already there. The admin password is stored only as a "
                    "salted PBKDF2 hash." % ", ".join(sorted(ENV.values())))
    p.add_argument("--out", required=True, metavar="DIR", help="directory for config.json and secrets.json")
    p.add_argument("--board", default="esp32-devkitc", help="board the config is for (default %(default)s)")
    p.add_argument("--device-id")
    p.add_argument("--device-name")
    p.add_argument("--tz", help="POSIX TZ rule, e.g. CET-1CEST,M3.5.0,M10.5.0/3")
    p.add_argument("--ntp", help="NTP server (empty string = none)")
    p.add_argument("--ssid", help="Wi-Fi network name")
    p.add_argument("--hostname")
    p.add_argument("--wifi-password", help="Wi-Fi password (visible in the process list: prefer the prompt or "
                                           "DOORCTL_WIFI_PASSWORD)")
    p.add_argument("--admin-password", help="HTTP API admin password (prefer the prompt or DOORCTL_ADMIN_PASSWORD)")
    p.add_argument("--site-key", help="64 hex digits (default: keep, else generate)")
    p.add_argument("--qr-key", help="64 hex digits (default: keep, else generate)")
    p.add_argument("--mifare-key", help="12 hex digits: the MIFARE Classic sector key (default: keep, else generate)")
    p.add_argument("--new-mifare-key", action="store_true", help="generate a new MIFARE key (cards encoded with the old "
                                                                 "one no longer open)")
    p.add_argument("--desfire-key", help="32 hex digits: the DESFire AES-128 (or 2K3DES) application key; 48 for "
                                         "3K3DES, 16 for DES (or the master key of diversified cards) (default: keep, "
                                         "else generate)")
    p.add_argument("--new-desfire-key", action="store_true", help="generate a new DESFire key (cards encoded with the "
                                                                   "old one no longer open)")
    p.add_argument("--plus-key", action="append", metavar="HEX", help="32 hex digits: a MIFARE Plus SL3 AES key; up to "
                                                                      "three, tried in order (default: keep, else generate)")
    p.add_argument("--new-plus-key", action="store_true", help="generate a new MIFARE Plus key as the first choice "
                                                               "(the older ones stay as the next choices, at most 3)")
    p.add_argument("--new-keys", action="store_true", help="generate new site and QR keys (invalidates PIN/QR hashes "
                                                           "in user tables built with the old key)")
    p.add_argument("--tls", action="store_true",
                   help="HTTPS (psram boards): make the device's key and certificate (EC P-256; kept on a rerun) "
                        "and set http.tls on (docs/https.md)")
    p.add_argument("--ip", action="append", metavar="ADDR",
                   help="with --tls: the device's IP address, put in the certificate (repeatable)")
    p.add_argument("--ca-cert", metavar="FILE", help="with --tls: sign the certificate with this site CA "
                                                     "(PEM or DER) instead of self-signing")
    p.add_argument("--ca-key", metavar="FILE", help="with --tls: the site CA's private key (unencrypted; only read)")
    p.add_argument("--new-tls", action="store_true", help="with --tls: make a new key and certificate (pinned "
                                                          "clients must pin the new one)")
    p.add_argument("--no-input", action="store_true", help="never prompt")
    p.add_argument("--json", action="store_true", help="print the summary as JSON (never contains secrets)")
    p.set_defaults(func=cmd_provision)

"""`doorctl qr ...`: QR codes for doors - signed visitor passes, user QR ids, the QR key.

  doorctl qr new-key -o qr_key.hex                   64 hex digits (32 random bytes)
  doorctl qr visitor --key-file qr_key.hex --relays 1 \
      --valid 2026-11-22T10:00/2026-11-22T18:00 -o pass.png      (or .svg, .txt)
  doorctl qr user --code 12345678 -o code.png        a user's QR id as a QR code
  doorctl qr check 'V1....' --key-file qr_key.hex    what a door would say about a pass

The payload format is lib/visitorqr.py (the module the device checks passes with) and
docs/visitor-qr.md. A key file holds 64 hex digits, or is a secrets.json with "qr_key".
"""
import datetime
import json
import os
import secrets as _random
import sys
import time

from doorctl import paths
from doorctl.errors import CliError

FORMATS = (".png", ".svg", ".txt", ".pdf", ".eps")


def _device():
    paths.use_device_code()
    import visitorqr

    return visitorqr


def read_key(path):
    """32-byte key from a file of 64 hex digits or a secrets.json with "qr_key"."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise CliError("%s: cannot be read (%s)" % (path, e.strerror))
    t = text.strip()
    if t.startswith("{"):
        try:
            doc = json.loads(t)
        except ValueError:
            raise CliError("%s: not valid JSON" % path)
        if not isinstance(doc, dict) or not isinstance(doc.get("qr_key"), str):
            raise CliError("%s: has no \"qr_key\"" % path)
        t = doc["qr_key"]
    if len(t) != 64 or any(c not in "0123456789abcdefABCDEF" for c in t):
        raise CliError("%s: the key must be 64 hex digits (32 bytes)" % path)
    return bytes.fromhex(t)


def parse_time(text, utc=False):
    """Unix seconds for 'YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM]', a date, or a plain number.

    Without a zone, the host's local time (or UTC with --utc)."""
    t = text.strip()
    if t.isdigit():
        return int(t)
    try:
        if t.endswith("Z") or t.endswith("z"):
            t = t[:-1] + "+00:00"
        d = datetime.datetime.fromisoformat(t)
    except ValueError:
        raise CliError("bad time %r: use YYYY-MM-DDTHH:MM (optionally with Z or +HH:MM)" % text)
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc) if utc else d.astimezone()
    return int(d.timestamp())


def parse_relays(text):
    mask = 0
    for part in text.replace(" ", "").split(","):
        if not part.isdigit() or not 1 <= int(part) <= 8:
            raise CliError("--relays takes relay numbers 1-8 separated by commas, got %r" % text)
        mask |= 1 << (int(part) - 1)
    return mask


def write_qr(payload, out, scale, border, error):
    ext = os.path.splitext(out)[1].lower()
    if ext not in FORMATS:
        raise CliError("output must end in %s, got %r" % (", ".join(FORMATS), out))
    if ext == ".txt":
        with open(out, "w") as f:
            f.write(payload + "\n")
        return None
    import segno

    qr = segno.make(payload, error=error, micro=False, boost_error=False)
    qr.save(out, scale=scale, border=border)
    return qr.designator


def _emit(args, info):
    if args.json:
        print(json.dumps(info, indent=2))
        return
    print(info["payload"])
    if info.get("file"):
        print("wrote %s (QR %s)" % (info["file"], info.get("qr") or "text"), file=sys.stderr)


def cmd_new_key(args):
    if os.path.exists(args.output) and not args.force:
        raise CliError("%s exists (use --force to replace it: every pass signed with it stops working)"
                       % args.output)
    key = _random.token_hex(32)
    fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    if args.json:
        print(json.dumps({"file": args.output}))
    else:
        print("wrote a new QR key to %s (keep it secret; put it in the device's secrets.json as qr_key)"
              % args.output)
    return 0


def cmd_visitor(args):
    vq = _device()
    key = read_key(args.key_file)
    if "/" not in args.valid:
        raise CliError("--valid takes FROM/TO, e.g. 2026-11-22T10:00/2026-11-22T18:00")
    a, b = args.valid.split("/", 1)
    nbf, naf = parse_time(a, args.utc), parse_time(b, args.utc)
    if naf <= nbf:
        raise CliError("--valid: the end must be later than the start")
    try:
        payload = vq.make(key, args.id, parse_relays(args.relays), nbf, naf)
    except ValueError as e:
        raise CliError(str(e))
    info = {"payload": payload, "id": args.id, "relays": args.relays, "not_before": nbf,
            "not_after": naf,
            "valid": "%s/%s" % (time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(nbf)),
                                time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(naf)))}
    if args.output:
        info["qr"] = write_qr(payload, args.output, args.scale, args.border, args.error)
        info["file"] = args.output
    _emit(args, info)
    return 0


def cmd_user(args):
    code = args.code
    if not 4 <= len(code) <= 32 or any(c <= " " or c == "\x7f" for c in code):
        raise CliError("--code must be 4-32 characters without spaces (the vendor uses 8 digits)")
    info = {"payload": code}
    if args.output:
        info["qr"] = write_qr(code, args.output, args.scale, args.border, args.error)
        info["file"] = args.output
    _emit(args, info)
    return 0


def cmd_check(args):
    vq = _device()
    key = read_key(args.key_file)
    now = parse_time(args.at, args.utc) if args.at else int(time.time())
    try:
        p = vq.check(args.payload.strip(), key, now)
    except vq.VisitorQRError as e:
        if args.json:
            print(json.dumps({"valid": False, "reason": e.reason, "message": str(e)}))
        else:
            print("not valid: %s (%s)" % (e.reason, e))
        return 1
    info = {"valid": True, "id": p.id, "relays": p.relay_list(), "not_before": p.not_before,
            "not_after": p.not_after}
    if args.json:
        print(json.dumps(info))
    else:
        print("valid: id %d, relays %s, until %s" % (p.id, ",".join(map(str, p.relay_list())),
                                                      time.strftime("%Y-%m-%d %H:%M", time.localtime(p.not_after))))
    return 0


def _qr_opts(sp):
    sp.add_argument("-o", "--output", help="write the QR code: .png, .svg, .pdf, .eps, or .txt (the text only)")
    sp.add_argument("--scale", type=int, default=8, help="pixels per module (default %(default)s)")
    sp.add_argument("--border", type=int, default=4, help="quiet zone in modules (default %(default)s)")
    sp.add_argument("--error", choices=("l", "m", "q", "h"), default="m",
                    help="error correction level (default %(default)s)")
    sp.add_argument("--json", action="store_true", help="print the result as JSON")


def register(sub):
    p = sub.add_parser("qr", help="visitor passes and user QR codes",
                       description="Make QR codes for doors: signed, expiring visitor passes the device "
                                   "checks offline, and QR codes of users' QR ids.")
    qs = p.add_subparsers(dest="qrcmd", metavar="QRCOMMAND")
    qs.required = True

    sp = qs.add_parser("new-key", help="create a QR signing key file (64 hex digits)")
    sp.add_argument("-o", "--output", required=True, help="key file to write (mode 0600)")
    sp.add_argument("--force", action="store_true", help="replace an existing file")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_new_key)

    sp = qs.add_parser("visitor", help="a signed visitor pass valid for a time window",
                       description="Sign a visitor pass with the site's QR key (the device's secrets.json "
                                   "qr_key). Times without a zone are the host's local time.")
    sp.add_argument("--key-file", required=True, help="64 hex digits, or a secrets.json with qr_key")
    sp.add_argument("--relays", default="1", help="relays the pass opens, e.g. 1 or 1,2 (default %(default)s)")
    sp.add_argument("--valid", required=True, metavar="FROM/TO",
                    help="e.g. 2026-11-22T10:00/2026-11-22T18:00 (Z or +01:00 allowed, or unix seconds)")
    sp.add_argument("--id", type=int, default=0, help="visitor or user id logged on use (default 0)")
    sp.add_argument("--utc", action="store_true", help="times without a zone are UTC")
    _qr_opts(sp)
    sp.set_defaults(func=cmd_visitor)

    sp = qs.add_parser("user", help="a QR code of a user's QR id")
    sp.add_argument("--code", required=True, help="the user's QR id (users.json `qr`, e.g. 8 digits)")
    _qr_opts(sp)
    sp.set_defaults(func=cmd_user)

    sp = qs.add_parser("check", help="check a visitor pass as a door would")
    sp.add_argument("payload", help="the scanned text")
    sp.add_argument("--key-file", required=True)
    sp.add_argument("--at", help="check at this time instead of now")
    sp.add_argument("--utc", action="store_true")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_check)

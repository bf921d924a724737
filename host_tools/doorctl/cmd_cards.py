"""`doorctl cards read|encode|enrol`: cards on a PN532 wired to a USB-UART adapter.

Built on Adafruit's CircuitPython PN532 driver over pyserial (an independent driver, not the
firmware's), so a card encoded here is proof that the format is not just our two ends agreeing.

MIFARE Classic layout (docs/cards-mifare.md): the card number is bytes 0-3 of the code block
(sector*4 + block), big-endian; the rest of the block is zero. Encoding sets the sector's key A
and key B to the site's `mifare_key` (secrets.json, made by `doorctl provision`) and the access
bits 78 77 88 (data readable with either key, written with key B; keys and bits changed with key B
only). Keys are never printed, in text or JSON.

DESFire layout (docs/cards-desfire.md), `--desfire`: application --aid (AES keys) whose key
--key-index (the door's) and key 0 (the application master key) are the site's `desfire_key`
(or the card's own key diversified from it, --diversify), and a standard data file --file of 32
bytes read with --key-index, written with key 0, in --comm communication, the card number in
its 4 bytes at --offset, big-endian. The secure messaging is doorctl/desfire_host.py's.
"""
import csv
import json
import os
import sys
import time

from doorctl import paths
from doorctl.errors import CliError

TRANSPORT_KEY = b"\xff" * 6
ACCESS = bytes((0x78, 0x77, 0x88, 0x69))  # data: read A|B, write B; trailer: written with key B
_CMD_RFCONFIGURATION = 0x32
_CMD_INDATAEXCHANGE = 0x40
_CMD_INLISTPASSIVETARGET = 0x4A
ST_AUTH = 0x14


class Reader:
    """A PN532 on a serial port, through adafruit_pn532 (PN532_UART over pyserial)."""

    def __init__(self, port, baud=115200):
        import serial

        from adafruit_pn532.uart import PN532_UART

        try:
            self.ser = serial.Serial(port, baud, timeout=0.05)
        except (OSError, ValueError) as e:
            raise CliError("--port %s: cannot open it (%s)" % (port, e))
        try:
            self.pn = PN532_UART(self.ser)
            fw = self.pn.firmware_version
            # bounded card searches (the chip's default 0xFF searches until a card comes)
            self.pn.call_function(_CMD_RFCONFIGURATION, params=[0x05, 0xFF, 0x01, 0x02])
        except (RuntimeError, OSError, TypeError) as e:
            self.ser.close()
            raise CliError("--port %s: no PN532 answers there (%s)" % (port, e))
        self.firmware = "%d.%d" % (fw[1], fw[2])

    def close(self):
        self.ser.close()

    def poll(self):
        """(uid, atqa, sak) of the card in the field, or None."""
        r = self.pn.call_function(_CMD_INLISTPASSIVETARGET, params=[0x01, 0x00], response_length=64, timeout=0.3)
        if not r or r[0] != 1 or len(r) < 6 or len(r) < 6 + r[5]:
            return None
        return bytes(r[6:6 + r[5]]), (r[2] << 8) | r[3], r[4]

    def wait(self, timeout, other_than=None):
        """The next card (a different UID than `other_than`); CliError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            c = self.poll()
            if c is not None and c[0] != other_than:
                return c
            time.sleep(0.05)
        raise CliError("no card on the reader within %g s" % timeout)

    def exchange(self, data, response_length=17):
        r = self.pn.call_function(_CMD_INDATAEXCHANGE, params=bytes((1,)) + bytes(data),
                                  response_length=response_length)
        if not r:
            raise CliError("the PN532 did not answer (card removed?)")
        return r[0] & 0x3F, bytes(r[1:])

    def transceive(self, data):
        """One ISO 14443-4 exchange (a DESFire command) -> the card's answer; the PN532's own
        errors (the card left) as CliError."""
        st, r = self.exchange(data, 64)
        if st:
            raise CliError("the card stopped answering (PN532 status %02X): hold it still and try again" % st)
        return r

    def auth(self, uid, block, key, key_b=False):
        """True if the card took the key; after a refusal the card is selected again."""
        st, _ = self.exchange(bytes((0x61 if key_b else 0x60, block)) + key + uid[-4:])
        if st:
            self.poll()  # the card dropped to idle: select it again
        return st == 0

    def read(self, block):
        st, d = self.exchange(bytes((0x30, block)))
        return d[:16] if st == 0 and len(d) >= 16 else None

    def write(self, block, data):
        st, _ = self.exchange(bytes((0xA0, block)) + bytes(data))
        return st == 0


def is_classic(sak):
    return bool(sak & 0x08)


def card_type(atqa, sak):
    if sak in (0x08, 0x88, 0x28):
        return "MIFARE Classic 1K"
    if sak in (0x18, 0x38):
        return "MIFARE Classic 4K"
    if sak == 0x09:
        return "MIFARE Mini"
    if sak == 0x00:
        return "MIFARE Ultralight / NTAG"
    if sak & 0x20:
        return "ISO 14443-4 (DESFire, a phone...)"
    return "unknown (SAK %02X)" % sak


def load_key(args, name="mifare_key"):
    """The site's MIFARE key (or `name`: desfire_key) as bytes from --secrets FILE, checked like
    the device does."""
    path = args.secrets
    if not path:
        return None
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise CliError("--secrets %s: cannot be read as JSON (%s)" % (path, e))
    if not isinstance(doc, dict) or name not in doc:
        flag = name.split("_")[0]
        raise CliError("--secrets %s: has no %s (doorctl provision --%s-key ... or --new-%s-key)" % (path, name, flag,
                                                                                                   flag))
    paths.use_device_code()
    from configerror import ConfigError
    from doorapp.config import secrets as secretsmod

    try:
        return secretsmod.validate({name: doc[name]}, path)[name]
    except ConfigError as e:
        raise CliError(str(e))


def check_place(sector, block):
    if not 0 <= sector <= 15:
        raise CliError("--sector must be 0-15 (a MIFARE Classic 1K), got %d" % sector)
    if block == 3:
        raise CliError("--block 3 is the sector trailer (keys and access bits): the code goes in block 0, 1 or 2")
    if not 0 <= block <= 2:
        raise CliError("--block must be 0-2, got %d" % block)
    if sector == 0 and block == 0:
        raise CliError("sector 0 block 0 is the manufacturer block (UID): use block 1 or 2, or another sector")
    return sector * 4 + block


def code_from(block):
    """The card number in a code block (bytes 0-3, big-endian), or None when empty."""
    code = bytes(block[:4])
    if code in (b"\x00" * 4, b"\xff" * 4):
        return None
    return int.from_bytes(code, "big")


def render(code, fmt):
    """The code as the door shows and matches it (card.format)."""
    paths.use_device_code()
    import cardfmt

    return cardfmt.format_uid(code.to_bytes(4, "big"), fmt)


def read_card(rd, card, key, blk, key_b):
    """What is on `card`: a dict (never the key)."""
    uid, atqa, sak = card
    out = {"uid": uid.hex().upper(), "atqa": "%04X" % atqa, "sak": "%02X" % sak, "type": card_type(atqa, sak)}
    if not is_classic(sak):
        return out
    out["block"] = blk
    if rd.auth(uid, blk, TRANSPORT_KEY):
        out["keys"] = "transport (FF..FF)"
    elif key is not None and rd.auth(uid, blk, key, key_b):
        out["keys"] = "site key"
    else:
        out["keys"] = "unknown (not the transport key%s)" % (" nor the site key" if key is not None else "")
        out["status"] = "key_wrong"
        return out
    data = rd.read(blk)
    if data is None:
        out["status"] = "read_refused"
        return out
    code = code_from(data)
    out["status"] = "ok" if code is not None else "empty"
    out["code"] = code
    return out


# --- commands ----------------------------------------------------------------------------------
def _open(args):
    return Reader(args.port, args.baud)


def cmd_read(args):
    if args.desfire:
        _desfire_args(args)
        key = load_key(args, "desfire_key")
        blk = None
    else:
        blk = check_place(args.sector, args.block)
        key = load_key(args)
    rd = _open(args)
    try:
        card = rd.wait(args.timeout)
        if args.desfire and card[2] & 0x20:
            info = read_desfire(rd, card, key, args)
        elif args.desfire:
            info = {"uid": card[0].hex().upper(), "atqa": "%04X" % card[1], "sak": "%02X" % card[2],
                    "type": card_type(card[1], card[2]), "status": "not_desfire"}
        else:
            info = read_card(rd, card, key, blk, args.key_type == "B")
    finally:
        rd.close()
    if info.get("code") is not None and args.card_format:
        info["card_code"] = render(info["code"], args.card_format)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    print("card %s: %s (ATQA %s, SAK %s)" % (info["uid"], info["type"], info["atqa"], info["sak"]))
    if args.desfire:
        if "applications" in info:
            print("  applications: %s" % (", ".join(info["applications"]) or "none"))
        s = info.get("status")
        if s:
            what = {"ok": "code %s" % info.get("code"), "empty": "empty (no card number)",
                    "key_wrong": "the card refused the key", "integrity": "the answer failed its CMAC/CRC check",
                    "app_missing": "no such application or file", "not_desfire": "not a DESFire",
                    "refused": "the card refused to list its applications"}[s]
            print("  application %s file %d: %s%s" % (args.aid.upper(), args.file, what,
                                                     " = %s in %s" % (info["card_code"], args.card_format)
                                                     if "card_code" in info else ""))
        return 0
    if "status" in info:
        s = info["status"]
        what = {"ok": "code %s" % info.get("code"), "empty": "empty (no card number)",
                "key_wrong": "the card refused the key", "read_refused": "the access bits keep the key from it"}[s]
        print("  sector %d block %d (keys: %s): %s%s" % (args.sector, args.block, info["keys"], what,
                                                        " = %s in %s" % (info["card_code"], args.card_format)
                                                        if "card_code" in info else ""))
    return 0


def _desfire_args(args):
    """(aid bytes as sent, file, key index) from --aid/--file/--key-index, checked as the door's
    config is."""
    aid = args.aid
    if len(aid) != 6 or any(c not in "0123456789abcdefABCDEF" for c in aid) or int(aid, 16) == 0:
        raise CliError("--aid must be 6 hex digits, not 000000 (e.g. F51230), got %r" % aid)
    if not 0 <= args.file <= 16:
        raise CliError("--file must be 0-16, got %d" % args.file)
    if not 0 <= args.key_index <= 11:
        raise CliError("--key-index must be 0-11, got %d" % args.key_index)
    if not 0 <= args.offset <= 28:
        raise CliError("--offset must be 0-28 (the code's 4 bytes in the 32-byte file), got %d" % args.offset)
    from doorctl import desfire_host

    return desfire_host.aid_bytes(aid), args.file, args.key_index


def _desfire_session(rd):
    from doorctl import desfire_host

    return desfire_host.Session(rd.transceive)


def read_desfire(rd, card, key, args):
    """What is on a DESFire: its applications and, with the key, the code (never the key)."""
    from doorctl import desfire_host as H

    uid, atqa, sak = card
    aid, fid, ki = _desfire_args(args)
    out = {"uid": uid.hex().upper(), "atqa": "%04X" % atqa, "sak": "%02X" % sak, "type": card_type(atqa, sak)}
    s = _desfire_session(rd)
    try:
        s.select(b"\0\0\0")
        out["applications"] = s.application_ids()
    except H.DESFireError as e:
        out["status"] = "not_desfire" if e.status == 0xFF or e.status not in H.STATUS else "refused"
        return out
    out["type"] = "MIFARE DESFire"
    if key is None:
        return out
    if args.diversify:
        key = H.diversify_aes(key, uid, aid)
    try:
        s.select(aid)
        s.authenticate(ki, key)
        data = s.read(fid, args.offset, 4, args.comm)
    except H.DESFireError as e:
        out["status"] = {H.NO_APP: "app_missing", H.NO_FILE: "app_missing", H.INTEGRITY: "integrity"}.get(
            e.status, "key_wrong")
        return out
    code = code_from(data)
    out["status"] = "ok" if code is not None else "empty"
    out["code"] = code
    return out


def cmd_encode_desfire(args):
    from doorctl import desfire_host as H

    aid, fid, ki = _desfire_args(args)
    if not 1 <= args.code <= 0xFFFFFFFE:
        raise CliError("--code must be 1-4294967294 (0 and FFFFFFFF read as no code), got %d" % args.code)
    site = load_key(args, "desfire_key")
    if site is None:
        raise CliError("--secrets FILE is required: the application's keys come from its desfire_key")
    rd = _open(args)
    try:
        uid, atqa, sak = rd.wait(args.timeout)
        who = uid.hex().upper()
        if not sak & 0x20:
            raise CliError("card %s is a %s, not a DESFire: it cannot be encoded" % (who, card_type(atqa, sak)))
        key = H.diversify_aes(site, uid, aid) if args.diversify else site
        zero = bytes(16)
        s = _desfire_session(rd)
        try:
            s.select(b"\0\0\0")
            s.select(aid)
            was = "encoded before"
        except H.DESFireError as e:
            if e.status != H.NO_APP:
                raise
            was = "blank"
        try:
            if was == "blank":  # a new application: AES keys, all zero until changed below
                s.select(b"\0\0\0")
                s.create_application(aid, max(2, ki + 1))
                s.select(aid)
                s.authenticate(0, zero)
                if ki:
                    s.change_key(ki, key, zero)
                s.create_file(fid, 32, args.comm, ki, 0, 0, 0)
            else:
                s.authenticate(0, key)
                s.write(fid, 0, bytes(32), args.comm)  # (a re-encoded card keeps nothing of the old code)
            s.write(fid, args.offset, args.code.to_bytes(4, "big"), args.comm)
            if was == "blank":
                s.change_key(0, key, zero)  # last: the transport key works until all is written
            # check it as a door does
            s.select(aid)
            s.authenticate(ki, key)
            back = s.read(fid, args.offset, 4, args.comm)
        except H.DESFireError as e:
            if was != "blank" and e.status == H.AUTH_ERROR:
                raise CliError("card %s: application %s is there with other keys: not ours to encode" % (who, args.aid))
            raise CliError("card %s (%s): %s" % (who, was, e))
        if code_from(back) != args.code:
            raise CliError("card %s: reading the code back failed: encode it again" % who)
    finally:
        rd.close()
    out = {"uid": who, "code": args.code, "aid": args.aid.upper(), "file": fid, "key_index": ki, "comm": args.comm,
           "was": was, "keys": "site key%s (key 0 and key %d)" % (" diversified" if args.diversify else "", ki),
           "frames": s.frames}
    if args.card_format:
        out["card_code"] = render(args.code, args.card_format)
    if args.json:
        print(json.dumps(out, indent=2, sort_keys=True))
    else:
        print("card %s (%s): code %d written to application %s file %d (%s), keys set from %s%s%s"
              % (who, was, args.code, out["aid"], fid, args.comm, args.secrets,
                 " (diversified)" if args.diversify else "",
                 "; enrol it as %s (%s)" % (out["card_code"], args.card_format) if args.card_format else ""))
    return 0


def cmd_encode(args):
    if args.desfire:
        return cmd_encode_desfire(args)
    blk = check_place(args.sector, args.block)
    if not 1 <= args.code <= 0xFFFFFFFE:
        raise CliError("--code must be 1-4294967294 (0 and FFFFFFFF read as an empty block), got %d" % args.code)
    key = load_key(args)
    if key is None:
        raise CliError("--secrets FILE is required: the sector's keys come from its mifare_key")
    rd = _open(args)
    try:
        uid, atqa, sak = rd.wait(args.timeout)
        if not is_classic(sak):
            raise CliError("card %s is a %s, not a MIFARE Classic: it cannot be encoded" % (uid.hex().upper(),
                                                                                         card_type(atqa, sak)))
        trailer = blk | 3
        if rd.auth(uid, blk, TRANSPORT_KEY):
            was = "blank"
        elif rd.auth(uid, blk, key, key_b=True):
            was = "encoded before"
        else:
            raise CliError("card %s: the sector takes neither the transport key nor the site key: not ours to encode"
                           % uid.hex().upper())
        if not rd.write(blk, args.code.to_bytes(4, "big") + bytes(12)):
            raise CliError("card %s: writing block %d was refused" % (uid.hex().upper(), blk))
        if not rd.write(trailer, key + ACCESS + key):
            raise CliError("card %s: writing the sector trailer (block %d) was refused" % (uid.hex().upper(), trailer))
        # check it as a door does
        rd.poll()
        ok = rd.auth(uid, blk, key, args.key_type == "B")
        data = rd.read(blk) if ok else None
        if data is None or code_from(data) != args.code:
            raise CliError("card %s: reading the code back failed: encode it again" % uid.hex().upper())
    finally:
        rd.close()
    out = {"uid": uid.hex().upper(), "code": args.code, "sector": args.sector, "block": args.block, "was": was,
           "keys": "site key (A and B)", "access": ACCESS.hex().upper()}
    if args.card_format:
        out["card_code"] = render(args.code, args.card_format)
    if args.json:
        print(json.dumps(out, indent=2, sort_keys=True))
    else:
        print("card %s (%s): code %d written to sector %d block %d, keys set from %s, access bits %s%s"
              % (out["uid"], was, args.code, args.sector, args.block, args.secrets, out["access"],
                 "; enrol it as %s (%s)" % (out["card_code"], args.card_format) if args.card_format else ""))
    return 0


def _csv_state(path):
    """(header, next id) of an existing users CSV, or (None, 1)."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return None, 1
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or "cards" not in rows[0] or "id" not in rows[0]:
        raise CliError("--csv %s: not a users CSV (its header needs id and cards columns)" % path)
    header = rows[0]
    i = header.index("id")
    ids = [int(r[i]) for r in rows[1:] if len(r) > i and r[i].strip().isdigit()]
    return header, max(ids) + 1 if ids else 1


def cmd_enrol(args):
    paths.use_device_code()
    import cardfmt

    try:
        fmt = cardfmt.check_format(args.card_format)
    except ValueError as e:
        raise CliError("--card-format: %s" % e)
    if args.desfire:
        _desfire_args(args)
        key = load_key(args, "desfire_key")
        blk = None
    else:
        key = load_key(args)
        blk = check_place(args.sector, args.block) if key is not None else None
    header, next_id = _csv_state(args.csv)
    if args.first_id:
        next_id = args.first_id
    rd = _open(args)
    done = []
    last = None
    progress = sys.stderr if args.json else sys.stdout  # (--json: stdout holds the document only)
    try:
        if header is None:
            header = ["id", "name", "cards", "relays"]
            with open(args.csv, "w", newline="") as f:
                csv.writer(f).writerow(header)
        print("enrolling into %s (card format %s%s): present cards one after another, Ctrl-C to stop"
              % (args.csv, fmt, "" if not key else ", codes from DESFire application %s file %d" % (args.aid, args.file)
                 if args.desfire else ", codes from sector %d block %d" % (args.sector, args.block)),
              file=sys.stderr, flush=True)
        while args.count is None or len(done) < args.count:
            try:
                card = rd.wait(args.timeout, other_than=last)
            except CliError:
                if done or args.count is None:
                    break
                raise
            last = card[0]
            uid_hex = card[0].hex().upper()
            if key is not None:
                if args.desfire:
                    info = read_desfire(rd, card, key, args) if card[2] & 0x20 else {"status": "not a DESFire"}
                else:
                    info = read_card(rd, card, key, blk, args.key_type == "B")
                if info.get("status") != "ok":
                    print("card %s: skipped (%s)" % (uid_hex, info.get("status", "not a MIFARE Classic")),
                          file=progress, flush=True)
                    continue
                code = render(info["code"], fmt)
            else:
                code = cardfmt.format_uid(card[0], fmt)
            row = {"id": str(next_id), "name": "%s %d" % (args.name, next_id), "cards": code,
                   "relays": args.relays}
            with open(args.csv, "a", newline="") as f:
                csv.writer(f).writerow([row.get(c, "") for c in header])
            done.append({"id": next_id, "uid": uid_hex, "card": code})
            print("card %d: %s -> %s, user %d appended to %s" % (len(done), uid_hex, code, next_id, args.csv),
                  file=progress, flush=True)
            next_id += 1
    except KeyboardInterrupt:
        pass
    finally:
        rd.close()
    if args.json:
        print(json.dumps({"csv": args.csv, "enrolled": done}, indent=2))
    else:
        print("%d card(s) enrolled into %s" % (len(done), args.csv))
    return 0


def register(sub):
    p = sub.add_parser("cards", help="read, encode and enrol cards on a PN532 on a serial port",
                       description="Cards on a PN532 wired to a USB-UART adapter (HSU, 115200 baud), through Adafruit's "
                                   "PN532 driver. MIFARE Classic codes: docs/cards-mifare.md; MIFARE DESFire (--desfire on each "
                                   "command): docs/cards-desfire.md. Keys are never printed.")
    csub = p.add_subparsers(dest="cardscmd", metavar="COMMAND", required=True)

    def common(sp, place=True):
        sp.add_argument("--port", required=True, help="the serial port of the PN532, e.g. /dev/ttyUSB0")
        sp.add_argument("--baud", type=int, default=115200, help="default %(default)s")
        sp.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a card (default %(default)s)")
        sp.add_argument("--secrets", metavar="FILE", help="the site's secrets.json (doorctl provision): its mifare_key "
                                                          "(desfire_key with --desfire)")
        if place:
            sp.add_argument("--sector", type=int, default=1, help="sector of the code block, 0-15 (default %(default)s)")
            sp.add_argument("--block", type=int, default=0, help="block in the sector, 0-2 (default %(default)s)")
            sp.add_argument("--key-type", choices=("A", "B"), default="A",
                            help="the key the doors read with (config card.mifare.key_type, default %(default)s)")
        sp.add_argument("--json", action="store_true", help="machine-readable output (never contains keys)")

    def desfire(sp):
        sp.add_argument("--desfire", action="store_true", help="a MIFARE DESFire (docs/cards-desfire.md): the code in "
                                                               "--aid/--file, keys from the secrets' desfire_key")
        sp.add_argument("--aid", default="000001", help="DESFire application, 6 hex digits (config card.desfire.aid, "
                                                        "default %(default)s)")
        sp.add_argument("--file", type=int, default=1, help="DESFire file 0-16 (default %(default)s)")
        sp.add_argument("--key-index", type=int, default=1, help="DESFire key that reads the file, 0-11 "
                                                                 "(default %(default)s)")
        sp.add_argument("--comm", choices=("plain", "mac", "enc"), default="enc",
                        help="DESFire file communication (default %(default)s)")
        sp.add_argument("--offset", type=int, default=0, help="the code's place in the DESFire file (default 0)")
        sp.add_argument("--diversify", action="store_true", help="DESFire keys diversified per card (NXP AN10922; "
                                                                 "config card.desfire.diversify)")

    sp = csub.add_parser("read", help="show what is on a card: UID, type, the MIFARE or DESFire code",
                         description="Wait for a card and show its UID, ATQA, SAK and type; for a MIFARE Classic, "
                                     "the code in --sector/--block, read with the transport key or the site key; "
                                     "with --desfire, its applications and the code in --aid/--file.")
    common(sp)
    desfire(sp)
    sp.add_argument("--card-format", help="also show the code as the door matches it (e.g. 10D, 8HN)")
    sp.set_defaults(func=cmd_read)

    sp = csub.add_parser("encode", help="write a card number into a MIFARE Classic (its sector locked with the site "
                                        "key) or a DESFire (an application with the site's keys)",
                         description="Write --code into the code block of a blank (transport keys) or already "
                                     "encoded MIFARE Classic, set the sector's key A and key B to the site's mifare_key "
                                     "and its access bits to 78 77 88, then read it back as a door does. With "
                                     "--desfire: create the application (AES), its keys and the file on a blank "
                                     "DESFire (or rewrite ours), then read it back as a door does.")
    common(sp)
    desfire(sp)
    sp.add_argument("--code", type=int, required=True, help="the card number, 1-4294967294")
    sp.add_argument("--card-format", help="also show the code the user must be enrolled with (e.g. 10D)")
    sp.set_defaults(func=cmd_encode)

    sp = csub.add_parser("enrol", help="read cards one after another into a users CSV",
                         description="Read cards one after another and append a user row per card to --csv (created "
                                     "with the columns id,name,cards,relays if missing), one progress line each. With "
                                     "--secrets the MIFARE code (--desfire: the DESFire code) is read; else the UID. "
                                     "Stops on Ctrl-C, after --count cards or when no new card comes within --timeout.")
    common(sp)
    sp.add_argument("--csv", required=True, help="the users CSV to append to (doorctl users build reads it)")
    sp.add_argument("--count", type=int, help="stop after this many cards")
    sp.add_argument("--card-format", default="8HN", help="the site's card.format (default %(default)s)")
    desfire(sp)
    sp.add_argument("--first-id", type=int, help="id of the first new user (default: after the highest in the CSV)")
    sp.add_argument("--name", default="card", help="name prefix of new users (default %(default)s)")
    sp.add_argument("--relays", default="1", help="relays of new users (default %(default)s)")
    sp.set_defaults(func=cmd_enrol)

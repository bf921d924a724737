"""`doorctl cards read|encode|enrol`: cards on a PN532 wired to a USB-UART adapter.

Built on Adafruit's CircuitPython PN532 driver over pyserial (an independent driver, not the
firmware's), so a card encoded here is proof that the format is not just our two ends agreeing.

MIFARE Classic layout (docs/cards-mifare.md): the card number is bytes 0-3 of the code block
(sector*4 + block), big-endian; the rest of the block is zero. Encoding sets the sector's key A
and key B to the site's `mifare_key` (secrets.json, made by `doorctl provision`) and the access
bits 78 77 88 (data readable with either key, written with key B; keys and bits changed with key B
only). Keys are never printed, in text or JSON.
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

    def exchange(self, data):
        r = self.pn.call_function(_CMD_INDATAEXCHANGE, params=bytes((1,)) + bytes(data), response_length=17)
        if not r:
            raise CliError("the PN532 did not answer (card removed?)")
        return r[0] & 0x3F, bytes(r[1:])

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


def load_key(args):
    """The site's MIFARE key (bytes) from --secrets FILE (mifare_key), checked like the device does."""
    path = args.secrets
    if not path:
        return None
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise CliError("--secrets %s: cannot be read as JSON (%s)" % (path, e))
    if not isinstance(doc, dict) or "mifare_key" not in doc:
        raise CliError("--secrets %s: has no mifare_key (doorctl provision --mifare-key ... or --new-mifare-key)" % path)
    paths.use_device_code()
    from configerror import ConfigError
    from doorapp.config import secrets as secretsmod

    try:
        return secretsmod.validate({"mifare_key": doc["mifare_key"]}, path)["mifare_key"]
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
    blk = check_place(args.sector, args.block)
    key = load_key(args)
    rd = _open(args)
    try:
        info = read_card(rd, rd.wait(args.timeout), key, blk, args.key_type == "B")
    finally:
        rd.close()
    if info.get("code") is not None and args.card_format:
        info["card_code"] = render(info["code"], args.card_format)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    print("card %s: %s (ATQA %s, SAK %s)" % (info["uid"], info["type"], info["atqa"], info["sak"]))
    if "status" in info:
        s = info["status"]
        what = {"ok": "code %s" % info.get("code"), "empty": "empty (no card number)",
                "key_wrong": "the card refused the key", "read_refused": "the access bits keep the key from it"}[s]
        print("  sector %d block %d (keys: %s): %s%s" % (args.sector, args.block, info["keys"], what,
                                                        " = %s in %s" % (info["card_code"], args.card_format)
                                                        if "card_code" in info else ""))
    return 0


def cmd_encode(args):
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
              % (args.csv, fmt, ", codes from sector %d block %d" % (args.sector, args.block) if key else ""),
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
                                   "PN532 driver. MIFARE Classic codes: docs/cards-mifare.md. Keys are never printed.")
    csub = p.add_subparsers(dest="cardscmd", metavar="COMMAND", required=True)

    def common(sp, place=True):
        sp.add_argument("--port", required=True, help="the serial port of the PN532, e.g. /dev/ttyUSB0")
        sp.add_argument("--baud", type=int, default=115200, help="default %(default)s")
        sp.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a card (default %(default)s)")
        sp.add_argument("--secrets", metavar="FILE", help="the site's secrets.json (doorctl provision): its mifare_key")
        if place:
            sp.add_argument("--sector", type=int, default=1, help="sector of the code block, 0-15 (default %(default)s)")
            sp.add_argument("--block", type=int, default=0, help="block in the sector, 0-2 (default %(default)s)")
            sp.add_argument("--key-type", choices=("A", "B"), default="A",
                            help="the key the doors read with (config card.mifare.key_type, default %(default)s)")
        sp.add_argument("--json", action="store_true", help="machine-readable output (never contains keys)")

    sp = csub.add_parser("read", help="show what is on a card: UID, type, the MIFARE code block",
                         description="Wait for a card and show its UID, ATQA, SAK and type; for a MIFARE Classic, "
                                     "the code in --sector/--block, read with the transport key or the site key.")
    common(sp)
    sp.add_argument("--card-format", help="also show the code as the door matches it (e.g. 10D, 8HN)")
    sp.set_defaults(func=cmd_read)

    sp = csub.add_parser("encode", help="write a card number into a MIFARE Classic and lock its sector with the site key",
                         description="Write --code into the code block of a blank (transport keys) or already "
                                     "encoded MIFARE Classic, set the sector's key A and key B to the site's mifare_key "
                                     "and its access bits to 78 77 88, then read it back as a door does.")
    common(sp)
    sp.add_argument("--code", type=int, required=True, help="the card number, 1-4294967294")
    sp.add_argument("--card-format", help="also show the code the user must be enrolled with (e.g. 10D)")
    sp.set_defaults(func=cmd_encode)

    sp = csub.add_parser("enrol", help="read cards one after another into a users CSV",
                         description="Read cards one after another and append a user row per card to --csv (created "
                                     "with the columns id,name,cards,relays if missing), one progress line each. With "
                                     "--secrets the MIFARE code is read; else the UID. Stops on Ctrl-C, after --count "
                                     "cards or when no new card comes within --timeout.")
    common(sp)
    sp.add_argument("--csv", required=True, help="the users CSV to append to (doorctl users build reads it)")
    sp.add_argument("--count", type=int, help="stop after this many cards")
    sp.add_argument("--card-format", default="8HN", help="the site's card.format (default %(default)s)")
    sp.add_argument("--first-id", type=int, help="id of the first new user (default: after the highest in the CSV)")
    sp.add_argument("--name", default="card", help="name prefix of new users (default %(default)s)")
    sp.add_argument("--relays", default="1", help="relays of new users (default %(default)s)")
    sp.set_defaults(func=cmd_enrol)

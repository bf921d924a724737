"""`doorctl users build|validate|show|export`: user lists (CSV or JSON) <-> the binary user table.

The table is written by lib/usertable (the same code the device compacts and reads with);
this module only reads CSV/JSON with line numbers and prints. CSV columns: docs/user-table.md.
"""
import bisect
import csv
import io
import json
import os
import sys
import time

from doorctl import paths
from doorctl.errors import CliError

CSV_COLUMNS = ("id", "name", "role", "phone", "cards", "pin", "qr", "ble", "plates", "relays",
               "floors", "web_relay", "relay_schedule_activation", "valid_from", "valid_to", "schedules")
_LIST_SEPS = (";", "|")
_TRUE = ("1", "true", "yes", "y", "on")
_FALSE = ("0", "false", "no", "n", "off")


def _lib():
    paths.use_device_code()
    from usertable import build, fmt, reader, validate  # noqa: F401

    return build, fmt, reader, validate


# --- reading documents with line numbers ---------------------------------------------------
class Positions:
    """Maps validation paths ("users[3].cards[0]") to 1-based line numbers."""

    def __init__(self, lines=None):
        self.lines = lines or {}  # path -> line, or (other file, line)
        self.problems = []  # (path, message, None) found while reading (e.g. CSV extra cells)

    def line(self, path):
        p = path
        while p:
            if p in self.lines:
                return self.lines[p]
            cut = max(p.rfind("."), p.rfind("["))
            if cut <= 0:
                break
            p = p[:cut]
        return self.lines.get(p, 0)


def _parse_json_positions(text):
    """json.loads that also records the line of every value by its path."""
    dec = json.JSONDecoder()
    starts = [0]
    for i, c in enumerate(text):
        if c == "\n":
            starts.append(i + 1)
    lines = {}
    n = len(text)

    def ws(i):
        while i < n and text[i] in " \t\r\n":
            i += 1
        return i

    def fail(i, msg):
        raise json.JSONDecodeError(msg, text, min(i, n))

    def value(i, path):
        i = ws(i)
        if i >= n:
            fail(i, "Expecting value")
        lines[path] = bisect.bisect_right(starts, i)
        c = text[i]
        if c == "{":
            obj = {}
            i = ws(i + 1)
            if i < n and text[i] == "}":
                return obj, i + 1
            while True:
                i = ws(i)
                if i >= n or text[i] != '"':
                    fail(i, "Expecting property name enclosed in double quotes")
                key, i = dec.raw_decode(text, i)
                i = ws(i)
                if i >= n or text[i] != ":":
                    fail(i, "Expecting ':' delimiter")
                obj[key], i = value(i + 1, path + "." + key if path else key)
                i = ws(i)
                if i < n and text[i] == ",":
                    i += 1
                    continue
                if i < n and text[i] == "}":
                    return obj, i + 1
                fail(i, "Expecting ',' delimiter")
        if c == "[":
            arr = []
            i = ws(i + 1)
            if i < n and text[i] == "]":
                return arr, i + 1
            while True:
                v, i = value(i, "%s[%d]" % (path, len(arr)))
                arr.append(v)
                i = ws(i)
                if i < n and text[i] == ",":
                    i += 1
                    continue
                if i < n and text[i] == "]":
                    return arr, i + 1
                fail(i, "Expecting ',' delimiter")
        return dec.raw_decode(text, i)

    obj, end = value(0, "")
    if ws(end) != n:
        fail(ws(end), "Extra data")
    return obj, Positions(lines)


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise CliError("cannot read %s: %s" % (path, e.strerror or e))
    except UnicodeDecodeError:
        raise CliError("%s: not UTF-8 text" % path)
    try:
        return _parse_json_positions(text)
    except json.JSONDecodeError as e:
        raise CliError("%s:%d: not valid JSON: %s" % (path, e.lineno, e.msg))


def _split(cell):
    for sep in _LIST_SEPS[1:]:
        cell = cell.replace(sep, _LIST_SEPS[0])
    return [x.strip() for x in cell.split(_LIST_SEPS[0]) if x.strip()]


def _intish(text):
    t = text.strip()
    return int(t) if t.isdigit() and t.isascii() else t


def _csv_plate(item):
    if "@" not in item:
        return item
    plate, window = item.split("@", 1)
    d = {"plate": plate.strip()}
    if "/" not in window:
        d["from"] = window.strip()  # validated (and reported) as a time
        return d
    t0, t1 = window.split("/", 1)
    if t0.strip():
        d["from"] = t0.strip()
    if t1.strip():
        d["to"] = t1.strip()
    return d


def _csv_row(row):
    u = {}
    for col, cell in row.items():
        cell = (cell or "").strip()
        if not cell:
            continue
        if col in ("id", "web_relay"):
            u[col] = _intish(cell)
        elif col in ("cards",):
            u[col] = _split(cell)
        elif col in ("relays", "floors"):
            u[col] = [_intish(x) for x in _split(cell)]
        elif col == "schedules":
            u[col] = [_intish(x) for x in _split(cell)]
        elif col == "plates":
            u[col] = [_csv_plate(x) for x in _split(cell)]
        elif col == "relay_schedule_activation":
            low = cell.lower()
            u[col] = True if low in _TRUE else False if low in _FALSE else cell
        else:
            u[col] = cell
    return u


def read_csv(path):
    """CSV with a header row -> ({"users": [...]}, Positions); header errors raise CliError."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            text = f.read()
    except OSError as e:
        raise CliError("cannot read %s: %s" % (path, e.strerror or e))
    except UnicodeDecodeError:
        raise CliError("%s: not UTF-8 text" % path)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise CliError("%s: empty file (expected a header row: %s)" % (path, ",".join(CSV_COLUMNS)))
    cols = [h.strip().lower() for h in header]
    bad = [c for c in cols if c not in CSV_COLUMNS]
    problems = []
    if bad:
        problems.append("%s:1: unknown column(s) %s (known: %s)" % (path, ", ".join(repr(b) for b in bad), ",".join(CSV_COLUMNS)))
    if "id" not in cols:
        problems.append("%s:1: the header has no id column" % path)
    dups = sorted(set(c for c in cols if cols.count(c) > 1))
    if dups:
        problems.append("%s:1: column(s) %s appear twice" % (path, ", ".join(dups)))
    if problems:
        raise CliError("\n".join(problems))
    users = []
    lines = {"users": 1}
    pos = Positions(lines)
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            if "end of data" in str(e):
                raise CliError('%s:%d: a quote (") opened on this line is never closed' % (path, start))
            if reader.line_num > start:
                raise CliError('%s:%d: a quote (") opened on this line is not closed on it (the cell runs on to '
                               "line %d)" % (path, start, reader.line_num))
            raise CliError("%s:%d: malformed CSV: %s (a quoted cell must be quoted whole)" % (path, reader.line_num, e))
        for cell in row:
            if "\n" in cell or "\r" in cell:  # a quote left open runs on over the next lines
                raise CliError('%s:%d: a quote (") opened on this line is not closed on it (the cell runs on to '
                               "line %d)" % (path, start, reader.line_num))
        if any(cell.strip() for cell in row):
            at = "users[%d]" % len(users)
            lines[at] = start
            if len(row) > len(cols):
                pos.problems.append((at, "%d cells but the header has %d columns" % (len(row), len(cols)), None))
            users.append(_csv_row(dict(zip(cols, row))))
        start = reader.line_num + 1
    return {"users": users}, pos


def read_document(path, fmt_hint=None):
    kind = fmt_hint or ("csv" if path.lower().endswith(".csv") else "json")
    if kind == "csv":
        return read_csv(path)
    return read_json(path)


def read_site_key(path):
    """64 hex digits (whitespace ignored), or a secrets.json holding site_key."""
    if not path:
        return None
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise CliError("cannot read site key file %s: %s" % (path, e.strerror or e))
    t = text.strip()
    if t.startswith("{"):
        try:
            t = json.loads(t).get("site_key", "")
        except (ValueError, AttributeError):
            raise CliError("%s: not a JSON object with site_key" % path)
    t = "".join(t.split())
    if len(t) != 64:
        raise CliError("%s: site key must be 64 hex digits (32 bytes), got %d characters" % (path, len(t)))
    try:
        return bytes.fromhex(t)
    except ValueError:
        raise CliError("%s: site key must be 64 hex digits" % path)


# --- checking ------------------------------------------------------------------------------
def check(args, need_key_for_secrets=True):
    """Read and validate the input; returns (ctx, schedules, users, doc, positions)."""
    build, fmt, reader, validate = _lib()
    from usertable import validate_list

    doc, pos = read_document(args.input, getattr(args, "format", None))
    if args.schedules:
        sdoc, spos = read_json(args.schedules)
        items = sdoc.get("schedules") if isinstance(sdoc, dict) else sdoc
        if isinstance(doc, dict) and doc.get("schedules"):
            raise CliError("%s already defines schedules; drop --schedules or the document's list" % args.input)
        if isinstance(doc, dict):
            doc["schedules"] = items
            for k, v in spos.lines.items():
                if k.startswith("schedules"):
                    pos.lines[k] = (args.schedules, v)
    relays = None
    if args.relays:
        try:
            relays = [int(x) for x in args.relays.replace(";", ",").split(",") if x.strip()]
        except ValueError:
            raise CliError("--relays must be a list of relay numbers like 1,2")
    try:
        key = getattr(args, "site_key", None) or read_site_key(args.site_key_file)  # bytes given by callers
        ctx = validate.Ctx(args.card_format, args.tz, relays, key, True, args.input)
    except ValueError as e:
        raise CliError(str(e))
    sched, users = validate_list.document(doc, ctx)
    ctx.errors[:0] = pos.problems
    return ctx, sched, users, doc, pos


def format_errors(args, ctx, doc, pos):
    """[(line, field, message)] sorted by line, messages naming the earlier owner of duplicates."""
    out = []
    for path, msg, other in ctx.errors:
        line = pos.line(path)
        where = args.input
        if isinstance(line, tuple):
            where, line = line
        if other:
            oline = pos.line(other)
            if isinstance(oline, tuple):
                oline = oline[1]
            ouid = None
            try:
                ouid = doc["users"][int(other[6:other.index("]")])].get("id")
            except (KeyError, ValueError, IndexError, TypeError, AttributeError):
                pass
            msg = msg.replace("another user", "user %s" % ouid) if ouid is not None else msg
            msg += " (line %d)" % oline if oline else ""
        out.append((where, line, path, msg))
    out.sort(key=lambda e: (e[0] != args.input, e[1]))
    return out


def print_errors(errs, as_json):
    if as_json:
        print(json.dumps({"ok": False, "errors": [{"file": w, "line": ln, "field": p, "message": m}
                                                  for w, ln, p, m in errs]}, indent=2))
    else:
        for w, ln, p, m in errs:
            print("%s:%d: %s: %s" % (w, ln, p, m), file=sys.stderr)


def _progress(args, text):
    if not getattr(args, "json", False):
        print(text, file=sys.stderr, flush=True)


# --- commands ------------------------------------------------------------------------------
def cmd_validate(args):
    _progress(args, "checking %s ..." % args.input)
    ctx, sched, users, doc, pos = check(args)
    errs = format_errors(args, ctx, doc, pos)
    if errs:
        print_errors(errs, args.json)
        if not args.json:
            print("%d error(s) in %s" % (len(errs), args.input), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"ok": True, "users": len(users), "schedules": len(sched)}))
    else:
        print("%s: ok, %d users, %d schedules" % (args.input, len(users), len(sched)))
    return 0


def cmd_build(args):
    build, fmt, reader, validate = _lib()
    t0 = time.time()
    _progress(args, "reading and checking %s ..." % args.input)
    ctx, sched, users, doc, pos = check(args)
    errs = format_errors(args, ctx, doc, pos)
    if errs:
        print_errors(errs, args.json)
        raise CliError("%d error(s) in %s; nothing written" % (len(errs), args.input))
    t1 = time.time()
    _progress(args, "writing %s (%d users) ..." % (args.output, len(users)))
    serial = args.serial if args.serial is not None else int(time.time()) & 0xFFFFFFFF
    try:
        info = build.build_file(args.output, sched, users, ctx.fid, serial, ctx.keyed, int(time.time()))
    except ValueError as e:
        raise CliError(str(e))
    t2 = time.time()
    info.update({"output": args.output, "card_format": ctx.fmt, "tz": ctx.tz,
                 "check_s": round(t1 - t0, 3), "write_s": round(t2 - t1, 3)})
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        e = info["entries"]
        print("%s: %d users, %s; %d bytes, serial %d, card format %s (checked in %.2f s, written in %.2f s)" % (
            args.output, info["users"], ", ".join("%d %s" % (e[k], k) for k in ("card", "pin", "qr", "ble", "plate") if e[k]),
            info["size"], serial, ctx.fmt, t1 - t0, t2 - t1))
    return 0


def table_info(path):
    build, fmt, reader, validate = _lib()
    try:
        b = reader.Base(path)
    except OSError as e:
        raise CliError("cannot open %s: %s" % (path, e.strerror or e))
    except ValueError as e:
        raise CliError("%s: not a usable user table: %s" % (path, e))
    try:
        ok, why = True, ""
        try:
            b.verify()
        except ValueError as e:
            ok, why = False, str(e)
        import cardfmt

        info = {"file": path, "size": b.size, "format_version": b.version, "serial": b.serial,
                "created": b.created, "card_format": cardfmt.format_name(b.fid), "users": b.users,
                "checksum": "%08x" % b.crc, "checksum_ok": ok, "site_key_check": b.keycheck is not None,
                "records_bytes": b.rec_len, "max_record": b.maxrec, "schedules": len(json.loads(b.schedules_bytes() or b"[]")),
                "reader_ram": b.ram, "indexes": {}}
        if not ok:
            info["problem"] = why
        for k in fmt.KINDS:
            info["indexes"][fmt.KIND_NAMES[k]] = {"entries": b.ix_n[k], "buckets": b.ix_b[k],
                                                  "entry_bytes": b.ix_e[k], "max_bucket": b.ix_maxb[k]}
        return info
    finally:
        b.close()


def cmd_show(args):
    info = table_info(args.table)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        created = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(info["created"])) if info["created"] else "-"
        print("%s: user table v%d, serial %d, created %s" % (info["file"], info["format_version"], info["serial"], created))
        print("  %d users, card format %s, %d schedules, %d bytes (records %d, largest %d)" % (
            info["users"], info["card_format"], info["schedules"], info["size"], info["records_bytes"], info["max_record"]))
        print("  checksum %s %s; site key check %s" % (info["checksum"], "ok" if info["checksum_ok"] else "BAD: " + info.get("problem", ""),
                                                       "present" if info["site_key_check"] else "absent (no secrets)"))
        for k, v in info["indexes"].items():
            if v["entries"]:
                print("  %-5s %6d entries (%d bytes each) in %d buckets, largest %d" % (k, v["entries"], v["entry_bytes"], v["buckets"], v["max_bucket"]))
        print("  reader RAM (fan-outs, root, buffer): %d bytes" % info["reader_ram"])
    return 0 if info["checksum_ok"] else 1


def export_document(path, tz):
    build, fmt, reader, validate = _lib()
    from usertable import sitetime, validate_list

    try:
        b = reader.Base(path)
        b.verify()
    except (OSError, ValueError) as e:
        raise CliError("%s: not a usable user table: %s" % (path, e))
    try:
        sched = json.loads(b.schedules_bytes() or b"[]")
        names = {0: "Always", 1: "Never"}
        for s in sched:
            names[s["id"]] = s["name"]
        doc = {"schedules": [validate_list.schedule_doc(s) for s in sched], "users": []}
        secrets = 0
        rec = reader.Record()
        for ref, buf, at, ln, _uid in b.scan():
            rec.take(buf, at, ln, b.fid, ref)
            d = sitetime.local(rec.to_dict(), tz)
            secrets += d.pop("has_pin") + d.pop("has_qr") + d.pop("has_ble")
            d["schedules"] = [names.get(s, s) for s in d["schedules"]]
            doc["users"].append({k: v for k, v in d.items() if v not in (None, "", [], 0, False) or k == "id"})
        return doc, secrets
    finally:
        b.close()


def cmd_export(args):
    doc, secrets = export_document(args.table, args.tz)
    text = json.dumps(doc, indent=1, ensure_ascii=False)
    if args.output == "-":
        print(text)
    else:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        print("%s: %d users%s" % (args.output, len(doc["users"]),
                                  "; %d PIN/QR/BLE credentials not exported (stored only as keyed hashes)" % secrets if secrets else ""))
    return 0


def _tz_check(value):
    _lib()
    from usertable import sitetime

    try:
        sitetime.check_tz(value)
    except ValueError as e:
        raise CliError(str(e))
    return value


def register(sub):
    p = sub.add_parser("users", help="build, check and inspect the binary user table",
                       description="User lists (CSV or JSON, docs/user-model.md) to the compact table the device reads "
                                   "(docs/user-table.md).")
    us = p.add_subparsers(dest="userscmd", metavar="USERSCOMMAND")
    us.required = True

    def common(sp):
        sp.add_argument("input", help="users.csv or users.json")
        sp.add_argument("--format", choices=("csv", "json"), help="input format (default: by file extension)")
        sp.add_argument("--card-format", default="8HN", help="site card format, as config card.format (default %(default)s)")
        sp.add_argument("--tz", default="UTC0", help="POSIX TZ rule of the site for the local times in the list "
                                                     "(default %(default)s), e.g. CET-1CEST,M3.5.0,M10.5.0/3")
        sp.add_argument("--site-key-file", help="file with the 32-byte site key as 64 hex digits (or a secrets.json); "
                                                "needed for PIN, QR and BLE credentials")
        sp.add_argument("--schedules", help="JSON file with the schedules (a list, or {\"schedules\": [...]}), for CSV input")
        sp.add_argument("--relays", help="relay numbers that exist at the site, e.g. 1,2 (default 1-8)")
        sp.add_argument("--json", action="store_true", help="machine-readable output")

    sp = us.add_parser("build", help="check a user list and write the binary table",
                       description="Check the list (every error reported, with line numbers) and write the table.")
    common(sp)
    sp.add_argument("-o", "--output", required=True, help="table file to write (replaced atomically)")
    sp.add_argument("--serial", type=int, help="table serial (default: the current unix time)")
    sp.set_defaults(func=cmd_build)

    sp = us.add_parser("validate", help="check a user list; print every error with its line number")
    common(sp)
    sp.set_defaults(func=cmd_validate)

    sp = us.add_parser("show", help="header, counts and checksum of a table file")
    sp.add_argument("table")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.set_defaults(func=cmd_show)

    sp = us.add_parser("export", help="write a table back as a JSON user list (without PIN/QR/BLE)")
    sp.add_argument("table")
    sp.add_argument("-o", "--output", default="-", help="JSON file to write (default: stdout)")
    sp.add_argument("--tz", type=_tz_check, default="UTC0", help="TZ rule for the local times (default %(default)s)")
    sp.set_defaults(func=cmd_export)

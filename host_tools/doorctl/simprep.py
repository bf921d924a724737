"""Host-side preparation of what the simulator installs at start: user lists become tables here.

A board never builds its user table from JSON (the validator and builder would fragment its
112 KB heap at boot); the host builds it with the same library (`doorctl users build`) and the
device only checks and swaps the file in. The simulator works the same way: `doorctl sim run
--users users.json` and the tests build the table here and hand the simulator a `.tbl`.
"""
import argparse
import json
import os
import time

from doorctl import paths
from doorctl.errors import CliError

DEMO_USERS = os.path.join(paths.FIRMWARE, "sim", "demo_users.json")


def _read_json(path):
    """The JSON object in `path`, or {} (absent or broken: the device's own check reports it)."""
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def site_settings(config=None, secrets=None, board=None):
    """(card_format, tz, relay ids, site key) from the files the simulator will install; files
    that are absent or broken give the defaults (the simulator itself reports broken files)."""
    cfg = _read_json(config)
    card = cfg.get("card") if isinstance(cfg.get("card"), dict) else {}
    tm = cfg.get("time") if isinstance(cfg.get("time"), dict) else {}
    fmt = card.get("format") if isinstance(card.get("format"), str) else "8HN"
    tz = tm.get("tz") if isinstance(tm.get("tz"), str) else "UTC0"
    relays = None
    spec = _read_json(board or os.path.join(paths.BOARDS, "sim.json"))
    if isinstance(spec.get("relays"), list):
        relays = [r.get("id") for r in spec["relays"] if isinstance(r, dict) and isinstance(r.get("id"), int)]
    key = _read_json(secrets).get("site_key")
    return fmt, tz, relays or None, bytes.fromhex(key) if isinstance(key, str) and len(key) == 64 else None


def build_table(source, output, card_format="8HN", tz="UTC0", relays=None, site_key=None, serial=None):
    """users.json/.csv -> table file `output` (atomic), checked as `doorctl users build` does;
    CliError naming the first problem with its line ("file:line: field: message") and nothing
    written if the list is bad."""
    from doorctl import cmd_users

    args = argparse.Namespace(input=source, format=None, schedules=None, card_format=card_format, tz=tz,
                              relays=",".join(str(r) for r in relays) if relays else None,
                              site_key_file=None, site_key=site_key, json=False)
    build = cmd_users._lib()[0]
    ctx, sched, users, doc, pos = cmd_users.check(args)
    errs = cmd_users.format_errors(args, ctx, doc, pos)
    if errs:
        first = errs[0]
        more = " (and %d more)" % (len(errs) - 1) if len(errs) > 1 else ""
        raise CliError("%s:%s: %s: %s%s" % (first[0], first[1], first[2], first[3], more))
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    if serial is None:
        serial = int(time.time()) & 0xFFFFFFFF
    try:
        return build.build_file(output, sched, users, ctx.fid, serial, ctx.keyed)
    except ValueError as e:
        raise CliError(str(e))


def users_for_sim(source, workdir, config=None, secrets=None, board=None):
    """The `--users` argument for firmware/sim/run.py: a .tbl as given, else a table built from
    the list into `workdir` with the site settings of the given config/secrets/board files."""
    if source.endswith(".tbl"):
        return source
    fmt, tz, relays, key = site_settings(config, secrets, board)
    out = os.path.join(workdir, os.path.splitext(os.path.basename(source))[0] + ".tbl")
    build_table(source, out, fmt, tz, relays, key)
    return out


def demo_secrets(workdir):
    """A secrets file for the demo users when none is given: a site key made here at random
    (once per simulator directory), so the demo's key fob can be hashed into the table. Never a
    key shared between installations."""
    path = os.path.join(workdir, "demo-secrets.json")
    if not os.path.exists(path):
        os.makedirs(workdir, exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"site_key": os.urandom(32).hex()}, f)
        os.replace(tmp, path)
    return path


def demo_phone(workdir):
    """The demo user 1001's phone, paired beforehand: its id and key in the wallet `doorctl sim
    phone` reads (workdir/phones.json, made once), installed on a new flash with the demo users."""
    from doorctl import cmd_phone

    path = os.path.join(workdir, "phones.json")
    wallet = cmd_phone.load_wallet(path)
    if "1001" not in wallet:
        r = os.urandom(4)
        wallet["1001"] = {"phone_id": (int.from_bytes(r, "big") & 0x3FFFFFFF) or 1, "key": os.urandom(16).hex(),
                          "counter": 0}
        cmd_phone.save_wallet(path, wallet)
    return path


def users_args(source, flash, workdir, config=None, secrets=None, board=None, demo=True, fresh=False):
    """The simulator's `--users` arguments: `source` (a list or a table), else the demo users on
    a new flash image (unless `demo` is false), else none. The demo users come with a random
    site key of their own (demo_secrets) unless `secrets` is given, and user 1001's phone
    paired (demo_phone; not on lean boards, which don't run BLE)."""
    extra = []
    if not source and demo and (fresh or not os.path.exists(flash)):
        source = DEMO_USERS
        if not secrets:
            secrets = demo_secrets(workdir)
            extra = ["--secrets", os.path.abspath(secrets)]
        elif site_settings(secrets=secrets)[3] is None:
            # the demo's key fob is stored as a keyed hash: without a site key the table can't
            # be built (the builder's own message would name the demo file and a host option)
            raise CliError("--secrets %s has no site_key, which the demo users need (their key fob is stored "
                           "keyed with it): add \"site_key\" (64 hex digits, `doorctl provision` makes one) or "
                           "start with --no-demo or --users" % secrets)
        from doorctl import profiles

        if not board or profiles.board_profile(board) != "lean":  # (no BLE on lean boards: no phone to pair)
            extra += ["--phones", os.path.abspath(demo_phone(workdir))]
    if not source:
        return []
    return extra + ["--users", os.path.abspath(users_for_sim(os.path.abspath(source), workdir, config, secrets, board))]

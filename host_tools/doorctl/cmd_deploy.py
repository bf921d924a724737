"""`doorctl deploy`: update the app on a board already running MicroPython, over USB (mpremote).

The files are staged exactly as `doorctl build` stages them (manifest.py: same .mpy, same
layout), compared with the board by SHA-256 computed on the board, and only the changed ones
are written (each to a temp file, then renamed over the old one). A `.py` left on the board
next to a module we ship as `.mpy` would shadow it (MicroPython tries .py first), so it is
removed; other unknown modules in our folders are listed, and removed with --prune. Data files
(events, users.json written by the API) are never touched. Then a soft reset starts the app.
"""
import hashlib
import json
import os

from doorctl import manifest, remote
from doorctl.errors import CliError


def _stage(args_root, arch, board, config, secrets, users, provision):
    try:
        return manifest.stage(args_root, arch, board, config, secrets, users, provision)
    except manifest.ManifestError as e:
        raise CliError(str(e))


def plan(staged, remote_hashes, listings):
    """(changed [Staged], unchanged count, shadowing [rel], unknown [rel]) from the board state.

    listings: {folder rel: [(name, is_dir)]} of our code folders on the board."""
    changed = [s for s in staged if remote_hashes.get(s.path) != hashlib.sha256(s.data).hexdigest()]
    ours = {s.path for s in staged}
    shadow, unknown = [], []
    for folder, entries in sorted(listings.items()):
        for name, is_dir in sorted(entries):
            rel = (folder + "/" + name).lstrip("/")
            if is_dir or rel in ours or not name.endswith((".py", ".mpy")):
                continue
            if rel.endswith(".py") and rel[:-3] + ".mpy" in ours:
                shadow.append(rel)
            elif folder:  # top-level .py files (a user's own scripts) are left alone
                unknown.append(rel)
    return changed, len(staged) - len(changed), shadow, unknown


def code_folders(staged):
    """Folders holding our modules (doorapp, lib, lib/hal...) plus the top level."""
    out = {""}
    for s in staged:
        if s.kind in (manifest.KIND_CODE, manifest.KIND_PACKAGE):
            out.add(s.path.rpartition("/")[0])
    return sorted(out)


def deploy(port, baud=115200, root="/", board=None, config=None, secrets=None, users=None, provision=None,
           arch=None, prune=False, dry_run=False, reset=True, source_root=None, progress=print):
    with remote.Board(port, baud, root) as b:
        info = b.info()
        want = arch or remote.mpy_arch(info["mpy"]) or "xtensawin"
        ver, sub = remote.mpy_version(info["mpy"])
        if (ver, sub) < (6, 3) and not arch:
            raise CliError("the board runs MicroPython %s, which can't load .mpy v6.3 from mpy-cross: "
                           "flash v1.23 or newer (doorctl build + flash)" % ".".join(map(str, info["version"])))
        progress("board on %s: MicroPython %s (%s); compiling for %s" % (
            port, ".".join(map(str, info["version"])), info["machine"], want))
        staged = _stage(source_root, want, board, config, secrets, users, provision)
        hashes = b.hashes([s.path for s in staged])
        listings = {f: b.listdir(f) for f in code_folders(staged)}
        changed, same, shadow, unknown = plan(staged, hashes, listings)
        remove = shadow + (unknown if prune else [])
        result = {"port": port, "arch": want, "changed": [s.path for s in changed], "unchanged": same,
                  "removed": remove, "left_alone": [] if prune else unknown,
                  "bytes": sum(len(s.data) for s in changed), "dry_run": dry_run, "reset": False}
        if dry_run:
            return result
        made = set()
        for i, s in enumerate(changed):
            folder = s.path.rpartition("/")[0]
            if folder and folder not in made and not hashes.get(s.path):
                b.mkdirs(folder)
                made.add(folder)
            progress("[%d/%d] /%s (%d B)" % (i + 1, len(changed), s.path, len(s.data)))
            b.write_file(s.path, s.data)
        for rel in remove:
            progress("removing /%s (%s)" % (rel, "shadows our .mpy" if rel in shadow else "not part of the app"))
            b.remove(rel)
        if reset:
            b.soft_reset()
            result["reset"] = True
    return result


def cmd_deploy(args):
    say = (lambda m: None) if args.json else (lambda m: print(m, flush=True))
    r = deploy(args.port, args.baud, args.root, args.board, args.config, args.secrets, args.users, args.provision,
               args.arch, args.prune, args.dry_run, not args.no_reset, progress=say)
    if args.json:
        print(json.dumps(r, indent=2, sort_keys=True))
        return 0
    verb = "would write" if r["dry_run"] else "wrote"
    print("%s %d changed file%s (%d B), %d unchanged" % (verb, len(r["changed"]), "" if len(r["changed"]) == 1 else "s",
                                                         r["bytes"], r["unchanged"]))
    if r["dry_run"]:
        for p in r["changed"]:
            print("  /" + p)
        for p in r["removed"]:
            print("  would remove /" + p)
    if r["left_alone"]:
        print("not part of the app, left on the board (--prune removes them): " +
              ", ".join("/" + p for p in r["left_alone"]))
    if r["reset"]:
        print("soft reset: the app restarts")
    return 0


def add_connection_args(p):
    p.add_argument("--port", required=True, help="serial port of the board, e.g. /dev/ttyUSB0")
    p.add_argument("--baud", type=int, default=115200, help="(default %(default)s)")
    p.add_argument("--root", default="/", help="where the board's filesystem is (default /, as on an ESP32)")


def register(sub):
    p = sub.add_parser(
        "deploy", help="copy the changed app files to a board running MicroPython (mpremote), soft reset",
        description="Stage the app as `doorctl build` does (.mpy compiled for the board's arch), compare with the "
                    "board by SHA-256, write only the changed files, remove stale .py files that would shadow our "
                    ".mpy, then soft-reset so the app restarts. Settings files are written only when given.")
    add_connection_args(p)
    p.add_argument("--board", help="also install this board file as /board.json (name or path)")
    p.add_argument("--config", help="also install config.json (validated against --board)")
    p.add_argument("--secrets", help="also install secrets.json (validated)")
    p.add_argument("--users", help="also install users.json (validated) or users.tbl")
    p.add_argument("--provision", metavar="DIR", help="config.json/secrets.json (and the HTTPS key and certificate, if made "
                                                         "with --tls) from `doorctl provision --out DIR`")
    p.add_argument("--arch", help="mpy-cross arch (default: what the board reports)")
    p.add_argument("--prune", action="store_true", help="also remove .py/.mpy files in our folders that the app doesn't have")
    p.add_argument("--dry-run", action="store_true", help="only show what would change")
    p.add_argument("--no-reset", action="store_true", help="don't soft-reset afterwards")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_deploy)

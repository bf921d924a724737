"""Device start-up: board file -> settings -> resident code in order -> the Door -> its tasks.

main.py on a board runs start() and then drops this module: nothing here is needed once the
door runs. The simulator (firmware/sim/start.py) and the ESP32 backend test use its parts.
"""
import gc

import eventlog
from configerror import ConfigError
from jsoncheck import read_json
from doorapp import VERSION, fileio
from doorapp import residency
from doorapp.app import Door, has_readers
from doorapp.fileio import CONFIG_FILE, EVENTS_FILE, SECRETS_FILE, STAGED_FILE, TABLE_FILE, data_path
from micropython import const


def load_config(board):
    from doorapp.config import schema

    path = data_path(board, CONFIG_FILE)
    if not fileio.exists(path):
        return schema.defaults(board.spec)
    return schema.validate(read_json(path), board.spec, path)


def load_secrets(board):
    from doorapp.config import secrets

    path = data_path(board, SECRETS_FILE)
    return secrets.validate(read_json(path) if fileio.exists(path) else {}, path)


def relay_ids(board):
    return [r["id"] for r in board.spec["relays"]]


def install_table(board, cfg, secrets, staged):
    """Make the table file `staged` (same filesystem, e.g. users.tbl.new) live: checked (header,
    checksum, card format) then renamed over users.tbl; on any error the old table stays."""
    path = data_path(board, TABLE_FILE)
    if not fileio.exists(path):  # first table: no empty one to build (that code is heavy)
        import os

        os.rename(staged, path)
        try:
            open_table(board, cfg, secrets, verify=True).close()
        except ConfigError:
            os.remove(path)
            raise
        return
    t = open_table(board, cfg, secrets)
    try:
        t.install(staged)
    finally:
        t.close()


def open_table(board, cfg, secrets, verify=False):
    from usertable.table import UserTable

    return UserTable.open(board.data_dir or "/", site_key=secrets["site_key"], card_format=cfg["card"]["format"],
                          tz=cfg["time"]["tz"], relay_ids=relay_ids(board), auto_compact=False, verify=verify)


def open_door(board, cfg=None, secrets=None):
    """Load everything from flash and build the Door; ConfigError if a file is bad."""
    try:
        if cfg is None:
            cfg = load_config(board)
        if secrets is None:
            secrets = load_secrets(board)
    finally:
        residency.trim()
    if cfg["card"]["desfire"]["enabled"] and secrets.get("desfire_key"):  # its size by card.desfire.crypto
        from doorapp.config.desfirecfg import key_error

        err = key_error(cfg["card"]["desfire"]["crypto"], secrets["desfire_key"])
        if err:
            raise ConfigError(data_path(board, SECRETS_FILE), "desfire_key", err)
    for name in (STAGED_FILE, CONFIG_FILE + ".tmp", SECRETS_FILE + ".tmp"):  # writes a power cut left
        fileio.remove(data_path(board, name))
    table = open_table(board, cfg, secrets)
    log = eventlog.EventLog(data_path(board, EVENTS_FILE), cfg["events"]["capacity"])
    return Door(board, cfg, table, log, secrets)


def fail(err):
    """Start-up stopped by bad input: one line naming file and field, outputs stay off."""
    print("doorctl: cannot start: " + str(err))


def reader_modules(spec):
    """Resident modules for the board's optional readers (see load_resident)."""
    if not has_readers(spec):
        return ()
    mods = ("keypad", "doorapp.access.lockout", "doorapp.readers.credentials")
    if "wiegand" in spec:
        mods += ("wiegand",)
    if "qr_scanner" in spec:
        mods += ("qrscanner", "visitorqr", "doorapp.readers.qr")
    return mods


# what stays loaded, in import order (dependencies first); the backend adds its own
RESIDENT = ("compat", "eventlog", "cardfmt", "doorapp.relays", "doorapp.app", "usertable.table", "keyedhash",
            "doorapp.access.engine", "pn532.watch")


# Collect after every 1/_GC_SHARE of the heap allocated, not only when it is full: garbage left
# standing lets new long-lived objects land between it, and once collected it leaves holes too
# small for the next module or JSON document (measured: the HTTP tests' 503s went away).
_GC_SHARE = const(48)


def load_resident(extra=()):
    """Import the modules that stay loaded right after the transient start-up work, each after
    a collection: their code then fills the heap from the bottom in one piece instead of being
    scattered between short-lived data (a fragmented heap fails a 1 KB allocation with 80 KB
    free). Then set the collection rhythm (_GC_SHARE)."""
    for name in RESIDENT + tuple(extra):
        gc.collect()
        __import__(name)
    gc.collect()
    gc.threshold((gc.mem_free() + gc.mem_alloc()) // _GC_SHARE)


def boot(board_path="/board.json", **options):
    """Board file -> settings (validators dropped again) -> resident code -> the Door.
    Returns (board, door); ConfigError names the file and field of bad input."""
    import hal

    spec = hal.load_board(board_path)
    residency.lean[0] = spec["profile"] == "lean"
    board = hal.open_board(spec, **options)
    try:
        cfg = load_config(board)
        secrets = load_secrets(board)
    finally:
        residency.trim()
    # a board on Wi-Fi serves the HTTP API (doorapp/station.py): its code is resident too
    extra = ("pn532.hsu" if spec["pn532"]["bus"] == "uart" else "pn532.i2c",) + reader_modules(spec)
    if cfg["network"]["ssid"]:
        extra += ("doorapp.http.api", "doorapp.station")
    if cfg["verify"]["mode"] != "off":  # third-party verification (+ its HTTP client)
        extra += ("doorapp.verify.door",)
    load_resident(extra)
    return board, open_door(board, cfg, secrets)


def start(board_path="/board.json"):
    """Boot the device (main.py): returns the Door's main coroutine, to run once this module is
    dropped, or None after bad input (reported by fail())."""
    try:
        board, door = boot(board_path)
    except ConfigError as e:
        fail(e)
        return None
    print("doorctl %s on %s: %d users" % (VERSION, board.name, door.table.count))
    return door.run(services(door, board))


def services(door, board, **opts):
    """Wi-Fi station, NTP and the HTTP API on a board (doorapp/station.py); none in the simulator."""
    from doorapp import station

    return station.tasks(door, board, **opts)

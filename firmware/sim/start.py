"""Simulator start-up (firmware/sim/run.py): options, the flash image, config and secrets
installed from the host, the user table, then the firmware's own boot order
(doorapp/startup.py). run.py drops this module and doorapp.startup before the simulator runs,
as main.py does on a board, so the simulator's heap holds what a board's does.
"""
import sys

DEFAULTS = {
    "board": "boards/sim.json",
    "flash": "build/sim/flash.img",
    "flash-size": "0x200000",
    "control": "127.0.0.1:7700",
    "http": "auto",  # 127.0.0.1:8080 on psram boards, off on lean ones
    "https": "auto",  # 127.0.0.1:8443 when config http.tls is on (sim/httpd.py)
    "tls": "",  # a `doorctl provision --tls` folder: its key and certificate put on the flash
    "pn532": "",
    "config": "",
    "secrets": "",
    "users": "",
    "phones": "",
    "reset-cause": "power_on",
    "watchdog": "",
}
FLAGS = ("quiet", "app-from-flash")


def parse_args(argv):
    opts = dict(DEFAULTS)
    for f in FLAGS:
        opts[f] = False
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("--"):
            raise ValueError("unexpected argument " + a)
        key = a[2:]
        if key in FLAGS:
            opts[key] = True
            i += 1
        elif key in DEFAULTS and i + 1 < len(argv):
            opts[key] = argv[i + 1]
            i += 2
        else:
            raise ValueError("unknown or incomplete option " + a)
    return opts


def install(board, source, name, check):
    """Validate a host file with the device's own validator, then place it on flash atomically.

    A bad file stops start-up before anything on flash is touched.
    """
    from jsoncheck import read_json
    from doorapp import fileio

    with open(source, "rb") as f:
        data = f.read()
    check(read_json(source), source)
    fileio.write_atomic(board.data_dir + "/" + name, data)


def prepare(opts):
    """Boot in the order that keeps the heap in one piece: first the modules that stay (right
    after the board file), then everything transient (validators, installing the user table),
    then the long-lived objects. Transient code leaves names behind for good (interned strings
    are never freed): loaded first, they would lie scattered under the resident code, and with a
    site key and a key fob in the table a lean board could not find 1.3 KB in one piece for it."""
    import hal
    from doorapp import fileio, residency, startup
    from sim import flash

    spec = hal.load_board(opts["board"])
    residency.lean[0] = spec["profile"] == "lean"
    if opts["http"] == "auto":
        opts["http"] = "off" if residency.lean[0] else "127.0.0.1:8080"
    elif opts["http"] != "off" and residency.lean[0]:
        raise ValueError("--http: the HTTP API does not fit a lean board's heap (board %s, profile lean): use "
                         "--http off or a psram board (docs/memory.md)" % spec["name"])
    created = False if opts["app-from-flash"] else flash.mount(opts["flash"], "/flash", int(opts["flash-size"]))
    board = hal.open_board(spec, data_dir="/flash", pn532=opts["pn532"] or None, reset_cause=opts["reset-cause"],
                           watchdog=opts["watchdog"])
    load_resident(spec, opts["http"] != "off", not opts["quiet"])
    try:
        if opts["config"]:
            from doorapp.config import schema

            install(board, opts["config"], fileio.CONFIG_FILE, lambda doc, p: schema.validate(doc, spec, p))
        if opts["secrets"]:
            from doorapp.config import secrets as secretsmod

            install(board, opts["secrets"], fileio.SECRETS_FILE, lambda doc, p: secretsmod.validate(doc, p))
        if opts["tls"]:
            from sim import startopt

            startopt.install_tls(board, opts["tls"])
        cfg = startup.load_config(board)
        secrets = startup.load_secrets(board)
    finally:
        residency.trim()
    for inp in spec["inputs"]:  # power-up: buttons released, door shut (inputs idle)
        board.drive_input(inp["pin"], 0 if cfg["inputs"][inp["id"]]["trigger"] == "high" else 1)
    users_src = opts["users"]
    if users_src and not users_src.endswith(".tbl"):
        raise ValueError("--users must be a table built by `doorctl users build` (.tbl), got %s "
                         "(`doorctl sim run --users` builds one from a list)" % users_src)
    if opts["phones"]:  # paired phones from a host wallet (the demo's phone): doorctl.simprep
        from sim import startopt

        startopt.install_phones(board, opts["phones"])
    if users_src:  # copied next to the table, checked (header, checksum, card format), swapped in
        staged = fileio.data_path(board, fileio.STAGED_FILE)
        with open(users_src, "rb") as src, open(staged, "wb") as dst:
            buf = bytearray(2048)
            while True:
                n = src.readinto(buf)
                if not n:
                    break
                dst.write(buf if n == len(buf) else memoryview(buf)[:n])
        buf = None
        startup.install_table(board, cfg, secrets, staged)
    # cfg and secrets were built while the validators were loaded; read again after them, they
    # leave the heap in one piece
    cfg = secrets = None
    residency.trim()
    door = startup.open_door(board)
    return board, door, created


def load_resident(spec, http, display):
    """The simulator's own resident modules, then the app's (doorapp.startup.load_resident):
    each imported after a collection, so all of it lies in one piece."""
    from doorapp import startup

    readers = startup.reader_modules(spec)
    sim = ("sim.control",) + (("sim.readerctl",) if readers else ()) + (("sim.display",) if display else ())
    startup.load_resident(sim + ("pn532.hsu",) + readers + (("doorapp.http.api",) if http else ()))


def start(argv):
    """Options -> (opts, board, door); bad input ends the process with a message (exit 2)."""
    if "--app-from-flash" in argv:
        from sim import startopt

        argv = startopt.app_from_flash(argv, parse_args)
    from configerror import ConfigError

    try:
        opts = parse_args(argv)
        try:
            opts["flash-size"] = str(int(opts["flash-size"], 0))
        except ValueError:
            raise ValueError("--flash-size must be a number of bytes, got %r" % opts["flash-size"])
        board, door, _created = prepare(opts)
    except ConfigError as e:
        print("doorctl: cannot start: " + str(e))
        sys.exit(2)
    except (OSError, ValueError) as e:
        print("doorctl: cannot start: %s" % e)
        sys.exit(2)
    return opts, board, door

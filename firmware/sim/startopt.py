"""Simulator start-up steps only some runs take (sim/start.py): booting a built image's app
(--app-from-flash), the device's TLS key and certificate (--tls), phones paired beforehand
(--phones). Apart from start.py so a plain run doesn't load them: every module's names stay
interned in the heap for good.
"""
import sys


def app_from_flash(argv, parse_args):
    """--app-from-flash: mount the image, then put /flash/lib and /flash first on sys.path so the
    app and libraries are imported from its .mpy files (what a board runs). Simulator-only
    modules stay in the checkout; hal/sim is imported from there by hand because a package's
    modules are only looked up in the package's own folder (on the image). `parse_args`: start.py's
    option parser. Returns argv."""
    import json
    import os

    from sim import flash

    try:
        opts = parse_args(argv)
        flash.mount(opts["flash"], "/flash", int(opts["flash-size"], 0))
        if "--board" not in argv:
            with open("/flash/board.json") as f:
                backend = json.load(f).get("backend")
            if backend != "sim":
                raise ValueError("the image's /flash/board.json is for the %s backend: add --board "
                                 "boards/sim.json to run it in the simulator" % backend)
            argv = argv + ["--board", "/flash/board.json"]
        checkout = [p for p in sys.path if not p.startswith("/flash")]
        sys.path[:0] = ["/flash/lib", "/flash"]
        import hal

        # hal/sim first needs the image's own hal modules loaded, then is imported from the
        # checkout by pointing the package at the checkout's hal folder for that one import
        for name in os.listdir("/flash/lib/hal"):
            mod = name.rsplit(".", 1)[0]
            if name.endswith((".py", ".mpy")) and mod not in ("__init__", "esp32", "sim"):
                __import__("hal." + mod)
        own = hal.__path__
        for p in checkout:
            d = (p or ".") + "/hal"
            try:
                names = os.listdir(d)
            except OSError:
                continue
            if "sim.py" in names or "sim.mpy" in names:
                hal.__path__ = d
                try:
                    import hal.sim  # noqa: F401
                finally:
                    hal.__path__ = own
                break
        from doorapp import app

        print("app from flash: %s, %s" % (app.__file__, hal.__file__))
    except ImportError as e:
        print("doorctl: cannot start: the flash image has no usable app (%s)" % e)
        sys.exit(2)
    except (OSError, ValueError) as e:
        print("doorctl: cannot start: %s" % e)
        sys.exit(2)
    return argv


def install_tls(board, folder):
    """The device key and certificate from a `doorctl provision --tls` folder, onto the flash."""
    from doorapp import fileio
    from doorapp.http import tls

    for name in (tls.CERT_FILE, tls.KEY_FILE):
        try:
            with open(folder + "/" + name, "rb") as f:
                data = f.read()
        except OSError:
            raise ValueError("--tls: %s/%s not found (made by `doorctl provision --tls`)" % (folder, name))
        fileio.write_atomic(board.data_dir + "/" + name, data)


def install_phones(board, source):
    """Phones paired beforehand, from a wallet {"<user id>": {"phone_id", "key", ...}} (what
    `doorctl sim phone pair` keeps): stored as if each had paired at this door."""
    import json
    from binascii import unhexlify

    from doorapp import fileio
    from phonekeys import PhoneKeys

    with open(source) as f:
        wallet = json.load(f)
    keys = PhoneKeys(fileio.data_path(board, fileio.PHONES_FILE))
    for uid in wallet:
        w = wallet[uid]
        keys.install(int(w["phone_id"]), int(uid), unhexlify(w["key"]))
    from doorapp import residency

    residency.forget("phonekeys")  # start-up work: BLE loads it again when it is turned on

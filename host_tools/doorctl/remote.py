"""A board running MicroPython on a serial port, driven through mpremote's raw REPL.

Used by `doorctl deploy` and `doorctl doctor`. Connecting interrupts the running program (as
every mpremote command does) without a soft reset, so it also works against the unix port's
REPL on a pty (the tests). Paths on the board are under `root` ("/" on an ESP32). Every command
first feeds the watchdog the interrupted door had armed (_FEED_FN).
"""
import ast
import json

from doorctl.errors import CliError

CHUNK = 512  # bytes per write round trip (raw REPL paste mode takes it on an ESP32)

# mpy-cross -march names by the arch number in sys.implementation._mpy >> 10
MPY_ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
             "xtensa", "xtensawin", "rv32imc", "rv64imc")

_HASH_FN = """
import hashlib, binascii
def _dc_h(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    d = hashlib.sha256()
    b = bytearray(256)
    m = memoryview(b)
    while True:
        n = f.readinto(b)
        if not n:
            break
        d.update(m[:n])
    f.close()
    return binascii.hexlify(d.digest()).decode()
"""


# The door arms the chip's watchdog (hal.esp32 keeps it as `wdt`; docs/watchdog.md), and it
# can't be stopped: with the app interrupted, nothing feeds it and the chip would reset in the
# middle of a deploy. So while we hold the REPL, every command feeds it first.
_FEED_FN = """
import sys
def _dc_f():
    m = sys.modules.get('hal.esp32')
    w = getattr(m, 'wdt', None) if m else None
    if w:
        w.feed()
_dc_f()
"""


class RemoteError(CliError):
    pass


def _last_line(text):
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else text


class Board:
    def __init__(self, port, baud=115200, root="/"):
        self.port = port
        self.baud = baud
        self.root = "/" + root.strip("/") if root.strip("/") else ""
        self.t = None
        self._feed = ""  # run before every command once defined: feeds the board's watchdog

    def __enter__(self):
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport

        try:
            self.t = SerialTransport(self.port, baudrate=self.baud)
        except TransportError as e:
            raise RemoteError("cannot open %s: %s" % (self.port, e))
        try:
            self.t.enter_raw_repl(soft_reset=False)
        except TransportError as e:
            self.close()
            raise RemoteError("no MicroPython REPL answers on %s (%s)" % (self.port, e))
        self.exec(_FEED_FN)
        self._feed = "_dc_f()\n"
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.t is not None:
            try:
                if self.t.in_raw_repl:
                    self.t.exit_raw_repl()
                self.t.close()
            except OSError:
                pass
            self.t = None

    def path(self, rel):
        """Board path of a device-filesystem path ("lib/x.mpy" -> "/lib/x.mpy" under root)."""
        return self.root + "/" + rel.strip("/")

    def exec(self, code, timeout=10):
        from mpremote.transport import TransportError, TransportExecError

        try:
            out, err = self.t.exec_raw(self._feed + code, timeout=timeout)
        except TransportExecError as e:  # pragma: no cover - exec_raw doesn't raise it
            raise RemoteError("board error: %s" % _last_line(e.error_output))
        except (TransportError, OSError) as e:
            raise RemoteError("lost the board on %s: %s" % (self.port, e))
        if err:
            raise RemoteError("board error: %s" % _last_line(err.decode("utf-8", "replace")))
        return out.decode("utf-8", "replace")

    def eval_json(self, code, timeout=10):
        """Run code whose last printed line is JSON; returns it parsed."""
        out = self.exec(code, timeout)
        try:
            return json.loads(_last_line(out))
        except ValueError:
            raise RemoteError("unexpected answer from the board: %r" % out[-200:])

    def hashes(self, rels):
        """{rel: sha256 hex or None} of files on the board."""
        out = {}
        self.exec(_HASH_FN)
        for i in range(0, len(rels), 24):
            batch = [self.path(r) for r in rels[i:i + 24]]
            text = self.exec("for _p in %r:\n print(repr((_p, _dc_h(_p))))\n" % (batch,), timeout=30)
            for line in text.splitlines():
                if line.strip():
                    p, h = ast.literal_eval(line.strip())
                    out[rels[batch.index(p) + i]] = h
        return out

    def listdir(self, rel):
        """[(name, is_dir)] of a board folder, [] if it doesn't exist."""
        code = ("import os\ntry:\n _l = [(e[0], e[1] == 0x4000) for e in os.ilistdir(%r)]\n"
                "except OSError:\n _l = []\nprint(repr(_l))\n" % self.path(rel))
        return ast.literal_eval(self.exec(code).strip() or "[]")

    def mkdirs(self, rel):
        parts = rel.strip("/").split("/")
        code = "import os\nfor _d in %r:\n try:\n  os.mkdir(_d)\n except OSError:\n  pass\n" % (
            [self.path("/".join(parts[:i])) for i in range(1, len(parts) + 1)],)
        self.exec(code)

    def write_file(self, rel, data, progress=None):
        """Write a file: to rel.tmp in chunks, then rename over rel (a cut cable leaves the old file)."""
        dest = self.path(rel)
        tmp = dest + ".tmp"
        self.exec("_f = open(%r, 'wb')\n_w = _f.write" % tmp)
        for i in range(0, len(data), CHUNK):
            self.exec("_w(%r)" % (bytes(data[i:i + CHUNK]),))
            if progress:
                progress(min(i + CHUNK, len(data)), len(data))
        self.exec("_f.close()\nimport os\nos.rename(%r, %r)" % (tmp, dest))

    def remove(self, rel):
        self.exec("import os\nos.remove(%r)" % self.path(rel))

    def soft_reset(self):
        """Leave the raw REPL and press Ctrl-D in the normal REPL: a soft reboot that runs boot.py
        and main.py (on the unix port it ends the REPL process: there's no reboot there)."""
        self.t.exit_raw_repl()
        self.t.serial.write(b"\x04")
        self.t.serial.flush()
        self.close()

    def info(self):
        """Port, version, mpy arch of the board."""
        return self.eval_json(
            "import sys, json\n"
            "_u = None\ntry:\n import os\n _u = os.uname()\nexcept (ImportError, AttributeError):\n pass\n"
            "print(json.dumps({'platform': sys.platform, 'version': list(sys.implementation.version[:3]),"
            " 'machine': getattr(sys.implementation, '_machine', ''), 'mpy': getattr(sys.implementation, '_mpy', 0),"
            " 'release': _u.release if _u else '', 'build': _u.version if _u else ''}))\n")


def mpy_arch(mpy):
    """mpy-cross -march name from sys.implementation._mpy (None: the port has no native arch)."""
    a = (mpy >> 10) & 0x3F
    return MPY_ARCHS[a] if 0 < a < len(MPY_ARCHS) else None


def mpy_version(mpy):
    return mpy & 0xFF, (mpy >> 8) & 3

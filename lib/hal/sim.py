"""Simulator backend of the board layer (MicroPython unix port).

Pins are levels in memory that the simulator's control channel can read and drive; every output
change is reported to listeners (the live display, the event timestamps of `make bench`).
The PN532 UART is pluggable: the byte-level emulator in its own host process (`emu:...`, what
`doorctl sim run` starts), the same emulator inside this process (`emulator`), `tcp:HOST:PORT`,
or `serial:/dev/ttyXXX` (a real PN532 on a USB-UART adapter, or an external emulator on a pty).
"""
import asyncio

from compat import ticks_us
from deadline import Deadline
from hal.streams import AsyncioByteStream


class PinBank:
    """All simulated GPIO levels, with change listeners: listener(num, level, ticks_us)."""

    def __init__(self):
        self.levels = {}
        self.listeners = []
        self.matrix = None  # (row pin, column pin) of the keypad key held down, if any

    def set(self, num, level):
        if self.levels.get(num) != level:
            self.levels[num] = level
            t = ticks_us()
            for cb in self.listeners:
                cb(num, level, t)

    def get(self, num, default=0):
        m = self.matrix
        if m is not None and num == m[1]:  # the pressed key's column follows its row's level
            return self.levels.get(m[0], 1)
        return self.levels.get(num, default)


class OutputPin:
    def __init__(self, bank, num, active_high=True):
        self._bank = bank
        self._on = 1 if active_high else 0
        self.num = num
        bank.set(num, 1 - self._on)

    def on(self):
        self._bank.set(self.num, self._on)

    def off(self):
        self._bank.set(self.num, 1 - self._on)

    def is_on(self):
        return self._bank.get(self.num) == self._on


class InputPin:
    def __init__(self, bank, num, pull="none"):
        self._bank = bank
        self.num = num
        if num not in bank.levels:  # idle level: what the pull resistor gives
            bank.levels[num] = 0 if pull == "down" else 1

    def value(self):
        return self._bank.get(self.num)


class SerialDevice:
    """A tty opened raw at the board's baud rate, usable as an asyncio stream."""

    def __init__(self, path, baudrate):
        import termios

        self.f = open(path, "r+b")
        fd = self.f.fileno()
        termios.setraw(fd)
        attrs = termios.tcgetattr(fd)
        speed = getattr(termios, "B%d" % baudrate)
        attrs[4] = speed
        attrs[5] = speed
        # VMIN = VTIME = 0 (Linux indices 6, 5): a read returns what is there instead of
        # blocking the whole event loop until n bytes arrived; asyncio polls for readiness.
        attrs[6][6] = 0
        attrs[6][5] = 0
        termios.tcsetattr(fd, termios.TCSANOW, attrs)


class LineStream:
    """The QR scanner's UART in the simulator: the control channel writes what a scanner would
    send; a ByteStream (`read(n, timeout_ms)` -> bytes, b'' on timeout)."""

    def __init__(self):
        self._buf = b""
        self._ready = asyncio.Event()
        self._dl = Deadline()

    def send(self, data):
        self._buf += data
        self._ready.set()

    async def read(self, n, timeout_ms):
        if not self._buf:
            self._ready.clear()
            try:
                await self._dl.run(self._ready.wait(), timeout_ms)
            except asyncio.TimeoutError:
                return b""
        out = self._buf[:n]
        self._buf = self._buf[n:]
        return out


class Board:
    backend = "sim"

    def __init__(self, spec, data_dir="/flash", pn532=None, reset_cause="power_on", watchdog=("", "0"),
                 **options):
        self.spec = spec
        self.name = spec["name"]
        self.data_dir = data_dir
        self.pins = PinBank()
        self.transport = pn532 or spec["pn532"].get("transport", "emulator")
        self.emulator = None  # set when the built-in emulator is used
        self.wiegand = None  # the app's WiegandAssembler, once it listens
        self.qr = None  # LineStream of the QR scanner, once the app reads it
        self._cause = reset_cause  # told by the runner when it restarts the firmware
        self._wdt = watchdog  # (pipe fd, timeout ms) as text, from the sim's options
        self._wdf = None  # the pipe, once armed

    def reset_cause(self):
        return self._cause

    # The watchdog. A blocked event loop can't check itself, so the check runs outside this
    # process: the runner (doorctl.simwatch; `doorctl sim run` and the tests start the
    # simulator through it) hands over the write end of a pipe (--watchdog-fd); arming writes
    # `W<timeout_ms>` and a line end, every feed one byte. The runner kills the process when no
    # byte came within the timeout (a reset: nothing is cleaned up) and starts the firmware again
    # on the same flash with --reset-cause watchdog. Without a runner nothing watches.
    def watchdog(self, timeout_ms):
        """This board, whose feed() feeds the watchdog; --watchdog-ms overrides the timeout."""
        fd, ms = self._wdt
        if fd:
            self._wdf = open(int(fd), "wb")
            self._wdf.write(b"W%d\n" % (int(ms) or timeout_ms))
        return self

    def feed(self):
        f = self._wdf
        if f is not None:
            try:
                f.write(b".")
            except OSError:  # the runner is gone: so is the power
                raise SystemExit(3)

    def output(self, num, active_high=True):
        return OutputPin(self.pins, num, active_high)

    def input(self, num, pull="none"):
        return InputPin(self.pins, num, pull)

    def drive_input(self, num, level):
        """What the outside world does to an input wire (control channel, tests)."""
        self.pins.set(num, 1 if level else 0)

    async def pn532_stream(self):
        """The ByteStream the PN532 driver talks to, per the configured transport."""
        t = self.transport
        if t == "emulator":
            from pn532emu import PN532Emulator, EmulatorStream

            self.emulator = PN532Emulator()
            return EmulatorStream(self.emulator)
        if t.startswith("emu:"):  # the emulator in a host process (doorctl.pn532_service)
            host, port, cport = t[4:].rsplit(":", 2)
            self.emulator = RemoteEmulator(host, int(cport))
            r, w = await asyncio.open_connection(host, int(port))
            return AsyncioByteStream(r, w)
        if t.startswith("tcp:"):
            host, port = t[4:].rsplit(":", 1)
            r, w = await asyncio.open_connection(host, int(port))
            return AsyncioByteStream(r, w)
        if t.startswith("serial:"):
            dev = SerialDevice(t[7:], self.spec["pn532"]["baudrate"])
            return AsyncioByteStream(asyncio.StreamReader(dev.f), asyncio.StreamWriter(dev.f, {}))
        raise ValueError("pn532 transport must be emulator, emu:HOST:PORT:PORT, tcp:HOST:PORT or serial:PATH, "
                         "got " + t)

    async def pn532_transport(self):
        return "uart", await self.pn532_stream()

    def unique_id(self):
        return b"SIM00001"

    # --- credential readers beside the PN532 (driven by the control channel) ---------------
    def wiegand_input(self, assembler):
        self.wiegand = assembler

    def qr_stream(self):
        self.qr = LineStream()
        return self.qr

    def station(self, ssid, password, hostname):
        """None: the simulator uses the host's network (nothing to join) and the host clock."""
        return None

    def ntp(self):
        return None


class RemoteEmulator:
    """The PN532 emulator running in its own host process (doorctl.pn532_service: test
    equipment kept out of the heap the firmware is measured in); card commands go over a
    JSON-lines socket, the PN532's UART bytes over another (transport `emu:HOST:UART:CONTROL`)."""

    def __init__(self, host, port):
        import socket

        self.addr = socket.getaddrinfo(host, port)[0][-1]
        self.sock = None

    def _call(self, req):
        """Send one command, wait for its answer (localhost: well under a millisecond)."""
        import json
        import socket

        if self.sock is None:
            s = socket.socket()
            s.connect(self.addr)
            self.sock = s
        try:
            self.sock.send(json.dumps(req).encode() + b"\n")
            line = b""
            while not line.endswith(b"\n"):
                chunk = self.sock.recv(256)
                if not chunk:
                    raise OSError("emulator closed the control connection")
                line += chunk
        except OSError:
            self.sock.close()
            self.sock = None
            raise
        ans = json.loads(line)
        if not ans.get("ok"):
            raise ValueError(ans.get("error", "emulator refused the command"))
        return ans

    def place(self, uid):
        self._call({"call": "place", "uid": uid.hex()})

    def remove(self):
        self._call({"call": "remove"})

    def inject(self, data):
        self._call({"call": "inject", "hex": bytes(data).hex()})

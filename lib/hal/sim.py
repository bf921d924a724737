"""Simulator backend of the board layer (MicroPython unix port).

Pins are levels in memory that the simulator's control channel can read and drive; every output
change is reported to listeners (the live display, the event timestamps of `make bench`).
The PN532 UART is pluggable: the byte-level emulator in its own host process (`emu:...`, what
`doorctl sim run` starts), the same emulator inside this process (`emulator`), `tcp:HOST:PORT`,
or `serial:/dev/ttyXXX` (a real PN532 on a USB-UART adapter, or an external emulator on a pty);
the links to the emulator process and to a tty are in sim/pn532link.py, loaded when the reader
starts.
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


class Board:
    backend = "sim"

    def __init__(self, spec, data_dir="/flash", pn532=None, reset_cause="power_on", watchdog="", **options):
        self.spec = spec
        self.name = spec["name"]
        self.data_dir = data_dir
        self.pins = PinBank()
        self.transport = pn532 or spec["pn532"].get("transport", "emulator")
        self.emulator = None  # set when the built-in emulator is used
        self.wiegand = None  # the app's WiegandAssembler, once it listens
        self.qr = None  # LineStream of the QR scanner, once the app reads it
        self.air = None  # sim.radio.Air: the virtual air, once the radio is asked for (ble())
        self._ble = None
        # told by the runner (sim option --watchdog FD[:MS]); the watchdog's pipe once armed
        self.options = [reset_cause, watchdog]

    def reset_cause(self):
        return self.options[0]

    # The watchdog. A blocked event loop can't check itself, so the check runs outside this
    # process: the runner (doorctl.simwatch; `doorctl sim run` and the tests start the
    # simulator through it) hands over the write end of a pipe (--watchdog FD); arming writes
    # `W<timeout_ms>` and a line end, every feed one byte. The runner kills the process when no
    # byte came within the timeout (a reset: nothing is cleaned up) and starts the firmware again
    # on the same flash with --reset-cause watchdog. Without a runner nothing watches.
    def watchdog(self, timeout_ms):
        """This board, whose feed() feeds the watchdog; --watchdog FD:MS overrides the timeout."""
        fd, _, ms = self.options[1].partition(":")
        f = self.options[1] = open(int(fd), "wb") if fd else None
        if f:
            f.write(b"W%d\n" % (int(ms or 0) or timeout_ms))
        return self

    def feed(self):
        f = self.options[1]
        if f:
            f.write(b".")  # OSError once the runner is gone: the simulator stops (no power)

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
        if t.startswith("emu:") or t.startswith("serial:"):  # sets self.emulator for emu:
            from sim import pn532link

            return await pn532link.connect(self, t)
        if t.startswith("tcp:"):
            host, port = t[4:].rsplit(":", 1)
            r, w = await asyncio.open_connection(host, int(port))
            return AsyncioByteStream(r, w)
        raise ValueError("pn532 transport must be emulator, emu:HOST:PORT:PORT, tcp:HOST:PORT or serial:PATH, "
                         "got " + t)

    async def pn532_transport(self):
        return "uart", await self.pn532_stream()

    def unique_id(self):
        return b"SIM00001"

    # --- credential readers beside the PN532 (driven by the control channel) ---------------
    def wiegand_input(self, assembler):
        self.wiegand = assembler

    def wiegand_output(self, d0, d1):
        """Wiegand output: its pulses recorded (board.wiegand_out) for the control channel (sim/wgout.py)."""
        from sim.wgout import Recorder

        return Recorder(self, d0, d1)

    def qr_stream(self):
        from sim.linestream import LineStream  # (boards with a QR scanner only)

        self.qr = LineStream()
        return self.qr

    # --- Bluetooth LE (sim/radio.py: MicroPython's bluetooth.BLE over a virtual air) -----------
    def ble(self):
        """The one BLE object (bluetooth.BLE's API), built with the board's virtual air on first use:
        the radio's code is loaded only when the door (or the control channel) wants it."""
        if self._ble is None:
            from sim.radio import Air, BLE

            air = Air()
            ble = BLE(air)  # (both or neither: a MemoryError here leaves nothing half-built)
            self.air, self._ble = air, ble
        return self._ble

    def ble_uuid(self, value):
        """bluetooth.UUID(value) (device code imports no `bluetooth`)."""
        from sim.radiogatt import UUID

        return UUID(value)

    def station(self, ssid, password, hostname):
        """None: the simulator uses the host's network (nothing to join) and the host clock."""
        return None

    def ntp(self):
        return None

"""A test double of MicroPython's ESP32 `machine` module for running hal.esp32 on the unix port.

Pins keep their level; UART(n) is a pollable stream wired to the PN532 emulator service (the
same byte-level chip model as the simulator, in its own process), so the ESP32 backend's own
UART/asyncio code path runs.
Only the hardware is doubled: the board layer and the app above it are the real code.
"""
import io
import select
import socket

pins = {}
uarts = {}
watched = ()  # pins whose writes are logged in `changes` as (pin, level, ticks_us, interrupts off)
changes = []
irq_off = [False]


def disable_irq():
    irq_off[0] = True
    return 5  # the state enable_irq must be given back


def enable_irq(state):
    assert state == 5 and irq_off[0]
    irq_off[0] = False

_POLL = 3  # MP_STREAM_POLL
_RD = 1
_WR = 4


class Pin:
    IN = 1
    OUT = 3
    PULL_UP = 2
    PULL_DOWN = 1

    def __init__(self, num, mode=-1, pull=None, value=None):
        self.num = num
        self.mode = mode
        self.pull = pull
        self.level = value if value is not None else (1 if pull == Pin.PULL_UP else 0)
        pins[num] = self

    def __call__(self, v=None):
        if v is None:
            return self.level
        self.level = 1 if v else 0
        if self.num in watched:
            from time import ticks_us

            changes.append((self.num, self.level, ticks_us(), irq_off[0]))

    def value(self, v=None):
        return self(v)


class UART(io.IOBase):
    """The PN532's UART: a TCP link to the emulator service (doorctl.pn532_service, started by
    the test), so the emulator stays out of the heap the app is measured in, as in the simulator.
    Call connect_emulator("emu:HOST:UART:CONTROL") before the board opens the UART."""

    def __init__(self, num, baudrate=9600, tx=None, rx=None, timeout=0, rxbuf=256):
        self.num = num
        self.args = (baudrate, tx, rx, timeout, rxbuf)
        host, port = _EMU[0], _EMU[1]
        self.sock = socket.socket()
        self.sock.connect(socket.getaddrinfo(host, port)[0][-1])
        self.sock.setblocking(False)
        self.poller = select.poll()
        self.poller.register(self.sock, select.POLLIN)
        uarts[num] = self

    def write(self, buf):
        return self.sock.write(buf)

    def readinto(self, buf):
        try:
            return self.sock.readinto(buf)
        except OSError:  # EAGAIN: nothing yet
            return None

    def read(self, n=-1):
        try:
            return self.sock.read(n if n > 0 else 256)
        except OSError:
            return None

    def ioctl(self, req, arg):
        if req == _POLL:
            ready = _WR
            if arg & _RD and self.poller.poll(0):
                ready |= _RD
            return ready & arg
        return 0


_EMU = []


def connect_emulator(transport):
    """transport: "emu:HOST:UART:CONTROL" from pn532_service.start(); returns the card control
    (place/remove) of that emulator."""
    from sim.pn532link import RemoteEmulator

    host, port, cport = transport[4:].rsplit(":", 2)
    _EMU[:] = [host, int(port)]
    return RemoteEmulator(host, int(cport))


class I2C:
    def __init__(self, num, sda=None, scl=None, freq=400000, timeout=50000):
        self.num = num


def unique_id():
    return b"\x24\x0a\xc4\x00\x00\x01"


# reset causes as the ESP32 port numbers them (it has no BROWNOUT_RESET: a brown-out reads as
# PWRON_RESET there); the test sets `cause`
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
cause = [PWRON_RESET]


def reset_cause():
    return cause[0]


wdts = []  # every WDT made: the ESP32 has one, started by the first WDT(timeout=...)


class WDT:
    """machine.WDT: counts feeds (a real one resets the chip when they stop)."""

    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.feeds = 0
        wdts.append(self)

    def feed(self):
        self.feeds += 1

"""A test double of MicroPython's ESP32 `machine` module for running hal.esp32 on the unix port.

Pins keep their level; UART(n) is a pollable stream wired to a PN532 emulator (the same
byte-level chip model as the simulator), so the ESP32 backend's own UART/asyncio code path runs.
Only the hardware is doubled: the board layer and the app above it are the real code.
"""
import io

from pn532emu import PN532Emulator

pins = {}
uarts = {}

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

    def value(self, v=None):
        return self(v)


class UART(io.IOBase):
    def __init__(self, num, baudrate=9600, tx=None, rx=None, timeout=0, rxbuf=256):
        self.num = num
        self.args = (baudrate, tx, rx, timeout, rxbuf)
        # attempt/select 0: answers are ready as soon as the command is written (no timers to poll)
        self.emulator = PN532Emulator(attempt_ms=0, select_ms=0)
        uarts[num] = self

    def write(self, buf):
        self.emulator.feed(bytes(buf))
        return len(buf)

    def readinto(self, buf):
        data = self.emulator.read(len(buf))
        if not data:
            return None
        buf[: len(data)] = data
        return len(data)

    def read(self, n=-1):
        data = self.emulator.read(n)
        return data or None

    def ioctl(self, req, arg):
        if req == _POLL:
            ready = _WR
            if self.emulator.available():
                ready |= _RD
            return ready & arg
        return 0


class I2C:
    def __init__(self, num, sda=None, scl=None, freq=400000, timeout=50000):
        self.num = num


def unique_id():
    return b"\x24\x0a\xc4\x00\x00\x01"

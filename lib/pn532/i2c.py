"""PN532 on I2C: a ByteStream over a machine.I2C-like bus, so the chip class stays the same.

Every read starts with a status byte (bit0 = ready). The chip stretches the clock while busy and
NAKs its address when asleep; we poll the status with asyncio sleeps, never a busy wait.
"""
from micropython import const

from compat import ticks_ms, ticks_diff, ticks_add, sleep_ms
from . import PN532

ADDRESS = const(0x24)


class I2CStream:
    """ByteStream over I2C: read(n) returns one frame read of n bytes once the chip is ready.

    n must cover the whole frame (the driver passes its expected reply size): the rest of a
    frame is lost when the read stops early.
    """

    def __init__(self, i2c, addr=ADDRESS, poll_ms=4, size=96):
        self.i2c = i2c
        self.addr = addr
        self.poll_ms = poll_ms
        self._status = bytearray(1)
        self._buf = bytearray(size + 1)
        self._mv = memoryview(self._buf)

    async def write(self, data):
        self.i2c.writeto(self.addr, data)

    async def read(self, n, timeout_ms):
        deadline = ticks_add(ticks_ms(), timeout_ms)
        while True:
            try:
                self.i2c.readfrom_into(self.addr, self._status)
                if self._status[0] & 1:
                    break
            except OSError:  # busy or asleep: address NAK
                pass
            left = ticks_diff(deadline, ticks_ms())
            if left <= 0:
                return b""
            await sleep_ms(self.poll_ms if self.poll_ms < left else left)
        if n > len(self._buf) - 1:
            n = len(self._buf) - 1
        mv = self._mv[: n + 1]
        self.i2c.readfrom_into(self.addr, mv)
        return bytes(mv[1:])

    def reset_input(self):
        """Nothing is buffered on our side of an I2C link."""


class PN532_I2C(PN532):
    """PN532 over I2C at `addr` (0x24); keyword arguments as PN532."""

    def __init__(self, i2c, addr=ADDRESS, **kw):
        super().__init__(I2CStream(i2c, addr), **kw)

    async def _wakeup(self):
        # An address match wakes the chip from power-down; it may NAK this first transaction.
        try:
            self.stream.i2c.readfrom_into(self.stream.addr, self.stream._status)
        except OSError:
            pass
        await sleep_ms(2)

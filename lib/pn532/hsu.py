"""PN532 on its HSU link (UART 115200 8N1), through any ByteStream: ESP32 UART, TCP, serial, emulator."""
from . import PN532


class PN532_HSU(PN532):
    """PN532 over HSU. `stream` implements write/read/reset_input (see pn532 docstring)."""

    async def _wakeup(self):
        self.stream.reset_input()
        # 0x55 wakes the HSU; the zeros give the oscillator time to start before the first frame.
        await self.stream.write(b"\x55\x55\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")


PN532_UART = PN532_HSU  # the name Adafruit's drivers use

"""Async PN532 NFC reader driver: one chip class, thin transports (hsu.py, i2c.py).

Every wait is an asyncio wait with a deadline, so a missing or wedged reader costs the loop
nothing but bounded timeouts. The link is any "ByteStream":
    async write(data); async read(n, timeout_ms) -> 1..n bytes or b''; reset_input()
"""
from micropython import const

from compat import ticks_ms, ticks_diff, ticks_add
from .frames import (
    CMD_GETFIRMWAREVERSION, CMD_SAMCONFIGURATION, CMD_POWERDOWN, CMD_RFCONFIGURATION,
    CMD_INDATAEXCHANGE, CMD_INDESELECT, CMD_INLISTPASSIVETARGET, CMD_INRELEASE,
    ACK, NACK, TFI_PN532, EV_ACK, EV_NACK, EV_ERROR, EV_FRAME, EV_BADSUM, FrameParser,
    command as _frame,
)


MIFARE_AUTH_A = const(0x60)
MIFARE_AUTH_B = const(0x61)
_MIFARE_READ = const(0x30)
_MIFARE_WRITE = const(0xA0)

_ACK_RX = const(6)
_MAX_NACKS = const(2)


class PN532Error(Exception):
    """The reader failed an exchange (after retries), or answered something unusable."""


class PN532Timeout(PN532Error):
    """No ACK or no response within the deadline (reader absent, asleep or wedged)."""


class PN532:
    """The chip: commands and the exchange protocol over a ByteStream.

    ack_timeout_ms  bound for the ACK after a command frame (reader absent -> fail fast)
    timeout_ms      bound for a response (InListPassiveTarget uses poll_timeout_ms)
    attempts        tries per command; a failed try is aborted (host ACK) and the frame resent
    passive_retries MxRtyPassiveActivation set by init(): 0xFF would make a poll wait forever
    """

    def __init__(self, stream, ack_timeout_ms=50, timeout_ms=200, poll_timeout_ms=300,
                 attempts=3, passive_retries=2):
        self.stream = stream
        self.ack_timeout_ms = ack_timeout_ms
        self.timeout_ms = timeout_ms
        self.poll_timeout_ms = poll_timeout_ms
        self.attempts = attempts
        self.passive_retries = passive_retries
        self.firmware = None
        self.resends = 0  # command frames sent again (any cause)
        self.nacks = 0  # NACKs we sent after a bad checksum
        self._parser = FrameParser()
        # The poll loop sends this exact frame every time: build it once.
        self._poll_frame = _frame(CMD_INLISTPASSIVETARGET, b"\x01\x00")

    # -- transport hooks -------------------------------------------------------------------
    async def _wakeup(self):
        """Wake the chip before init (HSU: 0x55 preamble); transports override."""

    # -- exchange --------------------------------------------------------------------------
    async def _event(self, deadline, rx):
        """Next parser event, reading from the stream until `deadline`; None on timeout."""
        p = self._parser
        stream = self.stream
        while True:
            ev = p.next_event()
            if ev is not None:
                return ev
            left = ticks_diff(deadline, ticks_ms())
            if left <= 0:
                return None
            n = p.space()
            data = await stream.read(rx if rx < n else n, left)
            if data:
                p.feed(data)

    async def _try(self, code, frame, timeout_ms, rx):
        """One try: frame -> ACK -> response. Returns the reply data after D5 code+1."""
        stream = self.stream
        p = self._parser
        stream.reset_input()
        p.reset()
        await stream.write(frame)
        deadline = ticks_add(ticks_ms(), self.ack_timeout_ms)
        while True:
            ev = await self._event(deadline, _ACK_RX)
            if ev == EV_ACK:
                break
            if ev is None:
                raise PN532Timeout("no ACK")
            if ev == EV_NACK:
                raise PN532Error("NACK")
            if ev == EV_ERROR:
                raise PN532Error("error frame")
            # a stale response or a bad checksum before the ACK: not ours, skip it
        deadline = ticks_add(ticks_ms(), timeout_ms)
        nacks = 0
        while True:
            ev = await self._event(deadline, rx)
            if ev == EV_FRAME:
                d = p.data
                if len(d) >= 2 and d[0] == TFI_PN532 and d[1] == code + 1:
                    return d[2:]
                continue  # stale or foreign frame
            if ev is None:
                await stream.write(ACK)  # abort the command still running in the chip
                raise PN532Timeout("no response")
            if ev == EV_BADSUM:
                if nacks >= _MAX_NACKS:
                    raise PN532Error("bad checksum")
                nacks += 1
                self.nacks += 1
                await stream.write(NACK)  # the chip sends its last response again
            elif ev == EV_ERROR:
                raise PN532Error("error frame")

    async def command(self, code, params=b"", timeout_ms=None, rx=64, frame=None):
        """Run command `code` with `params`; returns its reply data (after D5 code+1).

        Raises PN532Timeout/PN532Error once `attempts` tries have failed.
        """
        if frame is None:
            frame = _frame(code, params)
        if timeout_ms is None:
            timeout_ms = self.timeout_ms
        err = None
        for i in range(self.attempts):
            if i:
                self.resends += 1
            try:
                return await self._try(code, frame, timeout_ms, rx)
            except PN532Error as e:
                err = e
            except OSError as e:  # the link itself failed (I2C NAK, closed socket...)
                err = PN532Error("io: %s" % e)
        raise err

    # -- commands --------------------------------------------------------------------------
    async def init(self):
        """Wake up, leave LowVbat (SAMConfiguration), read the firmware, bound the poll retries.

        Returns the firmware tuple (IC, Ver, Rev, Support).
        """
        await self._wakeup()
        await self.sam_configuration()
        fw = await self.firmware_version()
        await self.set_passive_retries(self.passive_retries)
        return fw

    async def firmware_version(self):
        r = await self.command(CMD_GETFIRMWAREVERSION)
        if len(r) < 4:
            raise PN532Error("short firmware reply")
        self.firmware = (r[0], r[1], r[2], r[3])
        return self.firmware

    async def sam_configuration(self, mode=1, timeout=0x14, irq=1):
        await self.command(CMD_SAMCONFIGURATION, bytes((mode, timeout, irq)))

    async def set_passive_retries(self, retries):
        """RFConfiguration MaxRetries: ATR 0xFF, PSL 0x01, passive activation `retries`."""
        await self.command(CMD_RFCONFIGURATION, bytes((0x05, 0xFF, 0x01, retries & 0xFF)))
        self.passive_retries = retries

    async def read_passive_target(self, timeout_ms=None):
        """One ISO14443A (106 kbps) poll: (uid, atqa, sak) or None when no card answered."""
        r = await self.command(CMD_INLISTPASSIVETARGET, timeout_ms=timeout_ms or
                               self.poll_timeout_ms, frame=self._poll_frame)
        if not r or r[0] == 0:
            return None
        # NbTg Tg SENS_RES(2) SEL_RES NFCIDLength NFCID [ATS]
        if len(r) < 6 or len(r) < 6 + r[5]:
            raise PN532Error("short target data")
        return r[6 : 6 + r[5]], (r[2] << 8) | r[3], r[4]

    async def release(self, tg=0):
        """InRelease (tg 0 = all targets): stop talking to the selected card."""
        await self.command(CMD_INRELEASE, bytes((tg,)))

    async def deselect(self, tg=0):
        await self.command(CMD_INDESELECT, bytes((tg,)))

    async def power_down(self, wakeup=0xB0):
        """PowerDown; WakeUpEnable 0xB0 = I2C | SPI | HSU. init() wakes it again."""
        await self.command(CMD_POWERDOWN, bytes((wakeup,)))

    async def in_data_exchange(self, data, tg=1, timeout_ms=None):
        """InDataExchange with target `tg`: returns (status, reply bytes); status 0 = OK."""
        r = await self.command(CMD_INDATAEXCHANGE, bytes((tg,)) + bytes(data), timeout_ms)
        if not r:
            raise PN532Error("empty InDataExchange reply")
        return r[0] & 0x3F, r[1:]

    async def mifare_auth(self, block, key, uid, key_b=False):
        """MIFARE Classic authentication of `block`'s sector; False when the card refused.

        Uses the last 4 UID bytes (what a 7-byte-UID Classic expects). After a refusal the card
        is halted: poll it again (read_passive_target) before the next try.
        """
        cmd = bytes((MIFARE_AUTH_B if key_b else MIFARE_AUTH_A, block))
        st, _ = await self.in_data_exchange(cmd + bytes(key) + bytes(uid[-4:]))
        return st == 0

    async def mifare_read(self, block):
        """16 bytes of an authenticated block, or None when the card refused."""
        st, d = await self.in_data_exchange(bytes((_MIFARE_READ, block)))
        if st or len(d) < 16:
            return None
        return d[:16]

    async def mifare_write(self, block, data):
        """Write 16 bytes to an authenticated block; True on success."""
        if len(data) != 16:
            raise ValueError("16 bytes")
        st, _ = await self.in_data_exchange(bytes((_MIFARE_WRITE, block)) + bytes(data))
        return st == 0

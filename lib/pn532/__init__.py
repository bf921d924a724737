"""Async PN532 NFC reader driver: one chip class, thin transports (hsu.py, i2c.py).

Every wait is an asyncio wait with a deadline, so a missing or wedged reader costs the loop
nothing but bounded timeouts. The link is any "ByteStream":
    async write(data); async read(n, timeout_ms) -> 1..n bytes or b''; reset_input()
"""
from micropython import const

from compat import ticks_ms, ticks_diff, ticks_add
from .frames import ACK, NACK, FrameParser, command as _frame

_MIFARE_AUTH_A = const(0x60)
_MIFARE_AUTH_B = const(0x61)

# PN532 command codes, parser event kinds (pn532/frames.py) and TFI (private: no RAM)
_CMD_GETFIRMWAREVERSION = const(0x02)
_CMD_SAMCONFIGURATION = const(0x14)
_CMD_POWERDOWN = const(0x16)
_CMD_RFCONFIGURATION = const(0x32)
_CMD_INDATAEXCHANGE = const(0x40)
_CMD_INDESELECT = const(0x44)
_CMD_INLISTPASSIVETARGET = const(0x4A)
_CMD_INRELEASE = const(0x52)
_EV_ACK = const(1)
_EV_NACK = const(2)
_EV_ERROR = const(3)
_EV_FRAME = const(4)
_EV_BADSUM = const(5)
_TFI_PN532 = const(0xD5)

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
        self._parser = FrameParser(copy=False)  # replies are read in place: polls allocate nothing
        # The poll loop sends this exact frame every time: build it once.
        self._poll_frame = _frame(_CMD_INLISTPASSIVETARGET, b"\x01\x00")
        self._felica_frame = None  # (read_felica_target's, built at its first use)

    # -- transport hooks -------------------------------------------------------------------
    async def _wakeup(self):
        """Wake the chip before init (HSU: 0x55 preamble); transports override."""

    # -- exchange --------------------------------------------------------------------------
    async def _exchange(self, code, frame, timeout_ms, rx, target=False):
        """Send `frame` (command `code`) until a try succeeds: frame -> ACK -> response.

        Returns the index in self._parser.buf of the reply data after D5 code+1 (it ends at
        self._parser.end); with target=True the parsed InListPassiveTarget reply instead (see
        read_passive_target, which returns this coroutine: one coroutine per poll). Raises
        PN532Timeout/PN532Error once `attempts` tries have failed.
        """
        p = self._parser
        err = None
        for i in range(self.attempts):
            if i:
                self.resends += 1
            try:
                self.stream.reset_input()
                p.reset()
                await self.stream.write(frame)
                nacks = -1  # -1 until the ACK, then NACKs sent for this reply
                deadline = ticks_add(ticks_ms(), self.ack_timeout_ms)
                while True:
                    ev = p.next_event()
                    if ev is None:  # read more, until the deadline
                        left = ticks_diff(deadline, ticks_ms())
                        if left <= 0:
                            if nacks < 0:
                                raise PN532Timeout("no ACK")
                            await self.stream.write(ACK)  # abort the command still running in the chip
                            raise PN532Timeout("no response")
                        n = p.space()
                        data = await self.stream.read(min(n, _ACK_RX if nacks < 0 else rx), left)
                        if data:
                            p.feed(data)
                    elif nacks < 0:
                        if ev == _EV_ACK:
                            nacks = 0
                            deadline = ticks_add(ticks_ms(), timeout_ms)
                        elif ev == _EV_NACK:
                            raise PN532Error("NACK")
                        elif ev == _EV_ERROR:
                            raise PN532Error("error frame")
                        # a stale response or a bad checksum before the ACK: not ours, skip it
                    elif ev == _EV_FRAME:
                        n = p.start
                        if p.end - n >= 2 and p.buf[n] == _TFI_PN532 and p.buf[n + 1] == code + 1:
                            break
                        # stale or foreign frame: skip it
                    elif ev == _EV_BADSUM:
                        if nacks >= _MAX_NACKS:
                            raise PN532Error("bad checksum")
                        nacks += 1
                        self.nacks += 1
                        await self.stream.write(NACK)  # the chip sends its last response again
                    elif ev == _EV_ERROR:
                        raise PN532Error("error frame")
            except PN532Error as e:
                err = e
                continue
            except OSError as e:  # the link itself failed (I2C NAK, closed socket...)
                err = PN532Error("io: %s" % e)
                continue
            n += 2
            if not target:
                return n
            # NbTg Tg SENS_RES(2) SEL_RES NFCIDLength NFCID [ATS], read in place
            b = p.buf
            left = p.end - n
            if not left or b[n] == 0:
                return None
            if target == 2:  # FeliCa: NbTg Tg POL_RES-length 01 IDm(8) PMm(8) [system code(2)]
                if left < 12 or b[n + 3] != 1:
                    raise PN532Error("short target data")
                return bytes(b[n + 4 : n + 12]), None, None
            if left < 6 or left < 6 + b[n + 5]:
                raise PN532Error("short target data")
            return bytes(b[n + 6 : n + 6 + b[n + 5]]), (b[n + 2] << 8) | b[n + 3], b[n + 4]
        raise err

    async def command(self, code, params=b"", timeout_ms=None, rx=64, frame=None):
        """Run command `code` with `params`; returns its reply data (after D5 code+1).

        Raises PN532Timeout/PN532Error once `attempts` tries have failed.
        """
        if frame is None:
            frame = _frame(code, params)
        s = await self._exchange(code, frame,
                                 self.timeout_ms if timeout_ms is None else timeout_ms, rx)
        p = self._parser
        return bytes(p.buf[s : p.end])

    # -- commands --------------------------------------------------------------------------
    async def init(self):
        """Wake up, leave LowVbat (SAMConfiguration), read the firmware, bound the poll retries.

        Returns the firmware tuple (IC, Ver, Rev, Support).
        """
        await self._wakeup()
        await self.sam_configuration()
        await self.firmware_version()
        await self.set_passive_retries(self.passive_retries)
        return self.firmware

    async def firmware_version(self):
        r = await self.command(_CMD_GETFIRMWAREVERSION)
        if len(r) < 4:
            raise PN532Error("short firmware reply")
        self.firmware = (r[0], r[1], r[2], r[3])
        return self.firmware

    async def sam_configuration(self, mode=1, timeout=0x14, irq=1):
        """SAMConfiguration; the default: normal mode, timeout 0x14 (1 s), IRQ on."""
        await self.command(_CMD_SAMCONFIGURATION, bytes((mode, timeout, irq)))

    async def set_passive_retries(self, retries):
        """RFConfiguration MaxRetries: ATR 0xFF, PSL 0x01, passive activation `retries`."""
        await self.command(_CMD_RFCONFIGURATION, bytes((0x05, 0xFF, 0x01, retries & 0xFF)))
        self.passive_retries = retries

    async def release(self, tg=0):
        """InRelease (tg 0 = all targets): stop talking to the selected card."""
        await self.command(_CMD_INRELEASE, bytes((tg,)))

    async def deselect(self, tg=0):
        await self.command(_CMD_INDESELECT, bytes((tg,)))

    async def power_down(self, wakeup=0xB0):
        """PowerDown; WakeUpEnable 0xB0 = I2C | SPI | HSU. init() wakes it again."""
        await self.command(_CMD_POWERDOWN, bytes((wakeup,)))

    async def in_data_exchange(self, data, tg=1, timeout_ms=None):
        """InDataExchange with target `tg`: returns (status, reply bytes); status 0 = OK."""
        r = await self.command(_CMD_INDATAEXCHANGE, bytes((tg,)) + bytes(data), timeout_ms)
        if not r:
            raise PN532Error("empty InDataExchange reply")
        return r[0] & 0x3F, r[1:]

    async def mifare_auth(self, block, key, uid, key_b=False):
        """MIFARE Classic authentication of `block`'s sector; False when the card refused.

        Uses the last 4 UID bytes (what a 7-byte-UID Classic expects). After a refusal the card
        is halted: poll it again (read_passive_target) before the next try.
        """
        cmd = bytes((_MIFARE_AUTH_B if key_b else _MIFARE_AUTH_A, block))
        st, _ = await self.in_data_exchange(cmd + bytes(key) + bytes(uid[-4:]))
        return st == 0

    async def mifare_read(self, block):
        """16 bytes of an authenticated block, or None when the card refused."""
        st, d = await self.in_data_exchange(bytes((0x30, block)))  # MIFARE READ
        if st or len(d) < 16:
            return None
        return d[:16]

    async def mifare_write(self, block, data):
        """Write 16 bytes to an authenticated block; True on success."""
        if len(data) != 16:
            raise ValueError("16 bytes")
        st, _ = await self.in_data_exchange(bytes((0xA0, block)) + bytes(data))  # MIFARE WRITE
        return st == 0

    def read_felica_target(self, brty=1, timeout_ms=None):
        """One FeliCa poll at 212 kbit/s (BrTy 01) or 424 kbit/s (BrTy 02), payload 00 FF FF 01 00
        (polling, any system code, the system code requested, one time slot): (IDm, None, None) or
        None when no card answered. A coroutine; allocates nothing when no card answers (its frame
        is built once per rate)."""
        f = self._felica_frame
        if f is None or f[8] != brty:  # (00 00 FF LEN LCS D4 4A 01 BrTy ...)
            self._felica_frame = _frame(_CMD_INLISTPASSIVETARGET, bytes((1, brty, 0, 0xFF, 0xFF, 1, 0)))
        return self._exchange(_CMD_INLISTPASSIVETARGET, self._felica_frame,
                              timeout_ms or self.poll_timeout_ms, 64, 2)

    def read_passive_target(self, timeout_ms=None):
        """One ISO14443A (106 kbps) poll: (uid, atqa, sak) or None when no card answered.

        A coroutine (await it). Allocates nothing when no card answers: the reply is read in the
        parser's buffer.
        """
        return self._exchange(_CMD_INLISTPASSIVETARGET, self._poll_frame,
                              timeout_ms or self.poll_timeout_ms, 64, True)

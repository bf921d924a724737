"""PN532 driver + card watcher against the byte-level emulator (through EmulatorStream).

Runs under CPython (pytest) and MicroPython (tests/device/runner.py). No speed assertions:
waits are bounded with generous limits only so a hang fails instead of blocking the suite.
"""
import asyncio

from compat import ticks_ms, ticks_diff, sleep_ms
from pn532 import PN532Error, PN532Timeout, frames
from pn532.frames import ACK, NACK, ERROR_FRAME, FrameParser

EV_FRAME = 4  # FrameParser.next_event(): an information frame (frames.py)
from pn532.hsu import PN532_HSU
from pn532.i2c import PN532_I2C
from pn532.watch import CardWatcher
from pn532emu import PN532Emulator, classic_memory
from pn532emu.stream import EmulatorStream

UID4 = b"\xde\xad\xbe\xef"
UID7 = b"\x04\x11\x22\x33\x44\x55\x66"
FW = (0x32, 1, 6, 7)


def rig(**emu_kw):
    emu = PN532Emulator(**emu_kw)
    pn = PN532_HSU(EmulatorStream(emu), ack_timeout_ms=30, timeout_ms=80, poll_timeout_ms=150)
    return emu, pn


def run(coro, limit_s=20):
    return asyncio.run(asyncio.wait_for(coro, limit_s))


async def until(cond, limit_ms=4000):
    t0 = ticks_ms()
    while not cond():
        if ticks_diff(ticks_ms(), t0) > limit_ms:
            raise AssertionError("condition not met in time")
        await sleep_ms(2)


class DeadStream:
    """A link with nothing on the other end: writes vanish, reads time out."""

    def __init__(self):
        self.written = 0

    async def write(self, data):
        self.written += len(data)

    async def read(self, n, timeout_ms):
        await sleep_ms(timeout_ms)
        return b""

    def reset_input(self):
        pass


# -- driver ------------------------------------------------------------------------------------
def test_init_reads_firmware_and_sets_retries():
    async def main():
        emu, pn = rig()
        assert emu.asleep and emu.lowvbat
        fw = await pn.init()
        assert fw == FW and pn.firmware == FW
        assert not emu.asleep and not emu.lowvbat
        assert emu.retries == pn.passive_retries == 2
        assert emu.counters["wakeups"] == 1

    run(main())


def test_sleeping_chip_ignores_commands_until_woken():
    async def main():
        emu, pn = rig()
        try:
            await pn.firmware_version()  # no wake-up, no SAMConfiguration
            raise AssertionError("expected a timeout")
        except PN532Timeout:
            pass
        assert await pn.init() == FW

    run(main())


def test_read_4_and_7_byte_uids():
    async def main():
        emu, pn = rig()
        await pn.init()
        emu.place(UID4)
        assert await pn.read_passive_target() == (UID4, 0x0004, 0x08)
        emu.place(UID7)
        assert await pn.read_passive_target() == (UID7, 0x0044, 0x00)
        emu.place(UID7, atqa=0x0344, sak=0x20, ats=b"\x06\x75\x77\x81\x02\x80")
        assert await pn.read_passive_target() == (UID7, 0x0344, 0x20)

    run(main())


def test_no_card_returns_none():
    async def main():
        emu, pn = rig()
        await pn.init()
        r = await asyncio.wait_for(pn.read_passive_target(), 2)
        assert r is None
        assert emu.counters["aborts"] == 0  # the chip answered NbTg=0, no timeout involved
        assert pn.resends == 0

    run(main())


def test_card_placed_during_search_answers_at_once():
    async def main():
        emu, pn = rig(attempt_ms=100)  # 3 tries = a 300 ms search
        pn.poll_timeout_ms = 2000
        await pn.init()

        async def later():
            await sleep_ms(30)
            emu.place(UID4)

        t = asyncio.create_task(later())
        r = await pn.read_passive_target()
        await t
        assert r == (UID4, 0x0004, 0x08)

    run(main())


def test_mifare_classic_auth_read_write():
    async def main():
        key = b"\xa0\xa1\xa2\xa3\xa4\xa5"
        mem = classic_memory(UID4, keys={1: (key, b"\xb0" * 6)}, data={4: b"door 42"})
        emu, pn = rig()
        await pn.init()
        emu.place(UID4, memory=mem)
        card = await pn.read_passive_target()
        assert await pn.mifare_auth(4, b"\xff" * 6, card[0]) is False  # wrong key
        assert await pn.mifare_read(4) is None  # refused: card dropped to idle
        await pn.read_passive_target()  # select again
        assert await pn.mifare_auth(4, key, card[0]) is True
        assert (await pn.mifare_read(4))[:7] == b"door 42"
        assert await pn.mifare_write(5, b"0123456789abcdef") is True
        assert await pn.mifare_read(5) == b"0123456789abcdef"
        trailer = await pn.mifare_read(7)
        assert trailer[:6] == bytes(6) and trailer[10:] == b"\xb0" * 6  # key A reads as zeros
        assert await pn.mifare_read(8) is None  # other sector: not authenticated
        await pn.read_passive_target()
        assert await pn.mifare_auth(9, b"\xb0" * 6, card[0], key_b=False) is False
        await pn.read_passive_target()
        assert await pn.mifare_auth(9, b"\xff" * 6, card[0], key_b=True) is True
        await pn.release()

    run(main())


def test_mifare_7_byte_uid_uses_last_4_bytes():
    async def main():
        emu, pn = rig()
        await pn.init()
        emu.place(UID7, memory=classic_memory(UID7))
        card = await pn.read_passive_target()
        assert card[2] == 0x08
        assert await pn.mifare_auth(1, b"\xff" * 6, card[0]) is True
        assert (await pn.mifare_read(0))[:7] == UID7

    run(main())


def test_recovers_from_corrupted_checksum():
    async def main():
        emu, pn = rig()
        await pn.init()
        emu.place(UID4)
        emu.corrupt_next()
        assert await pn.read_passive_target() == (UID4, 0x0004, 0x08)
        assert pn.nacks == 1 and emu.counters["nacks_in"] == 1
        assert await pn.read_passive_target() == (UID4, 0x0004, 0x08)

    run(main())


def test_recovers_from_dropped_response():
    async def main():
        emu, pn = rig()
        await pn.init()
        emu.place(UID7)
        emu.drop_next()
        assert await pn.read_passive_target() == (UID7, 0x0044, 0x00)
        assert pn.resends == 1 and emu.counters["dropped"] == 1
        emu.drop_next()
        assert await pn.firmware_version() == FW

    run(main())


def test_recovers_from_garbage_and_lost_sync():
    async def main():
        emu, pn = rig()
        await pn.init()
        emu.place(UID4)
        emu.inject(b"\x13\x37\x00\xff\x00")  # stale bytes before the command
        assert await pn.read_passive_target() == (UID4, 0x0004, 0x08)
        emu.garble_next(b"\x55\xaa\x00\xff\x01\x02")  # noise between ACK and reply
        assert await pn.read_passive_target() == (UID4, 0x0004, 0x08)
        emu.garble_next(b"\x00\x00\xff\x09\xf7\xd5\x4b")  # a plausible header, cut short
        assert await pn.read_passive_target() == (UID4, 0x0004, 0x08)
        emu.garble_next(ERROR_FRAME)  # the chip says "error": the driver tries again
        assert await pn.read_passive_target() == (UID4, 0x0004, 0x08)
        assert pn.resends >= 1
        emu.remove()
        assert await pn.read_passive_target() is None

    run(main())


def test_gives_up_with_driver_error_when_faults_persist():
    async def main():
        emu, pn = rig()
        await pn.init()
        emu.place(UID4)
        emu.drop_next(pn.attempts)
        try:
            await pn.read_passive_target()
            raise AssertionError("expected PN532Error")
        except PN532Error as e:
            assert isinstance(e, PN532Timeout)
        assert await pn.read_passive_target() == (UID4, 0x0004, 0x08)

    run(main())


def test_absent_reader_times_out_quickly():
    async def main():
        pn = PN532_HSU(DeadStream(), ack_timeout_ms=20, attempts=2)
        try:
            await pn.init()
            raise AssertionError("expected PN532Timeout")
        except PN532Timeout:
            pass

    run(main())


# -- watcher -----------------------------------------------------------------------------------
def watcher_rig(**kw):
    emu, pn = rig()
    seen = []
    gone = []
    opts = {"interval_ms": 2, "miss_polls": 3, "backoff_ms": 20, "max_backoff_ms": 80}
    opts.update(kw)
    w = CardWatcher(pn, lambda uid, atqa, sak: seen.append(uid), on_remove=gone.append, **opts)
    return emu, pn, w, seen, gone


def test_watcher_held_card_is_one_event_and_re_presented_card_another():
    async def main():
        emu, pn, w, seen, gone = watcher_rig()
        task = asyncio.create_task(w.run())
        await until(lambda: w.status == "ok")
        assert w.firmware == FW
        emu.place(UID4)
        await until(lambda: len(seen) == 1)
        p0 = w.polls
        await until(lambda: w.polls >= p0 + 30)  # held for many polls
        assert seen == [UID4]
        emu.remove()
        await until(lambda: w.uid is None)
        assert gone == [UID4]
        emu.place(UID4)
        await until(lambda: len(seen) == 2)
        emu.place(UID7)  # a different card replaces it: new event at once
        await until(lambda: len(seen) == 3)
        assert seen == [UID4, UID4, UID7]
        w.stop()
        await task
        assert w.status == "stopped" and w.cards == 3

    run(main())


def test_watcher_debounces_short_gaps():
    async def main():
        emu, pn, w, seen, gone = watcher_rig(miss_polls=8)
        task = asyncio.create_task(w.run())
        emu.place(UID7)
        await until(lambda: len(seen) == 1)
        emu.remove()
        p0 = w.polls
        await until(lambda: w.polls >= p0 + 2)  # missed twice, fewer than miss_polls
        emu.place(UID7)
        p1 = w.polls
        await until(lambda: w.polls >= p1 + 10)
        assert seen == [UID7] and gone == []
        w.stop()
        await task

    run(main())


def test_watcher_debounce_by_time():
    async def main():
        emu, pn, w, seen, gone = watcher_rig(miss_polls=1, miss_ms=150, interval_ms=5)
        task = asyncio.create_task(w.run())
        emu.place(UID4)
        await until(lambda: len(seen) == 1)
        emu.remove()
        t0 = ticks_ms()
        await until(lambda: w.uid is None)
        assert ticks_diff(ticks_ms(), t0) >= 140  # not before miss_ms
        w.stop()
        await task

    run(main())


def test_watcher_survives_faults_without_duplicate_events():
    async def main():
        emu, pn, w, seen, gone = watcher_rig()
        task = asyncio.create_task(w.run())
        emu.place(UID4)
        await until(lambda: len(seen) == 1)
        emu.corrupt_next()
        await until(lambda: emu.counters["corrupted"] == 1)
        emu.drop_next()
        await until(lambda: emu.counters["dropped"] == 1)
        emu.garble_next(b"\x00\x00\xff\x05\xfb\xd5\x4b\x01")
        p0 = w.polls
        await until(lambda: w.polls >= p0 + 10)
        assert seen == [UID4]
        emu.remove()
        await until(lambda: w.uid is None)
        emu.drop_next()
        emu.place(UID7)
        await until(lambda: len(seen) == 2)
        assert seen == [UID4, UID7] and w.status == "ok"
        w.stop()
        await task

    run(main())


def test_watcher_reinitialises_after_reader_power_loss():
    async def main():
        emu, pn, w, seen, gone = watcher_rig(fail_limit=2)
        task = asyncio.create_task(w.run())
        emu.place(UID4)
        await until(lambda: len(seen) == 1)
        emu.connected = False  # unplugged
        await until(lambda: w.reinits >= 2)
        assert w.status in ("error", "reinit") and w.errors >= 2 and w.last_error
        emu.power_on()  # plugged back: asleep, LowVbat, default retries
        emu.connected = True
        await until(lambda: w.status == "ok")
        assert emu.retries == 2  # re-initialised, not just polling
        p0 = w.polls
        await until(lambda: w.polls >= p0 + 5)
        assert seen == [UID4]  # the card never left: still one event
        emu.remove()
        await until(lambda: w.uid is None)
        emu.place(UID7)
        await until(lambda: len(seen) == 2)
        st = w.state()
        assert st["status"] == "ok" and st["reinits"] >= 2 and st["firmware"] == FW
        w.stop()
        await task

    run(main())


def test_watcher_with_absent_reader_keeps_loop_running():
    async def main():
        pn = PN532_HSU(DeadStream(), ack_timeout_ms=20, attempts=2)
        w = CardWatcher(pn, lambda *a: None, backoff_ms=10, max_backoff_ms=40)
        ticks = [0]

        async def other():
            while True:
                ticks[0] += 1
                await sleep_ms(1)

        t_other = asyncio.create_task(other())
        task = w.start()
        await until(lambda: w.errors >= 3)
        assert w.status in ("error", "reinit", "init")
        assert w.reinits >= 2 and "no ACK" in w.last_error
        n0 = ticks[0]
        await sleep_ms(30)
        assert ticks[0] > n0  # the other task kept running meanwhile
        w.stop()
        await task
        t_other.cancel()
        assert w.status == "stopped"

    run(main())


def test_watcher_callback_exception_does_not_kill_it():
    async def main():
        emu, pn = rig()
        calls = []

        def bad(uid, atqa, sak):
            calls.append(uid)
            raise ValueError("app bug")

        w = CardWatcher(pn, bad, interval_ms=2)
        task = w.start()
        emu.place(UID4)
        await until(lambda: len(calls) == 1)
        emu.place(UID7)
        await until(lambda: len(calls) == 2)
        w.stop()
        await task

    run(main())


def test_watcher_survives_no_heap_and_retries_the_card():
    """MemoryError (or wait_for's CancelledError) in a poll is a failed poll, never the end of
    the task; in on_card the card is presented again."""
    async def main():
        emu, pn = rig()
        calls = []
        fail = [2]  # on_card runs out of heap twice, then decides

        def decide(uid, atqa, sak):
            calls.append(uid)
            if fail[0]:
                fail[0] -= 1
                raise MemoryError()

        real = pn.read_passive_target
        polls = [0]

        async def flaky():
            polls[0] += 1
            if polls[0] % 3 == 0:
                raise MemoryError()
            if polls[0] % 7 == 0:  # what asyncio.wait_for raises when its helper task got no heap
                raise asyncio.CancelledError()
            return await real()

        pn.read_passive_target = flaky
        w = CardWatcher(pn, decide, interval_ms=2, fail_limit=50)
        task = w.start()
        emu.place(UID4)
        await until(lambda: len(calls) == 3)
        p0 = w.polls
        await until(lambda: w.polls >= p0 + 10)  # held: decided once, not again
        assert calls == [UID4, UID4, UID4] and w.cards == 1
        assert w.no_heap >= 3 and w.state()["no_heap"] == w.no_heap
        emu.place(UID7)
        await until(lambda: len(calls) == 4)
        assert calls[-1] == UID7 and w.status in ("ok", "error")
        w.stop()
        await task

    run(main())


# -- I2C transport -----------------------------------------------------------------------------
class EmuI2C:
    """A machine.I2C stand-in wired to the emulator: status byte first, one read = one chunk."""

    def __init__(self, emu, addr=0x24):
        self.emu = emu
        self.addr = addr
        self.status_reads = 0

    def writeto(self, addr, data):
        if addr != self.addr:
            raise OSError(19)
        self.emu.feed(bytes(data))

    def readfrom_into(self, addr, buf):
        if addr != self.addr:
            raise OSError(19)
        ready = self.emu.available() > 0
        buf[0] = 1 if ready else 0
        if len(buf) == 1:
            self.status_reads += 1
            return
        data = self.emu.read(len(buf) - 1) if ready else b""
        for i in range(1, len(buf)):
            buf[i] = data[i - 1] if i - 1 < len(data) else 0


def test_i2c_transport():
    async def main():
        emu = PN532Emulator(asleep=False, attempt_ms=20)  # I2C: no HSU wake-up needed
        bus = EmuI2C(emu)
        pn = PN532_I2C(bus, ack_timeout_ms=30, timeout_ms=80, poll_timeout_ms=200)
        assert await pn.init() == FW
        assert await pn.read_passive_target() is None
        assert bus.status_reads > 1  # the search was waited for by polling the status
        emu.place(UID7)
        assert await pn.read_passive_target() == (UID7, 0x0044, 0x00)
        emu.corrupt_next()
        assert await pn.read_passive_target() == (UID7, 0x0044, 0x00)

    run(main())


# -- the emulator alone, on a fake clock (deterministic timing model) ---------------------------


class FakeClock:
    def __init__(self):
        self.t = 1000

    def __call__(self):
        return self.t


def replies(emu):
    """Events in the emulator's output: 'ACK', 'ERR' or the frame data."""
    p = FrameParser()
    p.feed(emu.read())
    out = []
    while True:
        ev = p.next_event()
        if ev is None:
            return out
        out.append(p.data if ev == EV_FRAME else {1: "ACK", 2: "NACK", 3: "ERR", 5: "BAD"}[ev])


def awake_emu(**kw):
    clk = FakeClock()
    emu = PN532Emulator(clock=clk, **kw)
    emu.feed(b"\x55\x55\x00\x00\x00" + frames.command(0x14, b"\x01\x14\x01"))
    assert replies(emu) == ["ACK", b"\xd5\x15"]
    return clk, emu


def test_emulator_search_timing_model():
    clk, emu = awake_emu(attempt_ms=5, select_ms=3)
    emu.feed(frames.command(0x32, b"\x05\xff\x01\x02"))  # 2 retries = 3 tries
    assert replies(emu) == ["ACK", b"\xd5\x33"]
    emu.feed(frames.command(0x4A, b"\x01\x00"))
    assert replies(emu) == ["ACK"]
    assert emu.due_in() == 15
    clk.t += 14
    assert emu.available() == 0 and emu.due_in() == 1
    clk.t += 1
    assert replies(emu) == [b"\xd5\x4b\x00"]
    assert emu.due_in() is None
    # a card placed during the search is answered select_ms later
    emu.feed(frames.command(0x4A, b"\x01\x00"))
    clk.t += 10
    emu.place(UID4)
    assert replies(emu) == ["ACK"] and emu.due_in() == 3
    clk.t += 3
    assert replies(emu) == [b"\xd5\x4b\x01\x01\x00\x04\x08\x04" + UID4]


def test_emulator_default_retries_search_forever_until_aborted():
    clk, emu = awake_emu()
    emu.feed(frames.command(0x4A, b"\x01\x00"))
    clk.t += 100000
    assert replies(emu) == ["ACK"] and emu.due_in() is None
    emu.feed(ACK)  # host abort
    assert emu.counters["aborts"] == 1
    emu.place(UID7)
    clk.t += 10
    assert replies(emu) == []


def test_emulator_nack_error_frames_and_faults():
    clk, emu = awake_emu()
    notified = []
    emu.notify = lambda: notified.append(1)
    fw = b"\xd5\x03\x32\x01\x06\x07"
    emu.feed(frames.command(0x02))
    assert replies(emu) == ["ACK", fw] and notified
    emu.feed(NACK)
    assert replies(emu) == [fw]
    bad = bytearray(frames.command(0x02))
    bad[-2] ^= 1
    emu.feed(bad)
    assert replies(emu) == ["ERR"]
    emu.feed(frames.command(0x7E))  # not implemented here
    assert replies(emu) == ["ACK", "ERR"]
    emu.feed(frames.encode(b"\xd5\x02"))  # wrong TFI
    assert replies(emu) == ["ERR"]
    emu.corrupt_next()
    emu.feed(frames.command(0x02))
    assert replies(emu) == ["ACK", "BAD"]
    emu.feed(NACK)
    assert replies(emu) == [fw]
    emu.drop_next()
    emu.feed(frames.command(0x02))
    assert replies(emu) == ["ACK"]
    emu.inject(b"\x01\x02")
    assert emu.read() == b"\x01\x02"
    emu.connected = False
    emu.feed(frames.command(0x02))
    assert emu.available() == 0
    c = emu.counters
    assert c["corrupted"] == 1 and c["dropped"] == 1 and c["nacks_in"] == 2
    assert c["errors_out"] == 3 and c["garbage_out"] == 2


def test_emulator_power_modes():
    clk = FakeClock()
    emu = PN532Emulator(clock=clk)
    emu.feed(frames.command(0x02))  # asleep: no 0x55 yet
    assert emu.available() == 0
    emu.feed(b"\x55" + frames.command(0x02))  # awake, but LowVbat: only SAMConfiguration
    assert emu.available() == 0 and emu.counters["ignored"] == 1
    emu.feed(frames.command(0x14, b"\x01\x14\x01") + frames.command(0x02))
    assert replies(emu) == ["ACK", b"\xd5\x15", "ACK", b"\xd5\x03\x32\x01\x06\x07"]
    emu.feed(frames.command(0x16, b"\x10"))  # PowerDown
    assert replies(emu) == ["ACK", b"\xd5\x17\x00"] and emu.asleep
    emu.feed(frames.command(0x02))
    assert emu.available() == 0
    emu.feed(b"\x55\x00\x00" + frames.command(0x02))
    assert replies(emu) == ["ACK", b"\xd5\x03\x32\x01\x06\x07"]

"""The PN532 emulator speaks the real protocol: an independent client (Adafruit's
CircuitPython PN532 driver over pyserial on a pty) and our own driver (over the same pty, and
raw frames over TCP) talk to it through doorctl.pn532_bridge.
"""
import asyncio
import socket
import time

import pytest
import serial

from adafruit_pn532.uart import PN532_UART

from doorctl.pn532_bridge import PN532Bridge
from pn532 import frames
from pn532.hsu import PN532_HSU
from pn532.watch import CardWatcher
from pn532emu import classic_memory

UID4 = b"\xde\xad\xbe\xef"
UID7 = b"\x04\x11\x22\x33\x44\x55\x66"


@pytest.fixture
def pty_bridge():
    # select_ms=0: a card placed during a search is answered (and flushed to the pty) before
    # place() returns, so the late answer cannot race the client's next reset_input_buffer.
    br = PN532Bridge(select_ms=0)
    path = br.serve_pty()
    ser = serial.Serial(path, 115200, timeout=0.05)
    yield br, ser
    ser.close()
    br.close()


def test_adafruit_reads_firmware_and_uids(pty_bridge):
    br, ser = pty_bridge
    pn = PN532_UART(ser)  # wakes the chip (55 55 00..) and sends SAMConfiguration
    assert pn.firmware_version == (0x32, 1, 6, 7)
    assert not br.emulator.lowvbat

    br.place(UID4)
    assert bytes(pn.read_passive_target(timeout=0.5)) == UID4
    br.place(UID7)
    assert bytes(pn.read_passive_target(timeout=0.5)) == UID7

    br.remove()
    # Adafruit leaves MxRtyPassiveActivation at 0xFF: the chip searches until its timeout
    assert pn.read_passive_target(timeout=0.2) is None
    br.place(UID4)  # answers the still-running search; the client discards that answer
    time.sleep(0.02)
    assert bytes(pn.read_passive_target(timeout=0.5)) == UID4


def test_adafruit_mifare_classic(pty_bridge):
    br, ser = pty_bridge
    pn = PN532_UART(ser)
    br.place(UID4, memory=classic_memory(UID4, data={4: b"hello adafruit"}))
    uid = pn.read_passive_target(timeout=0.5)
    assert pn.mifare_classic_authenticate_block(uid, 4, 0x60, b"\xff" * 6)
    assert bytes(pn.mifare_classic_read_block(4))[:14] == b"hello adafruit"


class SerialStream:
    """ByteStream over a pyserial port, for asyncio code on the host (polls in_waiting)."""

    def __init__(self, ser):
        self.ser = ser

    async def write(self, data):
        self.ser.write(data)

    async def read(self, n, timeout_ms):
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            k = self.ser.in_waiting
            if k:
                return self.ser.read(min(k, n))
            if time.monotonic() >= deadline:
                return b""
            await asyncio.sleep(0.002)

    def reset_input(self):
        self.ser.reset_input_buffer()


def test_our_driver_over_pty(pty_bridge):
    br, ser = pty_bridge

    async def main():
        pn = PN532_HSU(SerialStream(ser))
        assert await pn.init() == (0x32, 1, 6, 7)
        assert await pn.read_passive_target() is None
        br.place(UID7)
        assert await pn.read_passive_target() == (UID7, 0x0044, 0x00)
        br.call("corrupt_next")
        assert await pn.read_passive_target() == (UID7, 0x0044, 0x00)
        assert pn.nacks == 1

        seen = []
        w = CardWatcher(pn, lambda uid, atqa, sak: seen.append(uid), interval_ms=5)
        task = w.start()
        t0 = time.monotonic()
        while len(seen) < 1 or w.polls < 10:
            assert time.monotonic() - t0 < 10
            await asyncio.sleep(0.01)
        br.remove()
        while w.uid is not None:
            assert time.monotonic() - t0 < 10
            await asyncio.sleep(0.01)
        br.place(UID4)
        while len(seen) < 2:
            assert time.monotonic() - t0 < 10
            await asyncio.sleep(0.01)
        w.stop()
        await task
        assert seen == [UID7, UID4]

    asyncio.run(asyncio.wait_for(main(), 20))


def _recv_until(sock, n, limit=2.0):
    buf = b""
    sock.settimeout(limit)
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def test_tcp_raw_frames():
    with PN532Bridge(select_ms=0) as br:
        port = br.serve_tcp()
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"\x55\x55" + bytes(14) + bytes(frames.command(0x14, b"\x01\x14\x01")))
            assert _recv_until(s, 6 + 9) == frames.ACK + bytes(frames.encode(b"\xd5\x15"))
            s.sendall(bytes(frames.command(0x02)))
            fw = bytes(frames.encode(b"\xd5\x03\x32\x01\x06\x07"))
            assert _recv_until(s, 6 + len(fw)) == frames.ACK + fw
            s.sendall(frames.NACK)  # ask again: the same response comes back
            assert _recv_until(s, len(fw)) == fw
            br.place(UID4)
            s.sendall(bytes(frames.command(0x4A, b"\x01\x00")))
            reply = bytes(frames.encode(b"\xd5\x4b\x01\x01\x00\x04\x08\x04" + UID4))
            assert _recv_until(s, 6 + len(reply)) == frames.ACK + reply
        # one client at a time: a second client is served after the first leaves
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(bytes(frames.command(0x02)))
            assert _recv_until(s, 6 + len(fw)) == frames.ACK + fw

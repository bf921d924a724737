"""MIFARE Classic: the emulator's keys and access bits through our driver, and the door's card
code reader (doorapp/mifare.py) on the emulated card.

Runs under CPython (pytest) and MicroPython (tests/device/runner.py).
"""
import asyncio

from pn532.hsu import PN532_HSU
from pn532emu import PN532Emulator
from pn532emu.mifare import TRANSPORT_ACCESS, access_bits, classic_memory, conditions
from pn532emu.stream import EmulatorStream

UID4 = b"\xde\xad\xbe\xef"
UID7 = b"\x04\x11\x22\x33\x44\x55\x66"
KA = b"\xa0\xa1\xa2\xa3\xa4\xa5"
KB = b"\xb0\xb1\xb2\xb3\xb4\xb5"
FF = b"\xff" * 6
SECURE = b"\x78\x77\x88\x69"  # data: read A|B, write B; trailer: keys and bits written with B


def rig():
    emu = PN532Emulator()
    pn = PN532_HSU(EmulatorStream(emu), ack_timeout_ms=30, timeout_ms=80, poll_timeout_ms=150)
    return emu, pn


def run(coro, limit_s=20):
    return asyncio.run(asyncio.wait_for(coro, limit_s))


def test_access_bits_encode_and_decode():
    assert access_bits((0, 0, 0, 1)) == TRANSPORT_ACCESS[:3]
    assert access_bits((4, 4, 4, 3)) == SECURE[:3]
    assert conditions(b"\x78\x77\x88") == (4, 4, 4, 3)
    assert conditions(b"\xff\x07\x80") == (0, 0, 0, 1)
    assert conditions(b"\xff\x07\x81") is None  # an inverted copy disagrees
    for c in range(8):
        assert conditions(access_bits((c, 7 - c, c, 7 - c))) == (c, 7 - c, c, 7 - c)


def test_right_key_reads_wrong_key_is_the_auth_status():
    async def main():
        emu, pn = rig()
        await pn.init()
        mem = classic_memory(UID4, keys={1: (KA, KB)}, access={1: SECURE}, data={4: b"\x00\x00\x30\x39"})
        emu.place(UID4, memory=mem)
        uid = (await pn.read_passive_target())[0]
        st, _ = await pn.in_data_exchange(b"\x60\x04" + FF + uid)
        assert st == 0x14  # MIFARE authentication error: the PN532's status for a wrong key
        await pn.read_passive_target()
        st, _ = await pn.in_data_exchange(b"\x61\x04" + KA + uid)  # key A given as key B
        assert st == 0x14
        await pn.read_passive_target()
        assert await pn.mifare_auth(4, KA, uid) is True
        assert (await pn.mifare_read(4))[:4] == b"\x00\x00\x30\x39"
        # key A may read but not write this sector (access bits 78 77 88): the card NAKs, the
        # PN532 reports 0x13 and the card is idle
        st, _ = await pn.in_data_exchange(b"\xa0\x05" + bytes(16))
        assert st == 0x13
        await pn.read_passive_target()
        assert await pn.mifare_auth(5, KB, uid, key_b=True) is True
        assert await pn.mifare_write(5, b"written by key B") is True
        assert await pn.mifare_read(5) == b"written by key B"
        t = await pn.mifare_read(7)  # trailer: key A never, key B not readable, bits readable
        assert t[:6] == bytes(6) and t[6:10] == SECURE and t[10:] == bytes(6)
        # another sector is not authenticated: NAK
        assert await pn.mifare_read(8) is None

    run(main())


def test_key_b_cannot_serve_for_data_while_readable():
    async def main():
        emu, pn = rig()
        await pn.init()
        emu.place(UID4, memory=classic_memory(UID4, data={4: b"data"}))  # transport: key B readable
        uid = (await pn.read_passive_target())[0]
        assert await pn.mifare_auth(4, FF, uid, key_b=True) is True
        assert await pn.mifare_read(4) is None
        await pn.read_passive_target()
        assert await pn.mifare_auth(4, FF, uid) is True
        assert (await pn.mifare_read(4))[:4] == b"data"
        t = await pn.mifare_read(7)
        assert t[6:10] == TRANSPORT_ACCESS and t[10:] == FF

    run(main())


def test_read_never_and_read_key_b_only():
    async def main():
        emu, pn = rig()
        await pn.init()
        acc = access_bits((7, 3, 0, 3))  # block 4 never, block 5 key B only, block 6 either
        emu.place(UID4, memory=classic_memory(UID4, keys={1: (KA, KB)}, access={1: acc},
                                              data={4: b"x", 5: b"y", 6: b"z"}))
        uid = (await pn.read_passive_target())[0]
        assert await pn.mifare_auth(4, KA, uid) is True
        assert (await pn.mifare_read(6))[:1] == b"z"
        assert await pn.mifare_read(5) is None
        await pn.read_passive_target()
        assert await pn.mifare_auth(4, KB, uid, key_b=True) is True
        assert (await pn.mifare_read(5))[:1] == b"y"
        assert await pn.mifare_read(4) is None

    run(main())


def test_trailer_write_sets_keys_and_access_bits():
    async def main():
        emu, pn = rig()
        await pn.init()
        emu.place(UID4, memory=classic_memory(UID4))
        uid = (await pn.read_passive_target())[0]
        assert await pn.mifare_auth(4, FF, uid) is True
        bad = KA + b"\x78\x77\x89\x69" + KB
        assert await pn.mifare_write(7, bad) is False  # inconsistent bits: refused
        await pn.read_passive_target()
        assert await pn.mifare_auth(4, FF, uid) is True
        assert await pn.mifare_write(4, b"\x00\x00\x00\x2a" + bytes(12)) is True
        assert await pn.mifare_write(7, KA + SECURE + KB) is True
        await pn.read_passive_target()
        assert await pn.mifare_auth(4, FF, uid) is False  # the transport key is gone
        await pn.read_passive_target()
        assert await pn.mifare_auth(4, KA, uid) is True
        assert (await pn.mifare_read(4))[:4] == b"\x00\x00\x00\x2a"
        # key A can no longer change the trailer (78 77 88: written with key B only)
        assert await pn.mifare_write(7, FF + TRANSPORT_ACCESS + FF) is False
        await pn.read_passive_target()
        assert await pn.mifare_auth(4, KA, uid) is True
        assert await pn.mifare_write(0, bytes(16)) is False  # block 0: manufacturer data

    run(main())


def test_described_card_and_7_byte_uid():
    async def main():
        emu, pn = rig()
        await pn.init()
        emu.place_mifare(UID7, {"sectors": {"2": {"key_a": KA.hex(), "key_b": KB.hex(), "access": "787788"}},
                                "blocks": {"9": "0000abcd"}})
        card = await pn.read_passive_target()
        assert card[2] == 0x08
        assert await pn.mifare_auth(9, KA, card[0]) is True
        assert (await pn.mifare_read(9))[:4] == b"\x00\x00\xab\xcd"
        for bad, word in (({"sectors": {"16": {}}}, "0-15"), ({"blocks": {"7": "00"}}, "trailer"),
                          ({"sectors": {"1": {"key_a": "abc"}}}, "key_a"), ({"x": 1}, "unknown"),
                          ({"sectors": {"1": {"access": "787789"}}}, "inverted")):
            try:
                emu.place_mifare(UID4, bad)
            except ValueError as e:
                assert word in str(e), (bad, e)
            else:
                raise AssertionError("accepted %r" % (bad,))

    run(main())

"""DESFire crypto, three implementations written apart, checked against each other and against
`cryptography`: the emulator's card (lib/pn532emu/desfire.py), the door's reader
(firmware/doorapp/desfire.py, on cryptolib) and the host's session (host_tools/doorctl/
desfire_host.py, on cryptography) - as issue #17 asks."""
import asyncio
import os

import pytest
from cryptography.hazmat.primitives import cmac as crypto_cmac
from cryptography.hazmat.primitives.ciphers import algorithms

from doorctl import desfire_host as H
from pn532emu import desfire as E

UID = bytes.fromhex("04112233445566")
KEY = bytes(range(0x10, 0x20))
AID = H.aid_bytes("F51230")


def emu_card(**over):
    d = {"aid": "F51230", "file": 2, "data": "0000303901020304", "key": KEY.hex(), "key_index": 1, "comm": "enc"}
    d.update(over)
    return E.card_from(UID, d)


def test_cmac_of_each_side_equals_cryptographys():
    for n in (0, 1, 15, 16, 17, 31, 32, 40):
        msg = os.urandom(n)
        c = crypto_cmac.CMAC(algorithms.AES(KEY))
        c.update(msg)
        want = c.finalize()
        assert H.cmac_iv("aes", KEY, bytes(16), msg) == want
        assert E.cmac(E.Block("aes", KEY), bytes(16), msg) == want
        from cryptolib import aes
        from doorapp import desfire as D

        e = aes(KEY, 1)
        k1, k2 = D.subkeys(e)
        assert bytes(D.cmac(e, k1, k2, bytearray(16), msg)) == want
        # chained from a session IV: the emulator and the door agree with the host's CBC
        iv = os.urandom(16)
        assert E.cmac(E.Block("aes", KEY), iv, msg) == H.cmac_iv("aes", KEY, iv, msg) \
            == bytes(D.cmac(e, k1, k2, bytearray(iv), msg))
    # 3DES CMAC (8-byte blocks, Rb 1B) of the emulator against the host's
    k3 = os.urandom(24)
    for n in (0, 7, 8, 9, 24):
        m = os.urandom(n)
        assert E.cmac(E.Block("3des", k3), bytes(8), m) == H.cmac_iv("3des", k3, bytes(8), m)


def test_crc32_of_each_side():
    from doorapp import desfire as D

    for data in (b"", b"123456789", os.urandom(37)):
        want = H.crc32(data)
        assert E.crc32(data) == want
        assert D.crc32(data).to_bytes(4, "little") == want
    assert H.crc32(b"123456789").hex() == "d9c60b34"  # CRC-32 check value CBF43926, not inverted


def test_an10922_vector_on_host_and_device():
    from doorapp import desfire as D

    key = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
    uid, aid, sysid = bytes.fromhex("04782E21801D80"), bytes.fromhex("3042F5"), bytes.fromhex("4E585020416275")
    want = bytes.fromhex("A8DD63A3B89D54B37CA802473FDA9175")
    assert H.diversify_aes(key, uid, aid, sysid) == want
    assert D.diversify(key, uid, aid, sysid) == want
    assert H.subkeys("aes", key) == (bytes.fromhex("FBC9F75C9413C041DFEE452D3F0706D1"),
                                     bytes.fromhex("F793EEB928278083BFDC8A5A7E0E0D25"))
    for n in range(1, 32):  # every length of M, both subkeys' paths
        m = os.urandom(n)
        assert H.diversify_aes(key, m, b"", b"") == D.diversify(key, m, b"", b""), n
    assert D.SYSTEM_ID == H.SYSTEM_ID


@pytest.mark.parametrize("kind, key", [("aes", KEY), ("3des", bytes(range(16))), ("3des", bytes(range(24))),
                                       ("des", bytes(range(8)))])
@pytest.mark.parametrize("comm", ["plain", "mac", "enc"])
def test_host_session_reads_the_emulators_card(kind, key, comm):
    card = emu_card(crypto=kind, key=key.hex(), comm=comm)
    s = H.Session(card.answer)
    s.select(AID)
    s.authenticate(1, key, kind)
    assert s.read(2, 0, 4, comm) == bytes.fromhex("00003039")
    assert s.read(2, 2, 6, comm) == bytes.fromhex("303901020304")  # the IV chains on
    with pytest.raises(H.DESFireError) as e:
        s.read(2, 6, 4, comm)  # past the end
    assert e.value.status == 0xBE


def test_emulator_statuses_and_tampering():
    card = emu_card(comm="mac", tamper="mac")
    s = H.Session(card.answer)
    with pytest.raises(H.DESFireError) as e:
        s.select(H.aid_bytes("F51231"))
    assert e.value.status == H.NO_APP
    s.select(AID)
    with pytest.raises(H.DESFireError) as e:
        s.authenticate(1, bytes(16))
    assert e.value.status == H.AUTH_ERROR
    s.select(AID)
    s.authenticate(1, KEY)
    with pytest.raises(H.DESFireError) as e:
        s.read(2, 0, 4, "mac")
    assert e.value.status == H.INTEGRITY and "CMAC" in str(e.value)
    card = emu_card(tamper="enc")
    s = H.Session(card.answer)
    s.select(AID)
    s.authenticate(1, KEY)
    with pytest.raises(H.DESFireError) as e:
        s.read(2, 0, 4, "enc")
    assert e.value.status == H.INTEGRITY and "CRC" in str(e.value)
    s = H.Session(emu_card().answer)
    s.select(AID)
    with pytest.raises(H.DESFireError) as e:
        s.read(2, 0, 4, "plain")  # not authenticated: the file's key is needed
    assert e.value.status == H.DENIED
    with pytest.raises(H.DESFireError) as e:
        s.read(9, 0, 4, "plain")
    assert e.value.status == H.NO_FILE
    s = H.Session(emu_card(crypto="3des", key="00" * 16).answer)
    s.select(AID)
    with pytest.raises(H.DESFireError) as e:
        s.authenticate(1, KEY)  # AES authentication of a 3DES application
    assert e.value.status == H.AUTH_ERROR


def test_encode_a_blank_card_on_the_host_then_the_door_reads_it():
    card = E.card_from(UID, {})
    s = H.Session(card.answer)
    s.select(b"\0\0\0")
    s.create_application(AID, 2)
    s.select(AID)
    s.authenticate(0, bytes(16))
    s.change_key(1, KEY, bytes(16))
    s.create_file(2, 32, "enc", 1)
    s.write(2, 0, b"\x00\x00\x30\x39", "enc")
    s.change_key(0, KEY, bytes(16))
    with pytest.raises(H.DESFireError):
        s.authenticate(0, bytes(16))  # the transport key is gone
    s.select(AID)
    s.authenticate(1, KEY)
    assert s.read(2, 0, 4, "enc") == b"\x00\x00\x30\x39"
    assert card.apps[0xF51230].files[2].data[:4] == b"\x00\x00\x30\x39"
    # the MACed and plain write forms
    s.select(AID)
    s.authenticate(0, KEY)
    s.create_file(3, 8, "mac", 1)
    s.write(3, 0, b"\x01\x02", "mac")
    s.select(AID)
    s.authenticate(1, KEY)
    assert s.read(3, 0, 2, "mac") == b"\x01\x02"


class HostCard:
    """A DESFire built on the host's code (cryptography), to check the door against it rather
    than against the emulator: what a PN532 would hand the door's reader."""

    def __init__(self, key, data, comm):
        self.key, self.data, self.comm = key, data, comm
        self.frames = []

    async def in_data_exchange(self, cmd):
        cmd = bytes(cmd)
        self.frames.append(cmd)
        if cmd[0] == 0x5A:
            return 0, b"\x00" if cmd[1:] == AID else b"\xa0"
        if cmd[0] == 0xAA:
            self.rndb = os.urandom(16)
            self.c = H.cbc("aes", self.key, bytes(16), self.rndb)
            return 0, b"\xaf" + self.c
        if cmd[0] == 0xAF:
            p = H.cbc("aes", self.key, self.c, cmd[1:], True)
            if p[16:] != self.rndb[1:] + self.rndb[:1]:
                return 0, b"\xae"
            rnda = p[:16]
            self.sk = H.session_key("aes", self.key, rnda, self.rndb)
            self.iv = bytes(16)
            return 0, b"\x00" + H.cbc("aes", self.key, cmd[-16:], rnda[1:] + rnda[:1])
        if cmd[0] == 0xBD:
            self.iv = H.cmac_iv("aes", self.sk, self.iv, cmd)
            off, n = int.from_bytes(cmd[2:5], "little"), int.from_bytes(cmd[5:8], "little")
            d = self.data[off:off + n]
            if self.comm == "enc":
                p = d + H.crc32(d + b"\x00")
                p += bytes(-len(p) % 16)
                return 0, b"\x00" + H.cbc("aes", self.sk, self.iv, p)
            return 0, b"\x00" + d + H.cmac_iv("aes", self.sk, self.iv, d + b"\x00")[:8]
        return 0, b"\x1c"


@pytest.mark.parametrize("comm", ["plain", "mac", "enc"])
def test_the_door_against_a_card_built_on_cryptography(comm):
    from doorapp import desfire as D

    class Door:
        cfg = {"card": {"enabled": True, "mifare": {"enabled": False},
                        "desfire": {"enabled": True, "aid": "F51230", "file": 2, "key_index": 1, "comm": comm, "crypto": "aes",
                                    "offset": 1, "length": 4, "diversify": True, "uid_fallback": False}}}
        secrets = {"desfire_key": KEY}
        card_format = "FULLH"
        out = []

        def decide(self, *a):
            self.out.append(a)

    class W:
        read_card = None

    from doorapp import cardkinds

    door = Door()
    w = W()
    cardkinds.follow(door, w)
    chip = HostCard(H.diversify_aes(KEY, UID, AID), b"\xff\x00\x00\x30\x39\xee", comm)
    asyncio.run(w.read_card(chip, UID, 0x0344, 0x20))
    assert door.out == [(1, "00003039", b"\x00\x00\x30\x39", 7)], door.out
    assert [f[0] for f in chip.frames] == [0x5A, 0xAA, 0xAF, 0xBD]


def test_crc16_of_each_side():
    for data in (b"", b"\x00\x00", b"123456789", os.urandom(21)):
        assert E.crc16(data) == H.crc16(data)
    assert H.crc16(b"123456789") == (0xBF05).to_bytes(2, "little")  # CRC-16/ISO-IEC-14443-3-A check value


@pytest.mark.parametrize("kind, key", [("des", bytes(range(8))), ("3des", bytes(range(16)))])
@pytest.mark.parametrize("comm", ["plain", "mac", "enc"])
def test_legacy_authentication_and_d40_messaging(kind, key, comm):
    """0A: the legacy DES/2K3DES authentication and D40 secure messaging (4-byte MAC, CRC16)."""
    card = emu_card(crypto=kind, key=key.hex(), comm=comm)
    s = H.Session(card.answer)
    s.select(AID)
    s.authenticate_legacy(1, key)
    assert s.read(2, 0, 4, comm) == bytes.fromhex("00003039")
    assert s.read(2, 1, 7, comm) == bytes.fromhex("00303901020304")
    s.select(AID)
    with pytest.raises(H.DESFireError) as e:
        s.authenticate_legacy(1, bytes(len(key)))
    assert e.value.status == H.AUTH_ERROR
    if comm != "plain":
        card = emu_card(crypto=kind, key=key.hex(), comm=comm, tamper=comm)
        s = H.Session(card.answer)
        s.select(AID)
        s.authenticate_legacy(1, key)
        with pytest.raises(H.DESFireError) as e:
            s.read(2, 0, 4, comm)
        assert e.value.status == H.INTEGRITY
    # an AES application refuses the legacy authentication
    s = H.Session(emu_card().answer)
    s.select(AID)
    with pytest.raises(H.DESFireError) as e:
        s.authenticate_legacy(1, bytes(8))
    assert e.value.status == H.AUTH_ERROR


class HostCard3DES:
    """A 3DES/DES application built on the host's code (cryptography): AuthenticateISO (1A),
    its session key (host session_key), 8-byte CMAC and CRC32 enciphered reads. The door's
    reader (lib/des.py underneath) must agree with it on every step to read the code."""

    def __init__(self, key, data, comm, tamper=None):
        self.key = key if len(key) != 8 else key * 2  # (the host takes DES as 2K3DES K1 = K2)
        self.data, self.comm, self.tamper = data, comm, tamper
        self.frames = []
        self.sk = None

    async def in_data_exchange(self, cmd):
        cmd = bytes(cmd)
        self.frames.append(cmd)
        n = 16 if len(self.key) == 24 else 8
        if cmd[0] == 0x5A:
            return 0, b"\x00"
        if cmd[0] == 0x1A:
            self.rndb = os.urandom(n)
            self.c = H.cbc("3des", self.key, bytes(8), self.rndb)
            return 0, b"\xaf" + self.c
        if cmd[0] == 0xAF:
            p = H.cbc("3des", self.key, self.c[-8:], cmd[1:], True)
            if p[n:] != self.rndb[1:] + self.rndb[:1]:
                return 0, b"\xae"
            rnda = p[:n]
            self.sk = H.session_key("3des", self.key, rnda, self.rndb)
            self.iv = bytes(8)
            return 0, b"\x00" + H.cbc("3des", self.key, cmd[-8:], rnda[1:] + rnda[:1])
        if cmd[0] == 0xBD:
            self.iv = H.cmac_iv("3des", self.sk, self.iv, cmd)
            off, ln = int.from_bytes(cmd[2:5], "little"), int.from_bytes(cmd[5:8], "little")
            d = self.data[off:off + ln]
            if self.comm == "enc":
                p = d + H.crc32(d + b"\x00")
                p += bytes(-len(p) % 8)
                r = bytearray(H.cbc("3des", self.sk, self.iv, p))
            else:
                r = bytearray(d + H.cmac_iv("3des", self.sk, self.iv, d + b"\x00")[:8])
            if self.tamper:
                r[-1] ^= 1
            return 0, b"\x00" + bytes(r)
        return 0, b"\x1c"


def _door3(kind, key, comm):
    class Door:
        cfg = {"card": {"enabled": True, "mifare": {"enabled": False},
                        "desfire": {"enabled": True, "aid": "F51230", "file": 2, "key_index": 1, "comm": comm,
                                    "crypto": kind, "offset": 1, "length": 4, "diversify": False,
                                    "uid_fallback": False}}}
        secrets = {"desfire_key": key}
        card_format = "FULLH"
        out = []

        def decide(self, *a):
            self.out.append(a)

        def deny(self):
            pass

        def show(self, text):
            pass

        def record(self, kind, granted, reason, *a):
            self.out.append(("denied", reason))

    return Door()


@pytest.mark.parametrize("kind, n", [("3des", 16), ("3des", 24), ("des", 8), ("des", 16)])
@pytest.mark.parametrize("comm", ["plain", "mac", "enc"])
def test_the_doors_3des_session_against_the_hosts(kind, n, comm):
    from doorapp import cardkinds

    key = os.urandom(n) if not (kind == "des" and n == 16) else os.urandom(8) * 2
    for tamper, want in ((None, [(1, "00003039", b"\x00\x00\x30\x39", 7)]), (True, [("denied", 43)])):
        door = _door3(kind, key, comm)

        class W:
            read_card = None

        w = W()
        cardkinds.follow(door, w)
        chip = HostCard3DES(key, b"\xff\x00\x00\x30\x39\xee", comm, tamper)
        asyncio.run(w.read_card(chip, UID, 0x0344, 0x20))
        assert door.out == want, (tamper, door.out)
        assert [f[0] for f in chip.frames] == [0x5A, 0x1A, 0xAF, 0xBD]
        assert len(chip.frames[2]) == 1 + (32 if n == 24 else 16)  # RndA || RndB', 16 or 32 bytes
    # another key than the card's: the card refuses the door's answer (AE): card_key_wrong
    door = _door3(kind, bytes(n), comm)

    class W:
        read_card = None

    w = W()
    cardkinds.follow(door, w)
    asyncio.run(w.read_card(HostCard3DES(key, b"\xff\x00\x00\x30\x39\xee", comm), UID, 0x0344, 0x20))
    assert door.out == [("denied", 40)], door.out  # another key: card_key_wrong

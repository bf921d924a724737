"""MIFARE DESFire: the door's reader (doorapp/desfire.py) against the emulator's card
(pn532emu/desfire.py) through our PN532 driver: the code in each communication mode, every
denial's reason, a card leaving mid-authentication, diversified keys, the frames per read; the
device's CMAC and AN10922 against published vectors.

Runs under CPython (pytest; cryptolib from host_tools/doorctl/_shims) and MicroPython.
"""
import asyncio

from carddoor import CardDoor, Watcher
from pn532 import PN532Error
from pn532.hsu import PN532_HSU
from pn532emu import PN532Emulator
from pn532emu.stream import EmulatorStream
from doorapp import cardkinds, desfire
from cryptolib import aes

UID = b"\x04\x11\x22\x33\x44\x55\x66"
KEY = bytes(range(0x10, 0x20))
CODE = b"\x00\x00\x30\x39"


class Door(CardDoor):
    """What doorapp/desfire.py uses of the door."""

    def __init__(self, **over):
        d = {"enabled": True, "aid": "F51230", "file": 2, "crypto": "aes", "key_index": 1, "comm": "enc",
             "offset": 0, "length": 4, "diversify": False, "uid_fallback": False}
        d.update(over)
        CardDoor.__init__(self, {"desfire": d, "mifare": {"enabled": False, "sector": 1, "block": 0, "key_type": "A",
                                                          "uid_fallback": False}}, {"desfire_key": KEY})


def rig():
    emu = PN532Emulator()
    pn = PN532_HSU(EmulatorStream(emu), ack_timeout_ms=30, timeout_ms=80, poll_timeout_ms=150, attempts=1)
    return emu, pn


def run(coro, limit_s=30):
    return asyncio.run(asyncio.wait_for(coro, limit_s))


def tap(emu, pn, door, desc, uid=UID):
    """Place the card, poll it, let the door read it: the door's outcome (or the exception)."""
    async def main():
        await pn.init()
        if desc is None:
            emu.place(uid)
        else:
            emu.place_desfire(uid, desc)
        card = await pn.read_passive_target()
        w = Watcher()
        cardkinds.follow(door, w)
        door.out = []
        try:
            await w.read_card(pn, *card)
        except PN532Error as e:
            return ("error", str(e))
        return door.out[0]

    return run(main())


def card(**over):
    d = {"aid": "F51230", "file": 2, "data": "000030390102", "key": KEY.hex(), "key_index": 1, "comm": "enc"}
    d.update(over)
    return d


def test_cmac_rfc4493_vectors():
    k = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    e = aes(k, 1)
    k1, k2 = desfire.subkeys(e)
    assert bytes(k1).hex() == "fbeed618357133667c85e08f7236a8de"
    assert bytes(k2).hex() == "f7ddac306ae266ccf90bc11ee46d513b"
    m = bytes.fromhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411")
    for n, want in ((0, "bb1d6929e95937287fa37d129b756746"), (16, "070a16b46b4d4144f79bdd9dd04a287c"),
                    (40, "dfa66747de9ae63030ca32611497c827")):
        assert bytes(desfire.cmac(e, k1, k2, bytearray(16), m[:n])).hex() == want, n


def test_an10922_aes128_vector():
    """AN10922 section 2.2.1's example: master key 00112233..EEFF, UID 04782E21801D80, AID 3042F5,
    system identifier 'NXP Abu' -> A8DD63A3B89D54B37CA802473FDA9175."""
    key = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
    k1, k2 = desfire.subkeys(aes(key, 1))
    assert bytes(k2).hex().upper() == "F793EEB928278083BFDC8A5A7E0E0D25"
    got = desfire.diversify(key, bytes.fromhex("04782E21801D80"), bytes.fromhex("3042F5"), b"NXP Abu")
    assert got.hex().upper() == "A8DD63A3B89D54B37CA802473FDA9175"
    # M of 31 bytes: 01 || M fills the 32 bytes, no padding, K1 (a different key than with one byte less)
    a = desfire.diversify(key, UID, b"\x01\x02\x03", b"x" * 21)
    b = desfire.diversify(key, UID, b"\x01\x02\x03", b"x" * 20)
    assert len(a) == 16 and a != b


def test_the_code_in_each_communication_mode():
    for comm in ("plain", "mac", "enc"):
        emu, pn = rig()
        out = tap(emu, pn, Door(comm=comm), card(comm=comm))
        assert out == ("code", "0000012345", CODE), (comm, out)
    emu, pn = rig()  # offset and length: 6 bytes at 0, or 4 at 2
    assert tap(emu, pn, Door(offset=2), card()) == ("code", "0809042178", b"\x30\x39\x01\x02")
    emu, pn = rig()
    assert tap(emu, pn, Door(length=6), card())[2] == b"\x00\x00\x30\x39\x01\x02"
    # the card takes ISO 7816 APDUs too (what Adafruit's driver may send): 91 status at the end
    df = emu.place_desfire(UID, card())
    assert df.answer(b"\x90\x5a\x00\x00\x03\x30\x12\xf5\x00") == b"\x91\x00"
    assert df.answer(b"\x90\x5a\x00\x00\x03\x31\x12\xf5\x00") == b"\x91\xa0"
    r = df.answer(b"\x90\x6a\x00\x00\x00")
    assert r == b"\x30\x12\xf5\x91\x00", r


def test_four_exchanges_per_read():
    emu, pn = rig()
    door = Door()

    async def main():
        await pn.init()
        emu.place_desfire(UID, card())
        c = await pn.read_passive_target()
        w = Watcher()
        cardkinds.follow(door, w)
        before = emu.counters["frames_in"]
        await w.read_card(pn, *c)
        return emu.counters["frames_in"] - before

    assert run(main()) == 4  # select, authenticate (2), read: the protocol's minimum
    assert door.out[0][0] == "code"


class Counting:
    """The emulator's ByteStream, counting the bytes each way on the UART."""

    def __init__(self, inner):
        self.inner = inner
        self.tx = self.rx = 0

    async def write(self, data):
        self.tx += len(data)
        await self.inner.write(data)

    async def read(self, n, timeout_ms):
        d = await self.inner.read(n, timeout_ms)
        self.rx += len(d)
        return d

    def reset_input(self):
        self.inner.reset_input()


def test_bytes_on_the_uart_per_read():
    """Per mode: the 4 command frames, 4 ACKs and 4 answers of a read; at 115200 baud (10 bits a
    byte) the UART alone takes bytes / 11.52 ms (docs/cards-desfire.md quotes these figures)."""
    want = {"enc": 203, "mac": 199, "plain": 199}
    for comm in ("plain", "mac", "enc"):
        emu = PN532Emulator()
        st = Counting(EmulatorStream(emu))
        pn = PN532_HSU(st, ack_timeout_ms=30, timeout_ms=80, poll_timeout_ms=150, attempts=1)
        door = Door(comm=comm)

        async def main():
            await pn.init()
            emu.place_desfire(UID, card(comm=comm))
            c = await pn.read_passive_target()
            w = Watcher()
            cardkinds.follow(door, w)
            st.tx = st.rx = 0
            await w.read_card(pn, *c)
            return st.tx + st.rx

        assert run(main()) == want[comm], comm
        assert door.out[0][0] == "code"


def test_denials_have_their_reasons():
    cases = (
        (card(key="00" * 16), {}, 40),  # the card holds another key
        (card(key_index=2), {}, 40),  # the door's key index reads nothing here (key 1 is zero)
        (card(data="00000000"), {}, 41),  # no code
        (card(data="ffffffff"), {}, 41),
        (card(data="0000"), {}, 41),  # the file is shorter than the code
        (card(tamper="mac", comm="mac"), {"comm": "mac"}, 43),  # the answer's CMAC is wrong
        (card(tamper="mac", comm="plain"), {"comm": "plain"}, 43),
        (card(tamper="enc"), {}, 43),  # a ciphertext byte flipped: the CRC fails
        (card(comm="mac"), {"comm": "enc"}, 43),  # the door expects ciphertext, the card MACs
        (card(aid="F51231"), {}, 44),  # no such application
        (card(file=3), {}, 44),  # no such file
    )
    for desc, over, reason in cases:
        emu, pn = rig()
        out = tap(emu, pn, Door(**over), desc)
        assert out == ("deny", reason, UID), (desc, over, out)
    emu, pn = rig()
    door = Door()
    door.secrets = {}  # no key provisioned
    assert tap(emu, pn, door, card()) == ("deny", 40, UID)


def test_cards_that_are_not_desfire():
    emu, pn = rig()
    assert tap(emu, pn, Door(), None, b"\x04\x50\x12\x34\x56\x78\x90") == ("deny", 45, b"\x04\x50\x12\x34\x56\x78\x90")
    emu, pn = rig()
    assert tap(emu, pn, Door(uid_fallback=True), None, b"\x04\x50\x12\x34\x56\x78\x90")[0] == "uid"
    # card.mifare on too: a MIFARE Classic goes to its reader, a DESFire stays with this one
    door = Door()
    door.cfg["card"]["mifare"].update(enabled=True, sector=1, block=0)
    door.secrets["mifare_key"] = b"\xa1\xb2\xc3\xd4\xe5\xf6"
    classic = {"sectors": {"1": {"key_a": "a1b2c3d4e5f6", "key_b": "a1b2c3d4e5f6", "access": "787788"}},
               "blocks": {"4": "000003e9"}}

    async def both():
        emu, pn = rig()
        await pn.init()
        w = Watcher()
        cardkinds.follow(door, w)
        emu.place_mifare(b"\xde\xad\xbe\xef", classic)
        await w.read_card(pn, *(await pn.read_passive_target()))
        emu.place_desfire(UID, card())
        await w.read_card(pn, *(await pn.read_passive_target()))
        emu.place(b"\x04\x50\x12\x34\x56\x78\x90")  # neither: MIFARE's answer (no UID fallback there)
        await w.read_card(pn, *(await pn.read_passive_target()))
        return door.out

    assert run(both()) == [("code", "0000001001", b"\x00\x00\x03\xe9"), ("code", "0000012345", CODE),
                           ("deny", 42, b"\x04\x50\x12\x34\x56\x78\x90")]
    emu, pn = rig()  # ISO 14443-4 but no DESFire (a phone, a bank card): an ISO error to the select

    async def phone():
        await pn.init()
        emu.place(b"\x08\x01\x02\x03", sak=0x20, ats=b"\x05\x78\x80\x70\x02")
        emu.card.memory = None
        c = await pn.read_passive_target()
        w = Watcher()
        d = Door()
        cardkinds.follow(d, w)
        try:
            await w.read_card(pn, *c)
        except PN532Error as e:
            return ("error", str(e))
        return d.out[0]

    assert run(phone()) == ("deny", 45, b"\x08\x01\x02\x03")  # it answers the select 6E 00


def test_a_card_leaving_mid_authentication_is_one_failure_and_the_reader_recovers():
    for n in (1, 2, 3):  # gone after the select, after the first / second authentication step
        emu, pn = rig()

        async def main():
            await pn.init()
            emu.place_desfire(UID, card(leave_after=n))
            c = await pn.read_passive_target()
            w = Watcher()
            d = Door()
            cardkinds.follow(d, w)
            try:
                await w.read_card(pn, *c)
            except PN532Error:
                pass
            else:
                raise AssertionError("no failure: %r" % d.out)
            assert d.out == []  # nothing decided, nothing logged: the watcher forgets the card
            assert await pn.read_passive_target() is None  # gone
            emu.place_desfire(UID, card())  # back on the reader
            c = await pn.read_passive_target()
            await w.read_card(pn, *c)
            return d.out

        assert run(main()) == [("code", "0000012345", CODE)], n


def test_diversified_keys():
    master = KEY
    aid = desfire.aid_bytes("F51230")
    assert aid == b"\x30\x12\xf5"
    own = desfire.diversify(master, UID, aid)
    emu, pn = rig()
    assert tap(emu, pn, Door(diversify=True), card(key=own.hex()))[0] == "code"
    emu, pn = rig()  # the master key itself on the card: refused, as another card's key would be
    assert tap(emu, pn, Door(diversify=True), card()) == ("deny", 40, UID)
    other = b"\x04\x11\x22\x33\x44\x55\x67"
    emu, pn = rig()  # one card's key opens for that card only
    assert tap(emu, pn, Door(diversify=True), card(key=own.hex()), other) == ("deny", 40, other)


def _emulator_has_des():
    """The emulator's card ciphers with `cryptography` (CPython); inside MicroPython it has AES
    only, and the door's 3DES is checked against it under CPython (and end to end in
    tests/test_sim_desfire.py, the door under MicroPython, the card in CPython)."""
    try:
        import cryptography  # noqa: F401
    except ImportError:
        return False
    return True


K2 = bytes(range(0x20, 0x30))  # 2K3DES
K3 = bytes(range(0x30, 0x48))  # 3K3DES
K1 = bytes(range(0x48, 0x50))  # DES


def test_3des_and_des_keys_read_the_code_in_each_mode():
    if not _emulator_has_des():
        return
    for kind, key in (("3des", K2), ("3des", K3), ("des", K1), ("des", K1 + K1)):
        ck = key[0:8] if kind == "des" else key  # (the door takes DES as 8 bytes or as 2K3DES K1 = K2)
        for comm in ("plain", "mac", "enc"):
            emu, pn = rig()
            door = Door(comm=comm, crypto=kind)
            door.secrets = {"desfire_key": key}
            out = tap(emu, pn, door, card(comm=comm, crypto=kind, key=ck.hex()))
            assert out == ("code", "0000012345", CODE), (kind, len(key), comm, out)
            door.cfg["card"]["desfire"]["length"] = 6  # the enciphered answer: two 8-byte blocks with its CRC
            emu, pn = rig()
            out = tap(emu, pn, door, card(comm=comm, crypto=kind, key=ck.hex()))
            assert out == ("code", "0000012345", b"\x00\x00\x30\x39\x01\x02"), (kind, len(key), comm, out)


def test_3des_denials():
    if not _emulator_has_des():
        return
    wrong = ("deny", 40, UID)  # card_key_wrong
    bad = ("deny", 43, UID)  # card_integrity
    for kind, key, other in (("3des", K2, K2[::-1]), ("3des", K3, K3[::-1]), ("des", K1, K1[::-1])):
        door = Door(comm="enc", crypto=kind)
        door.secrets = {"desfire_key": key}
        emu, pn = rig()
        assert tap(emu, pn, door, card(crypto=kind, key=other.hex())) == wrong, kind
        for comm in ("mac", "enc"):
            door.cfg["card"]["desfire"]["comm"] = comm
            emu, pn = rig()
            assert tap(emu, pn, door, card(crypto=kind, key=key.hex(), comm=comm, tamper=comm)) == bad, (kind, comm)
        emu, pn = rig()  # an AES application: the card refuses the 3DES authentication
        assert tap(emu, pn, door, card(comm="mac")) == wrong, kind
    # a key of the wrong size for the crypto (start-up refuses it; the reader too)
    door = Door(crypto="des")
    door.secrets = {"desfire_key": K3}
    emu, pn = rig()
    assert tap(emu, pn, door, card(crypto="3des", key=K3.hex())) == wrong
    door = Door(crypto="aes")
    door.secrets = {"desfire_key": K3}
    emu, pn = rig()
    assert tap(emu, pn, door, card(crypto="3des", key=K3.hex())) == wrong
    # an AES key on a 3DES application (AA refused) and the 3DES key of an AES one
    door = Door(crypto="aes")
    emu, pn = rig()
    assert tap(emu, pn, door, card(crypto="3des", key=K2.hex())) == wrong


def test_3des_four_exchanges_and_the_session_frames():
    if not _emulator_has_des():
        return
    emu, pn = rig()
    door = Door(crypto="3des", comm="mac")
    door.secrets = {"desfire_key": K3}
    df = emu.place_desfire(UID, card(crypto="3des", key=K3.hex(), comm="mac"))
    seen = []
    answer = df.answer

    def spy(cmd):
        seen.append(bytes(cmd)[0])
        return answer(cmd)

    df.answer = spy

    async def main():
        await pn.init()
        c = await pn.read_passive_target()
        w = Watcher()
        cardkinds.follow(door, w)
        await w.read_card(pn, *c)

    run(main())
    assert door.out == [("code", "0000012345", CODE)], door.out
    assert seen == [0x5A, 0x1A, 0xAF, 0xBD], seen


def test_3des_cmac_sp800_38b_vector():
    """NIST SP 800-38B appendix D.4 (three-key TDEA, messages of 0, 64, 160 and 256 bits): the
    device's 8-byte-block CMAC (Rb 1B; K2 used for the empty and the 20-byte message, K1 for
    the whole blocks)."""
    import des

    k = des.Key(bytes.fromhex("8aa83bf8cbda10620bc1bf19fbb6cd58bc313d4a371ca8b5"))
    k1, k2 = desfire.subkeys(k, 8)
    m = bytes.fromhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
    for n, want in ((0, "b7a688e122ffaf95"), (8, "8e8f293136283797"), (20, "743ddbe0ce2dc2ed"),
                    (32, "33e6b1092400eae5")):
        assert bytes(desfire.cmac(k, k1, k2, bytearray(8), m[:n])).hex() == want, n

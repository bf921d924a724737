"""MIFARE Plus SL3 crypto, three implementations written apart and checked against each other:
the emulator's card (lib/pn532emu/plus.py), the door's reader (firmware/doorapp/plus.py, on
cryptolib) and the host's session (host_tools/doorctl/plus_host.py, on `cryptography`)."""
import asyncio
import os

import pytest

from doorctl import plus_host as H
from pn532emu import plus as E

UID = bytes.fromhex("04213243546576")
KEY = bytes(range(0x30, 0x40))


def emu_card(**over):
    d = {"key": KEY.hex(), "blocks": {"9": "0000303901020304"}}
    d.update(over)
    return E.card_from(UID, d)


def test_mac8_of_each_side_agrees():
    from cryptolib import aes
    from doorapp import desfire as D, plus as P

    for n in (0, 1, 15, 16, 17, 23, 40):
        msg = os.urandom(n)
        want = H.mac8(KEY, msg)
        assert len(want) == 8
        assert E.mac8(KEY, msg) == want
        e = aes(KEY, 1)
        k1, k2 = D.subkeys(e)
        assert P.mac8(e, k1, k2, msg) == want


def test_session_keys_of_the_emulator_and_the_host_agree():
    for _ in range(5):
        rnda, rndb = os.urandom(16), os.urandom(16)
        assert E.session_keys(KEY, rnda, rndb) == H.session_keys(KEY, rnda, rndb)
    # the layout: Kmac's input is RndA[7:12] RndB[7:12] (RndA[0:5] ^ RndB[0:5]) 22
    rnda, rndb = bytes(range(16)), bytes(range(0x80, 0x90))
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    e = Cipher(algorithms.AES(KEY), modes.ECB()).encryptor()
    sv = bytes(range(7, 12)) + bytes(range(0x87, 0x8C)) + bytes(a ^ b for a, b in zip(range(5), range(0x80, 0x85)))
    assert H.session_keys(KEY, rnda, rndb)[1] == e.update(sv + b"\x22")


def test_the_host_reads_the_emulators_card():
    c = emu_card()
    s = H.Session(c.answer).authenticate(H.key_number(2), KEY, pcdcap=b"\x01\x02")
    assert s.pcdcap == b"\x01\x02\x00\x00\x00\x00"  # the card gives the reader's capabilities back
    assert s.read(9)[:8] == bytes.fromhex("0000303901020304")
    assert s.read(9, mac_command=False)[:4] == bytes.fromhex("00003039")  # the counter moved on: 2 reads
    assert c.session["r"] == 2
    with pytest.raises(H.PlusError) as e:
        s.read(11)  # the trailer: not readable as data
    assert e.value.status == 0x06
    with pytest.raises(H.PlusError) as e:
        H.Session(c.answer).authenticate(H.key_number(2), bytes(16))
    assert e.value.status == 0x06
    # a MAC over the wrong counter: 08, and the session ends
    s = H.Session(c.answer).authenticate(H.key_number(2), KEY)
    s.r_ctr = 5
    with pytest.raises(H.PlusError) as e:
        s.read(9)
    assert e.value.status == 0x08 and c.session is None
    with pytest.raises(H.PlusError) as e:
        H.Session(emu_card(tamper="mac").answer).authenticate(H.key_number(2), KEY).read(9)
    assert e.value.status == 0x08
    # the card's error statuses
    assert c.answer(b"\x72" + bytes(32)) == b"\x0b"  # a second pass without a first
    assert c.answer(b"\x70\x00\x50\x00") == b"\x09"  # not a key's block number
    assert c.answer(b"\x70\x04\x40") == b"\x0c"
    assert c.answer(b"\x5a\x30\x12\xf5") == b"\x0b"  # a DESFire command
    assert c.answer(b"\x36\x09\x00\x01") == b"\x06"  # no authentication


def test_the_doors_read_command_is_maced_as_the_host_computes():
    """The door reads the emulator's card through a recording link: from the key, the test
    recovers RndA and RndB, derives Kmac on the host and checks the door's read command's MAC
    and the card's answer's MAC with it."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from doorapp import cardkinds

    c = emu_card()
    log = []

    class Chip:
        async def in_data_exchange(self, data):
            a = c.answer(bytes(data))
            log.append((bytes(data), a))
            return 0, a

    got = []

    class Door:
        cfg = {"card": {"enabled": True, "format": "10D", "plus": {"enabled": True, "sector": 2, "block": 1,
                                                                  "key_type": "A", "keys": 1, "uid_fallback": False}}}
        secrets = {"plus_keys": [KEY]}
        card_format = "10D"

        def decide(self, *a):
            got.append(a)

    class W:
        read_card = None

    cardkinds.follow(Door(), W)
    asyncio.run(W.read_card(Chip(), UID, 0x44, 0x20))
    assert got and got[0][1] == "0000012345"
    assert [q[0] for q, _ in log] == [0x70, 0x72, 0x33]

    def dec(data):
        d = Cipher(algorithms.AES(KEY), modes.CBC(bytes(16))).decryptor()
        return d.update(data) + d.finalize()

    rndb = dec(log[0][1][1:17])
    p = dec(log[1][0][1:33])
    rnda = p[:16]
    assert p[16:] == rndb[1:] + rndb[:1]
    ti = dec(log[1][1][1:33])[:4]
    kmac = H.session_keys(KEY, rnda, rndb)[1]
    cmd = log[2][0]
    assert cmd[:4] == b"\x33\x09\x00\x01"
    assert cmd[4:] == H.mac8(kmac, cmd[:4][:1] + b"\x00\x00" + ti + cmd[1:4])
    ans = log[2][1]
    assert ans[17:] == H.mac8(kmac, b"\x90\x01\x00" + ti + cmd[1:4] + ans[1:17])

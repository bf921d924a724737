"""MIFARE Plus SL3 on the host, built on `cryptography` (AES and its CMAC from it): the tests'
reference for the emulator's card (lib/pn532emu/plus.py) and the door's reader
(firmware/doorapp/plus.py), each written apart (docs/cards-plus.md).

A Session talks to one card through `transceive(command bytes) -> answer bytes` (status first,
90 = OK), e.g. the PN532's InDataExchange.
"""
import os

from cryptography.hazmat.primitives import cmac as _cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

OK = 0x90
STATUS = {0x06: "authentication error or access conditions not fulfilled", 0x07: "too many commands",
          0x08: "MAC wrong", 0x09: "invalid block number", 0x0A: "invalid extension", 0x0B: "command not available",
          0x0C: "length error", 0x0F: "general failure", 0x90: "ok"}


class PlusError(Exception):
    def __init__(self, status, what):
        self.status = status
        Exception.__init__(self, "%s: %s (status %02X)" % (what, STATUS.get(status, "?"), status))


def key_number(sector, key_b=False):
    """The block number of a sector's AES key (key A 4000 + 2 * sector, key B one more)."""
    return 0x4000 + 2 * sector + (1 if key_b else 0)


def block_number(sector, block):
    """The absolute block of `block` in `sector` (sectors 32-39 of a 4K have 16 blocks)."""
    return 4 * sector + block if sector < 32 else 128 + 16 * (sector - 32) + block


def _cbc(key, data, decrypt=False):
    c = Cipher(algorithms.AES(bytes(key)), modes.CBC(bytes(16)))
    op = c.decryptor() if decrypt else c.encryptor()
    return op.update(bytes(data)) + op.finalize()


def session_keys(key, rnda, rndb):
    """(Kenc, Kmac): AES of RndA/RndB excerpts with the key, as the data sheet builds them."""
    e = Cipher(algorithms.AES(bytes(key)), modes.ECB()).encryptor()
    kenc = e.update(bytes(rnda[11:16]) + bytes(rndb[11:16]) + bytes(a ^ b for a, b in zip(rnda[4:9], rndb[4:9]))
                    + b"\x11")
    kmac = e.update(bytes(rnda[7:12]) + bytes(rndb[7:12]) + bytes(a ^ b for a, b in zip(rnda[0:5], rndb[0:5]))
                    + b"\x22")
    return kenc, kmac


def mac8(kmac, msg):
    """MIFARE Plus's 8-byte MAC: every second byte (1, 3, .. 15) of the AES CMAC."""
    c = _cmac.CMAC(algorithms.AES(bytes(kmac)))
    c.update(bytes(msg))
    return c.finalize()[1::2]


class Session:
    def __init__(self, transceive, rnda=None):
        self.x = transceive
        self.rnda = rnda  # (tests: a fixed RndA)
        self.ti = None
        self.r_ctr = 0

    def authenticate(self, bnr, key, pcdcap=b""):
        """FirstAuthenticate with the key at block number `bnr`; PlusError when the card refuses."""
        a = self.x(bytes((0x70, bnr & 0xFF, bnr >> 8, len(pcdcap))) + bytes(pcdcap))
        if not a or a[0] != OK or len(a) != 17:
            raise PlusError(a[0] if a else -1, "first authentication, pass 1")
        rndb = _cbc(key, a[1:], decrypt=True)
        rnda = self.rnda or os.urandom(16)
        a = self.x(b"\x72" + _cbc(key, rnda + rndb[1:] + rndb[:1]))
        if not a or a[0] != OK or len(a) != 33:
            raise PlusError(a[0] if a else -1, "first authentication, pass 2")
        p = _cbc(key, a[1:], decrypt=True)
        if p[4:20] != rnda[1:] + rnda[:1]:
            raise PlusError(0x06, "the card's proof of the key")
        self.ti = p[0:4]
        self.pcdcap = p[26:32]
        self.kenc, self.kmac = session_keys(key, rnda, rndb)
        self.r_ctr = 0
        return self

    def read(self, block, count=1, mac_command=True):
        """`count` blocks in plain, their answer MAC checked (PlusError 08 if wrong)."""
        cmd = 0x33 if mac_command else 0x37
        arg = bytes((block & 0xFF, block >> 8, count))
        ctr = self.r_ctr.to_bytes(2, "little")
        c = bytes((cmd,)) + arg
        if mac_command:
            c += mac8(self.kmac, bytes((cmd,)) + ctr + self.ti + arg)
        a = self.x(c)
        if not a or a[0] != OK:
            raise PlusError(a[0] if a else -1, "read block %d" % block)
        self.r_ctr = (self.r_ctr + 1) & 0xFFFF
        data, mac = a[1:1 + 16 * count], a[1 + 16 * count:]
        ctr = self.r_ctr.to_bytes(2, "little")
        if mac != mac8(self.kmac, b"\x90" + ctr + self.ti + arg + data):
            raise PlusError(0x08, "the answer's MAC")
        return data

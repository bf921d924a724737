"""MIFARE Plus in security level 3 in the PN532 emulator: the card's side of InDataExchange.

Written from the MIFARE Plus data sheet's behaviour, apart from the door's reader code
(firmware/doorapp/plus.py); tests check both against host code built on `cryptography`
(doorctl/plus_host.py, tests/test_plus_crypto.py). The PN532 does ISO 14443-4 itself: what
InDataExchange carries is the card's command and answer (status byte first, 90 = OK).

AES keys are numbered by their "block number": sector s key A 4000 + 2s, key B 4000 + 2s + 1
(sent least significant byte first).

FirstAuthenticate, two passes (all AES-128 CBC from a zero IV):
  70 KeyBNr(2) LenCap PCDcap2[LenCap]       -> 90 E(K, RndB)
  72 E(K, RndA || RndB<<<8)                  -> 90 E(K, TI || RndA<<<8 || PICCcap2(6) || PCDcap2(6))
  (another key: 06, the authentication ends)
Session keys: Kenc = E(K, RndA[11:16] || RndB[11:16] || (RndA[4:9] ^ RndB[4:9]) || 11),
              Kmac = E(K, RndA[7:12] || RndB[7:12] || (RndA[0:5] ^ RndB[0:5]) || 22);
read counter R_Ctr and write counter W_Ctr start at 0; TI (4 bytes) names the transaction.

Read, 3x BNr(2) Ext [MAC]: bit 0 of the command: a MAC on the answer; bit 1: plain data (clear:
enciphered, not modelled here: 0B); bit 2: no MAC on the command. A MAC is the odd bytes
(1, 3, .. 15) of the AES CMAC with Kmac over
  command:  CMD || R_Ctr(2) || TI || BNr(2) || Ext
  answer:   90 || R_Ctr(2) || TI || BNr(2) || Ext || DATA   (R_Ctr already counted up)
(counters least significant byte first); every read that is answered counts R_Ctr up.

Errors (status byte alone): 06 authentication error / access conditions not fulfilled (no
session, another sector, a key the sector's reading does not allow), 08 MAC wrong, 09 invalid
block number, 0B command not available (unknown command, a second pass without a first, an
enciphered read), 0C length error. 06 and 08 end the authentication.

Faults for tests: `tamper` "mac" (the answer's MAC is wrong) and `leave_after` (the card leaves
the field after that many exchanges: the PN532 reports a timeout from then on).
"""
import os

from .desfire import Block, cbc_dec, cbc_enc, cmac
from .hexdesc import hex_bytes

OK = 0x90
AUTH_ERR = 0x06
MAC_ERR = 0x08
BNR_ERR = 0x09
CMD_ERR = 0x0B
LEN_ERR = 0x0C
ATS = b"\x0c\x75\x77\x80\x02\xc1\x05\x2f\x2f\x01\xbc\xd6"  # as a MIFARE Plus EV1 answers
DEFAULT_KEY = b"\xff" * 16  # a key the description leaves out


def key_bnr(sector, key_b):
    """The block number of a sector's AES key."""
    return 0x4000 + 2 * sector + (1 if key_b else 0)


def _blocks_of(sector):
    """The first block and block count of `sector` (0-31: 4 blocks; 32-39: 16)."""
    if sector < 32:
        return 4 * sector, 4
    return 128 + 16 * (sector - 32), 16


def session_keys(key, rnda, rndb):
    """(Kenc, Kmac) after FirstAuthenticate."""
    blk = Block("aes", key)
    x = bytes(a ^ b for a, b in zip(rnda[4:9], rndb[4:9]))
    kenc = blk.enc(rnda[11:16] + rndb[11:16] + x + b"\x11")
    x = bytes(a ^ b for a, b in zip(rnda[0:5], rndb[0:5]))
    kmac = blk.enc(rnda[7:12] + rndb[7:12] + x + b"\x22")
    return kenc, kmac


def mac8(kmac, msg):
    """The odd bytes of the CMAC."""
    c = cmac(Block("aes", kmac), bytes(16), msg)
    return bytes(c[i] for i in range(1, 16, 2))


class Plus:
    """A MIFARE Plus 4K (`sectors` 40; 32: a 2K) in SL3: `blocks` {block number: 16 bytes}, `keys` {key BNr: 16
    bytes} (others FF..), `read` which keys may read data blocks ("A", "B" or "AB")."""

    def __init__(self, uid, blocks=None, keys=None, read="AB", tamper=None, leave_after=0, sectors=40):
        self.uid = bytes(uid)
        self.blocks = dict(blocks or {})
        self.keys = dict(keys or {})
        self.read = read
        self.tamper = tamper
        self.leave_after = leave_after
        self.sectors = sectors
        self.exchanges = 0
        self.reset()

    def reset(self):
        """Activated again: no authentication."""
        self._first = None  # (key, RndB, PCDcap2, key BNr) between the two passes
        self.session = None  # {"kenc", "kmac", "ti", "r", "w", "sector", "key_b"}

    def answer(self, data):
        """One InDataExchange payload -> the answer bytes."""
        data = bytes(data)
        if not data:
            return bytes((LEN_ERR,))
        cmd = data[0]
        if cmd == 0x70:
            return self._first_pass(data)
        if cmd == 0x72:
            return self._second_pass(data)
        if 0x30 <= cmd <= 0x37:
            return self._read(data)
        return bytes((CMD_ERR,))

    def _fail(self, st):
        if st in (AUTH_ERR, MAC_ERR):
            self.session = None
        self._first = None
        return bytes((st,))

    def _first_pass(self, data):
        if len(data) < 4 or len(data) != 4 + data[3] or data[3] > 6:
            return self._fail(LEN_ERR)
        bnr = data[1] | (data[2] << 8)
        if not 0x4000 <= bnr < 0x4000 + 2 * self.sectors:
            return self._fail(BNR_ERR)
        key = self.keys.get(bnr, DEFAULT_KEY)
        rndb = os.urandom(16)
        self.session = None
        self._first = (key, rndb, data[4:] + bytes(6 - data[3]), bnr)
        return bytes((OK,)) + Block("aes", key).enc(rndb)

    def _second_pass(self, data):
        if self._first is None:
            return self._fail(CMD_ERR)
        if len(data) != 33:
            return self._fail(LEN_ERR)
        key, rndb, pcdcap, bnr = self._first
        blk = Block("aes", key)
        p = cbc_dec(blk, bytes(16), data[1:])
        rnda = p[0:16]
        if p[16:32] != rndb[1:] + rndb[:1]:
            return self._fail(AUTH_ERR)
        self._first = None
        ti = os.urandom(4)
        kenc, kmac = session_keys(key, rnda, rndb)
        self.session = {"kenc": kenc, "kmac": kmac, "ti": ti, "r": 0, "w": 0,
                        "sector": (bnr - 0x4000) // 2, "key_b": bool(bnr & 1)}
        return bytes((OK,)) + cbc_enc(blk, bytes(16), ti + rnda[1:] + rnda[:1] + bytes(6) + pcdcap)

    def _read(self, data):
        cmd = data[0]
        maced_cmd = not cmd & 0x04
        if len(data) != (12 if maced_cmd else 4):
            return self._fail(LEN_ERR)
        s = self.session
        if s is None:
            return self._fail(AUTH_ERR)
        if not cmd & 0x02:  # enciphered reads: not modelled
            return self._fail(CMD_ERR)
        bnr = data[1] | (data[2] << 8)
        ext = data[3]
        ctr = bytes((s["r"] & 0xFF, s["r"] >> 8))
        if maced_cmd and mac8(s["kmac"], bytes((cmd,)) + ctr + s["ti"] + data[1:4]) != data[4:12]:
            return self._fail(MAC_ERR)
        if ext < 1 or bnr >= 128 + 16 * 8:
            return self._fail(BNR_ERR)
        first, n = _blocks_of(s["sector"])
        if not first <= bnr or bnr + ext > first + n - 1:  # (the trailer and other sectors)
            return self._fail(AUTH_ERR)
        if ("B" if s["key_b"] else "A") not in self.read:
            return self._fail(AUTH_ERR)
        out = b"".join(bytes(self.blocks.get(b, bytes(16))) for b in range(bnr, bnr + ext))
        s["r"] = (s["r"] + 1) & 0xFFFF
        if not cmd & 0x01:
            return bytes((OK,)) + out
        ctr = bytes((s["r"] & 0xFF, s["r"] >> 8))
        mac = mac8(s["kmac"], bytes((OK,)) + ctr + s["ti"] + data[1:4] + out)
        if self.tamper == "mac":
            mac = bytes((mac[0] ^ 0x01,)) + mac[1:]
        return bytes((OK,)) + out + mac


# -- a card described in JSON terms (the simulator's `tap` with "plus") -----------------------
def card_from(uid, desc):
    """A MIFARE Plus SL3 from its description:
        {"blocks": {"4": "<hex, up to 16 bytes>"}, "keys": {"4002": "<32 hex>"} | "key": "<32 hex>",
         "read": "AB", "tamper": "mac", "leave_after": N}
    ("key": every sector's keys A and B). ValueError names what is wrong."""
    if not isinstance(desc, dict):
        raise ValueError("plus must be an object (blocks, key or keys, read, tamper, leave_after)")
    known = ("blocks", "key", "keys", "read", "tamper", "leave_after")
    for k in desc:
        if k not in known:
            raise ValueError("plus: unknown field %r (known: %s)" % (k, ", ".join(known)))
    keys = {}
    if "key" in desc:
        k = hex_bytes(desc["key"], "plus key", (16,))
        for bnr in range(0x4000, 0x4000 + 80):
            keys[bnr] = k
    for name, v in (desc.get("keys") or {}).items():
        try:
            bnr = int(name, 16)
        except ValueError:
            bnr = -1
        if not 0x4000 <= bnr < 0x4000 + 80:
            raise ValueError("plus keys: %r is not a sector key's block number (4000-404F)" % (name,))
        keys[bnr] = hex_bytes(v, "plus key", (16,))
    blocks = {}
    for name, v in (desc.get("blocks") or {}).items():
        if not str(name).isdigit() or not 0 <= int(name) < 256:
            raise ValueError("plus blocks: %r is not a block number (0-255)" % (name,))
        b = hex_bytes(v, "plus block")
        if len(b) > 16:
            raise ValueError("plus block %s: at most 16 bytes" % name)
        blocks[int(name)] = b + bytes(16 - len(b))
    read = desc.get("read", "AB")
    if read not in ("A", "B", "AB"):
        raise ValueError("plus read must be A, B or AB, got %r" % (read,))
    tamper = desc.get("tamper")
    if tamper not in (None, False, "mac"):
        raise ValueError("plus tamper must be \"mac\", got %r" % (tamper,))
    return Plus(uid, blocks, keys, read, tamper or None, int(desc.get("leave_after", 0)))

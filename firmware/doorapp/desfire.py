"""MIFARE DESFire (config card.desfire, docs/cards-desfire.md): the card code is read from a
file of a DESFire application after AES authentication (or AuthenticateISO with a 2K3DES,
3K3DES or DES key: _auth_des, on lib/des.py), not taken from the UID.

Loaded only once card.desfire.enabled is on (doorapp/cardkinds.py hands it the ISO 14443-4
cards, still selected in the PN532). Written from the NXP data sheet apart from
the emulator's card (lib/pn532emu/desfire.py); tests check both against host code built on
`cryptography` (tests/test_desfire_crypto.py).

Four InDataExchange round trips per card, the protocol's minimum (native commands, status
byte first):
  5A AID(3, least significant first)             SelectApplication    -> 00 | A0
  AA KeyNo                                       AuthenticateAES      -> AF E(K, RndB)
  AF E(K, RndA || RndB<<<8)  (CBC, IV = E(RndB)) the second step      -> 00 E(K, RndA<<<8)
  BD File Offset(3) Length(3)                    ReadData             -> 00 DATA CMAC8 | 00 E(DATA CRC32 pad)
Session key RndA[0:4] RndB[0:4] RndA[12:16] RndB[12:16], IV zero; the ReadData command goes
through the CMAC (the IV follows), the answer is checked: its 8-byte CMAC over DATA || 00
("plain" and "mac": after an AES authentication a DESFire MACs plain answers too), or
deciphered from that IV and its CRC32 over DATA || 00 ("enc"). MAC compared in constant time.
card.desfire.crypto "3des"/"des": 1A instead of AA, 8-byte blocks (CMAC Rb 1B, MAC 8 bytes,
3DES-CBC), session keys as _auth_des says; the same four exchanges and denials.

- The key: secrets.json desfire_key (AES-128; 2K3DES 16 bytes, 3K3DES 24, DES 8 or 16), or with
  card.desfire.diversify (AES only) the card's own key
  by NXP AN10922 (AES-128 CMAC of 01 || UID || AID || "doorctl", padded to 32 bytes).
- The code: `length` bytes at `offset` of the file, decided as a card whose "UID" is those bytes
  (in card.format, like card.mifare). All 00 or all FF: no code (card_block_empty).
- Denials (the UID in full hex, never a key): card_key_wrong (the card refuses the key, the key
  can't read the file, no key provisioned, the card's proof is wrong), card_integrity (the
  answer's CMAC or CRC is wrong), card_app_missing (no such application or file),
  and, from cardkinds.py, card_not_desfire (not an ISO 14443-4 card answering DESFire
  commands, no other kind on took it, and no uid_fallback).
- An ISO 14443-4 card answering the select with anything but 00 / A0 (an ISO error from a phone
  or a bank card, a MIFARE Plus): not read here (False), cardkinds.py tries the next kind.
- The PN532 reporting anything else (the card left mid-exchange: timeout) raises PN532Error:
  the watcher forgets the card and the next poll presents it again (no event).
"""
import binascii
from os import urandom

from micropython import const
from cryptolib import aes

import cardfmt
from keyedhash import equal
from doorapp.cardread import deny, exchange

_KIND_CARD = const(1)  # eventcodes.KIND_CARD
_REASON_CARD_KEY_WRONG = const(40)
_REASON_CARD_BLOCK_EMPTY = const(41)
_REASON_CARD_INTEGRITY = const(43)
_REASON_CARD_APP_MISSING = const(44)  # (eventcodes names them)
_ISO_DEP = const(0x20)  # SAK bit: ISO 14443-4 (DESFire: SAK 20)
_OK = const(0x00)
_MORE = const(0xAF)
_NO_APP = const(0xA0)
_NO_FILE = const(0xF0)
_DENIED = const(0x9D)
_BOUNDARY = const(0xBE)
_ECB = const(1)
_CBC = const(2)
SYSTEM_ID = b"doorctl"  # AN10922's system identifier in doorctl's diversified keys


def aid_bytes(text):
    """'F51230' (as configured: 6 hex digits, most significant first) -> 30 12 F5 (as sent)."""
    v = int(text, 16)
    return bytes((v & 0xFF, (v >> 8) & 0xFF, v >> 16))


# -- AES-128 CMAC (NIST SP 800-38B) on cryptolib's ECB ---------------------------------------
def _dbl(b):
    """b * x in GF(2^128) (16 bytes: 0x87 folded in when a bit falls out) or GF(2^64) (8
    bytes, 3DES: 0x1B): shifted left one bit."""
    n = len(b)
    out = bytearray(n)
    c = 0
    for i in range(n - 1, -1, -1):
        v = b[i]
        out[i] = ((v << 1) | c) & 0xFF
        c = v >> 7
    if c:
        out[n - 1] ^= 0x87 if n == 16 else 0x1B
    return out


def subkeys(e, bs=16):
    """K1, K2 of the key behind ECB encryptor `e` (block size bs: 16 AES, 8 3DES)."""
    z = bytearray(bs)
    e.encrypt(z, z)
    k1 = _dbl(z)
    return k1, _dbl(k1)


def cmac(e, k1, k2, x, msg):
    """CMAC of `msg` with its CBC started from `x` (bytearray of the block size: 16 for AES,
    8 for 3DES; the session IV: zero gives the standard CMAC); the result replaces x in place
    (the next IV) and is returned."""
    bs = len(x)
    n = len(msg)
    full = n and not n % bs
    last = n - bs if full else n - n % bs
    for i in range(0, last, bs):
        for j in range(bs):
            x[j] ^= msg[i + j]
        e.encrypt(x, x)
    k = k1 if full else k2
    for j in range(bs):
        i = last + j
        x[j] ^= (msg[i] if i < n else (0x80 if i == n else 0)) ^ k[j]
    e.encrypt(x, x)
    return x


def diversify(key, uid, aid, system_id=SYSTEM_ID):
    """NXP AN10922 section 2.2.1, AES-128: the card's key = CMAC(key, 01 || M), M = UID || AID
    (as sent) || system identifier (M: 1-31 bytes), padded 80 00.. to 32 bytes (K2), or K1
    when 01 || M fills 32."""
    e = aes(key, _ECB)
    k1, k2 = subkeys(e)
    d = bytearray(32)
    d[0] = 1
    n = 1
    for part in (uid, aid, system_id):
        d[n:n + len(part)] = part
        n += len(part)
    k = k1
    if n < 32:
        d[n] = 0x80
        k = k2
    x = bytearray(e.encrypt(d[0:16]))
    for j in range(16):
        x[j] ^= d[16 + j] ^ k[j]
    e.encrypt(x, x)
    return bytes(x)


def crc32(data):
    """DESFire's CRC32: binascii's without the final inversion."""
    return binascii.crc32(data) ^ 0xFFFFFFFF


# -- the door ---------------------------------------------------------------------------------
_site = None  # (desfire_key, its des.Key) once a 3DES/DES card was read


async def _auth_des(chip, key_no, key, kind):
    """AuthenticateISO (1A) with a DES-family key; the session's des.Key, or None (the card
    refused the key or its proof is wrong). Keys: 16 bytes 2K3DES (K1 K2 K1; "des" with
    K1 = K2), 24 bytes 3K3DES (RndA, RndB 16 bytes), 8 bytes DES (as 2K3DES K1 = K2).
    Both sides encipher (CBC, not the D40's "send mode"): the card E(K, RndB) from IV zero,
    the door E(K, RndA || RndB<<<8) from the IV the card's last block left, the card
    E(K, RndA<<<8) from the door's last block."""
    import des  # (loaded only for 3DES/DES applications)

    n = len(key)
    if not (n == 24 and kind == "3des" or n == 16 or n == 8 and kind == "des"):
        return None
    r = 16 if n == 24 else 8  # RndA, RndB
    st, c = await exchange(chip, "desfire", bytes((0x1A, key_no)))
    if st != _MORE or len(c) != r:  # AE (an AES key, or another size), 40, 9D
        return None
    global _site
    if _site is None or _site[0] != key:  # (the site key's schedule: computed once, not per tap)
        _site = (key, des.Key(key))
    k = _site[1]
    rndb = des.cbc_decrypt(k, bytes(8), c)
    rnda = urandom(r)
    m = bytearray(2 * r)
    m[0:r] = rnda
    m[r:2 * r - 1] = rndb[1:r]
    m[2 * r - 1] = rndb[0]
    m = des.cbc_encrypt(k, c[r - 8:r], m)
    st, c = await exchange(chip, "desfire", b"\xaf" + m)
    if st != _OK or len(c) != r:  # AE: the card did not find RndB: another key
        return None
    a = des.cbc_decrypt(k, m[2 * r - 8:2 * r], c)
    if not equal(a, rnda[1:r] + rnda[0:1]):
        return None
    sk = bytearray(n if n > 8 else 16)
    sk[0:4] = rnda[0:4]
    sk[4:8] = rndb[0:4]
    if n == 24:  # 3K3DES: A0-3 B0-3 A6-9 B6-9 A12-15 B12-15
        sk[8:12] = rnda[6:10]
        sk[12:16] = rndb[6:10]
        sk[16:20] = rnda[12:16]
        sk[20:24] = rndb[12:16]
    elif n == 8 or key[0:8] == key[8:16]:  # DES: A0-3 B0-3 twice (single DES)
        sk[8:16] = sk[0:8]
    else:  # 2K3DES: A0-3 B0-3 A4-7 B4-7
        sk[8:12] = rnda[4:8]
        sk[12:16] = rndb[4:8]
    return des.Key(sk)


async def read(door, chip, uid, atqa, sak):
    """The card's code read and decided, or False: not a DESFire (cardkinds.py)."""
    d = door.cfg["card"]["desfire"]
    if not sak & _ISO_DEP:
        return False
    key = (door.secrets or {}).get("desfire_key")
    aid = aid_bytes(d["aid"])
    st, _ = await exchange(chip, "desfire", b"\x5a" + aid)
    if st == _NO_APP:
        return deny(door, uid, _REASON_CARD_APP_MISSING)
    if st:  # not a DESFire (a phone, a bank card: an ISO error)
        return False
    if not key:  # (not provisioned: `doorctl provision --desfire-key`)
        return deny(door, uid, _REASON_CARD_KEY_WRONG)
    kind = d["crypto"]
    if kind == "aes":
        if len(key) != 16:  # (a 3DES key left in secrets.json)
            return deny(door, uid, _REASON_CARD_KEY_WRONG)
        if d["diversify"]:
            key = diversify(key, uid, aid)
        st, c = await exchange(chip, "desfire", bytes((0xAA, d["key_index"])))
        if st != _MORE or len(c) != 16:  # AE (wrong kind of key), 40 (no such key), 9D
            return deny(door, uid, _REASON_CARD_KEY_WRONG)
        rndb = aes(key, _CBC, bytes(16)).decrypt(c)  # (IV zero: the start of the session)
        rnda = urandom(16)
        m = bytearray(32)
        m[0:16] = rnda
        m[16:31] = rndb[1:16]
        m[31] = rndb[0]
        m = aes(key, _CBC, c).encrypt(m)
        st, c = await exchange(chip, "desfire", b"\xaf" + m)
        if st != _OK or len(c) != 16:  # AE: the card did not find RndB in it: another key
            return deny(door, uid, _REASON_CARD_KEY_WRONG)
        a = aes(key, _CBC, m[16:32]).decrypt(c)
        if not equal(a, rnda[1:16] + rnda[0:1]):  # the card does not hold the key either
            return deny(door, uid, _REASON_CARD_KEY_WRONG)
        sk = bytearray(16)
        sk[0:4] = rnda[0:4]
        sk[4:8] = rndb[0:4]
        sk[8:12] = rnda[12:16]
        sk[12:16] = rndb[12:16]
        e = aes(sk, _ECB)
        bs = 16
    else:
        e = await _auth_des(chip, d["key_index"], key, kind)
        if e is None:
            return deny(door, uid, _REASON_CARD_KEY_WRONG)
        bs = 8
    k1, k2 = subkeys(e, bs)
    iv = bytearray(bs)
    off = d["offset"]
    n = d["length"]
    cmd = bytes((0xBD, d["file"], off & 0xFF, off >> 8, 0, n, 0, 0))
    cmac(e, k1, k2, iv, cmd)  # (not sent: it moves the IV on)
    st, r = await exchange(chip, "desfire", cmd)
    if st == _NO_FILE:
        return deny(door, uid, _REASON_CARD_APP_MISSING)
    if st == _DENIED:  # the key can't read this file
        return deny(door, uid, _REASON_CARD_KEY_WRONG)
    if st == _BOUNDARY:  # the file is shorter than offset + length: no code there
        return deny(door, uid, _REASON_CARD_BLOCK_EMPTY)
    if st != _OK:
        return deny(door, uid, _REASON_CARD_INTEGRITY)
    if d["comm"] == "enc":
        if len(r) < n + 4 or len(r) % bs:
            return deny(door, uid, _REASON_CARD_INTEGRITY)
        if bs == 16:
            p = aes(sk, _CBC, iv).decrypt(r)
        else:
            from des import cbc_decrypt

            p = cbc_decrypt(e, iv, r)
        code = p[0:n]
        crc = crc32(code + b"\x00")
        ok = p[n] == crc & 0xFF and p[n + 1] == (crc >> 8) & 0xFF and p[n + 2] == (crc >> 16) & 0xFF \
            and p[n + 3] == crc >> 24
        for i in range(n + 4, len(p)):
            if p[i]:
                ok = False
    else:
        code = r[0:n]
        mac = r[n:]
        ok = len(mac) == 8 and equal(cmac(e, k1, k2, iv, code + b"\x00")[0:8], mac)
    if not ok:
        return deny(door, uid, _REASON_CARD_INTEGRITY)
    if code == b"\x00" * n or code == b"\xff" * n:
        return deny(door, uid, _REASON_CARD_BLOCK_EMPTY)
    fmt = door.card_format
    door.decide(_KIND_CARD, cardfmt.format_uid(code, fmt), code, cardfmt.format_id(fmt))

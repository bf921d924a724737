"""MIFARE Plus in security level 3 (config card.plus, docs/cards-plus.md): the card code is read
from a block after AES authentication, not taken from the UID.

Loaded only once card.plus.enabled is on (doorapp/cardkinds.py hands it the ISO 14443-4 cards,
still selected in the PN532). Written from the MIFARE Plus data sheet apart from the emulator's
card (lib/pn532emu/plus.py); tests check both against host code built on `cryptography`
(doorctl/plus_host.py, tests/test_plus_crypto.py).

Three InDataExchange round trips per card with the first key, the protocol's minimum (status
byte first, 90 = OK):
  70 KeyBNr(2) 00                    FirstAuthenticate, pass 1  -> 90 E(K, RndB)
  72 E(K, RndA || RndB<<<8)          pass 2 (CBC, IV zero)      -> 90 E(K, TI || RndA<<<8 || caps(12))
  33 BNr(2) 01 MAC(8)                read 1 block, plain data, MAC on the command and the answer
                                                                -> 90 DATA(16) MAC(8)
KeyBNr = 4000 + 2 * sector (+1 for key B). Kmac = E(K, RndA[7:12] || RndB[7:12] ||
(RndA[0:5] ^ RndB[0:5]) || 22); a MAC is the odd bytes of the AES CMAC with Kmac over
CMD || R_Ctr || TI || BNr || 01 (the command, R_Ctr 0) and 90 || R_Ctr || TI || BNr || 01 || DATA
(the answer, R_Ctr 1), counters least significant byte first. MAC compared in constant time.

- The keys: secrets.json plus_keys, tried in order (card.plus.keys of them): a key the card
  refuses (06 to pass 2) costs two round trips more, and the next one is tried; a card
  matching any one gives its code.
- The code: bytes 0-3 of the block, decided as a card whose "UID" is those 4 bytes (in
  card.format, like card.mifare). All 00 or all FF: no code (card_block_empty).
- Denials (the UID in full hex, never a key): card_key_wrong (no key matches, none provisioned,
  the block not readable with the key, the card's proof wrong), card_integrity (the answer's
  MAC wrong, or the card refused ours).
- An ISO 14443-4 card answering pass 1 with anything but 90 or a MIFARE Plus error (06-0F): not
  read here (False): cardkinds.py tries the next kind, or denies card_not_plus.
- The PN532 reporting anything else (the card left mid-exchange: timeout) raises PN532Error:
  the watcher forgets the card and the next poll presents it again (no event).
"""
from os import urandom

from micropython import const
from cryptolib import aes

import cardfmt
from keyedhash import equal
from doorapp.cardread import deny, exchange
from doorapp.desfire import cmac, subkeys

_KIND_CARD = const(1)  # eventcodes.KIND_CARD
_REASON_CARD_KEY_WRONG = const(40)
_REASON_CARD_BLOCK_EMPTY = const(41)
_REASON_CARD_INTEGRITY = const(43)  # (eventcodes names them)
_ISO_DEP = const(0x20)
_OK = const(0x90)
_AUTH_ERR = const(0x06)
_ERR_LAST = const(0x0F)  # MIFARE Plus errors: 06-0F
_READ = const(0x33)  # plain data, MAC on the command and the answer
_ECB = const(1)
_CBC = const(2)


def block_number(sector, block):
    """The absolute block: sectors 0-31 have 4 blocks, 32-39 (4K) 16."""
    return 4 * sector + block if sector < 32 else 128 + 16 * (sector - 32) + block


def mac8(e, k1, k2, msg):
    """The odd bytes of the AES CMAC of `msg` (the key behind ECB encryptor `e`)."""
    c = cmac(e, k1, k2, bytearray(16), msg)
    return bytes(c[i] for i in range(1, 16, 2))


async def read(door, chip, uid, atqa, sak):
    """The card's code read and decided, or False: not a MIFARE Plus (cardkinds.py)."""
    p = door.cfg["card"]["plus"]
    if not sak & _ISO_DEP:
        return False
    keys = (door.secrets or {}).get("plus_keys") or ()
    n = min(p["keys"], len(keys))
    kb = 0x4000 + 2 * p["sector"] + (1 if p["key_type"] == "B" else 0)
    first = bytes((0x70, kb & 0xFF, kb >> 8, 0))
    i = 0
    while True:
        st, c = await exchange(chip, "plus", first)
        if st != _OK or len(c) != 16:
            if not i and not _AUTH_ERR <= st <= _ERR_LAST:  # (1C: a DESFire; 6x xx: an ISO error)
                return False
            return deny(door, uid, _REASON_CARD_KEY_WRONG)
        if not n:  # (not provisioned: `doorctl provision --new-plus-key`)
            return deny(door, uid, _REASON_CARD_KEY_WRONG)
        key = keys[i]
        rndb = aes(key, _ECB).decrypt(c)
        rnda = urandom(16)
        m = bytearray(32)
        m[0:16] = rnda
        m[16:31] = rndb[1:16]
        m[31] = rndb[0]
        st, c = await exchange(chip, "plus", b"\x72" + aes(key, _CBC, bytes(16)).encrypt(m))
        if st == _OK and len(c) == 32:
            break
        i += 1
        if st != _AUTH_ERR or i >= n:  # the card refused every key choice
            return deny(door, uid, _REASON_CARD_KEY_WRONG)
    a = aes(key, _CBC, bytes(16)).decrypt(c)
    if not equal(a[4:20], rnda[1:16] + rnda[0:1]):  # the card does not hold the key
        return deny(door, uid, _REASON_CARD_KEY_WRONG)
    sv = bytearray(16)
    sv[0:5] = rnda[7:12]
    sv[5:10] = rndb[7:12]
    for j in range(5):
        sv[10 + j] = rnda[j] ^ rndb[j]
    sv[15] = 0x22
    e = aes(aes(key, _ECB).encrypt(sv), _ECB)  # Kmac
    k1, k2 = subkeys(e)
    blk = block_number(p["sector"], p["block"])
    arg = bytes((blk & 0xFF, blk >> 8, 1))
    ti = a[0:4]
    cmd = bytes((_READ,)) + arg
    st, r = await exchange(chip, "plus", cmd + mac8(e, k1, k2, cmd[0:1] + b"\x00\x00" + ti + arg))
    if st == _AUTH_ERR:  # the block's access conditions keep this key from it
        return deny(door, uid, _REASON_CARD_KEY_WRONG)
    if st != _OK or len(r) != 24 or not equal(r[16:24], mac8(e, k1, k2, b"\x90\x01\x00" + ti + arg + r[0:16])):
        return deny(door, uid, _REASON_CARD_INTEGRITY)
    code = bytes(r[0:4])
    if code == b"\x00\x00\x00\x00" or code == b"\xff\xff\xff\xff":
        return deny(door, uid, _REASON_CARD_BLOCK_EMPTY)
    fmt = door.card_format
    door.decide(_KIND_CARD, cardfmt.format_uid(code, fmt), code, cardfmt.format_id(fmt))

"""MIFARE Classic encryption (config card.mifare, docs/cards-mifare.md): the card code is read
from an encrypted sector, not taken from the UID.

Loaded only once card.mifare.enabled is on (doorapp/cardkinds.py hands it the cards whose SAK
says MIFARE Classic, still selected in the PN532).

- A MIFARE Classic (SAK bit 0x08: 0x08 1K, 0x18 4K, 0x88, 0x28/0x38 SmartMX emulating one,
  0x09 Mini): authenticate block sector*4+block with the site key (secrets.json mifare_key) as
  key A or B, read the 16 bytes; bytes 0-3 are the card number, big-endian, decided as a card
  whose "UID" is those 4 bytes (rendered in the configured card.format, so 10D shows the
  number in decimal). All 00 or all FF: no code (card_block_empty). The key refused (status
  0x14), the read refused by the access bits (the card NAKs) or no key provisioned:
  card_key_wrong. Those two denials log the card's UID in full hex, never the key.
- Any other card is not read here (cardkinds: its UID if card.mifare.uid_fallback, else denied
  card_not_mifare).
- The PN532 reporting anything else (the card left mid-read: timeout) raises PN532Error: the
  watcher forgets the card and the next poll presents it again (no event).
"""
from micropython import const

import cardfmt
from pn532 import PN532Error
from doorapp.cardread import deny

_KIND_CARD = const(1)  # eventcodes.KIND_CARD
_REASON_CARD_KEY_WRONG = const(40)
_REASON_CARD_BLOCK_EMPTY = const(41)
  # (eventcodes names them; card_not_mifare is cardkinds.py's)
_ST_AUTH = const(0x14)  # PN532 InDataExchange: MIFARE authentication error
_ST_NAK = const(0x13)  # PN532: the card NAKed (access bits), as the emulator reports it
_CLASSIC = const(0x08)  # SAK bit of the MIFARE Classic family


def empty(code):
    """No card number: all 00 or all FF."""
    return code == b"\x00\x00\x00\x00" or code == b"\xff\xff\xff\xff"


async def read(door, chip, uid, atqa, sak):
    """The card's code read and decided, or False: not a MIFARE Classic (cardkinds.py)."""
    m = door.cfg["card"]["mifare"]
    if not sak & _CLASSIC:
        return False
    key = (door.secrets or {}).get("mifare_key")
    if not key:  # (not provisioned: `doorctl provision --mifare-key`)
        return deny(door, uid, _REASON_CARD_KEY_WRONG)
    blk = m["sector"] * 4 + m["block"]
    st, _ = await chip.in_data_exchange(bytes((0x61 if m["key_type"] == "B" else 0x60, blk)) + key + uid[-4:])
    if st == _ST_AUTH:
        return deny(door, uid, _REASON_CARD_KEY_WRONG)
    if st:
        raise PN532Error("mifare auth status %d" % st)
    st, data = await chip.in_data_exchange(bytes((0x30, blk)))
    if st == _ST_NAK or st == _ST_AUTH:  # the access bits keep this key from the block
        return deny(door, uid, _REASON_CARD_KEY_WRONG)
    if st or len(data) < 16:
        raise PN532Error("mifare read status %d" % st)
    code = bytes(data[0:4])
    if empty(code):
        return deny(door, uid, _REASON_CARD_BLOCK_EMPTY)
    fmt = door.card_format
    door.decide(_KIND_CARD, cardfmt.format_uid(code, fmt), code, cardfmt.format_id(fmt))

"""Card kinds beyond the ISO 14443-A UID (config card.mifare, card.desfire, card.plus, card.nfc,
card.felica): which reader module a card goes to, in one table.

Loaded only once one of those kinds is on (Door.follow_cards); a door reading plain UIDs never
loads it. follow() looks the readers of the kinds that are on up once (no per-tap lookup or
allocation) and points the card watcher at read(), which hands the card, still selected in the
PN532, to them in table order:

- a kind is tried when it is on and the card's SAK has its bit (0x08: the MIFARE Classic
  family; 0x20: ISO 14443-4, which DESFire, MIFARE Plus SL3 and phones all answer with);
- a reader decides the card (grants or denies it, with its own reasons) or returns False: "not
  my kind" (a DESFire select answered with an ISO error, a Plus that refuses the DESFire
  command set, a phone without the site's app), and the next kind is tried (phones last: a
  SELECT by AID is what any ISO 14443-4 target answers);
- a card no kind took: the last kind that tried it (or, when none could, the first kind on)
  decides: its UID with that kind's uid_fallback, else denied with that kind's reason
  (card_not_mifare, card_not_desfire, card_not_plus, nfc_app_missing).

FeliCa cards (card.felica): follow() switches the watcher's FeliCa polls on; a FeliCa card
(atqa and sak None) is decided on its IDm like a UID.

A reader is `async read(door, chip, uid, atqa, sak)`; the PN532 failing mid-read (the card left)
raises PN532Error: the watcher forgets the card and the next poll presents it again.
"""
from micropython import const

_KIND_CARD = const(1)  # eventcodes.KIND_CARD
_REASON_CARD_NOT_MIFARE = const(42)
_REASON_CARD_NOT_DESFIRE = const(45)
_REASON_CARD_NOT_PLUS = const(46)
_REASON_NFC_APP_MISSING = const(47)  # (eventcodes names them)

# card.<kind> (the module doorapp.<kind> reads it), the SAK bit of its cards, the reason a card
# is denied with when this kind is the one that would have had to read it (eventcodes)
KINDS = (("mifare", 0x08, _REASON_CARD_NOT_MIFARE), ("desfire", 0x20, _REASON_CARD_NOT_DESFIRE),
         ("plus", 0x20, _REASON_CARD_NOT_PLUS), ("nfc", 0x20, _REASON_NFC_APP_MISSING))

_door = [None]
_on = []  # [(kind, SAK bit, reason, its reader)] of the kinds on, in table order


def follow(door, watcher):
    """Point the watcher at read() while a kind of the table is on; none: back to UIDs."""
    _door[0] = door
    card = door.cfg["card"]
    _on.clear()
    for kind, bit, reason in KINDS:
        c = card.get(kind)
        if c is not None and c["enabled"]:
            _on.append((kind, bit, reason, __import__("doorapp." + kind, None, None, ("read",)).read))
    f = card.get("felica")
    watcher.felica = (watcher.felica or 1) if f is not None and f["enabled"] else 0  # (pn532/watch.py)
    if f is not None:
        watcher.felica_brty = 2 if f.get("kbps") == 424 else 1
    watcher.read_card = read if _on else None


async def read(chip, uid, atqa, sak):
    door = _door[0]
    card = door.cfg["card"]
    if not card["enabled"] or not _on or sak is None:  # (cards off: the engine says so; FeliCa: its IDm)
        return door.on_card(uid, atqa, sak)
    last = _on[0]
    for k in _on:
        if sak & k[1]:
            last = k
            if await k[3](door, chip, uid, atqa, sak) is not False:
                return
    if card[last[0]]["uid_fallback"]:
        return door.on_card(uid, atqa, sak)
    door.deny()
    door.record(_KIND_CARD, False, last[2], uid, 0, None, ())  # fmt 0: the UID in full hex
    door.show("Card not accepted")

"""What the readers that take a card's code from the card itself (doorapp/mifare.py, desfire.py,
plus.py) do alike: deny a card with its reason, and one exchange with the card."""
from micropython import const

from pn532 import PN532Error

_KIND_CARD = const(1)  # eventcodes.KIND_CARD
_REASON_CARD_BLOCK_EMPTY = const(41)  # (eventcodes names it)


def deny(door, uid, reason):
    """A denied card: its event logs the UID in full hex (fmt 0), never a key."""
    door.deny()
    door.record(_KIND_CARD, False, reason, uid, 0, None, ())
    door.show("Card not encoded" if reason == _REASON_CARD_BLOCK_EMPTY else "Card not accepted")


async def exchange(chip, what, data):
    """One InDataExchange: (the card's status byte, the rest; -1 when it answered nothing); the
    PN532's own errors (the card left: a timeout) raise PN532Error naming `what`."""
    st, r = await chip.in_data_exchange(data)
    if st:
        raise PN532Error("%s status %d" % (what, st))
    if not r:
        return -1, r
    return r[0], r[1:]

"""NFC phones over ISO-DEP (config card.nfc, docs/cards-nfc.md): the card code is what the
site's phone app answers to a SELECT of its AID (Android host card emulation), not the UID (a
phone's UID is random per tap).

Loaded only once card.nfc.enabled is on (doorapp/cardkinds.py hands it the ISO 14443-4 targets
no kind before it took, still selected in the PN532). One InDataExchange round trip:
  00 A4 04 00 Lc AID 00        SELECT by AID, ISO 7816-4     -> CODE 90 00 | 6A 82 | SW1 SW2
- 90 00 with 4-10 bytes before it: the code, decided as a card whose "UID" is those bytes (in
  card.format, like card.mifare: formats other than FULLH use its first 4 bytes).
- 90 00 with fewer or more bytes, or any other status word after the app took the SELECT (69 85:
  the app refuses, e.g. the phone locked): denied nfc_no_code (the UID in full hex).
- 6A 82 (no app with that AID: not installed), 6D 00 / 6E 00 (not a card that knows SELECT),
  an answer shorter than a status word: not read here (False): cardkinds.py decides it by
  card.nfc.uid_fallback or denies it nfc_app_missing.
- The PN532 reporting anything else (the phone left mid-exchange: timeout) raises PN532Error:
  the watcher forgets the card and the next poll presents it again (no event).
"""
from micropython import const

import cardfmt
from pn532 import PN532Error

_KIND_CARD = const(1)  # eventcodes.KIND_CARD
_REASON_NFC_NO_CODE = const(48)  # (eventcodes names it)
_ISO_DEP = const(0x20)

_select = ["", b""]  # [the AID as configured, its SELECT APDU]: built once per AID, not per tap


def select_apdu(aid_hex):
    """'F0646F6F7263746C' -> 00 A4 04 00 08 F0 64 6F 6F 72 63 74 6C 00."""
    if _select[0] != aid_hex:
        n = len(aid_hex) // 2
        b = bytearray(6 + n)
        b[1] = 0xA4
        b[2] = 0x04
        b[4] = n
        for i in range(n):
            b[5 + i] = int(aid_hex[2 * i:2 * i + 2], 16)
        _select[1] = bytes(b)
        _select[0] = aid_hex
    return _select[1]


async def read(door, chip, uid, atqa, sak):
    """The phone's code read and decided, or False: no app of the site's AID (cardkinds.py)."""
    if not sak & _ISO_DEP:
        return False
    st, r = await chip.in_data_exchange(select_apdu(door.cfg["card"]["nfc"]["aid"]))
    if st:
        raise PN532Error("nfc status %d" % st)
    n = len(r) - 2
    if n < 0:
        return False
    sw1 = r[n]
    sw2 = r[n + 1]
    if (sw1 == 0x6A and sw2 == 0x82) or sw1 == 0x6D or sw1 == 0x6E:
        return False
    if sw1 != 0x90 or sw2 or not 4 <= n <= 10:
        door.deny()
        door.record(_KIND_CARD, False, _REASON_NFC_NO_CODE, uid, 0, None, ())  # fmt 0: the UID in full hex
        door.show("Phone not accepted")
        return
    code = bytes(r[0:n])
    fmt = door.card_format
    door.decide(_KIND_CARD, cardfmt.format_uid(code, fmt), code, cardfmt.format_id(fmt))

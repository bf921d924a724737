"""card.nfc (docs/cards-nfc.md): phones over ISO-DEP (Android host card emulation) identified by
what the site's app answers to a SELECT of its AID. Its own module, loaded by schema.validate
only when the section is given or the board is psram: a lean board (where it is refused) never
interns its names.

  aid          the application ID the site's phone app registers, 5-16 bytes as 10-32 hex
               digits (Android: the AID in the app's apduservice.xml; proprietary AIDs start
               with F)
  uid_fallback ISO 14443-4 cards and phones without the app (and other cards no kind reads) are
               decided on their UID (off: nfc_app_missing); a phone's UID is random per tap
"""
from configerror import ConfigError

NFC = {"enabled": (bool, False, 0, 0), "aid": (str, "F0646F6F7263746C", 0, 64), "uid_fallback": (bool, False, 0, 0)}


def check(given, path, section):
    """The full card.nfc from `given` (defaults filled in) or ConfigError naming the field;
    `section` is schema's checker of one object against a spec."""
    n = section(given, NFC, path, "card.nfc")
    aid = n["aid"]
    ok = 10 <= len(aid) <= 32 and not len(aid) % 2
    for c in aid.encode() if ok else b"":  # (bytes: iterating the str would intern each digit)
        if not (0x30 <= c <= 0x39 or 0x41 <= c <= 0x46 or 0x61 <= c <= 0x66):
            ok = False
    if not ok:
        raise ConfigError(path, "card.nfc.aid", "must be 5-16 bytes of hex (10-32 hex digits, e.g. F0646F6F7263746C), "
                          "got %r" % aid)
    n["aid"] = aid.upper()
    return n

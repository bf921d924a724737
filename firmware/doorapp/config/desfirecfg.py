"""card.desfire (docs/cards-desfire.md): the card code read from a MIFARE DESFire file after
AES authentication. Its own module, loaded by schema.validate only when the section is given
or the board is psram: a lean board (where it is refused) never interns its names.

  aid          the application, 6 hex digits as written (most significant first; not 000000,
               the card level)
  file         file number 0-16 holding the code
  crypto       "aes" (AES-128, the one to choose), "3des" (2K3DES or 3K3DES by the key's size)
               or "des" (AuthenticateISO; lib/des.py, loaded only for these)
  key_index    the application key 0-11 that reads the file (the key: secrets.json desfire_key)
  comm         how the file travels: "plain", "mac" (CMAC) or "enc" (enciphered)
  offset, length  where the code lies in the file (length 4-10 bytes, read as a card "UID")
  diversify    the card's key is the site key diversified by NXP AN10922 (UID, AID); AES only
  uid_fallback cards that are not DESFire are decided on their UID (off: card_not_desfire)
"""
from configerror import ConfigError

DESFIRE = {"enabled": (bool, False, 0, 0), "aid": (str, "000001", 0, 64), "file": (int, 1, 0, 16),
           "crypto": (("aes", "3des", "des"), "aes", 0, 0), "key_index": (int, 1, 0, 11),
           "comm": (("plain", "mac", "enc"), "enc", 0, 0), "offset": (int, 0, 0, 1024),
           "length": (int, 4, 4, 10), "diversify": (bool, False, 0, 0), "uid_fallback": (bool, False, 0, 0)}


def check(given, path, section):
    """The full card.desfire from `given` (defaults filled in) or ConfigError naming the field;
    `section` is schema's checker of one object against a spec."""
    d = section(given, DESFIRE, path, "card.desfire")
    aid = d["aid"]
    for c in aid.encode() if len(aid) == 6 else b"x":  # (bytes: iterating the str would intern each digit)
        if not (0x30 <= c <= 0x39 or 0x41 <= c <= 0x46 or 0x61 <= c <= 0x66):
            raise ConfigError(path, "card.desfire.aid", "must be 6 hex digits (3 bytes, e.g. F51230), got %r" % aid)
    if int(aid, 16) == 0:
        raise ConfigError(path, "card.desfire.aid", "000000 is the card itself (PICC level), not an application")
    d["aid"] = aid.upper()
    if d["crypto"] != "aes" and d["diversify"]:
        raise ConfigError(path, "card.desfire.diversify", "diversified keys are AES-128 only (AN10922 with AES "
                          "CMAC); %s applications use the site key itself (docs/cards-desfire.md)" % d["crypto"].upper())
    if d["offset"] + d["length"] > 1024:
        raise ConfigError(path, "card.desfire.offset", "offset + length must stay within 1024 bytes")
    return d


KEY_SIZES = {"aes": (16,), "3des": (16, 24), "des": (8, 16)}
KEY_WHAT = {"aes": "32 hex digits (16 bytes, AES-128)", "3des": "32 or 48 hex digits (16 bytes 2K3DES, 24 bytes 3K3DES)",
            "des": "16 or 32 hex digits (8 bytes DES, or 16 as 2K3DES with equal halves)"}


def key_error(crypto, key):
    """None if secrets.json's desfire_key (bytes or None) fits card.desfire.crypto, else what
    it must be (the message of a ConfigError; never the key)."""
    if key is None or len(key) in KEY_SIZES[crypto]:
        return None
    return "must be %s for card.desfire.crypto %s" % (KEY_WHAT[crypto], crypto)

"""secrets.json on flash: the device's secrets, kept apart from config.json.

Never returned by any API, never logged, never exported. Every key is optional; a missing
file means "not provisioned" (no Wi-Fi, no site key). Values are validated like config:
an invalid file stops start-up with the file and field named.

  wifi_password  Wi-Fi station password (0-64 characters)
  site_key       64 hex digits (32 bytes): keys the hashes of PINs, QR and BLE ids in the user
                 table, so one table built on the host serves every door of a site
  qr_key         64 hex digits: signs visitor QR codes checked offline
  admin_hash     the HTTP API admin password, as doorapp.config.passwords.hash_password makes it (PBKDF2);
                 absent = first boot: the first-boot password may only change itself
  http_open_hash password of the vendor "Open Relay Via HTTP" command (/fcgi/do), same form
  lpr_hash       password of the LPR camera account (config lpr.username), same form
  mifare_key     12 hex digits (6 bytes): the MIFARE Classic key of the sector holding the card
                 code (config card.mifare; docs/cards-mifare.md); `doorctl cards encode` writes it
  desfire_key    32 hex digits (16 bytes): the AES-128 key of the DESFire application key that
                 reads the card code (config card.desfire; docs/cards-desfire.md), or the master
                 key the cards' keys are diversified from (card.desfire.diversify); for
                 card.desfire.crypto 3des 32 (2K3DES) or 48 (3K3DES), for des 16 or 32 hex digits
                 (startup.open_door and Door.apply_config check it against the crypto)
  plus_keys      a list of 1-3 keys of 32 hex digits: the AES-128 keys a MIFARE Plus SL3 sector
                 holding the card code may have, tried in order (config card.plus;
                 docs/cards-plus.md)
"""
from configerror import ConfigError

SECRETS_FILE = "secrets.json"
FIELDS = ("wifi_password", "site_key", "qr_key", "admin_hash", "http_open_hash", "lpr_hash", "mifare_key", "desfire_key",
          "plus_keys")


def _hex_key(value, path, field, n=32):
    if isinstance(value, str) and len(value) == 2 * n:
        b = value.encode()  # (bytes: iterating the str would intern each digit as a name)
        for c in b:
            if not (0x30 <= c <= 0x39 or 0x41 <= c <= 0x46 or 0x61 <= c <= 0x66):
                break
        else:
            return bytes(int(value[i:i + 2], 16) for i in range(0, 2 * n, 2))
    raise ConfigError(path, field, "must be %d hex digits (%d bytes)" % (2 * n, n))  # (never the value)


def validate(doc, path=SECRETS_FILE):
    """Return {"wifi_password": str, "site_key": bytes|None, "qr_key": bytes|None, the hashes (str),
    "mifare_key", "desfire_key": bytes, "plus_keys": [bytes] (only when given)}."""
    if not isinstance(doc, dict):
        raise ConfigError(path, "(top)", "must be a JSON object")
    for key in doc:
        if key not in FIELDS:
            raise ConfigError(path, key, "unknown secret")
    pw = doc.get("wifi_password", "")
    if not isinstance(pw, str) or len(pw) > 64:
        raise ConfigError(path, "wifi_password", "must be text of at most 64 characters")
    out = {"wifi_password": pw, "site_key": None, "qr_key": None, "admin_hash": "", "http_open_hash": "", "lpr_hash": ""}
    for k in ("site_key", "qr_key"):
        if k in doc:
            out[k] = _hex_key(doc[k], path, k)
    if "mifare_key" in doc:
        out["mifare_key"] = _hex_key(doc["mifare_key"], path, "mifare_key", 6)
    if "desfire_key" in doc:
        v = doc["desfire_key"]  # AES-128 / 2K3DES 16 bytes, DES 8, 3K3DES 24 (which: card.desfire.crypto)
        n = len(v) // 2 if isinstance(v, str) and len(v) in (16, 48) else 16
        out["desfire_key"] = _hex_key(v, path, "desfire_key", n)
    if "plus_keys" in doc:
        keys = doc["plus_keys"]
        if not isinstance(keys, list) or not 1 <= len(keys) <= 3:
            raise ConfigError(path, "plus_keys", "must be a list of 1-3 keys of 32 hex digits (16 bytes)")
        out["plus_keys"] = [_hex_key(k, path, "plus_keys", 16) for k in keys]
    for k in ("admin_hash", "http_open_hash", "lpr_hash"):
        if k in doc:
            from doorapp.config.passwords import valid_hash  # (only for a file with hashes: start-up heap)

            if not valid_hash(doc[k]):
                raise ConfigError(path, k, "must be a password hash made by doorctl (pbkdf2-sha256$...)")
            out[k] = doc[k]
    return out


def to_file(sec):
    """The dict to write back to secrets.json (keys as hex, empty fields left out)."""
    out = {}
    for k in FIELDS:
        v = sec.get(k)
        if isinstance(v, list):
            v = [x.hex() for x in v]
        if v:
            out[k] = v.hex() if isinstance(v, (bytes, bytearray)) else v
    return out

"""card.plus (docs/cards-plus.md): the card code read from a block of a MIFARE Plus in security
level 3 after AES authentication. Its own module, loaded by schema.validate only when the
section is given or the board is psram: a lean board (where it is refused) never interns its
names.

  sector       the sector holding the code: 0-31 (2K), 32-39 (4K: 16 blocks each)
  block        the block in it: 0-2 (0-14 in sectors 32-39; the last block is the sector trailer)
  key_type     "A" or "B": which of the sector's AES keys reads it
  keys         how many of the site's Plus keys (secrets.json plus_keys, in order) the door
               tries, 1-3: a card holding any one of them gives its code (the seed's "three
               choices": old and new keys while cards are re-encoded, or several sites)
  uid_fallback cards that are not MIFARE Plus are decided on their UID (off: card_not_plus)
"""
from configerror import ConfigError

PLUS = {"enabled": (bool, False, 0, 0), "sector": (int, 1, 0, 39), "block": (int, 0, 0, 14),
        "key_type": (("A", "B"), "A", 0, 0), "keys": (int, 1, 1, 3), "uid_fallback": (bool, False, 0, 0)}


def check(given, path, section):
    """The full card.plus from `given` (defaults filled in) or ConfigError naming the field;
    `section` is schema's checker of one object against a spec."""
    p = section(given, PLUS, path, "card.plus")
    last = 2 if p["sector"] < 32 else 14
    if p["block"] > last:
        raise ConfigError(path, "card.plus.block", "sector %d's blocks are 0-%d (block %d is its trailer), got %d"
                          % (p["sector"], last, last + 1, p["block"]))
    if p["sector"] == 0 and p["block"] == 0:
        raise ConfigError(path, "card.plus.block", "sector 0 block 0 is the manufacturer block (UID): "
                          "use block 1 or 2, or another sector")
    return p

"""A MIFARE Classic 1K described in JSON terms -> its memory (pn532emu.mifare.classic_memory).

What the simulator's control channel (`tap`/`place` with "mifare") and the emulator service
pass on; loaded only when such a card is placed.

    {"sectors": {"1": {"key_a": "A0A1A2A3A4A5", "key_b": "B0B1B2B3B4B5", "access": "787788"}},
     "blocks": {"4": "00003039"}}

Every field is optional: sectors not named keep FF..FF keys and the transport access bits
(FF 07 80); "access" is 3 or 4 bytes of hex (the 4th is the general purpose byte); a block's
hex fills it from its first byte (up to 16 bytes), the rest stays zero. ValueError names what
is wrong.
"""
from .hexdesc import hex_bytes
from .mifare import DEFAULT_KEY, classic_memory, conditions


def memory(uid, desc):
    if not isinstance(desc, dict):
        raise ValueError("mifare must be an object with sectors and blocks")
    for k in desc:
        if k not in ("sectors", "blocks"):
            raise ValueError("mifare: unknown field %r (known: sectors, blocks)" % k)
    keys = {}
    access = {}
    sectors = desc.get("sectors", {})
    for s in sectors:
        n = int(s)
        if not 0 <= n <= 15:
            raise ValueError("mifare sector must be 0-15, got %r" % s)
        sec = sectors[s]
        keys[n] = (hex_bytes(sec.get("key_a", "FF" * 6), "mifare sectors.%d.key_a" % n, range(6, 7)),
                   hex_bytes(sec.get("key_b", "FF" * 6), "mifare sectors.%d.key_b" % n, range(6, 7)))
        if "access" in sec:
            acc = hex_bytes(sec["access"], "mifare sectors.%d.access" % n, range(3, 5))
            if conditions(acc) is None:
                raise ValueError("mifare sectors.%d.access: the inverted copies of the access bits disagree" % n)
            access[n] = acc
    data = {}
    blocks = desc.get("blocks", {})
    for b in blocks:
        n = int(b)
        if not 1 <= n <= 63 or n & 3 == 3:
            raise ValueError("mifare block must be a data block 1-62 (not a sector trailer 3, 7, ...), got %r" % b)
        data[n] = hex_bytes(blocks[b], "mifare blocks.%d" % n, range(1, 17))
    return classic_memory(bytes(uid), DEFAULT_KEY, DEFAULT_KEY, 64, data, keys, access)

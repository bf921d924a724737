"""MIFARE Classic in the PN532 emulator: card memory and InDataExchange (auth, read, write).

The PN532 runs Crypto1 itself: the host sends the key in the clear and gets a status byte, so
the emulator checks the key against the sector trailer and answers with the chip's statuses:
  0x00 OK
  0x14 MIFARE authentication error (wrong key, or the UID bytes do not match the card)
  0x13 data format error: what the PN532 reports when the card NAKs a READ or WRITE (access
       bits forbid it, or the sector is not authenticated); the card then drops to idle
  0x27 command not acceptable in this context (no target selected)
  0x01 timeout (the card left the field)

Access bits (sector trailer bytes 6-8) are enforced as on a card (NXP MF1S50 section 8.7):
data blocks by their C1 C2 C3 (read/write with key A, key B, both or never; key B never serves
for data while the trailer lets key B be read), the trailer by its own C1 C2 C3 (key A never
reads back, key B and the access bits per the table). A trailer WRITE with inconsistent access
bits (an inverted copy that does not match) is refused here: a real card would take it and lock
the sector for good. Value-block commands (increment, decrement) are not modelled. A card placed with a MIFARE SAK
(bit 0x08: every 4-byte UID by default) but no memory is a blank 1K, made when first used.
"""
from micropython import const

_CMD_INDATAEXCHANGE = const(0x40)  # PN532 InDataExchange

# InDataExchange status codes
_ST_OK = const(0x00)
_ST_TIMEOUT = const(0x01)  # target did not answer
_ST_FORMAT = const(0x13)  # the card answered a NAK (access denied / not authenticated)
_ST_AUTH = const(0x14)  # MIFARE authentication error
_ST_CONTEXT = const(0x27)  # command not acceptable in the current context (no target)

DEFAULT_KEY = b"\xff\xff\xff\xff\xff\xff"
TRANSPORT_ACCESS = b"\xff\x07\x80\x69"  # transport configuration access bits + GPB
_ACCESS = TRANSPORT_ACCESS

# data block conditions C1C2C3 (as an int c1<<2|c2<<1|c3) -> (read, write) masks: 1 = key A,
# 2 = key B, 3 = either, 0 = never
_DATA = (b"\x03\x03", b"\x03\x00", b"\x03\x00", b"\x02\x02", b"\x03\x02", b"\x02\x00", b"\x03\x02", b"\x00\x00")
# (000, 001, 010, 011, 100, 101, 110, 111; 001: write never, decrement only; 110: write B)
# trailer conditions -> (key A write, access read, access write, key B read, key B write)
_TRAILER = (b"\x01\x01\x00\x01\x01", b"\x01\x01\x01\x01\x01", b"\x00\x01\x00\x01\x00", b"\x02\x03\x02\x00\x02",
            b"\x02\x03\x00\x00\x02", b"\x00\x03\x02\x00\x00", b"\x00\x03\x00\x00\x00", b"\x00\x03\x00\x00\x00")


def access_bits(conds):
    """The 3 access bytes for (c0, c1, c2, c3): each block's C1C2C3 as an int 0-7 (trailer last)."""
    b6 = b7 = b8 = 0
    for i in range(4):
        c = conds[i]
        c1 = (c >> 2) & 1
        c2 = (c >> 1) & 1
        c3 = c & 1
        b6 |= ((c2 ^ 1) << (4 + i)) | ((c1 ^ 1) << i)
        b7 |= (c1 << (4 + i)) | ((c3 ^ 1) << i)
        b8 |= (c3 << (4 + i)) | (c2 << i)
    return bytes((b6, b7, b8))


def conditions(acc):
    """(c0, c1, c2, c3) from the 3 access bytes, or None when the inverted copies disagree."""
    b6, b7, b8 = acc[0], acc[1], acc[2]
    if (b6 ^ (b7 >> 4) ^ 0x0F) & 0x0F or ((b6 >> 4) ^ b8 ^ 0x0F) & 0x0F or ((b7 & 0x0F) ^ (b8 >> 4) ^ 0x0F) & 0x0F:
        return None
    out = []
    for i in range(4):
        out.append((((b7 >> (4 + i)) & 1) << 2) | (((b8 >> i) & 1) << 1) | ((b8 >> (4 + i)) & 1))
    return tuple(out)


def classic_memory(uid, key_a=DEFAULT_KEY, key_b=DEFAULT_KEY, blocks=64, data=None, keys=None, access=None):
    """Memory of a MIFARE Classic card (64 blocks = 1K, 256 = 4K).

    Block 0 holds the UID (+ BCC for 4-byte UIDs); every sector trailer holds key A, the
    access bits and key B. `keys` maps a sector number to (key_a, key_b) to override a sector;
    `access` maps a sector number to its 3 (or 4, with the GPB) access bytes (default: the
    transport configuration FF 07 80 69); `data` maps block numbers to up to 16 bytes.
    """
    mem = bytearray(blocks * 16)
    n = len(uid)
    mem[0:n] = uid
    if n == 4:
        mem[4] = uid[0] ^ uid[1] ^ uid[2] ^ uid[3]
        mem[5:8] = b"\x08\x04\x00"
    b = 3
    sector = 0
    while b < blocks:
        ka, kb = (keys or {}).get(sector, (key_a, key_b))
        acc = (access or {}).get(sector, _ACCESS)
        o = b * 16
        mem[o : o + 6] = ka
        mem[o + 6 : o + 10] = _ACCESS
        mem[o + 6 : o + 6 + len(acc)] = acc
        mem[o + 10 : o + 16] = kb
        sector += 1
        b += 4 if b < 128 else 16
    if data:
        for blk in data:
            v = data[blk]
            mem[blk * 16 : blk * 16 + len(v)] = v
    return mem


def _trailer(block):
    """The sector trailer block of `block` (4-block sectors below 128, 16-block above)."""
    return block | 3 if block < 128 else block | 15


def _cond(mem, blk, t):
    """C1C2C3 of block `blk` from its trailer `t` (the trailer's own when blk == t); None when
    the access bits are inconsistent. 16-block sectors: blocks 0-4, 5-9, 10-14 share a group."""
    c = conditions(mem[t * 16 + 6 : t * 16 + 9])
    if c is None:
        return None
    i = blk & 3 if blk < 128 else (3 if blk == t else (blk & 15) // 5)
    return c[i]


def _nak(emu, code):
    """The card refused (NAK): it drops to idle, the PN532 reports a data format error."""
    emu._auth = None
    emu._selected = False
    emu._respond(code, bytes((_ST_FORMAT,)))


def exchange(emu, tg, data):
    """InDataExchange with target `tg` (MIFARE Classic auth/read/write on the card's memory)."""
    card = emu.card
    code = _CMD_INDATAEXCHANGE
    if tg != 1 or not emu._selected:
        emu._respond(code, bytes((_ST_CONTEXT,)))
        return
    if card is None:
        emu._selected = False
        emu._respond(code, bytes((_ST_TIMEOUT,)))
        return
    mem = card.memory
    op = data[0]
    if mem is None and card.sak & 0x08:  # placed by UID alone: a blank 1K (transport keys)
        mem = card.memory = classic_memory(card.uid)
    if mem is None:
        emu._respond(code, bytes((_ST_TIMEOUT,)))
        return
    nblocks = len(mem) // 16
    blk = data[1] if len(data) > 1 else 0
    if op in (0x60, 0x61):
        if len(data) != 12:
            emu._error()
            return
        ok = blk < nblocks and data[8:12] == card.uid[-4:]
        if ok:
            t = _trailer(blk) * 16
            key = mem[t : t + 6] if op == 0x60 else mem[t + 10 : t + 16]
            ok = key == data[2:8] and _cond(mem, blk, _trailer(blk)) is not None
        if ok:
            emu._auth = _trailer(blk)
            emu._key = 1 if op == 0x60 else 2
            emu._respond(code, b"\x00")
        else:
            emu._auth = None
            emu._selected = False  # the card drops back to idle: select it again
            emu._respond(code, bytes((_ST_AUTH,)))
        return
    t = emu._auth
    if blk >= nblocks or t != _trailer(blk) or op not in (0x30, 0xA0):
        if op in (0x30, 0xA0):
            _nak(emu, code)
        else:
            emu._respond(code, bytes((_ST_TIMEOUT,)))
        return
    k = emu._key
    ct = _cond(mem, t, t)
    rules = _TRAILER[ct]
    if blk != t and k == 2 and rules[3]:  # key B readable: it cannot serve for data
        _nak(emu, code)
        return
    o = blk * 16
    if op == 0x30 and len(data) == 2:
        out = bytearray(17)
        if blk == t:
            if rules[1] & k:
                out[7:11] = mem[o + 6 : o + 10]
            if rules[3] & k:
                out[11:17] = mem[o + 10 : o + 16]  # key A never reads back
        elif _DATA[_cond(mem, blk, t)][0] & k:
            out[1:] = mem[o : o + 16]
        else:
            _nak(emu, code)
            return
        emu._respond(code, out)
    elif op == 0xA0 and len(data) == 18:
        new = data[2:18]
        if blk == 0:
            _nak(emu, code)
            return
        if blk == t:
            if not (rules[0] | rules[2] | rules[4]) & k:
                _nak(emu, code)
                return
            if rules[2] & k and conditions(new[6:9]) is None:
                _nak(emu, code)  # (a real card would lock the sector: see the module docstring)
                return
            if rules[0] & k:
                mem[o : o + 6] = new[0:6]
            if rules[2] & k:
                mem[o + 6 : o + 10] = new[6:10]
            if rules[4] & k:
                mem[o + 10 : o + 16] = new[10:16]
        elif _DATA[_cond(mem, blk, t)][1] & k:
            mem[o : o + 16] = new
        else:
            _nak(emu, code)
            return
        emu._respond(code, b"\x00")
    else:
        emu._respond(code, bytes((_ST_TIMEOUT,)))

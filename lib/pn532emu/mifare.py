"""MIFARE Classic in the PN532 emulator: card memory and InDataExchange (auth, read, write)."""
from micropython import const

_CMD_INDATAEXCHANGE = const(0x40)  # = pn532.frames.CMD_INDATAEXCHANGE

# InDataExchange status codes
_ST_OK = const(0x00)
_ST_TIMEOUT = const(0x01)  # target did not answer
_ST_AUTH = const(0x14)  # MIFARE authentication error
_ST_CONTEXT = const(0x27)  # command not acceptable in the current context (no target)

DEFAULT_KEY = b"\xff\xff\xff\xff\xff\xff"
_ACCESS = b"\xff\x07\x80\x69"  # transport configuration access bits + GPB


def classic_memory(uid, key_a=DEFAULT_KEY, key_b=DEFAULT_KEY, blocks=64, data=None, keys=None):
    """Memory of a MIFARE Classic card (64 blocks = 1K, 256 = 4K).

    Block 0 holds the UID (+ BCC for 4-byte UIDs); every sector trailer holds key A, the
    transport access bits and key B. `keys` maps a sector number to (key_a, key_b) to override
    a sector; `data` maps block numbers to up to 16 bytes.
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
        o = b * 16
        mem[o : o + 6] = ka
        mem[o + 6 : o + 10] = _ACCESS
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
            ok = key == data[2:8]
        if ok:
            emu._auth = _trailer(blk)
            emu._respond(code, b"\x00")
        else:
            emu._auth = None
            emu._selected = False  # the card drops back to idle: select it again
            emu._respond(code, bytes((_ST_AUTH,)))
    elif op == 0x30 and len(data) == 2:
        if blk >= nblocks or emu._auth != _trailer(blk):
            emu._respond(code, bytes((_ST_AUTH,)))
            return
        out = bytearray(17)
        out[1:] = mem[blk * 16 : blk * 16 + 16]
        if blk == emu._auth:
            out[1:7] = b"\x00\x00\x00\x00\x00\x00"  # key A never reads back
        emu._respond(code, out)
    elif op == 0xA0 and len(data) == 18:
        if blk >= nblocks or blk == 0 or emu._auth != _trailer(blk):
            emu._respond(code, bytes((_ST_AUTH,)))
            return
        mem[blk * 16 : blk * 16 + 16] = data[2:18]
        emu._respond(code, b"\x00")
    else:
        emu._respond(code, bytes((_ST_TIMEOUT,)))

"""Binary layout of the user table (docs/user-table.md): constants, head/tail, keys, records.

This module is what reading needs (lookups, pages); encoding records and keys for writing
lives in `codec`. Key packers write into caller-owned buffers, so lookups allocate nothing.
Integers stay below 2**30 on every hot path (ESP32 small ints are 31-bit; larger ones are
heap objects).
"""
import struct
from binascii import crc32, hexlify

from micropython import const

MAGIC = b"DCUT"
TAIL_MAGIC = b"DCUt"
VERSION = const(1)

HEAD = "<4sBBBBII12sI"  # magic, version, card format id, flags, 0, serial, created, 0.., crc
HEAD_SIZE = const(32)
# magic, users, sched off/len, rec off/len, leaf off/n, maxrec, flags, keycheck,
# 5 x (off, n, buckets, key width, fan-out item size, fan-out off, max bucket), 0.., size, crc
TAIL = "<4sIIIIIIIHH4s" + "IIHBBIH" * 5 + "6sII"
TAIL_SIZE = const(144)
TAIL_FLAG_KEYCHECK = const(1)

REF = const(3)  # index entry: key bytes + 3-byte little-endian record offset
PAGE = const(2048)  # a leaf (uid, offset) entry at least every PAGE bytes of records
LEAF = const(8)  # leaf entry: uid u32 + record offset u32
LEAF_CHUNK = const(256)  # leaf entries per root slot (one read)
MAX_REFS = const(0xFFFFFF)  # records section limit (16 MiB)
HASH_LEN = const(8)  # keyed-hash key width (64 bits)
PLATE_LEN = const(8)  # 10 plate characters x 6 bits, packed

# Credential kinds: the numbers of eventcodes.KIND_* (also the HMAC kind byte).
K_CARD = const(1)
K_PIN = const(2)
K_QR = const(3)
K_BLE = const(4)
K_PLATE = const(5)
KINDS = (1, 2, 3, 4, 5)
KIND_NAMES = ("", "card", "pin", "qr", "ble", "plate")
NKINDS = const(6)  # index by kind number; slot 0 unused

# Record flags (byte f0, f1)
F_ADMIN = const(1)
F_RSA = const(2)
F_PIN = const(4)
F_QR = const(8)
F_BLE = const(16)
F_VALID = const(32)
F_EXTRA = const(64)
F_SCHED = const(128)
F1_NAME = const(64)
F1_PHONE = const(128)

MAX_CARDS = const(5)
MAX_PLATES = const(5)
MAX_SCHEDULES = const(16)
MAX_NAME = const(63)
MAX_PHONE = const(31)
MAX_RECORD = const(280)  # largest possible encoded record (bytes)

# packed width of a card code per card format id (index = format id)
CARD_WIDTH = (0, 4, 4, 5, 5, 4, 4, 11)

HEX_DIGITS = "0123456789ABCDEF"
PLATE_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # code = index + 1, 0 = padding


def key_width(kind, fid):
    """Bytes of index key for `kind` (without the ref): clear kinds carry a 2-byte hash prefix."""
    if kind == K_CARD:
        return 2 + CARD_WIDTH[fid]
    if kind == K_PLATE:
        return 2 + PLATE_LEN
    return HASH_LEN


def mix(b, off, n):
    """30-bit non-cryptographic hash of b[off:off+n]; top 16 bits order and bucket clear keys.

    Two 15-bit lanes so every product stays below 2**30 (no big ints on the ESP32).
    """
    a = 0x2F1B
    c = 0x51ED
    end = off + n
    while off < end:
        x = b[off]
        a = ((a ^ x) * 0x6F4D + (c >> 6)) & 0x7FFF
        c = (((c + x + 0x3B) * 0x4C1B) ^ (a >> 3)) & 0x7FFF
        off += 1
    a = ((a ^ (c >> 4)) * 0x7A35 + n) & 0x7FFF
    c = ((c ^ (a >> 5)) * 0x5D27) & 0x7FFF
    a = ((a ^ (c >> 7)) * 0x6C8B) & 0x7FFF
    c = ((c ^ (a >> 2)) * 0x4E6D) & 0x7FFF
    return (a << 15) | c


def prefix(b, n):
    """Fill b[0:2] with the hash prefix of the clear key at b[2:2+n]."""
    h = mix(b, 2, n)
    b[0] = h >> 22
    b[1] = (h >> 14) & 0xFF


def pack_card(code, fid, out, off):
    """Packed card code (normalised text in format `fid`) into out[off:]; False if malformed.

    Hex formats: two digits per byte; decimal formats: BCD; FULLH: UID length byte + UID
    zero padded to 10 bytes.
    """
    n = len(code)
    if fid == 7:
        if n < 8 or n > 20 or n & 1:
            return False
        out[off] = n >> 1
        off += 1
        w = 10
        digits = 16
    elif fid <= 2:
        if n != 8:
            return False
        w = 4
        digits = 16
    elif fid <= 4:
        if n != 10:
            return False
        w = 5
        digits = 10
    else:
        if n != 8:
            return False
        w = 4
        digits = 10
    i = 0
    while i < n:
        hi = HEX_DIGITS.find(code[i])
        lo = HEX_DIGITS.find(code[i + 1])
        if hi < 0 or lo < 0 or hi >= digits or lo >= digits:
            return False
        out[off] = (hi << 4) | lo
        off += 1
        i += 2
    while i < w * 2:
        out[off] = 0
        off += 1
        i += 2
    return True


def pack_plate(plate, out, off):
    """Normalised plate (A-Z, 0-9, 1..10 chars) as 10 x 6 bits into out[off:off+8]; False if bad.

    The last 4 bits stay zero (records use bit 0 of the last byte as the "has window" flag).
    """
    n = len(plate)
    if n < 1 or n > 10:
        return False
    acc = 0
    bits = 0
    i = 0
    while i < 10:
        v = 0
        if i < n:
            v = PLATE_CHARS.find(plate[i]) + 1
            if v == 0:
                return False
        acc = (acc << 6) | v
        bits += 6
        while bits >= 8:
            bits -= 8
            out[off] = (acc >> bits) & 0xFF
            off += 1
            acc &= (1 << bits) - 1
        i += 1
    out[off] = (acc << 4) & 0xF0
    return True


def unpack_card(b, off, fid):
    """Card code text from its packed form (allocates: pages and the export)."""
    if fid == 7:
        n = b[off]
        off += 1
    else:
        n = CARD_WIDTH[fid]
    return hexlify(b[off:off + n]).decode().upper()  # (few, small allocations: a page has many)


def unpack_plate(b, off):
    """Plate text from its packed form (pack_plate)."""
    chars = []
    acc = 0
    bits = 0
    for i in range(PLATE_LEN):
        acc = (acc << 8) | b[off + i]
        bits += 8
        while bits >= 6 and len(chars) < 10:
            bits -= 6
            v = (acc >> bits) & 63
            acc &= (1 << bits) - 1
            if v:
                chars.append(PLATE_CHARS[v - 1])
    return "".join(chars)


def key_check(keyed):
    """4 bytes stored in the tail so a device notices a site key that differs from the builder's."""
    return keyed.digest(b"\x00doorctl site key check")[:4]


def u32(b, off):
    return b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)


def put_u32(b, off, v):
    b[off] = v & 0xFF
    b[off + 1] = (v >> 8) & 0xFF
    b[off + 2] = (v >> 16) & 0xFF
    b[off + 3] = (v >> 24) & 0xFF


def rec_len(b, off):
    """(total length, prefix bytes) of the record starting at b[off]."""
    x = b[off]
    if x & 0x80:
        return ((x & 0x7F) << 8) | b[off + 1], 2
    return x, 1


def cards_at(b, off):
    """Offset of the first packed card of the record at b[off] (plates follow the cards)."""
    n, p = rec_len(b, off)
    i = off + p
    f0 = b[i + 4]
    f1 = b[i + 5]
    i += 6
    if f0 & F_EXTRA:
        i += 6
    if f0 & F_VALID:
        i += 8
    if f0 & F_SCHED:
        i += 1 + b[i]
    if f1 & F1_NAME:
        i += 1 + b[i]
    if f1 & F1_PHONE:
        i += 1 + b[i]
    return i


def unpack_head(b):
    """(version, card format id, serial, created) or ValueError."""
    magic, version, fid, _f, _z, serial, created, _r, crc = struct.unpack(HEAD, b)
    if magic != MAGIC:
        raise ValueError("not a user table (bad magic)")
    if crc != crc32(b[:HEAD_SIZE - 4]) & 0xFFFFFFFF:
        raise ValueError("header checksum mismatch")
    if version != VERSION:
        raise ValueError("format version %d, this firmware reads %d" % (version, VERSION))
    return version, fid, serial, created

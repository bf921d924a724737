"""Record and key encoding for writing a table (host build, device edits and compaction): a
module of its own because reading needs none of it (lookups and records back to text: fmt,
reader)."""
import struct
from binascii import crc32

from usertable import fmt


def keyed_key(keyed, kind, value):
    """Index key of a secret: HMAC-SHA256(site key, kind byte + value) truncated to 8 bytes."""
    return keyed.digest(bytes((kind,)) + value.encode())[:fmt.HASH_LEN]


def clear_key(kind, value, fid):
    """Index key (bytes) of a card or plate value; ValueError if it can't be packed."""
    w = fmt.key_width(kind, fid)
    b = bytearray(w)
    ok = fmt.pack_card(value, fid, b, 2) if kind == fmt.K_CARD else fmt.pack_plate(value, b, 2)
    if not ok:
        raise ValueError("cannot pack %s %r" % (fmt.KIND_NAMES[kind], value))
    fmt.prefix(b, w - 2)
    return bytes(b)


def encode_record(u, fid):
    """Bytes of one record for a normalised user dict (see validate.user)."""
    body = bytearray()
    body += struct.pack("<I", u["id"])
    f0 = 0
    if u["role"]:
        f0 |= fmt.F_ADMIN
    if u["rsa"]:
        f0 |= fmt.F_RSA
    if u["pin"] is not None:
        f0 |= fmt.F_PIN
    if u["qr"] is not None:
        f0 |= fmt.F_QR
    if u["ble"] is not None:
        f0 |= fmt.F_BLE
    if u["valid_from"] or u["valid_to"]:
        f0 |= fmt.F_VALID
    if u["relays"] != 1 or u["floors"] or u["web_relay"]:
        f0 |= fmt.F_EXTRA
    if tuple(u["schedules"]) != (0,):
        f0 |= fmt.F_SCHED
    name = u["name"].encode()
    phone = u["phone"].encode()
    f1 = len(u["cards"]) | (len(u["plates"]) << 3)
    if name:
        f1 |= fmt.F1_NAME
    if phone:
        f1 |= fmt.F1_PHONE
    body.append(f0)
    body.append(f1)
    if f0 & fmt.F_EXTRA:
        body += struct.pack("<BIB", u["relays"], u["floors"], u["web_relay"])
    if f0 & fmt.F_VALID:
        body += struct.pack("<II", u["valid_from"], u["valid_to"])
    if f0 & fmt.F_SCHED:
        body.append(len(u["schedules"]))
        body += bytes(u["schedules"])
    if name:
        body.append(len(name))
        body += name
    if phone:
        body.append(len(phone))
        body += phone
    w = fmt.CARD_WIDTH[fid]
    for code in u["cards"]:
        b = bytearray(w)
        if not fmt.pack_card(code, fid, b, 0):
            raise ValueError("card %r does not fit format id %d" % (code, fid))
        body += b
    for plate, t0, t1 in u["plates"]:
        b = bytearray(fmt.PLATE_LEN)
        if not fmt.pack_plate(plate, b, 0):
            raise ValueError("bad plate %r" % plate)
        if t0 or t1:
            b[fmt.PLATE_LEN - 1] |= 1
            body += b
            body += struct.pack("<II", t0, t1)
        else:
            body += b
    n = len(body) + 1
    if n > 127:
        n += 1
        return bytes((0x80 | (n >> 8), n & 0xFF)) + bytes(body)
    return bytes((n,)) + bytes(body)


def record_keys(b, off, fid, out):
    """Append (kind, key bytes) of the clear credentials (cards, plates) of the record at b[off]."""
    n, p = fmt.rec_len(b, off)
    end = off + n
    f1 = b[off + p + 5]
    i = fmt.cards_at(b, off)
    w = fmt.CARD_WIDTH[fid]
    for _ in range(f1 & 7):
        k = bytearray(2 + w)
        k[2:] = b[i:i + w]
        fmt.prefix(k, w)
        out.append((fmt.K_CARD, bytes(k)))
        i += w
    for _ in range((f1 >> 3) & 7):
        k = bytearray(2 + fmt.PLATE_LEN)
        k[2:] = b[i:i + fmt.PLATE_LEN]
        k[1 + fmt.PLATE_LEN] &= 0xF0
        windowed = b[i + fmt.PLATE_LEN - 1] & 1
        fmt.prefix(k, fmt.PLATE_LEN)
        out.append((fmt.K_PLATE, bytes(k)))
        i += fmt.PLATE_LEN + (8 if windowed else 0)
    if i != end:
        raise ValueError("record length mismatch")
    return out


def pack_head(serial, fid, created):
    h = struct.pack("<4sBBBBII12s", fmt.MAGIC, fmt.VERSION, fid, 0, 0, serial, created, bytes(12))
    return h + struct.pack("<I", crc32(h) & 0xFFFFFFFF)

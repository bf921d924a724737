"""Records back to text: card codes, plates, the export form of a user (lists, pages, the
export): cold code, loaded only for that (lookups need only `fmt`; writing: usertable.codec)."""
from binascii import hexlify

from usertable import fmt


def unpack_card(b, off, fid):
    """Card code text from its packed form (allocates: export only)."""
    if fid == 7:
        n = b[off]
        off += 1
    else:
        n = fmt.CARD_WIDTH[fid]
    return hexlify(b[off:off + n]).decode().upper()  # (few, small allocations: a page has many)


def unpack_plate(b, off):
    chars = []
    acc = 0
    bits = 0
    for i in range(fmt.PLATE_LEN):
        acc = (acc << 8) | b[off + i]
        bits += 8
        while bits >= 6 and len(chars) < 10:
            bits -= 6
            v = (acc >> bits) & 63
            acc &= (1 << bits) - 1
            if v:
                chars.append(fmt.PLATE_CHARS[v - 1])
    return "".join(chars)


def record_cards(rec):
    w = fmt.CARD_WIDTH[rec._fid]
    return [unpack_card(rec._buf, rec._cards + k * w, rec._fid) for k in range(rec.ncards)]


def record_plates(rec):
    """[(plate, from, to)] of a Record, 0 = unbounded."""
    out = []
    b = rec._buf
    i = rec._plates
    for _ in range(rec.nplates):
        p = unpack_plate(b, i)
        if b[i + fmt.PLATE_LEN - 1] & 1:
            out.append((p, fmt.u32(b, i + fmt.PLATE_LEN), fmt.u32(b, i + fmt.PLATE_LEN + 4)))
            i += fmt.PLATE_LEN + 8
        else:
            out.append((p, 0, 0))
            i += fmt.PLATE_LEN
    return out


def record_dict(rec):
    """Export form of a Record (no secrets): document fields with unix times, has_pin/qr/ble."""
    pl = []
    for p, t0, t1 in record_plates(rec):
        d = {"plate": p}
        if t0:
            d["from"] = t0
        if t1:
            d["to"] = t1
        pl.append(d)
    return {
        "id": rec.id, "name": rec.name, "role": "admin" if rec.role else "user",
        "phone": rec.phone, "cards": record_cards(rec), "plates": pl,
        "relays": [i + 1 for i in range(8) if rec.relays >> i & 1],
        "floors": [i + 1 for i in range(32) if rec.floors >> i & 1],
        "web_relay": rec.web_relay, "relay_schedule_activation": rec.rsa,
        "valid_from": rec.valid_from, "valid_to": rec.valid_to,
        "schedules": list(rec.schedules),
        "has_pin": rec.has_pin, "has_qr": rec.has_qr, "has_ble": rec.has_ble,
    }


def local(d, tz):
    """An exported user dict (record_dict) with its unix times as the site's local time
    text "YYYY-MM-DDTHH:MM" (None where unbounded); the time code (usertable.sitetime) is
    loaded only for a user with times (forget it when done)."""
    if not (d["valid_from"] or d["valid_to"]):
        d["valid_from"] = d["valid_to"] = None
        if not d["plates"]:
            return d
    from usertable import sitetime

    for k in ("valid_from", "valid_to"):
        d[k] = sitetime.unix_to_local(d[k], tz) if d[k] else None
    for p in d["plates"]:
        for k in ("from", "to"):
            if p.get(k):
                p[k] = sitetime.unix_to_local(p[k], tz)
    return d

"""BLE advertising data (AD structures: length, type, data) for the door: read without allocating,
build the door's own adverts (docs/ble.md).

The readers run on every scan result, inside or right after the scan IRQ, on memoryviews that
are valid only during the call: they take (buf, n) and return offsets into buf or small ints,
never slices, so they allocate nothing and keep working when the heap is full. A malformed
advert (a structure running past n, n past the buffer) is not an error here: every reader
answers "not found" (-1 / 0). A zero length byte ends the significant part, as the Core
Specification defines it (Vol 3 Part C 11): what follows (usually zero padding) is ignored.
"""
from micropython import const

AD_FLAGS = const(0x01)
AD_SHORT_NAME = const(0x08)
AD_NAME = const(0x09)
AD_TX_POWER = const(0x0A)
AD_MANUFACTURER = const(0xFF)

COMPANY_TEST = const(0xFFFF)  # SIG "reserved for internal use / testing": a product needs its own
COMPANY_APPLE = const(0x004C)

DOOR_VERSION = const(1)
DOOR_PAIRING = const(0x01)  # door advert flags bit0: a pairing code is live
MAX_ID = const(12)  # device ID bytes in the door advert
MAX_NAME = const(29)  # scan response: 31 bytes minus length and type
MSG_LEN = const(19)  # the phone message (bleproto)
IBEACON_LEN = const(23)  # 02 15 + UUID 16 + major 2 + minor 2 + power 1
FOB_ID_MAX = const(40)  # hex digits of an iBeacon id; an address gives 12
NO_TX = const(-999)

_HEX = b"0123456789ABCDEF"


def valid(buf, n):
    """True when the first n bytes of buf are a chain of whole AD structures."""
    if n < 0 or n > len(buf):
        return False
    i = 0
    while i < n:
        ln = buf[i]
        if ln == 0:
            return True
        i += 1 + ln
    return i == n


def find_ad(buf, n, ad_type):
    """Offset of the data of the first structure of ad_type, or -1 (absent or malformed advert).
    Its length is ad_len(buf, offset)."""
    return _find(buf, n, ad_type, -1, -1, 0, -1)


def ad_len(buf, off):
    """Length of the data at offset off (an answer of find_ad)."""
    return buf[off - 2] - 1


def _find_mfr(buf, n, company, m0, m1, dlen):
    """Manufacturer data of company whose data after the id starts with bytes m0, m1 (when m0 >= 0)
    and is exactly dlen long (when dlen >= 0); offset after the company id, or -1."""
    off = _find(buf, n, AD_MANUFACTURER, company, m0, m1, dlen)
    return off + 2 if off >= 0 else -1


def _find(buf, n, ad_type, company, m0, m1, dlen):
    """Offset of the data of the first structure of ad_type that matches (manufacturer data:
    `company` when >= 0, then _find_mfr's m0, m1, dlen), or -1; -1 too when any structure runs
    past n (a malformed advert is used for nothing)."""
    if n < 0 or n > len(buf):
        return -1
    i = 0
    hit = -1
    while i < n:
        ln = buf[i]
        if ln == 0:
            break
        j = i + 1 + ln
        if j > n:
            return -1
        if hit < 0 and buf[i + 1] == ad_type:
            if company < 0:
                hit = i + 2
            elif ln >= 3 and buf[i + 2] == company & 0xFF and buf[i + 3] == company >> 8:
                d = ln - 3
                if (dlen < 0 or d == dlen) and (m0 < 0 or (d >= 2 and buf[i + 4] == m0 and buf[i + 5] == m1)):
                    hit = i + 2
        i = j
    return hit


def find_mfr(buf, n, company):
    """Offset of the first manufacturer-specific data of company (after its 2-byte id), or -1.
    Its length is mfr_len(buf, offset)."""
    return _find_mfr(buf, n, company, -1, 0, -1)


def mfr_len(buf, off):
    """Length of the manufacturer data at off (an answer of find_mfr), company id excluded."""
    return buf[off - 4] - 3


def find_ibeacon(buf, n):
    """Offset of the 16-byte proximity UUID of an Apple iBeacon (4C 00 02 15 ...), or -1.
    Then major, minor and the measured power (RSSI at 1 m) follow the UUID."""
    off = _find_mfr(buf, n, COMPANY_APPLE, 0x02, 0x15, IBEACON_LEN)
    return off + 2 if off >= 0 else -1


def ibeacon_major(buf, u):
    return (buf[u + 16] << 8) | buf[u + 17]


def ibeacon_minor(buf, u):
    return (buf[u + 18] << 8) | buf[u + 19]


def ibeacon_power(buf, u):
    """The beacon's measured power: its RSSI at 1 m in dBm (signed)."""
    return _s8(buf[u + 20])


def find_phone(buf, n):
    """Offset of our phone message (company 0xFFFF, b"dp", 19 bytes), or -1."""
    off = _find_mfr(buf, n, COMPANY_TEST, 0x64, 0x70, 2 + MSG_LEN)
    return off + 2 if off >= 0 else -1


def tx_power(buf, n):
    """The advert's TX Power Level (dBm, signed), or NO_TX."""
    off = find_ad(buf, n, AD_TX_POWER)
    if off < 0 or ad_len(buf, off) != 1:
        return NO_TX
    return _s8(buf[off])


def _s8(v):
    return v - 256 if v > 127 else v


def _hex_into(out, k, buf, off, count):
    end = off + count
    while off < end:
        b = buf[off]
        out[k] = _HEX[b >> 4]
        out[k + 1] = _HEX[b & 15]
        k += 2
        off += 1
    return k


def fob_id(addr, buf, n, out):
    """Write the advert's fob id as upper-case hex ASCII into out (a bytearray of >= 40 bytes) and
    return its length: 40 for an iBeacon (UUID, major, minor), else 12 for the 6-byte address in
    the order MicroPython gives it (display order). 0 when the advert is malformed."""
    if not valid(buf, n):
        return 0
    u = find_ibeacon(buf, n)
    if u >= 0:
        return _hex_into(out, 0, buf, u, 20)
    if len(addr) != 6:
        return 0
    return _hex_into(out, 0, addr, 0, 6)


# --- builders: allocate, called when the challenge rotates or the settings change --------------
def door_adv(device_id, challenge, pairing_open):
    """The door's advert: Flags (LE General Discoverable, no BR/EDR) and manufacturer data
    FF FF "dc" version flags challenge(8) device-id(1-12 ASCII)."""
    did = device_id.encode() if isinstance(device_id, str) else bytes(device_id)
    if not 1 <= len(did) <= MAX_ID:
        raise ValueError("device id must be 1-12 bytes")
    for c in did:
        if c < 0x20 or c > 0x7E:
            raise ValueError("device id must be printable ASCII")
    if len(challenge) != 8:
        raise ValueError("challenge must be 8 bytes")
    head = bytes((2, AD_FLAGS, 0x06, 15 + len(did), AD_MANUFACTURER, 0xFF, 0xFF, 0x64, 0x63,
                  DOOR_VERSION, DOOR_PAIRING if pairing_open else 0))
    return head + bytes(challenge) + did


def door_scan_resp(name):
    """The door's scan response: Complete Local Name when its UTF-8 fits in 29 bytes, else a
    Shortened Local Name cut on a character boundary."""
    b = name.encode() if isinstance(name, str) else bytes(name)
    if not b:
        raise ValueError("empty name")
    t = AD_NAME
    if len(b) > MAX_NAME:
        k = MAX_NAME
        while k > 0 and (b[k] & 0xC0) == 0x80:  # b[k] continues the character before it
            k -= 1
        b = b[:k]
        t = AD_SHORT_NAME
    return bytes((len(b) + 1, t)) + b


def norm_fob_id(text):
    """A fob id as typed (colons, dashes, spaces, any case) -> 12 or 40 upper-case hex digits,
    or None when it is neither an address nor an iBeacon id."""
    if not isinstance(text, str):
        return None
    s = text.strip().replace(":", "").replace("-", "").replace(" ", "").upper()
    if len(s) not in (12, 40):
        return None
    for c in s:
        if c not in "0123456789ABCDEF":
            return None
    return s


# --- BLE events (eventlog records of kind ble) --------------------------------------------------
SOURCES = ("", "address", "ibeacon", "phone")  # a BLE event's fmt byte: what identified the device


def event_fields(rec, d):
    """A BLE event's fields for eventlog.to_dict: `code` the device id's last bytes in hex (after
    the RSSI byte the value starts with; "..." when cut), `rssi` and `ble` (its source)."""
    v = rec[6]
    d["code"] = ("" if len(v) < 8 else "...") + "%02X" * (len(v) - 1) % tuple(v[1:])
    d["rssi"] = v[0] - 256 if v[0] > 127 else v[0]
    d["ble"] = SOURCES[rec[5]] if rec[5] < len(SOURCES) else "?"

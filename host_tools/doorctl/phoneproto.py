"""The phone side of the door's BLE protocol (docs/ble.md), for CPython: the reference phone
(`doorctl phone`), the simulator's phone and the tests.

Written apart from the device modules (lib/bleadv.py, lib/bleproto.py) on purpose: the MAC here
is the `cryptography` package's HMAC-SHA256, the door's is hashlib, and tests check that the two
agree, so a mistake in either shows instead of being shared.
"""
from __future__ import annotations

import dataclasses
import struct

from cryptography.hazmat.primitives import constant_time, hashes
from cryptography.hazmat.primitives import hmac as _hmac

VERSION = 1
MSG_LEN = 19
TAG_LEN = 8
KEY_LEN = 16
CHALLENGE_LEN = 8
DOMAIN = b"DCP1"
FLAG_MOVED = 0x01
FLAG_WAVE = 0x02
FLAG_RSSI_VALID = 0x04
PHONE_ID_MAX = 0x3FFFFFFF  # ids a door issues
COUNTER_MAX = 0xFFFFFFFF

COMPANY_TEST = 0xFFFF  # Bluetooth SIG: reserved for internal use / testing
COMPANY_APPLE = 0x004C
DOOR_MAGIC = b"dc"
PHONE_MAGIC = b"dp"
DOOR_FLAG_PAIRING = 0x01

AD_FLAGS = 0x01
AD_SHORT_NAME = 0x08
AD_NAME = 0x09
AD_MANUFACTURER = 0xFF
FLAGS_LE_GENERAL_NO_BREDR = 0x06

SERVICE_UUID = "57817e98-849f-4ccd-83db-90804116181a"
CHALLENGE_UUID = "57817e98-849f-4ccd-83db-90804116181b"
UNLOCK_UUID = "57817e98-849f-4ccd-83db-90804116181c"
PAIR_UUID = "57817e98-849f-4ccd-83db-90804116181d"
PAIR_REQUEST = 0x01
PAIR_RESULT = 0x01


# --- AD structures ----------------------------------------------------------------------------
def ad_structures(data: bytes) -> list[tuple[int, bytes]]:
    """(type, data) of each AD structure; a zero length ends the significant part. ValueError when
    a structure runs past the end."""
    out = []
    i = 0
    while i < len(data):
        ln = data[i]
        if ln == 0:
            break
        if i + 1 + ln > len(data):
            raise ValueError("AD structure at %d runs past the end" % i)
        out.append((data[i + 1], bytes(data[i + 2:i + 1 + ln])))
        i += 1 + ln
    return out


def ad(ad_type: int, payload: bytes) -> bytes:
    if len(payload) > 254:
        raise ValueError("AD data too long")
    return bytes((len(payload) + 1, ad_type)) + payload


def manufacturer(company: int, payload: bytes) -> bytes:
    return ad(AD_MANUFACTURER, struct.pack("<H", company) + payload)


def flags_ad(flags: int = FLAGS_LE_GENERAL_NO_BREDR) -> bytes:
    return ad(AD_FLAGS, bytes((flags,)))


# --- the phone message -------------------------------------------------------------------------
def tag(key: bytes, challenge: bytes, signed: bytes) -> bytes:
    """First 8 bytes of HMAC-SHA256(key, b"DCP1" + challenge + the message's bytes 0..10)."""
    if len(key) != KEY_LEN or len(challenge) != CHALLENGE_LEN or len(signed) != 11:
        raise ValueError("key 16, challenge 8 and signed part 11 bytes")
    h = _hmac.HMAC(key, hashes.SHA256())
    h.update(DOMAIN + challenge + signed)
    return h.finalize()[:TAG_LEN]


def build_message(key: bytes, challenge: bytes, phone_id: int, counter: int, moved: bool = False,
                  wave: bool = False, rssi: int | None = None) -> bytes:
    """The 19-byte message; rssi (the phone's own RSSI of the door, iOS mode) sets rssi_valid."""
    if not 1 <= phone_id <= 0xFFFFFFFF:
        raise ValueError("phone id must be a nonzero u32")
    if not 0 <= counter <= COUNTER_MAX:
        raise ValueError("counter must be a u32")
    fl = (FLAG_MOVED if moved else 0) | (FLAG_WAVE if wave else 0)
    r = 0
    if rssi is not None:
        if not -128 <= rssi <= 127:
            raise ValueError("rssi must fit an int8")
        fl |= FLAG_RSSI_VALID
        r = rssi
    signed = struct.pack(">BIIBb", VERSION, phone_id, counter, fl, r)
    return signed + tag(key, challenge, signed)


@dataclasses.dataclass(frozen=True)
class PhoneMessage:
    version: int
    phone_id: int
    counter: int
    flags: int
    rssi: int | None  # None unless rssi_valid
    tag: bytes

    @property
    def moved(self) -> bool:
        return bool(self.flags & FLAG_MOVED)

    @property
    def wave(self) -> bool:
        return bool(self.flags & FLAG_WAVE)


def parse_message(msg: bytes) -> PhoneMessage:
    """Fields of a message (no tag check)."""
    if len(msg) != MSG_LEN:
        raise ValueError("a phone message is 19 bytes")
    v, pid, ctr, fl, r = struct.unpack(">BIIBb", msg[:11])
    return PhoneMessage(v, pid, ctr, fl, r if fl & FLAG_RSSI_VALID else None, bytes(msg[11:]))


def verify_message(key: bytes, challenge: bytes, msg: bytes) -> bool:
    """Tag check in constant time (the simulator's own check; the door uses lib/bleproto)."""
    if len(msg) != MSG_LEN or msg[0] != VERSION:
        return False
    return constant_time.bytes_eq(tag(key, challenge, bytes(msg[:11])), bytes(msg[11:]))


def phone_adv(message: bytes) -> bytes:
    """The Android hands-free advert: Flags + manufacturer data FF FF "dp" + message (28 bytes)."""
    if len(message) != MSG_LEN:
        raise ValueError("a phone message is 19 bytes")
    return flags_ad() + manufacturer(COMPANY_TEST, PHONE_MAGIC + message)


class Phone:
    """A paired phone: its id and key, and the counter it must keep increasing (persist it)."""

    def __init__(self, phone_id: int, key: bytes, counter: int = 0):
        if len(key) != KEY_LEN:
            raise ValueError("key must be 16 bytes")
        self.phone_id = phone_id
        self.key = bytes(key)
        self.counter = counter

    def message(self, challenge: bytes, moved: bool = False, wave: bool = False,
                rssi: int | None = None) -> bytes:
        """A new message (the counter goes up by one each time)."""
        if self.counter >= COUNTER_MAX:
            raise OverflowError("counter exhausted: pair again")
        self.counter += 1
        return build_message(self.key, challenge, self.phone_id, self.counter, moved, wave, rssi)


# --- the door's advert and scan response --------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class DoorAdvert:
    version: int
    pairing_open: bool
    challenge: bytes
    device_id: str
    name: str | None = None  # from the scan response
    name_complete: bool = True


def parse_door_payload(payload: bytes) -> DoorAdvert | None:
    """b"dc" version flags challenge(8) device-id: the door advert's manufacturer data after the
    company id, which is also the value of the challenge characteristic."""
    if len(payload) < 2 + 1 + 1 + CHALLENGE_LEN + 1 or payload[:2] != DOOR_MAGIC:
        return None
    did = payload[12:]
    if payload[2] != 1 or len(did) > 12 or any(not 0x20 <= c <= 0x7E for c in did):
        return None
    return DoorAdvert(payload[2], bool(payload[3] & DOOR_FLAG_PAIRING), bytes(payload[4:12]),
                      did.decode("ascii"))


def parse_door_adv(adv: bytes, scan_resp: bytes | None = None) -> DoorAdvert | None:
    """The door's fields from its advert (None if it is not a door's, or malformed), with the
    name from the scan response when given."""
    try:
        structs = ad_structures(adv)
    except ValueError:
        return None
    for t, d in structs:
        if t == AD_MANUFACTURER and len(d) >= 2 and struct.unpack("<H", d[:2])[0] == COMPANY_TEST:
            door = parse_door_payload(d[2:])
            if door is not None:
                if scan_resp is not None:
                    name = parse_scan_resp(scan_resp)
                    if name is not None:
                        door = dataclasses.replace(door, name=name[0], name_complete=name[1])
                return door
    return None


def parse_scan_resp(data: bytes) -> tuple[str, bool] | None:
    """(name, complete) from a scan response; None without a name or when malformed."""
    try:
        structs = ad_structures(data)
    except ValueError:
        return None
    for t, d in structs:
        if t in (AD_NAME, AD_SHORT_NAME):
            try:
                return d.decode("utf-8"), t == AD_NAME
            except UnicodeDecodeError:
                return None
    return None


# --- fobs (tests, the simulator's background) --------------------------------------------------
def ibeacon_adv(uuid: bytes, major: int, minor: int, power: int = -59, with_flags: bool = True) -> bytes:
    """An Apple iBeacon advert: 4C 00 02 15 UUID(16) major minor (BE) measured power (int8)."""
    if len(uuid) != 16:
        raise ValueError("uuid must be 16 bytes")
    body = b"\x02\x15" + bytes(uuid) + struct.pack(">HHb", major, minor, power)
    return (flags_ad() if with_flags else b"") + manufacturer(COMPANY_APPLE, body)


def fob_id(addr: bytes, adv: bytes) -> str | None:
    """The fob id the door computes: iBeacon UUID+major+minor (40 hex digits), else the address
    (12 hex digits, display order). None for a malformed advert."""
    try:
        structs = ad_structures(adv)
    except ValueError:
        return None
    for t, d in structs:
        if t == AD_MANUFACTURER and len(d) == 25 and d[:4] == b"\x4c\x00\x02\x15":
            return d[4:24].hex().upper()
    return bytes(addr).hex().upper()


# --- pairing over GATT ---------------------------------------------------------------------------
def pair_request(user_id: int) -> bytes:
    """Written to the pairing characteristic before LE Secure Connections pairing."""
    return struct.pack(">BI", PAIR_REQUEST, user_id)


def parse_pair_result(data: bytes) -> tuple[int, bytes]:
    """(phone id, key) read from the pairing characteristic over the authenticated link."""
    if len(data) != 1 + 4 + KEY_LEN or data[0] != PAIR_RESULT:
        raise ValueError("not a pairing result")
    pid = struct.unpack(">I", data[1:5])[0]
    if not 1 <= pid <= PHONE_ID_MAX:
        raise ValueError("bad phone id")
    return pid, bytes(data[5:])

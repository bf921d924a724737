"""The phone protocol on the door (docs/ble.md): the 19-byte phone message, its HMAC tag, the
door's rotating challenge, and the GATT UUIDs.

Message: version(1) phone-id(4, BE) counter(4, BE) flags(1) rssi(1, signed) tag(8), where
tag = HMAC-SHA256(key, b"DCP1" + challenge(8) + bytes 0..10)[:8]. The challenge is what the door
advertises now or advertised just before (rotated every 10 s), so a message captured from the air
stops working within 20 s; the counter, strictly increasing per phone, refuses it before that.

The field readers allocate nothing and return small ints (ESP32 small ints are 31-bit): phone
ids are issued below 2**30, the counter is compared as bytes against a 4-byte bytearray the door
keeps per phone. `Checker.check` hashes (hashlib objects and digests are allocated): call it in
the task, never in the IRQ, and only for a phone the door knows.
"""
import hashlib
import os

from micropython import const

from compat import ticks_diff

VERSION = const(1)
MSG_LEN = const(19)
SIGNED_LEN = const(11)  # bytes 0..10 are covered by the tag
TAG_LEN = const(8)
KEY_LEN = const(16)
CHALLENGE_LEN = const(8)

O_VERSION = const(0)
O_PHONE = const(1)
O_COUNTER = const(5)
O_FLAGS = const(9)
O_RSSI = const(10)
O_TAG = const(11)

F_MOVED = const(0x01)  # the phone moved in the last 5 s
F_WAVE = const(0x02)  # a user action / the app in front
F_RSSI_VALID = const(0x04)  # byte 10 is the phone's RSSI of the door (iOS mode)

PHONE_ID_MAX = const(0x3FFFFFFF)  # ids the door issues: 1..2**30-1 (small ints on the ESP32)
ROTATE_MS = const(10000)
DOMAIN = b"DCP1"

# GATT (128-bit, random; docs/ble.md)
SERVICE_UUID = "57817e98-849f-4ccd-83db-90804116181a"
CHALLENGE_UUID = "57817e98-849f-4ccd-83db-90804116181b"  # read: b"dc" version flags challenge id
UNLOCK_UUID = "57817e98-849f-4ccd-83db-90804116181c"  # write: one 19-byte message
PAIR_UUID = "57817e98-849f-4ccd-83db-90804116181d"  # write request, read result (encrypted)
PAIR_REQUEST = const(0x01)  # write: 01 + user id (u32 BE), before LE Secure Connections pairing
PAIR_RESULT = const(0x01)  # read (authenticated link): 01 + phone id (u32 BE) + key (16)

_BLOCK = const(64)
_IPAD = const(0x36)
_OPAD = const(0x5C)


# --- field readers: no allocation ----------------------------------------------------------
def version(buf, off):
    return buf[off]


def phone_id(buf, off):
    """The phone id, or -1 when it is 0 or not one the door issues (>= 2**30)."""
    b0 = buf[off + 1]
    if b0 & 0xC0:
        return -1
    v = (b0 << 24) | (buf[off + 2] << 16) | (buf[off + 3] << 8) | buf[off + 4]
    return v if v else -1


def counter_hi(buf, off):
    return (buf[off + 5] << 8) | buf[off + 6]


def counter_lo(buf, off):
    return (buf[off + 7] << 8) | buf[off + 8]


def counter_cmp(buf, off, last):
    """Compare the message's counter with last (4 bytes, big-endian, the phone's last accepted):
    1 newer, 0 the same message repeated (adverts repeat: an RSSI sample, never a second
    unlock), -1 older (refuse)."""
    i = 0
    while i < 4:
        a = buf[off + 5 + i]
        b = last[i]
        if a != b:
            return 1 if a > b else -1
        i += 1
    return 0


def store_counter(buf, off, last):
    """Copy the message's counter into last (a bytearray(4))."""
    i = 0
    while i < 4:
        last[i] = buf[off + 5 + i]
        i += 1


def save_message(buf, off, saved):
    """Copy the 19-byte message into saved (a bytearray(19) per phone): the last one verified."""
    i = 0
    while i < MSG_LEN:
        saved[i] = buf[off + i]
        i += 1


def is_repeat(buf, off, saved):
    """True when the message is byte for byte the last one verified (saved): an advert heard
    again, an RSSI sample that needs no second HMAC. Nothing secret is compared (the saved
    message was on the air), so an early exit is fine."""
    i = 0
    while i < MSG_LEN:
        if buf[off + i] != saved[i]:
            return False
        i += 1
    return True


def flags(buf, off):
    return buf[off + 9]


def moved(buf, off):
    return bool(buf[off + 9] & F_MOVED)


def wave(buf, off):
    return bool(buf[off + 9] & F_WAVE)


def rssi_valid(buf, off):
    return bool(buf[off + 9] & F_RSSI_VALID)


def rssi(buf, off):
    """The phone's own RSSI of the door's advert (dBm, signed); meaningful only if rssi_valid."""
    v = buf[off + 10]
    return v - 256 if v > 127 else v


# --- the tag ---------------------------------------------------------------------------------
class Checker:
    """Verifies message tags with buffers made once (the pads and the MAC'ed bytes)."""

    def __init__(self):
        self._pad = bytearray(_BLOCK)
        self._msg = bytearray(4 + CHALLENGE_LEN + SIGNED_LEN)
        self._msg[0:4] = DOMAIN

    def digest(self, key, challenge, buf, off):
        """HMAC-SHA256(key, b"DCP1" + challenge + buf[off:off+11]), all 32 bytes."""
        m = self._msg
        i = 0
        while i < CHALLENGE_LEN:
            m[4 + i] = challenge[i]
            i += 1
        i = 0
        while i < SIGNED_LEN:
            m[12 + i] = buf[off + i]
            i += 1
        pad = self._pad
        kl = len(key)
        i = 0
        while i < _BLOCK:
            pad[i] = (key[i] if i < kl else 0) ^ _IPAD
            i += 1
        h = hashlib.sha256(pad)
        h.update(m)
        inner = h.digest()
        i = 0
        while i < _BLOCK:
            pad[i] ^= _IPAD ^ _OPAD
            i += 1
        h = hashlib.sha256(pad)
        h.update(inner)
        return h.digest()

    def check(self, key, challenge, buf, off):
        """True when buf[off:off+19] is a version-1 message of a valid phone id whose tag is right
        for key and challenge (8-byte tag compared in constant time)."""
        if len(buf) - off < MSG_LEN or off < 0 or buf[off] != VERSION:
            return False
        if len(key) != KEY_LEN or len(challenge) != CHALLENGE_LEN or phone_id(buf, off) < 0:
            return False
        d = self.digest(key, challenge, buf, off)
        diff = 0
        i = 0
        while i < TAG_LEN:
            diff |= d[i] ^ buf[off + O_TAG + i]
            i += 1
        return diff == 0


# --- the door's challenge ---------------------------------------------------------------------
NONE = const(0)
CURRENT = const(1)
PREVIOUS = const(2)


class Challenge:
    """The door's current and previous 8-byte challenges. `tick(now_ms)` replaces the current one
    every period (the door then re-advertises); a message verifies under the current one or the
    one just before, and never under an older one (after a long stall both are new)."""

    def __init__(self, now_ms, period_ms=ROTATE_MS, urandom=None):
        self._rand = urandom or os.urandom
        self.period = period_ms
        self.current = bytearray(CHALLENGE_LEN)
        self.previous = bytearray(CHALLENGE_LEN)
        self.has_previous = False
        self._set(self.current)
        self.since = now_ms

    def _set(self, dst):
        r = self._rand(CHALLENGE_LEN)
        for i in range(CHALLENGE_LEN):
            dst[i] = r[i]

    def rotate(self, now_ms):
        self.previous[:] = self.current
        self.has_previous = True
        self._set(self.current)
        self.since = now_ms

    def tick(self, now_ms):
        """Rotate when the period is over; True when the challenge changed."""
        age = ticks_diff(now_ms, self.since)
        if age < self.period:
            return False
        self.rotate(now_ms)
        if age >= 2 * self.period:  # a stall: the old one was shown too long to count as previous
            self.has_previous = False
        return True

    def verify(self, checker, key, buf, off):
        """CURRENT or PREVIOUS: the challenge the message's tag is right for; NONE if neither."""
        if checker.check(key, self.current, buf, off):
            return CURRENT
        if self.has_previous and checker.check(key, self.previous, buf, off):
            return PREVIOUS
        return NONE

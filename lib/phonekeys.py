"""The phones paired with this door: phone id -> user id, key, last accepted counter (flash).

Each phone gets a 16-byte key at pairing (docs/ble.md); the door keeps it here, not in the user
table, so pushing a new table does not unpair anyone (a phone whose user is gone is refused as
unknown). One phone per user: pairing again replaces the old one (a lost phone stops working).
File `phones.bin`: 32-byte records,
    phone id u32 LE | user id u32 LE | counter 4 bytes (big-endian, as in the message) | key 16 | crc32 u32 LE
A record whose CRC fails (a torn write) is no phone. Lookups read 16 records at a time into one
buffer made at open; the file is never loaded whole.
"""
import os
import struct
from binascii import crc32

from micropython import const

REC = const(32)
_CHUNK = const(16)
MAX_PHONES = const(5000)
_ID_LIMIT = const(0x3FFFFFFF)  # phone ids below 2**30 (ESP32 small ints); bleproto.PHONE_ID_MAX


class PhoneKeys:
    def __init__(self, path):
        self.path = path
        self.buf = bytearray(REC * _CHUNK)
        self.count = 0
        try:
            self.count = os.stat(path)[6] // REC
        except OSError:
            pass

    def _valid(self, b, o):
        return crc32(memoryview(b)[o:o + 28]) == struct.unpack_from("<I", b, o + 28)[0]

    def find(self, phone_id):
        """Index of the phone's record, or -1."""
        return self._scan(0, phone_id, True)

    def read(self, index, key, counter):
        """Copy the record's key (16) and counter (4) into the caller's buffers; its user id."""
        with open(self.path, "rb") as f:
            f.seek(index * REC)
            f.readinto(self.buf)
        b = self.buf
        key[0:16] = memoryview(b)[12:28]
        counter[0:4] = memoryview(b)[8:12]
        return struct.unpack_from("<I", b, 4)[0]

    def user_of(self, index):
        with open(self.path, "rb") as f:
            f.seek(index * REC)
            f.readinto(self.buf)
        return struct.unpack_from("<I", self.buf, 4)[0]

    def _record(self, phone_id, user_id, counter, key):
        r = bytearray(struct.pack("<II", phone_id, user_id) + bytes(counter) + bytes(key) + b"\0\0\0\0")
        struct.pack_into("<I", r, 28, crc32(memoryview(r)[0:28]))
        return r

    def _write_at(self, index, rec):
        mode = "r+b" if self.count else "wb"
        with open(self.path, mode) as f:
            f.seek(index * REC)
            f.write(rec)
        if index >= self.count:
            self.count = index + 1

    def store_counter(self, index, counter):
        """The last accepted counter of the phone at `index` (after a decision)."""
        with open(self.path, "rb") as f:
            f.seek(index * REC)
            f.readinto(self.buf)
        b = self.buf
        self._write_at(index, self._record(struct.unpack_from("<I", b, 0)[0], struct.unpack_from("<I", b, 4)[0],
                                           counter, memoryview(b)[12:28]))

    def pair(self, user_id, urandom=os.urandom):
        """A new phone for `user_id` (replacing the user's old one): (phone id, key)."""
        key = urandom(16)
        while True:
            r = urandom(4)
            pid = (r[0] | r[1] << 8 | r[2] << 16 | r[3] << 24) & _ID_LIMIT
            if pid and self.find(pid) < 0:
                break
        slot = self.of_user(user_id)
        if slot < 0:
            if self.count >= MAX_PHONES:
                raise ValueError("phones: %d paired already (the most a door keeps)" % MAX_PHONES)
            slot = self.free_slot()
        self._write_at(slot, self._record(pid, user_id, b"\0\0\0\0", key))
        return pid, key

    def install(self, phone_id, user_id, key):
        """A phone paired elsewhere (the simulator's demo phone): stored as pair() would."""
        slot = self.of_user(user_id)
        if slot < 0:
            slot = self.find(phone_id)
        self._write_at(self.free_slot() if slot < 0 else slot, self._record(phone_id, user_id, b"\0\0\0\0", key))

    def of_user(self, user_id):
        """Index of the user's phone, or -1."""
        return self._scan(4, user_id)

    def free_slot(self):
        """A record slot whose phone was removed (id 0), else the end of the file."""
        i = self._scan(0, 0)
        return self.count if i < 0 else i

    def _scan(self, at, value, whole=False):
        """Index of the first record whose u32 at offset `at` is `value` (and, if `whole`, whose
        CRC holds), or -1; reads _CHUNK records at a time into the one buffer."""
        if not self.count:
            return -1
        b = self.buf
        with open(self.path, "rb") as f:
            i = 0
            while True:
                got = f.readinto(b)
                if not got:
                    return -1
                for o in range(0, got - REC + 1, REC):
                    p = o + at
                    if (b[p] | b[p + 1] << 8 | b[p + 2] << 16 | b[p + 3] << 24) == value and (
                            not whole or self._valid(b, o)):
                        return i + o // REC
                i += got // REC

    def remove(self, user_id):
        """Unpair the user's phone; True if there was one."""
        i = self.of_user(user_id)
        if i < 0:
            return False
        self._write_at(i, bytes(REC))
        return True

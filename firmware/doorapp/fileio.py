"""The device's files on flash, and small helpers for them: existence check, removal and atomic
replace (old or new, never a mix)."""
import io
import json
import os
from binascii import crc32

CONFIG_FILE = "config.json"
SECRETS_FILE = "secrets.json"
TABLE_FILE = "users.tbl"  # built by `doorctl users build` (or from a users.json document)
STAGED_FILE = TABLE_FILE + ".new"  # a table being received or installed, beside the live one
EVENTS_FILE = "events.log"
PHONES_FILE = "phones.bin"  # the phones paired for BLE unlock (lib/phonekeys.py)


def data_path(board, name):
    return board.data_dir + "/" + name


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def remove(path):
    """Remove path if it is there."""
    try:
        os.remove(path)
    except OSError:
        pass


def write_atomic(path, data):
    """Write to path.tmp, check it reads back, then rename over path: old or new, never a mix."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    with open(tmp, "rb") as f:
        if f.read() != data:
            raise OSError("verify failed writing " + path)
    _replace(tmp, path)


def _replace(tmp, path):
    try:
        os.rename(tmp, path)
    except OSError:  # some VFS refuse to rename over an existing file
        os.remove(path)
        os.rename(tmp, path)


class _Crc(io.IOBase):
    """A binary file that keeps the CRC-32 of what goes through it (json.dump's target)."""

    def __init__(self, f):
        self.f = f
        self.crc = 0

    def write(self, b):
        if isinstance(b, str):  # CPython's json writes text
            b = b.encode()
        self.crc = crc32(b, self.crc)
        return self.f.write(b)


def file_crc(path):
    """CRC-32 of a file, read in small pieces."""
    buf = bytearray(256)
    crc = 0
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                return crc
            crc = crc32(buf if n == 256 else memoryview(buf)[:n], crc)


def write_json_atomic(path, obj):
    """json.dump streamed to path.tmp (no text of the whole document in RAM: one contiguous
    block that a busy heap may not have), checked by reading it back against the CRC of what
    was written (no second copy of the document either), renamed over path."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        out = _Crc(f)
        json.dump(obj, out)
        want = out.crc
    if file_crc(tmp) != want:
        raise OSError("verify failed writing " + path)
    _replace(tmp, path)

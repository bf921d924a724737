"""ESP-IDF partition tables (binary form) and where MicroPython's filesystem lives in flash.

The table sits at 0x8000 in flash: 32-byte entries `AA 50 type subtype offset size label[16]
flags` (little-endian), then an MD5 row `EB EB FF*14 md5[16]` over the entries before it, then
0xFF padding, at most 0xC00 bytes in all.

MicroPython's vfs partition: firmwares before v1.26 list it as a data partition
labelled `vfs`; since v1.26 there is no such row and the filesystem runs from the end of the
last partition to the end of flash (4 MiB ESP32_GENERIC: 0x200000, size 0x200000). Both cases
are read from the firmware's own table, never hard-coded.
"""
import hashlib
import re
import struct
from collections import namedtuple

TABLE_OFFSET = 0x8000  # in flash, for every ESP32 family chip MicroPython builds for
TABLE_MAX = 0xC00
ENTRY_SIZE = 32
ENTRY_MAGIC = b"\xaa\x50"
MD5_MAGIC = b"\xeb\xeb"
TYPE_APP = 0x00
TYPE_DATA = 0x01
SUBTYPE_FACTORY = 0x00
SUBTYPE_OTA_0 = 0x10
BLOCK = 4096  # flash sector and LittleFS block
FLASH_SIZES = ("1MB", "2MB", "4MB", "8MB", "16MB", "32MB", "64MB", "128MB")

_ENTRY = struct.Struct("<2sBBII16sI")


class PartitionError(ValueError):
    """The partition table (or a flash size) is unusable; the message says why."""


class Partition(namedtuple("Partition", "label type subtype offset size flags")):
    @property
    def end(self):
        return self.offset + self.size

    def describe(self):
        kind = {TYPE_APP: "app", TYPE_DATA: "data"}.get(self.type, "type 0x%02x" % self.type)
        return "%-9s %-4s 0x%02x  0x%06x  0x%06x" % (self.label, kind, self.subtype, self.offset, self.size)


def parse_flash_size(text):
    """'4MB' / '4M' / '4MiB' / '0x400000' / '4194304' -> bytes; esptool's sizes only."""
    t = str(text).strip()
    m = re.fullmatch(r"(\d+)\s*(MB|M|MiB)", t, re.IGNORECASE)
    if m:
        size = int(m.group(1)) << 20
    else:
        try:
            size = int(t, 0)
        except ValueError:
            raise PartitionError("flash size must be one of %s, got %r" % (", ".join(FLASH_SIZES), text))
    if flash_size_name(size) is None:
        raise PartitionError("flash size must be one of %s, got %r" % (", ".join(FLASH_SIZES), text))
    return size


def flash_size_name(size):
    """Bytes -> esptool's name ('4MB'), or None if esptool has no such size."""
    for name in FLASH_SIZES:
        if int(name[:-2]) << 20 == size:
            return name
    return None


def parse_table(blob, where="partition table"):
    """Parse a binary table (bytes from TABLE_OFFSET on); returns [Partition] in table order.

    Raises PartitionError for a missing magic, a wrong MD5 row, overlapping or unaligned entries.
    """
    blob = bytes(blob[:TABLE_MAX])
    parts = []
    md5_seen = False
    pos = 0
    while True:
        if pos + ENTRY_SIZE > len(blob):
            raise PartitionError("%s: no end marker within 0x%x bytes" % (where, TABLE_MAX))
        row = blob[pos:pos + ENTRY_SIZE]
        if row[:2] == ENTRY_MAGIC:
            if md5_seen:
                raise PartitionError("%s: entry after the MD5 row at +0x%x" % (where, pos))
            _m, ptype, sub, off, size, label, flags = _ENTRY.unpack(row)
            label = label.split(b"\x00", 1)[0].decode("ascii", "replace")
            parts.append(Partition(label, ptype, sub, off, size, flags))
        elif row[:2] == MD5_MAGIC:
            want = hashlib.md5(blob[:pos]).digest()
            if row[16:] != want:
                raise PartitionError("%s: MD5 row does not match the entries (corrupt file?)" % where)
            md5_seen = True
        elif row == b"\xff" * ENTRY_SIZE:
            break
        else:
            if not parts:
                raise PartitionError("%s: no partition table magic (AA 50) found" % where)
            raise PartitionError("%s: bad entry at +0x%x" % (where, pos))
        pos += ENTRY_SIZE
    if not parts:
        raise PartitionError("%s: the table is empty" % where)
    spans = sorted(parts, key=lambda p: p.offset)
    for a, b in zip(spans, spans[1:]):
        if a.end > b.offset:
            raise PartitionError("%s: partitions %s and %s overlap" % (where, a.label, b.label))
    for p in parts:
        if p.offset % BLOCK or p.size % BLOCK or p.size == 0:
            raise PartitionError("%s: partition %s is not aligned to 4 KiB" % (where, p.label))
    return parts


def build_table(parts, md5=True):
    """Binary table for `parts` (Partition or tuples), MD5 row, 0xFF padding to TABLE_MAX."""
    out = bytearray()
    for p in parts:
        p = Partition(*p)
        label = p.label.encode("ascii")
        if len(label) > 16:
            raise PartitionError("partition label %r is longer than 16 bytes" % p.label)
        out += _ENTRY.pack(ENTRY_MAGIC, p.type, p.subtype, p.offset, p.size, label, p.flags)
    if md5:
        out += MD5_MAGIC + b"\xff" * 14 + hashlib.md5(bytes(out)).digest()
    out += b"\xff" * (TABLE_MAX - len(out))
    return bytes(out)


def app_partition(parts):
    """The partition the bootloader starts: factory, else ota_0, else the first app."""
    apps = [p for p in parts if p.type == TYPE_APP]
    for sub in (SUBTYPE_FACTORY, SUBTYPE_OTA_0):
        for p in apps:
            if p.subtype == sub:
                return p
    if not apps:
        raise PartitionError("partition table has no app partition")
    return apps[0]


def vfs_region(parts, flash_size):
    """(offset, size, rule) of MicroPython's filesystem for a chip with `flash_size` bytes.

    rule is "vfs partition" (a `vfs` row, MicroPython < 1.26) or "end of last partition to
    end of flash" (v1.26+). Raises PartitionError if the partitions don't fit the flash.
    """
    name = flash_size_name(flash_size) or "%d bytes" % flash_size
    end = max(p.end for p in parts)
    if end > flash_size:
        raise PartitionError(
            "flash size %s is too small for this firmware: its partitions end at 0x%x" % (name, end))
    for p in parts:
        if p.type == TYPE_DATA and p.label == "vfs":
            return p.offset, p.size, "vfs partition"
    size = flash_size - end
    if size < 16 * BLOCK:
        raise PartitionError(
            "flash size %s leaves no room for a filesystem: this firmware's partitions end at 0x%x"
            % (name, end))
    return end, size, "end of last partition to end of flash"


def format_table(parts):
    lines = ["label     type sub   offset    size"]
    lines += [p.describe() for p in parts]
    return "\n".join(lines)

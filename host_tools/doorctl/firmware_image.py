"""Stock MicroPython firmware files (.bin) for the ESP32 family: check them, find their parts.

A MicroPython `firmware.bin` is flash from the bootloader offset on: the bootloader image
(0x1000 on ESP32/S2, 0x0 on S3/C2/C3/C6/H2, 0x2000 on C5/P4), the partition table at 0x8000,
the app image at its app partition (0x10000). An ESP image starts with magic 0xE9, the segment
count, flash mode, flash size/frequency, the entry point, then a 16-byte extended header whose
bytes 4-5 are the chip id; segments follow, then a checksum (0xEF xor all segment bytes) in the
last byte of a 16-byte boundary, then optionally a SHA-256 of everything before.

The app also carries MicroPython's banner, `MICROPY_HW_BOARD_NAME " with " MICROPY_HW_MCU_NAME`
(what the REPL prints after "; " and `sys.implementation._machine` returns, e.g. "Generic ESP32
module with SPIRAM with ESP32"), a C string in its read-only data: `read_machine()` finds it. It
is the one place a stock firmware says which build (variant) it is; doorctl.stockfw reads it.

Nothing here trusts the file name: the chip, the table, the versions and the banner come from
the bytes. `synth_firmware()` makes a small but valid file of the same shape (tests and
benchmarks; no downloads).
"""
import functools
import hashlib
import operator
import os
import struct
from collections import namedtuple

from doorctl import partitions

IMAGE_MAGIC = 0xE9
APP_DESC_MAGIC = 0xABCD5432
CHECKSUM_SEED = 0xEF
MAX_SEGMENTS = 16

Chip = namedtuple("Chip", "name image_id base arch")
# esptool name, image chip id, bootloader offset (= where a firmware .bin starts), mpy-cross arch
CHIPS = {
    "esp32": Chip("esp32", 0, 0x1000, "xtensawin"),
    "esp32s2": Chip("esp32s2", 2, 0x1000, "xtensawin"),
    "esp32s3": Chip("esp32s3", 9, 0x0, "xtensawin"),
    "esp32c2": Chip("esp32c2", 12, 0x0, "rv32imc"),
    "esp32c3": Chip("esp32c3", 5, 0x0, "rv32imc"),
    "esp32c5": Chip("esp32c5", 23, 0x2000, "rv32imc"),
    "esp32c6": Chip("esp32c6", 13, 0x0, "rv32imc"),
    "esp32h2": Chip("esp32h2", 16, 0x0, "rv32imc"),
    "esp32p4": Chip("esp32p4", 18, 0x2000, "rv32imc"),
}
_BY_ID = {c.image_id: c for c in CHIPS.values()}
_FLASH_SIZE_NIBBLE = {i: name for i, name in enumerate(partitions.FLASH_SIZES)}


class FirmwareError(ValueError):
    """Not a usable ESP firmware file; the message says what is wrong."""


def chip(name):
    key = name.lower().replace("-", "")
    if key not in CHIPS:
        raise FirmwareError("unknown chip %r (known: %s)" % (name, ", ".join(CHIPS)))
    return CHIPS[key]


Image = namedtuple("Image", "chip flash_mode flash_size entry segments end hash_appended")


def parse_image(data, offset=0, where="image"):
    """Check the ESP image at data[offset:]: header, segments, checksum, appended SHA-256.

    Returns Image(chip, flash_mode, flash_size name, entry, [(load, length)], end, hash_appended);
    end = offset just past the image. Raises FirmwareError.
    """
    if len(data) < offset + 24 or data[offset] != IMAGE_MAGIC:
        raise FirmwareError("%s is not an ESP firmware image (no 0xE9 magic at 0x%x)" % (where, offset))
    nseg, mode, size_freq, entry = struct.unpack_from("<BBBI", data, offset + 1)
    chip_id = struct.unpack_from("<H", data, offset + 12)[0]
    hash_appended = data[offset + 23] == 1
    if chip_id not in _BY_ID:
        raise FirmwareError("%s: unknown chip id %d in the image header" % (where, chip_id))
    if not 1 <= nseg <= MAX_SEGMENTS:
        raise FirmwareError("%s is not an ESP firmware image (%d segments)" % (where, nseg))
    pos = offset + 24
    segs = []
    csum = CHECKSUM_SEED
    for i in range(nseg):
        if pos + 8 > len(data):
            raise FirmwareError("%s: truncated at segment %d" % (where, i))
        load, length = struct.unpack_from("<II", data, pos)
        pos += 8
        if pos + length > len(data):
            raise FirmwareError("%s: segment %d runs past the end of the file" % (where, i))
        csum ^= _xor_all(data[pos:pos + length])
        segs.append((load, length))
        pos += length
    pos += 15 - ((pos - offset) % 16)  # padding; the checksum is the last byte of the 16
    if pos >= len(data):
        raise FirmwareError("%s: truncated before its checksum" % where)
    if data[pos] != csum:
        raise FirmwareError("%s: checksum mismatch (corrupt or not an ESP image)" % where)
    pos += 1
    if hash_appended:
        if pos + 32 > len(data):
            raise FirmwareError("%s: truncated before its SHA-256" % where)
        if hashlib.sha256(data[offset:pos]).digest() != data[pos:pos + 32]:
            raise FirmwareError("%s: SHA-256 mismatch (corrupt file?)" % where)
        pos += 32
    return Image(_BY_ID[chip_id], mode, _FLASH_SIZE_NIBBLE.get(size_freq >> 4, "?"), entry, segs,
                 pos, hash_appended)


def _xor_all(b):
    """XOR of all bytes of b (8 bytes at a time: firmware apps are ~1.6 MB)."""
    n = len(b) // 8 * 8
    acc = 0
    if n:
        acc = functools.reduce(operator.xor, memoryview(bytes(b[:n])).cast("Q"), 0)
    x = 0
    for byte in acc.to_bytes(8, "little") + bytes(b[n:]):
        x ^= byte
    return x


AppDesc = namedtuple("AppDesc", "version project idf_version")


def read_app_desc(data, app_offset):
    """esp_app_desc_t at the start of the app's first segment: (version, project, idf version)."""
    pos = app_offset + 24 + 8
    if len(data) < pos + 256:
        return None
    magic = struct.unpack_from("<I", data, pos)[0]
    if magic != APP_DESC_MAGIC:
        return None

    def text(off, n):
        return data[pos + off:pos + off + n].split(b"\x00", 1)[0].decode("ascii", "replace")

    return AppDesc(text(16, 32), text(48, 32), text(112, 32))


_WITH_MCU = b" with ESP32"  # every ESP32-family MCU name starts so: ESP32, ESP32S3, ESP32-S3, ESP32-D2WD...
_MCU_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def read_machine(data, start=0, end=None):
    """MicroPython's machine string ("<board name> with <MCU>") in data[start:end], or None.

    It is a NUL-terminated C string; the banner's copy follows "; " (the REPL prints the version,
    "; ", then the machine), which is preferred over a bare match (the linker may merge the bare
    `sys.implementation._machine` copy into the banner's)."""
    end = len(data) if end is None else end
    bare = None
    pos = start
    while True:
        i = data.find(_WITH_MCU, pos, end)
        if i < 0:
            return bare
        pos = i + 1
        j = i + len(_WITH_MCU)
        while j < end and j - i < 48 and data[j] in _MCU_CHARS:
            j += 1
        if j >= end or data[j] != 0:
            continue  # "... with ESP32 something": text, not the machine string
        k = data.rfind(b"\x00", max(start, i - 200), i)
        if k < 0:
            continue
        text = bytes(data[k + 1:j])
        banner = b"; " in text
        text = text.rsplit(b"; ", 1)[-1]
        if not text.strip() or any(c < 0x20 or c > 0x7E for c in text):
            continue
        if banner:
            return text.decode("ascii")
        bare = bare or text.decode("ascii")


Firmware = namedtuple("Firmware", "path data chip base bootloader partitions app_partition app app_desc machine")


def load_firmware(path, expect_chip=None):
    """Read and check a stock firmware file; FirmwareError says what is wrong.

    expect_chip: name of the chip the board has; a firmware for another chip is refused.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise FirmwareError("firmware file %s not found" % path)
    except OSError as e:
        raise FirmwareError("cannot read firmware file %s: %s" % (path, e.strerror or e))
    name = os.path.basename(path)
    boot = parse_image(data, 0, name)
    c = boot.chip
    if expect_chip is not None and chip(expect_chip) != c:
        raise FirmwareError("%s is firmware for %s, but the board is %s" % (name, c.name, chip(expect_chip).name))
    table_at = partitions.TABLE_OFFSET - c.base
    if len(data) < table_at + 32:
        raise FirmwareError("%s: too short for a partition table at 0x%x" % (name, partitions.TABLE_OFFSET))
    try:
        parts = partitions.parse_table(data[table_at:table_at + partitions.TABLE_MAX],
                                       "%s: partition table at 0x%x" % (name, partitions.TABLE_OFFSET))
        app_part = partitions.app_partition(parts)
    except partitions.PartitionError as e:
        raise FirmwareError(str(e))
    app_at = app_part.offset - c.base
    app = parse_image(data, app_at, "%s: app at 0x%x" % (name, app_part.offset))
    if app.chip != c:
        raise FirmwareError("%s: bootloader is for %s but the app is for %s" % (name, c.name, app.chip.name))
    if app.end - app_at > app_part.size:
        raise FirmwareError("%s: app (%d bytes) is larger than its partition %s (%d bytes)"
                            % (name, app.end - app_at, app_part.label, app_part.size))
    return Firmware(path, data, c, c.base, boot, parts, app_part, app, read_app_desc(data, app_at),
                    read_machine(data, app_at, app.end))


def app_size(fw):
    return fw.app.end - (fw.app_partition.offset - fw.base)


def describe(fw):
    d = fw.app_desc
    ver = "%s %s (ESP-IDF %s)" % (d.project, d.version, d.idf_version) if d else "unknown version"
    return "%s for %s" % (ver, fw.chip.name)


# --- synthetic firmware for tests and benchmarks ------------------------------------------------
MICROPYTHON_4MIB = (  # ESP32_GENERIC since v1.26: no vfs row
    ("nvs", partitions.TYPE_DATA, 0x02, 0x9000, 0x6000, 0),
    ("phy_init", partitions.TYPE_DATA, 0x01, 0xF000, 0x1000, 0),
    ("factory", partitions.TYPE_APP, partitions.SUBTYPE_FACTORY, 0x10000, 0x1F0000, 0),
)


def synth_image(chip_name, segments, flash_size="4MB", flash_mode=2, entry=0x40080000, hash_appended=True):
    """A valid ESP image: segments = [(load_addr, data)]."""
    c = chip(chip_name)
    size_nib = partitions.FLASH_SIZES.index(flash_size)
    out = bytearray(struct.pack("<BBBBI", IMAGE_MAGIC, len(segments), flash_mode, size_nib << 4, entry))
    # extended header: wp pin 0xEE, drive settings, chip id, min rev, min/max rev full, reserved, hash flag
    out += struct.pack("<BBBBHBHH", 0xEE, 0, 0, 0, c.image_id, 0, 0, 0xFFFF) + b"\x00" * 4
    out += bytes((1 if hash_appended else 0,))
    csum = CHECKSUM_SEED
    for load, data in segments:
        out += struct.pack("<II", load, len(data)) + data
        csum ^= _xor_all(data)
    out += b"\x00" * (15 - len(out) % 16)
    out.append(csum)
    if hash_appended:
        out += hashlib.sha256(bytes(out)).digest()
    return bytes(out)


def app_desc_bytes(version, project="micropython", idf="v5.4.2"):
    def field(s, n):
        return s.encode()[:n - 1].ljust(n, b"\x00")

    return (struct.pack("<IIII", APP_DESC_MAGIC, 0, 0, 0) + field(version, 32) + field(project, 32)
            + field("00:00:00", 16) + field("Jan  1 2026", 16) + field(idf, 32) + b"\x00" * 32 + b"\x00" * 80)


# MicroPython's machine string of the stock generic builds (MICROPY_HW_BOARD_NAME " with "
# MICROPY_HW_MCU_NAME; variants change the board name, e.g. "Generic ESP32 module with SPIRAM")
SYNTH_MACHINE = {"esp32": "Generic ESP32 module with ESP32", "esp32s3": "Generic ESP32S3 module with ESP32S3"}


def banner_bytes(version, machine):
    """The banner's strings as MicroPython's REPL has them: version line, then "; " + machine."""
    return b"MicroPython %s on 2026-01-01\x00; %s\x00" % (version.encode(), machine.encode())


def synth_firmware(chip_name="esp32", table=MICROPYTHON_4MIB, app_bytes=64 * 1024, version="v1.29.0",
                   flash_size="4MB", md5=True, seed=b"doorctl", machine="generic"):
    """A firmware .bin shaped like MicroPython's: bootloader, partition table, app with an app
    description and MicroPython's banner, 0xFF between them. app_bytes of deterministic
    pseudo-random code. machine: the banner's "<board name> with <MCU>" ("generic": the stock
    generic build's for the chip; None: no banner)."""
    c = chip(chip_name)
    if machine == "generic":
        machine = SYNTH_MACHINE.get(c.name, "Generic %s module with %s" % ((c.name.upper(),) * 2))
    boot = synth_image(chip_name, [(0x3FFF0000, b"\x11" * 1000), (0x40078000, b"\x22" * 3000)], flash_size)
    parts = [partitions.Partition(*p) for p in table]
    app_part = partitions.app_partition(parts)
    code = bytearray()
    block = hashlib.sha256(seed).digest()
    while len(code) < app_bytes:
        block = hashlib.sha256(block).digest()
        code += block
    rodata = app_desc_bytes(version) + (banner_bytes(version, machine) if machine else b"")
    app = synth_image(chip_name, [(0x3F400020, rodata), (0x400D0020, bytes(code[:app_bytes]))], flash_size)
    table_at = partitions.TABLE_OFFSET - c.base
    app_at = app_part.offset - c.base
    if len(boot) > table_at:
        raise ValueError("bootloader too big")
    out = bytearray(b"\xff" * (app_at + len(app)))
    out[0:len(boot)] = boot
    out[table_at:table_at + partitions.TABLE_MAX] = partitions.build_table(parts, md5)
    out[app_at:] = app
    return bytes(out)

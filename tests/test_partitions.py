"""Partition tables and firmware files: the vfs region comes from the firmware's own table.

Firmware files are built here (valid ESP image headers, checksums, SHA-256, a partition table
with its MD5 row); esptool's own image parser confirms they are real images. No downloads.
"""
import hashlib
import os
import struct
import subprocess
import sys

import pytest

from doorctl import firmware_image as fi
from doorctl import partitions as pt

DOORCTL = os.path.join(os.path.dirname(sys.executable), "doorctl")
MIB = 1 << 20

OTA_4MIB = (  # MicroPython's partitions-4MiB-ota layout, no vfs row (v1.26+)
    ("nvs", pt.TYPE_DATA, 0x02, 0x9000, 0x4000, 0),
    ("otadata", pt.TYPE_DATA, 0x00, 0xD000, 0x2000, 0),
    ("phy_init", pt.TYPE_DATA, 0x01, 0xF000, 0x1000, 0),
    ("ota_0", pt.TYPE_APP, 0x10, 0x10000, 0x180000, 0),
    ("ota_1", pt.TYPE_APP, 0x11, 0x190000, 0x180000, 0),
)
OLD_WITH_VFS = fi.MICROPYTHON_4MIB + (("vfs", pt.TYPE_DATA, 0x81, 0x200000, 0x200000, 0),)


def write_fw(tmp_path, name="fw.bin", **kw):
    kw.setdefault("app_bytes", 8192)
    p = tmp_path / name
    p.write_bytes(fi.synth_firmware(**kw))
    return str(p)


def test_entry_layout_is_esp_idf_binary_format():
    """One entry written by hand from the ESP-IDF format: AA 50, type, subtype, offset, size, label, flags."""
    blob = pt.build_table([("nvs", 1, 2, 0x9000, 0x6000, 0)])
    want = bytes.fromhex("aa50 01 02 00900000 00600000".replace(" ", "")) + b"nvs" + b"\x00" * 13 + b"\x00" * 4
    assert blob[:32] == want
    assert blob[32:34] == b"\xeb\xeb" and blob[34:48] == b"\xff" * 14
    assert blob[48:64] == hashlib.md5(want).digest()
    assert blob[64:] == b"\xff" * (pt.TABLE_MAX - 64)


@pytest.mark.parametrize("flash,size", [("4MB", 0x200000), ("8MB", 0x600000), ("16MB", 0xE00000)])
def test_vfs_runs_from_end_of_last_partition_to_end_of_flash(tmp_path, flash, size):
    fw = fi.load_firmware(write_fw(tmp_path))
    off, got, rule = pt.vfs_region(fw.partitions, pt.parse_flash_size(flash))
    assert (off, got) == (0x200000, size)
    assert rule == "end of last partition to end of flash"


@pytest.mark.parametrize("flash,size", [("4MB", 0xF0000), ("8MB", 0x4F0000), ("16MB", 0xCF0000)])
def test_vfs_after_an_ota_table(tmp_path, flash, size):
    fw = fi.load_firmware(write_fw(tmp_path, table=OTA_4MIB))
    assert fw.app_partition.label == "ota_0"
    assert pt.vfs_region(fw.partitions, pt.parse_flash_size(flash))[:2] == (0x310000, size)


def test_old_firmware_with_a_vfs_row_uses_that_row(tmp_path):
    fw = fi.load_firmware(write_fw(tmp_path, table=OLD_WITH_VFS))
    for flash in (4 * MIB, 8 * MIB):
        assert pt.vfs_region(fw.partitions, flash) == (0x200000, 0x200000, "vfs partition")


@pytest.mark.parametrize("chip,base", [("esp32", 0x1000), ("esp32s2", 0x1000), ("esp32s3", 0x0),
                                       ("esp32c3", 0x0), ("esp32c6", 0x0)])
def test_table_found_at_0x8000_whatever_the_image_start(tmp_path, chip, base):
    path = write_fw(tmp_path, chip_name=chip)
    data = open(path, "rb").read()
    assert data[0x8000 - base:0x8000 - base + 2] == b"\xaa\x50"
    fw = fi.load_firmware(path, chip)
    assert fw.chip.name == chip and fw.base == base
    assert fw.chip.arch == ("xtensawin" if chip in ("esp32", "esp32s2", "esp32s3") else "rv32imc")
    assert fw.app_desc.version == "v1.29.0" and fw.app_desc.project == "micropython"
    assert pt.vfs_region(fw.partitions, 4 * MIB)[:2] == (0x200000, 0x200000)


def test_synthetic_firmware_is_a_valid_image_for_esptool(tmp_path):
    """esptool's own parser accepts the bootloader and the app (checksums and SHA-256)."""
    from esptool.bin_image import LoadFirmwareImage

    data = open(write_fw(tmp_path), "rb").read()
    for off in (0, 0x10000 - 0x1000):
        img = LoadFirmwareImage("esp32", data[off:])
        img.verify()
        assert img.chip_id == 0


def test_wrong_md5_row_is_refused(tmp_path):
    data = bytearray(fi.synth_firmware(app_bytes=4096))
    data[0x7000 + 3 * 32 + 16] ^= 0xFF  # the MD5 row follows the three entries
    p = tmp_path / "bad.bin"
    p.write_bytes(data)
    with pytest.raises(fi.FirmwareError, match="MD5"):
        fi.load_firmware(str(p))


def test_missing_table_magic_is_refused(tmp_path):
    data = bytearray(fi.synth_firmware(app_bytes=4096))
    data[0x7000:0x7000 + 2] = b"\x00\x00"
    p = tmp_path / "bad.bin"
    p.write_bytes(data)
    with pytest.raises(fi.FirmwareError, match="no partition table magic"):
        fi.load_firmware(str(p))


def test_overlapping_partitions_are_refused():
    blob = pt.build_table([("a", 1, 2, 0x9000, 0x6000, 0), ("b", 0, 0, 0xE000, 0x10000, 0)])
    with pytest.raises(pt.PartitionError, match="overlap"):
        pt.parse_table(blob)


def test_flash_too_small_for_the_firmware():
    parts = [pt.Partition(*p) for p in fi.MICROPYTHON_4MIB]
    with pytest.raises(pt.PartitionError, match="no room for a filesystem"):
        pt.vfs_region(parts, 2 * MIB)
    with pytest.raises(pt.PartitionError, match="too small"):
        pt.vfs_region(parts, 1 * MIB)


@pytest.mark.parametrize("text", ["5MB", "3MB", "4", "lots", "0"])
def test_invalid_flash_sizes(text):
    with pytest.raises(pt.PartitionError, match="flash size must be one of"):
        pt.parse_flash_size(text)


@pytest.mark.parametrize("text,size", [("4MB", 4 * MIB), ("16M", 16 * MIB), ("8MiB", 8 * MIB), ("0x400000", 4 * MIB)])
def test_flash_size_spellings(text, size):
    assert pt.parse_flash_size(text) == size


def test_not_an_esp_image(tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(b"\x7fELF" + bytes(4096))
    with pytest.raises(fi.FirmwareError, match="not an ESP firmware image"):
        fi.load_firmware(str(p))


def test_corrupt_image_checksum(tmp_path):
    data = bytearray(fi.synth_firmware(app_bytes=4096))
    data[100] ^= 0x55  # inside the bootloader's first segment
    p = tmp_path / "x.bin"
    p.write_bytes(data)
    with pytest.raises(fi.FirmwareError, match="checksum"):
        fi.load_firmware(str(p))


def test_wrong_chip_is_refused(tmp_path):
    path = write_fw(tmp_path, chip_name="esp32s3")
    with pytest.raises(fi.FirmwareError, match="firmware for esp32s3, but the board is esp32"):
        fi.load_firmware(path, "esp32")


def test_app_larger_than_its_partition(tmp_path):
    small = (("nvs", 1, 2, 0x9000, 0x6000, 0), ("factory", 0, 0, 0x10000, 0x10000, 0))
    with pytest.raises(fi.FirmwareError, match="larger than its partition"):
        fi.load_firmware(write_fw(tmp_path, table=small, app_bytes=0x20000))


def test_extended_header_chip_id_position():
    img = fi.synth_image("esp32c3", [(0x3FC80000, b"abc")])
    assert img[0] == 0xE9 and struct.unpack_from("<H", img, 12)[0] == 5
    assert fi.parse_image(img).chip.name == "esp32c3"


# --- the CLI refuses before writing anything -------------------------------------------------------
def run_build(tmp_path, *args):
    out = tmp_path / "out" / "door.bin"
    r = subprocess.run([DOORCTL, "build", "--quiet", "-o", str(out)] + list(args), capture_output=True, text=True,
                       timeout=120)
    return r, out


@pytest.mark.parametrize("args,msg", [
    (["--flash-size", "2MB"], "flash size 2MB leaves no room for a filesystem"),
    (["--flash-size", "6MB"], "flash size must be one of"),
    (["--chip", "esp32s3"], "firmware fw.bin is for esp32, --chip says esp32s3: download "
                            "ESP32_GENERIC_S3-*-v1.29.0.bin from https://micropython.org/download/ESP32_GENERIC_S3/"),
])
def test_cli_errors_before_anything_is_written(tmp_path, args, msg):
    r, out = run_build(tmp_path, "--firmware", write_fw(tmp_path), *args)
    assert r.returncode == 1
    assert msg in r.stderr
    assert r.stderr.count("\n") == 1, r.stderr  # one line, no traceback
    assert not (tmp_path / "out").exists()


def test_cli_refuses_a_file_that_is_not_firmware(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello\n" * 1000)
    r, _out = run_build(tmp_path, "--firmware", str(p))
    assert r.returncode == 1 and "notes.txt is not an ESP firmware image" in r.stderr
    assert not (tmp_path / "out").exists()


def test_cli_missing_firmware_says_where_to_get_it(tmp_path):
    r, _out = run_build(tmp_path, "--firmware", str(tmp_path / "ESP32_GENERIC-v1.26.0.bin"))
    assert r.returncode == 1 and "not found" in r.stderr
    r, _out = run_build(tmp_path)
    assert r.returncode == 1 and "micropython.org/download" in r.stderr


def test_firmware_download_without_mpflash_is_a_clear_error(tmp_path):
    env = dict(os.environ, PATH="/usr/bin:/bin")
    code = ("import sys; sys.modules['mpflash'] = None; from doorctl import cli; "
            "sys.exit(cli.main(['firmware', 'download', '--version', 'v1.26.0', '--dest', %r]))" % str(tmp_path))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 1
    assert "mpflash is not installed" in r.stderr and "micropython.org/download/ESP32_GENERIC/" in r.stderr


def test_firmware_info_lists_the_vfs_for_each_size(tmp_path):
    r = subprocess.run([DOORCTL, "firmware", "info", write_fw(tmp_path, table=OTA_4MIB), "--json"],
                       capture_output=True, text=True, timeout=60)
    import json

    info = json.loads(r.stdout)
    assert info["chip"] == "esp32" and info["version"] == "v1.29.0"
    assert info["vfs"]["4MB"] == {"offset": 0x310000, "size": 0xF0000, "rule": "end of last partition to end of flash"}
    assert info["vfs"]["16MB"]["size"] == 16 * MIB - 0x310000

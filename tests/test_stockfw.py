"""Which stock MicroPython build a firmware file is, and whether it suits a board (doorctl.stockfw).

The variant shows only in MicroPython's machine string ("<board name> with <MCU>", compiled into
the app); the firmware files are made here with the strings the stock builds set.
"""
import json
import os

import pytest

from doorctl import firmware_image as fi
from doorctl import paths, stockfw

OCT = "Generic ESP32S3 module with Octal-SPIRAM with ESP32S3"
S3 = "Generic ESP32S3 module with ESP32S3"
WROVER = "Generic ESP32 module with SPIRAM with ESP32"
WROOM = "Generic ESP32 module with ESP32"


def board(name):
    with open(os.path.join(paths.BOARDS, name + ".json")) as f:
        return json.load(f)


def load(tmp_path, **kw):
    p = tmp_path / "fw.bin"
    p.write_bytes(fi.synth_firmware(app_bytes=8192, **kw))
    return fi.load_firmware(str(p))


@pytest.mark.parametrize("chip,machine", [("esp32", WROOM), ("esp32", WROVER), ("esp32s3", OCT), ("esp32s3", S3),
                                          ("esp32s3", "Generic ESP32S3 module with ESP32-S3")])
def test_machine_string_is_read_from_the_app(tmp_path, chip, machine):
    assert load(tmp_path, chip_name=chip, machine=machine).machine == machine


def test_no_banner_means_no_machine(tmp_path):
    assert load(tmp_path, machine=None).machine is None


def test_the_banner_copy_wins_over_other_text():
    data = (b"\x00not compatible with ESP32 chips\x00the ESP32 is compatible with ESP32\x00"
            b"MicroPython v1.26.1 on 2025-09-11; Generic ESP32 module with SPIRAM with ESP32\x00")
    assert fi.read_machine(data) == WROVER
    # without a banner, a bare NUL-terminated "<name> with <MCU>" is taken; text that goes on is not
    assert fi.read_machine(b"\x00Generic ESP32 module with ESP32\x00") == WROOM
    assert fi.read_machine(b"\x00made with ESP32 chips\x00") is None
    assert fi.read_machine(b"\x00bad\x01name with ESP32\x00") is None


@pytest.mark.parametrize("machine,psram", [
    (WROOM, "none"), ("Generic ESP32 module with OTA with ESP32", "none"), (WROVER, "quad"), (S3, "quad"),
    (OCT, "octal"), ("Generic ESP32S3 module with ESP32-S3", "quad"),
    ("LOLIN S3 PRO with Octal-SPIRAM with ESP32S3", "octal"), ("Some board with PSRAM with ESP32", "spiram"),
    ("FeatherS3 with ESP32S3", None), (None, None),
])
def test_psram_kind_from_the_machine_string(machine, psram):
    b = stockfw.identify(machine)
    assert b.psram == psram
    if machine:
        assert b.board_name + " with " + b.mcu == machine


def test_each_board_names_the_build_it_runs():
    assert stockfw.board_build(board("esp32-devkitc"), "esp32") == "ESP32_GENERIC"  # the default for lean esp32
    assert stockfw.board_build(board("esp32-wrover-e"), "esp32") == "ESP32_GENERIC-SPIRAM"
    assert stockfw.board_build(board("esp32s3-devkitc-n16r8"), "esp32s3") == "ESP32_GENERIC_S3-SPIRAM_OCT"
    # a build for another chip than asked for gives way to that chip's generic build
    assert stockfw.board_build(board("esp32s3-devkitc-n16r8"), "esp32") == "ESP32_GENERIC-SPIRAM"
    assert stockfw.default_build("esp32c3") == "ESP32_GENERIC_C3"
    with pytest.raises(stockfw.StockError, match="micropython.org board id"):
        stockfw.board_build({"name": "x", "micropython": "esp32 generic"}, "esp32")


@pytest.mark.parametrize("name,ok", [
    ("ESP32_GENERIC_S3-SPIRAM_OCT-20250911-v1.26.1.bin", True),  # micropython.org
    ("ESP32_GENERIC_S3-SPIRAM_OCT-v1.26.1.bin", True),  # mpflash (date removed)
    ("ESP32_GENERIC_S3-v1.26.1.bin", False), ("ESP32_GENERIC_S3-FLASH_4M-v1.26.1.bin", False),
    ("ESP32_GENERIC_S3-SPIRAM_OCT-v1.26.0.bin", False), ("ESP32_GENERIC_S3-SPIRAM_OCT-v1.26.1.uf2", False),
])
def test_release_file_names(name, ok):
    assert stockfw.file_matches(name, "ESP32_GENERIC_S3-SPIRAM_OCT", "v1.26.1") is ok
    assert stockfw.file_matches("ESP32_GENERIC-SPIRAM-v1.26.1.bin", "ESP32_GENERIC", "1.26.1") is False


@pytest.mark.parametrize("board_name,chip,machine,error", [
    ("esp32-wrover-e", "esp32", WROOM, "is a build without PSRAM support (%s), board esp32-wrover-e has the psram "
                                       "profile and would run without its PSRAM: download ESP32_GENERIC-SPIRAM-*-"
                                       "v1.26.1.bin from https://micropython.org/download/ESP32_GENERIC/" % WROOM),
    ("esp32s3-devkitc-n16r8", "esp32s3", S3,
     "is a build for quad-SPI PSRAM (%s), board esp32s3-devkitc-n16r8 has octal PSRAM, which that build does not "
     "find: download ESP32_GENERIC_S3-SPIRAM_OCT-*-v1.26.1.bin from https://micropython.org/download/ESP32_GENERIC_S3/"
     % S3),
])
def test_psram_board_refuses_a_build_that_cannot_use_its_psram(board_name, chip, machine, error):
    errors, warnings = stockfw.check("fw.bin", stockfw.identify(machine), board(board_name), chip, "v1.26.1")
    assert errors == ["firmware fw.bin " + error] and warnings == []


@pytest.mark.parametrize("board_name,chip,machine", [
    ("esp32-wrover-e", "esp32", WROVER), ("esp32s3-devkitc-n16r8", "esp32s3", OCT),
    ("esp32-devkitc", "esp32", WROOM),
    ("esp32s3-devkitc-n16r8", "esp32s3", "LOLIN S3 PRO with Octal-SPIRAM with ESP32S3"),
])
def test_the_right_build_passes(board_name, chip, machine):
    assert stockfw.check("fw.bin", stockfw.identify(machine), board(board_name), chip) == ([], [])


@pytest.mark.parametrize("board_name,chip,machine,warning", [
    ("esp32-wrover-e", "esp32", None, "can't tell whether firmware fw.bin supports PSRAM"),
    ("esp32-wrover-e", "esp32", "FeatherS3 with ESP32", "can't tell whether firmware fw.bin"),
    ("esp32s3-devkitc-n16r8", "esp32s3", "Some board with SPIRAM with ESP32S3", "can't tell which kind"),
    ("esp32-devkitc", "esp32", WROVER, "board esp32-devkitc is lean (no PSRAM): it runs, but ESP32_GENERIC is its"),
])
def test_doubtful_builds_are_warned_about(board_name, chip, machine, warning):
    errors, warnings = stockfw.check("fw.bin", stockfw.identify(machine), board(board_name), chip)
    assert errors == [] and len(warnings) == 1 and warning in warnings[0]


def test_chip_table_agrees_with_esptool():
    """Image chip ids and bootloader offsets are esptool's (the firmware file starts at the latter)."""
    from esptool.targets import CHIP_DEFS

    for name, c in fi.CHIPS.items():
        assert (c.image_id, c.base) == (CHIP_DEFS[name].IMAGE_CHIP_ID, CHIP_DEFS[name].BOOTLOADER_FLASH_OFFSET), name


def test_esptool_reads_the_chip_of_a_synthetic_s3_firmware(tmp_path):
    from esptool.bin_image import LoadFirmwareImage

    data = fi.synth_firmware("esp32s3", app_bytes=8192, machine=OCT)
    for off in (0, 0x10000):  # the bootloader at 0x0, the app at its partition
        img = LoadFirmwareImage("esp32s3", data[off:])
        img.verify()
        assert img.chip_id == 9

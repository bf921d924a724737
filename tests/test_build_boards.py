"""`doorctl build` for each reference board, from firmware files of the stock builds they need.

esp32-devkitc (lean, ESP32_GENERIC), esp32-wrover-e (psram, ESP32_GENERIC-SPIRAM) and
esp32s3-devkitc-n16r8 (psram, ESP32_GENERIC_S3-SPIRAM_OCT: image at 0x0, 16 MB from the board
file). The firmware files are made here (tests/test_build_image.py makes them the same way), with
the machine string each stock build has; the S3's partition table differs from the ESP32's, so
the filesystem's place can only come from the file. A firmware for another chip, or a build that
can't drive the board's PSRAM, is refused before anything is written.
"""
import json
import os
import subprocess
import sys

import pytest

from doorctl import cmd_flash, fsimage
from doorctl import firmware_image as fi
from doorctl import partitions as pt
from doorctl import paths
from test_build_image import MOUNT_AND_LIST, snapshot_tree

DOORCTL = os.path.join(os.path.dirname(sys.executable), "doorctl")
MIB = 1 << 20
MACHINES = {
    "ESP32_GENERIC": ("esp32", "Generic ESP32 module with ESP32"),
    "ESP32_GENERIC-SPIRAM": ("esp32", "Generic ESP32 module with SPIRAM with ESP32"),
    "ESP32_GENERIC_S3": ("esp32s3", "Generic ESP32S3 module with ESP32S3"),
    "ESP32_GENERIC_S3-SPIRAM_OCT": ("esp32s3", "Generic ESP32S3 module with Octal-SPIRAM with ESP32S3"),
}
S3_TABLE = (  # a larger factory partition than the ESP32 files here: the filesystem starts at 0x220000
    ("nvs", pt.TYPE_DATA, 0x02, 0x9000, 0x6000, 0),
    ("phy_init", pt.TYPE_DATA, 0x01, 0xF000, 0x1000, 0),
    ("factory", pt.TYPE_APP, pt.SUBTYPE_FACTORY, 0x10000, 0x210000, 0),
)
# board -> (stock build, chip, image offset, flash size, vfs offset)
BOARDS = {
    "esp32-devkitc": ("ESP32_GENERIC", "esp32", 0x1000, 4 * MIB, 0x200000),
    "esp32-wrover-e": ("ESP32_GENERIC-SPIRAM", "esp32", 0x1000, 4 * MIB, 0x200000),
    "esp32s3-devkitc-n16r8": ("ESP32_GENERIC_S3-SPIRAM_OCT", "esp32s3", 0x0, 16 * MIB, 0x220000),
}


@pytest.fixture(scope="module")
def firmwares(tmp_path_factory):
    d = tmp_path_factory.mktemp("stock")
    out = {}
    for build, (chip, machine) in MACHINES.items():
        p = d / ("%s-20250911-v1.26.1.bin" % build)
        table = S3_TABLE if chip == "esp32s3" else fi.MICROPYTHON_4MIB
        p.write_bytes(fi.synth_firmware(chip, table=table, app_bytes=48 * 1024, version="v1.26.1", machine=machine))
        out[build] = str(p)
    return out


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return snapshot_tree(tmp_path_factory.mktemp("tree") / "src")


def run_build(tree, out, *args):
    return subprocess.run([DOORCTL, "build", "--json", "--quiet", "-o", str(out)] + list(args), capture_output=True,
                          text=True, env=dict(os.environ, DOORCTL_ROOT=tree), timeout=240)


@pytest.fixture(scope="module")
def built(tmp_path_factory, firmwares, tree):
    tmp = tmp_path_factory.mktemp("boards")
    out = {}
    for name, (build, *_rest) in BOARDS.items():
        o = tmp / name / "door.bin"
        r = run_build(tree, o, "--board", name, "--firmware", firmwares[build])  # flash size: the board file's
        assert r.returncode == 0, r.stderr
        out[name] = (json.loads(r.stdout), str(o))
    return out


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_image_for_each_board(built, firmwares, tree, name):
    build, chip, base, flash, vfs = BOARDS[name]
    rep, out = built[name]
    merged = open(out, "rb").read()
    fw = open(firmwares[build], "rb").read()
    assert (rep["chip"], rep["image_offset"], rep["flash_size"]) == (chip, base, pt.flash_size_name(flash))
    assert (rep["vfs_offset"], rep["vfs_size"]) == (vfs, flash - vfs)
    assert rep["machine"] == MACHINES[build][1] and rep["warnings"] == []
    assert rep["profile"] == ("lean" if name == "esp32-devkitc" else "psram")
    assert len(merged) == flash - base
    # the stock firmware at its offset: partition table and app untouched, the bootloader's header says the
    # module's flash size (byte 3, high nibble; esptool then re-signs it)
    table = 0x8000 - base
    assert merged[table:len(fw)] == fw[table:] and merged[:3] == fw[:3] and merged[4:24] == fw[4:24]
    assert merged[3] >> 4 == pt.FLASH_SIZES.index(pt.flash_size_name(flash))
    from esptool.bin_image import LoadFirmwareImage

    LoadFirmwareImage(chip, merged).verify()  # esptool re-signed the bootloader for the new header
    fs = merged[vfs - base:]
    assert fs == open(out[:-4] + ".fs.img", "rb").read() and fsimage.is_littlefs(fs)
    board_file = open(os.path.join(tree, "boards", name + ".json"), "rb").read()
    assert fsimage.read_image(fs)["board.json"] == board_file
    # `doorctl flash` takes chip and offset from the image itself
    plan = cmd_flash.plan(out)
    assert (plan["chip"], plan["offset"], plan["bytes"]) == (chip, base, flash - base)


def test_s3_filesystem_mounts_under_micropython(built, tmp_path):
    rep, out = built["esp32s3-devkitc-n16r8"]
    merged = open(out, "rb").read()
    img = tmp_path / "cut.img"
    img.write_bytes(merged[0x220000:])
    script = tmp_path / "mount.py"
    script.write_text(MOUNT_AND_LIST)
    r = subprocess.run([paths.micropython_binary(), "-X", "heapsize=112000w", str(script), str(img)],
                       capture_output=True, text=True, env=dict(os.environ, MICROPYPATH=".frozen"), timeout=60)
    assert r.returncode == 0, r.stderr + r.stdout
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["files"] == {f["path"]: f["bytes"] for f in rep["files"]}
    assert got["blocks"] == (16 * MIB - 0x220000) // 4096 == rep["fs_blocks"]
    assert got["mods"]["doorapp.config.schema"] == "/flash/doorapp/config/schema.mpy"  # xtensawin bytecode, as for the ESP32


def test_flash_size_option_beats_the_board_file(firmwares, tree, tmp_path):
    r = run_build(tree, tmp_path / "d.bin", "--board", "esp32s3-devkitc-n16r8", "--flash-size", "8MB",
                  "--firmware", firmwares["ESP32_GENERIC_S3-SPIRAM_OCT"])
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["flash_size"] == "8MB" and rep["vfs_size"] == 8 * MIB - 0x220000


@pytest.mark.parametrize("name,build,msg", [
    ("esp32-devkitc", "ESP32_GENERIC_S3-SPIRAM_OCT",
     "firmware ESP32_GENERIC_S3-SPIRAM_OCT-20250911-v1.26.1.bin is for esp32s3, board esp32-devkitc is esp32: "
     "download ESP32_GENERIC-*-v1.26.1.bin from https://micropython.org/download/ESP32_GENERIC/"),
    ("esp32-wrover-e", "ESP32_GENERIC_S3", "is for esp32s3, board esp32-wrover-e is esp32: download "
                                           "ESP32_GENERIC-SPIRAM-*-v1.26.1.bin"),
    ("esp32s3-devkitc-n16r8", "ESP32_GENERIC-SPIRAM",
     "firmware ESP32_GENERIC-SPIRAM-20250911-v1.26.1.bin is for esp32, board esp32s3-devkitc-n16r8 is esp32s3: "
     "download ESP32_GENERIC_S3-SPIRAM_OCT-*-v1.26.1.bin from https://micropython.org/download/ESP32_GENERIC_S3/"),
    ("esp32-wrover-e", "ESP32_GENERIC", "is a build without PSRAM support (Generic ESP32 module with ESP32), board "
                                        "esp32-wrover-e has the psram profile and would run without its PSRAM: "
                                        "download ESP32_GENERIC-SPIRAM-*-v1.26.1.bin"),
    ("esp32s3-devkitc-n16r8", "ESP32_GENERIC_S3", "is a build for quad-SPI PSRAM (Generic ESP32S3 module with "
                                                  "ESP32S3), board esp32s3-devkitc-n16r8 has octal PSRAM"),
])
def test_wrong_firmware_is_refused_before_anything_is_written(firmwares, tree, tmp_path, name, build, msg):
    r = run_build(tree, tmp_path / "out" / "door.bin", "--board", name, "--firmware", firmwares[build])
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith("doorctl: error: ") and msg in r.stderr
    assert r.stderr.count("\n") == 1, r.stderr  # one line, no traceback
    assert not (tmp_path / "out").exists()


def test_firmware_without_a_machine_string_builds_with_a_warning(tree, tmp_path):
    fw = tmp_path / "custom.bin"
    fw.write_bytes(fi.synth_firmware("esp32", app_bytes=8192, machine=None))
    r = run_build(tree, tmp_path / "d.bin", "--board", "esp32-wrover-e", "--firmware", str(fw))
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["machine"] is None and rep["psram"] is None
    assert rep["warnings"] == ["can't tell whether firmware custom.bin supports PSRAM (no MicroPython board name of "
                               "a known build in it); board esp32-wrover-e needs ESP32_GENERIC-SPIRAM"]


def test_bad_flash_size_in_a_board_file(firmwares, tree, tmp_path):
    spec = json.load(open(os.path.join(tree, "boards", "esp32-wrover-e.json")))
    spec["flash_size"] = "5MB"
    bad = tmp_path / "wrover-5mb.json"
    bad.write_text(json.dumps(spec))
    r = run_build(tree, tmp_path / "d.bin", "--board", str(bad), "--firmware", firmwares["ESP32_GENERIC-SPIRAM"])
    assert r.returncode == 1 and "wrover-5mb.json: flash_size: flash size must be one of" in r.stderr


def test_missing_firmware_names_the_boards_build(tree):
    r = subprocess.run([DOORCTL, "build", "--board", "esp32s3-devkitc-n16r8"], capture_output=True, text=True,
                       env=dict(os.environ, DOORCTL_ROOT=tree), timeout=60)
    assert r.returncode == 1
    assert ("for board esp32s3-devkitc-n16r8: ESP32_GENERIC_S3-SPIRAM_OCT-*.bin from "
            "https://micropython.org/download/ESP32_GENERIC_S3/") in r.stderr


def test_firmware_info_says_which_build(firmwares):
    r = subprocess.run([DOORCTL, "firmware", "info", "--json", firmwares["ESP32_GENERIC_S3-SPIRAM_OCT"]],
                       capture_output=True, text=True, timeout=60)
    info = json.loads(r.stdout)
    assert (info["chip"], info["image_offset"], info["psram"]) == ("esp32s3", 0, "octal")
    assert info["board_name"] == "Generic ESP32S3 module with Octal-SPIRAM" and info["mcu"] == "ESP32S3"
    r = subprocess.run([DOORCTL, "firmware", "info", firmwares["ESP32_GENERIC"]], capture_output=True, text=True,
                       timeout=60)
    assert "build: Generic ESP32 module with ESP32 (no PSRAM support)" in r.stdout


# --- doorctl firmware download --board: the board's build, through mpflash ---------------------------
FAKE_MPFLASH = r"""#!%(python)s
# stands in for mpflash: records its arguments, "downloads" every variant of the board as mpflash
# names them (date removed)
import json, os, sys
from doorctl import firmware_image as fi
with open(os.environ["REC_FILE"], "w") as f:
    json.dump(sys.argv[1:], f)
board = sys.argv[sys.argv.index("--board") + 1]
version = sys.argv[sys.argv.index("--version") + 1]
dest = os.path.join(os.environ["MPFLASH_FIRMWARE"], "esp32")
os.makedirs(dest, exist_ok=True)
machines = json.loads(os.environ["FAKE_MACHINES"])
for build, (chip, machine) in machines.items():
    if build.split("-")[0] == board:
        with open(os.path.join(dest, "%%s-%%s.bin" %% (build, version)), "wb") as f:
            f.write(fi.synth_firmware(chip, app_bytes=4096, version=version, machine=machine))
"""


@pytest.fixture
def fake_mpflash(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "mpflash"
    exe.write_text(FAKE_MPFLASH % {"python": sys.executable})
    exe.chmod(0o755)
    rec = tmp_path / "argv.json"
    env = dict(os.environ, PATH="%s:%s" % (bindir, os.environ["PATH"]), REC_FILE=str(rec),
               FAKE_MACHINES=json.dumps(MACHINES))
    return env, rec


@pytest.mark.parametrize("board,build,mp_board", [
    ("esp32s3-devkitc-n16r8", "ESP32_GENERIC_S3-SPIRAM_OCT", "ESP32_GENERIC_S3"),
    ("esp32-wrover-e", "ESP32_GENERIC-SPIRAM", "ESP32_GENERIC"),
    ("esp32-devkitc", "ESP32_GENERIC", "ESP32_GENERIC"),
    ("ESP32_GENERIC_S3", "ESP32_GENERIC_S3", "ESP32_GENERIC_S3"),  # a micropython.org id as it is
])
def test_download_picks_the_boards_variant(fake_mpflash, tmp_path, board, build, mp_board):
    env, rec = fake_mpflash
    r = subprocess.run([DOORCTL, "firmware", "download", "--version", "v1.26.1", "--board", board, "--dest",
                        str(tmp_path / "fw")], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.load(open(rec)) == ["download", "--version", "v1.26.1", "--board", mp_board]
    path = r.stdout.strip().splitlines()[-1]
    assert os.path.basename(path) == "%s-v1.26.1.bin" % build
    assert fi.load_firmware(path).machine == MACHINES[build][1]


def test_download_without_mpflash_says_which_file(tmp_path):
    env = dict(os.environ, PATH="/usr/bin:/bin")
    code = ("import sys; sys.modules['mpflash'] = None; from doorctl import cli; sys.exit(cli.main(['firmware', "
            "'download', '--version', 'v1.26.1', '--board', 'esp32-wrover-e', '--dest', %r]))" % str(tmp_path))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 1
    assert ("get ESP32_GENERIC-SPIRAM-*-v1.26.1.bin from https://micropython.org/download/ESP32_GENERIC/"
            in r.stderr)


def test_download_of_an_unknown_board(tmp_path):
    r = subprocess.run([DOORCTL, "firmware", "download", "--version", "v1.26.1", "--board", "my-board"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "--board my-board is neither a board file" in r.stderr


def test_a_firmware_file_that_is_not_there_names_the_boards_build(tmp_path, capsys):
    """`make image` without the firmware (FIRMWARE defaults to build/firmware/ESP32_GENERIC.bin):
    the error says which file to get and where, as when --firmware is not given at all."""
    from doorctl import cli

    missing = str(tmp_path / "ESP32_GENERIC.bin")
    assert cli.main(["build", "--board", "esp32-devkitc", "--firmware", missing, "-o", str(tmp_path / "d.bin")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("doorctl: error: firmware file %s not found: " % missing), err
    assert ("for board esp32-devkitc: ESP32_GENERIC-*.bin from https://micropython.org/download/ESP32_GENERIC/ "
            "(or `doorctl firmware download --board esp32-devkitc") in err, err
    assert not os.path.exists(tmp_path / "d.bin")

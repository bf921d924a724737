"""`doorctl flash`: everything up to the esptool invocation, with its exact arguments.

DOORCTL_ESPTOOL points at a recorder standing in for esptool (no board here); doorctl's own
logic (reading the image, choosing chip and offset, refusing wrong files) runs for real.
"""
import json
import os
import pty
import subprocess
import sys

import pytest

from doorctl import firmware_image as fi

DOORCTL = os.path.join(os.path.dirname(sys.executable), "doorctl")
RECORDER = r"""
import json, os, sys
with open(os.environ["REC_FILE"], "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\n")
sys.exit(int(os.environ.get("REC_EXIT", "0")))
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("flash")
    fw = tmp / "fw.bin"
    fw.write_bytes(fi.synth_firmware(app_bytes=32 * 1024))
    out = {}
    for size in ("4MB", "16MB"):
        o = str(tmp / size / "door.bin")
        r = subprocess.run([DOORCTL, "build", "--quiet", "--firmware", str(fw), "--flash-size", size, "-o", o],
                           capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stderr
        out[size] = o
    out["fw"] = str(fw)
    return out


@pytest.fixture
def port():
    master, slave = pty.openpty()  # a real character device path, like /dev/ttyUSB0
    yield os.ttyname(slave)
    os.close(master)
    os.close(slave)


def run_flash(tmp_path, *args, exit_code=0):
    rec = tmp_path / "esptool-calls.jsonl"
    script = tmp_path / "esptool_recorder.py"
    script.write_text(RECORDER)
    env = dict(os.environ, DOORCTL_ESPTOOL="%s %s" % (sys.executable, script), REC_FILE=str(rec),
               REC_EXIT=str(exit_code))
    r = subprocess.run([DOORCTL, "flash"] + list(args), capture_output=True, text=True, env=env, timeout=60)
    calls = [json.loads(line) for line in rec.read_text().splitlines()] if rec.exists() else []
    return r, calls


def test_merged_image_goes_at_the_bootloader_offset_then_is_verified(built, port, tmp_path):
    img = built["4MB"]
    r, calls = run_flash(tmp_path, "--port", port, img)
    assert r.returncode == 0, r.stderr
    common = ["--chip", "esp32", "--port", port, "--baud", "460800", "--before", "default-reset"]
    assert calls == [
        common + ["--after", "no-reset", "write-flash", "--flash-mode", "keep", "--flash-freq", "keep",
                  "--flash-size", "keep", "0x1000", img],
        common + ["--after", "hard-reset", "verify-flash", "0x1000", img],
    ]
    assert "written and verified" in r.stdout


def test_16mb_image_and_options(built, port, tmp_path):
    img = built["16MB"]
    r, calls = run_flash(tmp_path, "--port", port, "--baud", "921600", "--no-verify", img)
    assert r.returncode == 0, r.stderr
    assert calls == [["--chip", "esp32", "--port", port, "--baud", "921600", "--before", "default-reset",
                      "--after", "hard-reset", "write-flash", "--flash-mode", "keep", "--flash-freq", "keep",
                      "--flash-size", "keep", "0x1000", img]]
    assert open(img, "rb").read()[3] >> 4 == 4  # the header the board boots with says 16MB


def test_filesystem_image_goes_at_the_vfs_offset_from_the_build_description(built, port, tmp_path):
    fs = built["16MB"][:-4] + ".fs.img"
    r, calls = run_flash(tmp_path, "--port", port, fs)
    assert r.returncode == 0, r.stderr
    assert calls[0][calls[0].index("write-flash"):] == ["write-flash", "--flash-mode", "keep", "--flash-freq", "keep",
                                                         "--flash-size", "keep", "0x200000", fs]
    assert calls[1][-3:] == ["verify-flash", "0x200000", fs]
    assert "filesystem only" in r.stdout


def test_filesystem_image_without_description_needs_an_offset(built, port, tmp_path):
    lone = tmp_path / "lone.img"
    lone.write_bytes(open(built["4MB"][:-4] + ".fs.img", "rb").read())
    r, calls = run_flash(tmp_path, "--port", port, str(lone))
    assert r.returncode == 1 and "give --offset" in r.stderr and calls == []
    r, calls = run_flash(tmp_path, "--port", port, "--offset", "0x200000", str(lone))
    assert r.returncode == 0 and calls[0][-2:] == ["0x200000", str(lone)]


@pytest.mark.parametrize("content,msg", [
    (b"hello world" * 100, "neither an image from `doorctl build` nor a filesystem image"),
    (b"\xe9" + b"\x00" * 4000, "not an ESP firmware image"),
])
def test_wrong_files_never_reach_esptool(port, tmp_path, content, msg):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(content)
    r, calls = run_flash(tmp_path, "--port", port, str(bad))
    assert r.returncode == 1 and msg in r.stderr and calls == []


def test_image_for_another_chip_is_refused(built, port, tmp_path):
    r, calls = run_flash(tmp_path, "--port", port, "--chip", "esp32c3", built["4MB"])
    assert r.returncode == 1 and "firmware for esp32, but the board is esp32c3" in r.stderr and calls == []


def test_missing_port_and_esptool_failure(built, port, tmp_path):
    r, calls = run_flash(tmp_path, "--port", "/dev/ttyDOESNOTEXIST", built["4MB"])
    assert r.returncode == 1 and "does not exist" in r.stderr and calls == []
    r, calls = run_flash(tmp_path, "--port", port, built["4MB"], exit_code=2)
    assert r.returncode == 1 and "esptool write-flash failed (exit 2)" in r.stderr
    assert len(calls) == 1  # no verify after a failed write


def test_help():
    r = subprocess.run([DOORCTL, "flash", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "verify-flash" in r.stdout

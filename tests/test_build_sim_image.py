"""What we flash is what we tested: the simulator boots the app from the built image.

The image is built from a copy of the sources whose app version says "9.9.9-image" (the checkout
says otherwise), the filesystem is cut out of the merged door.bin at the vfs offset, and the
simulator runs with --app-from-flash: the app and libraries are imported from the image's .mpy
files, only simulator-only modules from the checkout. A tap then opens relay 1 for the hold time
the image's config.json sets.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from doorctl import firmware_image as fi
from doorctl import paths
from doorctl.simctl import SimClient
from simproc import Sim, free_port

ROOT = paths.ROOT
DOORCTL = os.path.join(os.path.dirname(sys.executable), "doorctl")
BASE, VFS, VFS_SIZE = 0x1000, 0x200000, 0x200000  # ESP32, 4 MiB, ESP32_GENERIC table
DEMO_USERS = os.path.join(ROOT, "firmware", "sim", "demo_users.json")
VERSION = "9.9.9-image"


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("simimg")
    tree = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for d in ("firmware", "lib", "boards"):
        shutil.copytree(os.path.join(ROOT, d), str(tree / d), ignore=ignore)
    init = tree / "firmware" / "doorapp" / "__init__.py"
    text = init.read_text()
    assert re.search(r'^VERSION = "[^"]*"', text, re.M)
    init.write_text(re.sub(r'^VERSION = "[^"]*"', 'VERSION = "%s"' % VERSION, text, flags=re.M))
    fw = tmp / "fw.bin"
    fw.write_bytes(fi.synth_firmware(app_bytes=64 * 1024))
    cfg = tmp / "site.json"
    cfg.write_text(json.dumps({"relays": {"1": {"hold_ms": 400}}, "reader": {"removal_ms": 150}}))
    sec = tmp / "secrets.json"  # the demo users' key fob is stored as a keyed hash
    sec.write_text(json.dumps({"site_key": "5a" * 32}))
    env = dict(os.environ, DOORCTL_ROOT=str(tree))
    out = {}
    for board in ("esp32-devkitc", "sim"):
        o = str(tmp / board / "door.bin")
        r = subprocess.run([DOORCTL, "build", "--quiet", "--firmware", str(fw), "--board", board, "--config",
                            str(cfg), "--users", DEMO_USERS, "--secrets", str(sec), "-o", o], capture_output=True,
                           text=True, env=env,
                           timeout=180)
        assert r.returncode == 0, r.stderr
        out[board] = o
    out["tmp"] = tmp
    return out


def cut(merged_path, dest):
    """The filesystem, cut out of the merged image at the partition offset."""
    data = open(merged_path, "rb").read()
    with open(dest, "wb") as f:
        f.write(data[VFS - BASE:VFS - BASE + VFS_SIZE])
    return str(dest)


def test_simulator_boots_the_esp32_image_and_opens_a_relay_on_a_tap(images, tmp_path):
    flash = cut(images["esp32-devkitc"], tmp_path / "flash.img")
    sim = Sim(tmp_path, flash=flash, board=os.path.join(paths.BOARDS, "sim.json"), demo=False,
              extra=["--app-from-flash"])
    try:
        assert "app from flash: /flash/doorapp/app.mpy, /flash/lib/hal/__init__.mpy" in sim.output
        st = sim.wait_for(lambda s: s["reader"]["status"] == "ok", timeout=10)
        assert st["version"] == VERSION  # the app code is the image's, not the checkout's
        assert st["users"] == 2  # users.json from the image
        assert not st["relays"]["1"]["on"]
        sim.call("tap", uid="04A1B2C3", ms=200)
        st = sim.wait_for(lambda s: s["relays"]["1"]["on"], timeout=5)
        ev = st["events"][-1]
        assert (ev["kind"], ev["code"], ev["user"], ev["result"]) == ("card", "04A1B2C3", 1001, "granted")
        assert st["relays"]["1"]["remaining_ms"] <= 400  # hold time from the image's config.json
        last = sim.wait_for(lambda s: not s["relays"]["1"]["on"], timeout=5)["last_seq"]
        sim.call("tap", uid="01020304", ms=200)
        st = sim.wait_for(lambda s: s["last_seq"] > last, timeout=5)
        assert st["events"][-1]["result"] == "denied" and not st["relays"]["1"]["on"]
    finally:
        sim.stop()


def test_esp32_board_file_needs_a_sim_board(images, tmp_path):
    flash = cut(images["esp32-devkitc"], tmp_path / "flash.img")
    r = subprocess.run([paths.micropython_binary(), "-X", "heapsize=112000w",
                        os.path.join(paths.FIRMWARE, "sim", "run.py"), "--app-from-flash", "--flash", flash,
                        "--control", "127.0.0.1:%d" % free_port(), "--http", "off", "--quiet"],
                       capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, MICROPYPATH=paths.micropython_path()))
    assert r.returncode == 2
    assert "is for the esp32 backend: add --board boards/sim.json" in r.stdout


def output_until(proc, prefix, timeout=15):
    """The simulator's output up to (and with) its first line starting with `prefix`."""
    out = ""
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        out += line
        if line.startswith(prefix):
            break
    return out


def tap_until_on(c, uid, relay):
    """Once the reader is up, tap `uid`; the state once `relay` is on (or after 5 s)."""
    deadline = time.time() + 10
    while c.call("state")["state"]["reader"]["status"] != "ok" and time.time() < deadline:
        time.sleep(0.05)
    c.call("tap", uid=uid, ms=200)
    deadline = time.time() + 5
    while time.time() < deadline:
        st = c.call("state")["state"]
        if st["relays"][relay]["on"]:
            break
        time.sleep(0.02)
    return st


def test_doorctl_sim_image_uses_the_images_board_file(images, tmp_path):
    """`doorctl sim-image door.bin`: cut at the offset the image's own table gives, /flash/board.json."""
    control = "127.0.0.1:%d" % free_port()
    work = tmp_path / "work.img"
    proc = subprocess.Popen([DOORCTL, "sim-image", images["sim"], "--work", str(work), "--control", control,
                             "--http", "off", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = ""
    try:
        out = output_until(proc, "control channel:")
        assert "cut from the merged image at 0x200000 (4MB flash)" in out, out
        assert "app from flash: /flash/doorapp/app.mpy" in out and "board sim" in out, out
        with SimClient(control) as c:
            st = tap_until_on(c, "DEADBEEF", "2")
            assert st["relays"]["1"]["on"] and st["relays"]["2"]["on"] and st["version"] == VERSION
        # the build output itself is untouched: the simulator ran on a copy
        fs = open(images["sim"][:-4] + ".fs.img", "rb").read()
        assert fs == open(images["sim"], "rb").read()[VFS - BASE:]
    finally:
        proc.terminate()
        proc.wait(5)
        proc.stdout.close()


def test_doorctl_sim_image_of_a_lean_image_runs_with_the_emulator_outside_its_heap(images, tmp_path):
    """`doorctl sim-image door.bin --board sim-lean`: the PN532 emulator runs in its own process, as
    with `doorctl sim run` (inside the simulator it took the lean heap: a MemoryError traceback at
    the first poll), and a tap opens relay 1."""
    control = "127.0.0.1:%d" % free_port()
    proc = subprocess.Popen([DOORCTL, "sim-image", images["esp32-devkitc"], "--board", "sim-lean",
                             "--work", str(tmp_path / "work.img"), "--control", control, "--http", "off"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "host_tools")))  # (this checkout's)
    out = ""
    try:
        out = output_until(proc, "PN532:")
        assert "board sim-lean (lean profile)" in out, out
        assert "PN532: emu:127.0.0.1:" in out, out  # the emulator's own process, not "emulator"
        with SimClient(control) as c:
            st = tap_until_on(c, "04A1B2C3", "1")
            assert st["relays"]["1"]["on"] and st["version"] == VERSION and st["profile"] == "lean"
            assert st["reader"]["errors"] == 0
    finally:
        proc.terminate()
        try:
            rest = proc.communicate(timeout=5)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            rest = proc.communicate()[0]
    assert "Traceback" not in out + rest and "MemoryError" not in out + rest, out + rest

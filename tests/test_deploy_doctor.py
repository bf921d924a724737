"""`doorctl deploy` and `doorctl doctor` against a real MicroPython on the other end of a serial line.

The "board" is the MicroPython unix port with its REPL on a pty (raw REPL over the line, exactly
what mpremote speaks to an ESP32); mpremote reaches it without a soft reset (`resume`). Its
filesystem is a LittleFS image with the ESP32's parameters, mounted at /flash inside that
process (so deploy/doctor run with --root /flash; on a board the root is /). The PN532 check
talks to the emulator through the sim board file; flash size is "n/a on this port".
"""
import hashlib
import json
import os
import pty
import select
import shutil
import subprocess
import sys
import threading
import tty

import pytest

from doorctl import fsimage, manifest, paths
from simproc import free_port

ROOT = paths.ROOT
DOORCTL = os.path.join(os.path.dirname(sys.executable), "doorctl")
MPREMOTE = [sys.executable, "-m", "mpremote"]


class PtyMicroPython:
    """`micropython` with its REPL on one pty; the other pty's slave is the "serial port".

    Two pty pairs joined by a pump thread: the REPL needs a terminal as stdin, and the host side
    needs a device path to open (like /dev/ttyUSB0)."""

    def __init__(self, cwd):
        self.ma, sa = pty.openpty()
        tty.setraw(sa)
        self.mb, sb = pty.openpty()
        tty.setraw(sb)
        self.port = os.ttyname(sb)
        self._sb = sb
        env = dict(os.environ, MICROPYPATH=paths.micropython_path())
        self.proc = subprocess.Popen([paths.micropython_binary(), "-X", "heapsize=112000w"], stdin=sa, stdout=sa,
                                     stderr=sa, cwd=cwd, env=env, close_fds=True, start_new_session=True)
        os.close(sa)
        self.running = True
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self):
        while self.running:
            try:
                r, _w, _x = select.select([self.ma, self.mb], [], [], 0.1)
                for fd in r:
                    data = os.read(fd, 4096)
                    os.write(self.mb if fd == self.ma else self.ma, data)
            except OSError:  # the REPL process ended (soft reset on the unix port = exit)
                return

    def mpremote(self, *args):
        r = subprocess.run(MPREMOTE + ["connect", self.port, "resume"] + list(args), capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, r.stderr + r.stdout
        return r.stdout

    def close(self):
        self.running = False
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        self.thread.join(2)
        for fd in (self.ma, self.mb, self._sb):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def tree(tmp_path):
    """A private copy of the sources (deploy reads DOORCTL_ROOT), so a test can change one file."""
    dest = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for d in ("firmware", "lib", "boards"):
        shutil.copytree(os.path.join(ROOT, d), str(dest / d), ignore=ignore)
    return str(dest)


@pytest.fixture
def board(tmp_path):
    img = tmp_path / "flash.img"
    data, _used = fsimage.make_image([("users.json", b'{"users": []}')], 0x200000)  # a data file of the app
    img.write_bytes(data)
    b = PtyMicroPython(str(tmp_path))
    b.image = str(img)
    b.mpremote("exec", "from sim.flash import mount\nmount(%r, '/flash')" % str(img))
    yield b
    b.close()


def doorctl(tree, *args, timeout=120):
    r = subprocess.run([DOORCTL] + list(args), capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, DOORCTL_ROOT=tree))
    return r


def deploy(tree, board, *args):
    r = doorctl(tree, "deploy", "--port", board.port, "--root", "/flash", "--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_deploy_copies_only_changed_files_then_soft_resets(tree, board):
    staged = manifest.stage(tree, "x64", os.path.join(tree, "boards", "sim.json"))
    want = {s.path: s.data for s in staged}

    first = deploy(tree, board, "--board", "sim", "--no-reset")
    assert first["arch"] == "x64"  # asked the board: sys.implementation._mpy
    assert sorted(first["changed"]) == sorted(want) and first["unchanged"] == 0

    again = deploy(tree, board, "--board", "sim", "--no-reset")
    assert again["changed"] == [] and again["unchanged"] == len(want)

    with open(os.path.join(tree, "lib", "plates.py"), "a") as f:
        f.write("\n_DEPLOY_TEST_MARK = 1\n")
    shadow = os.path.join(tree, "stale.py")
    with open(shadow, "w") as f:
        f.write("raise ImportError('stale source shadows the .mpy')\n")
    board.mpremote("fs", "cp", shadow, ":/flash/lib/cardfmt.py")  # a left-over from a manual copy
    board.mpremote("fs", "cp", shadow, ":/flash/lib/oldmodule.mpy")
    third = deploy(tree, board, "--no-reset")
    assert third["changed"] == ["lib/plates.mpy"]
    assert third["removed"] == ["lib/cardfmt.py"]  # would shadow lib/cardfmt.mpy
    assert third["left_alone"] == ["lib/oldmodule.mpy"]

    dry = deploy(tree, board, "--prune", "--dry-run")
    assert dry["changed"] == [] and dry["removed"] == ["lib/oldmodule.mpy"]
    last = deploy(tree, board, "--prune")  # default: soft reset afterwards
    assert last["removed"] == ["lib/oldmodule.mpy"] and last["reset"]
    # on the unix port a soft reset (Ctrl-D at the REPL) ends the process: there is no reboot
    assert board.proc.wait(10) == 0

    files = fsimage.read_image(open(board.image, "rb").read())
    want["lib/plates.mpy"] = {s.path: s.data for s in manifest.stage(tree, "x64")}["lib/plates.mpy"]
    for path, data in want.items():
        assert hashlib.sha256(files[path]).hexdigest() == hashlib.sha256(data).hexdigest(), path
    assert files["users.json"] == b'{"users": []}'  # data on the board is never touched
    assert "lib/cardfmt.py" not in files and "lib/oldmodule.mpy" not in files
    assert not any(p.endswith(".tmp") for p in files)


@pytest.mark.parametrize("name", ["esp32s3-devkitc-n16r8", "esp32-wrover-e"])
def test_deploy_switches_to_a_psram_board_file(tree, board, name):
    """The same .mpy arch (xtensawin on ESP32 and ESP32-S3): only board.json changes."""
    deploy(tree, board, "--board", "sim", "--no-reset")
    r = deploy(tree, board, "--board", name, "--no-reset")
    assert r["changed"] == ["board.json"] and r["removed"] == []
    got = board.mpremote("exec", "print(open('/flash/board.json').read())")
    assert json.loads(got) == json.load(open(os.path.join(tree, "boards", name + ".json")))


def test_deploy_and_doctor_feed_the_watchdog_the_door_armed(tree, board):
    """The door's watchdog can't be stopped; interrupted for a deploy, nothing would feed it and
    the chip would reset mid-copy. Every command feeds it (found as hal.esp32.wdt)."""
    board.mpremote("exec", "import sys\nclass _W:\n feeds = 0\n def feed(self):\n  _W.feeds += 1\n"
                           "class _M:\n wdt = _W()\nsys.modules['hal.esp32'] = _M")
    r = deploy(tree, board, "--board", "sim", "--no-reset")
    feeds = int(board.mpremote("exec", "import sys; print(sys.modules['hal.esp32'].wdt.feeds)").strip())
    assert feeds > len(r["changed"])  # at least once per file written
    r = doorctl(tree, "doctor", "--port", board.port, "--root", "/flash", "--no-reset", "--json")
    assert r.returncode == 0, r.stderr + r.stdout
    assert int(board.mpremote("exec", "import sys; print(sys.modules['hal.esp32'].wdt.feeds)").strip()) > feeds


def test_doctor_reports_the_board(tree, board):
    deploy(tree, board, "--board", "sim", "--no-reset")
    r = doorctl(tree, "doctor", "--port", board.port, "--root", "/flash", "--no-reset", "--json")
    assert r.returncode == 0, r.stderr + r.stdout
    rep = json.loads(r.stdout)
    checks = {}
    for c in rep["checks"]:
        checks.setdefault(c["check"], []).append(c)
    assert rep["info"]["version"][:2] == [1, 29] and rep["info"]["platform"] == "linux"
    assert checks["micropython"][0]["status"] == "ok" and "mpy 6.3" in checks["micropython"][0]["text"]
    assert checks["flash"][0] == {"check": "flash", "status": "na", "text": "flash size: n/a on this port"}
    statvfs = json.loads(board.mpremote("exec", "import os, json; s = os.statvfs('/flash'); "
                                                "print(json.dumps([s[0] * s[2], s[0] * s[3]]))").strip())
    assert rep["probe"]["fs"] == statvfs
    assert rep["probe"]["heap"] > 100000  # the board's GC heap (a psram board's is checked against its profile)
    assert checks["app"][0]["status"] == "ok" and "board.json" in checks["app"][0]["text"]
    assert checks["pn532"][0]["status"] == "ok" and rep["pins"]["pn532"] == [0x32, 1, 6, 7]
    assert [c["text"] for c in checks["relay"]] == ["relay 1 (GPIO 26): idle", "relay 2 (GPIO 27): idle"]
    exit_in = [c for c in checks["input"] if "input exit" in c["text"]][0]
    assert exit_in["status"] == "ok" and "level 1 = idle" in exit_in["text"]
    assert rep["ok"] is True
    r = doorctl(tree, "doctor", "--port", board.port, "--root", "/flash", "--no-reset")
    assert r.returncode == 0 and "PN532 answers: IC 0x32, firmware 1.6" in r.stdout


def test_doctor_says_when_the_pn532_does_not_answer(tree, board, tmp_path):
    spec = json.load(open(os.path.join(tree, "boards", "sim.json")))
    spec["pn532"]["transport"] = "tcp:127.0.0.1:%d" % free_port()  # nothing listens there
    bad = tmp_path / "deaf.json"
    bad.write_text(json.dumps(spec))
    deploy(tree, board, "--board", str(bad), "--no-reset")
    r = doorctl(tree, "doctor", "--port", board.port, "--root", "/flash", "--no-reset")
    assert r.returncode == 1
    line = [ln for ln in r.stdout.splitlines() if " pn532 " in ln][0]
    assert line.startswith("FAIL") and "PN532 does not answer" in line


def test_no_board_on_the_port_is_a_clear_error(tree, tmp_path):
    r = doorctl(tree, "deploy", "--port", str(tmp_path / "ttyNOPE"))
    assert r.returncode == 1 and r.stderr.startswith("doorctl: error: cannot open") and r.stderr.count("\n") == 1
    r = doorctl(tree, "doctor", "--port", str(tmp_path / "ttyNOPE"))
    assert r.returncode == 1 and "cannot open" in r.stderr


def test_esp32_pin_rules():
    from doorctl.cmd_doctor import pin_findings

    spec = json.load(open(os.path.join(ROOT, "boards", "esp32-devkitc.json")))
    assert pin_findings(spec) == []  # the reference board is clean
    spec["relays"][0]["pin"] = 34
    spec["relays"][1]["pin"] = 12
    spec["inputs"][0]["pin"] = 36
    spec["inputs"][1]["pin"] = 7
    got = pin_findings(spec)
    assert ("error", "relay 1 on GPIO 34: GPIOs 34-39 are input-only") in got
    assert any(level == "warning" and "relay 2 on GPIO 12" in m and "stops the boot" in m for level, m in got)
    assert any(level == "warning" and "input exit on GPIO 36" in m and "no internal pull-up" in m for level, m in got)
    assert ("error", "input door on GPIO 7: GPIOs 6-11 are the SPI flash's") in got


def test_wrover_pin_rules():
    from doorctl.cmd_doctor import pin_findings

    spec = json.load(open(os.path.join(ROOT, "boards", "esp32-wrover-e.json")))
    assert pin_findings(spec) == []
    spec["pn532"]["tx"], spec["pn532"]["rx"] = 17, 16  # the WROOM board's UART2 pins
    assert pin_findings(spec) == [("error", "pn532 tx on GPIO 17: GPIOs 16-17 are the PSRAM's on WROVER modules"),
                                  ("error", "pn532 rx on GPIO 16: GPIOs 16-17 are the PSRAM's on WROVER modules")]
    spec["profile"] = "lean"  # a WROOM has no PSRAM there
    assert pin_findings(spec) == []


def test_wiegand_out_pins_are_checked_as_outputs():
    from doorctl.cmd_doctor import pin_findings

    spec = json.load(open(os.path.join(ROOT, "boards", "esp32-wrover-e.json")))
    spec["wiegand_out"] = {"d0": 9, "d1": 35}
    assert pin_findings(spec) == [("error", "wiegand_out d0 on GPIO 9: GPIOs 6-11 are the SPI flash's"),
                                  ("error", "wiegand_out d1 on GPIO 35: GPIOs 34-39 are input-only")]


def test_esp32s3_pin_rules():
    from doorctl.cmd_doctor import pin_findings

    spec = json.load(open(os.path.join(ROOT, "boards", "esp32s3-devkitc-n16r8.json")))
    assert pin_findings(spec) == []  # GPIO 6-11 and 34-39 are ordinary pins on the S3
    spec["relays"][0]["pin"] = 46
    spec["relays"][1]["pin"] = 30
    spec["inputs"][0]["pin"] = 35
    spec["led"]["pin"] = 19
    spec["buzzer"]["pin"] = 43
    got = pin_findings(spec)
    assert ("warning", "relay 1 on GPIO 46: a strapping pin, the relay may click at reset") in got
    assert ("error", "relay 2 on GPIO 30: GPIOs 26-32 are the SPI flash's and PSRAM's") in got
    assert ("error", "input exit on GPIO 35: GPIOs 33-37 are the octal PSRAM's and flash's on N8R8/N16R8 (and "
                     "WROOM-2) modules") in got
    assert ("warning", "led on GPIO 19: GPIOs 19-20 are the USB port's D-/D+ (it stops working)") in got
    assert ("warning", "buzzer on GPIO 43: GPIOs 43-44 are UART0, the REPL through the USB-UART bridge") in got
    assert len(got) == 5
    spec["micropython"] = "ESP32_GENERIC_S3"  # a module without octal PSRAM: GPIO 35 is free, with a caveat
    assert [lvl for lvl, m in pin_findings(spec) if "GPIO 35" in m] == ["warning"]
    spec["chip"] = "esp32c3"  # no rules for other chips yet
    assert pin_findings(spec) == []


def test_memory_profile_check():
    """A psram board whose MicroPython heap is not in PSRAM (a build without PSRAM support) fails."""
    from doorctl.cmd_doctor import assess, memory_row

    wrover = json.load(open(os.path.join(ROOT, "boards", "esp32-wrover-e.json")))
    s3 = json.load(open(os.path.join(ROOT, "boards", "esp32s3-devkitc-n16r8.json")))
    lean = json.load(open(os.path.join(ROOT, "boards", "esp32-devkitc.json")))
    generic = {"machine": "Generic ESP32 module with ESP32"}
    assert memory_row(wrover, {"machine": "Generic ESP32 module with SPIRAM with ESP32"}, 4 << 20) == (
        "memory", "ok", "psram profile: MicroPython heap 4,096 KiB (in PSRAM)")
    assert memory_row(wrover, generic, 110 << 10) == (
        "memory", "fail", "psram profile: MicroPython heap 110 KiB: the PSRAM is not in use (firmware Generic ESP32 "
                          "module with ESP32); flash ESP32_GENERIC-SPIRAM")
    row = memory_row(s3, {"machine": "Generic ESP32S3 module with ESP32S3"}, 300 << 10)
    assert row[1] == "fail" and row[2].endswith("flash ESP32_GENERIC_S3-SPIRAM_OCT")
    assert memory_row(lean, generic, 110 << 10) == ("memory", "ok", "lean profile: MicroPython heap 110 KiB")
    assert memory_row(lean, generic, None) is None  # an old probe: no heap figure
    info = {"version": [1, 26, 1], "release": "1.26.1", "platform": "esp32", "mpy": 0xA06 | (3 << 8),
            "machine": generic["machine"]}
    probe = {"flash_size": 4 << 20, "vfs": [0x200000, 0x200000], "fs": [2 << 20, 1 << 20], "files": {"board.json": 1},
             "app": "1.0", "heap": 110 << 10}
    pins = {"relays": [], "inputs": [], "pn532": [0x32, 1, 6, 7], "cfg_inputs": {}, "backend": "esp32", "spec": wrover}
    rows = assess(info, probe, pins)
    assert ("memory", "fail", memory_row(wrover, info, 110 << 10)[2]) in rows

"""`doorctl build`: the image we flash holds exactly the app, laid out where MicroPython mounts it.

The firmware is made here (valid ESP image, partition table with MD5 row); the filesystem is cut
back out of the merged image at the vfs offset and mounted by the real MicroPython (unix port)
with VfsLfs2 and the ESP32's parameters, with nothing from the checkout on its path.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from doorctl import firmware_image as fi
from doorctl import fsimage, manifest, paths

paths.use_device_code()
import cardfmt  # noqa: E402

ROOT = paths.ROOT
DOORCTL = os.path.join(os.path.dirname(sys.executable), "doorctl")
BASE = 0x1000  # ESP32: the image starts at the bootloader offset
VFS = 0x200000  # ESP32_GENERIC v1.26+: end of the factory partition
DEMO_USERS = os.path.join(ROOT, "firmware", "sim", "demo_users.json")
SECRETS = {"site_key": "11" * 32, "qr_key": "22" * 32, "wifi_password": "pw-not-in-output"}

MOUNT_AND_LIST = r"""
import sys, os, vfs, json
class Dev:
    def __init__(self, path):
        self.f = open(path, 'rb')
        self.n = os.stat(path)[6] // 4096
    def readblocks(self, b, buf, off=0):
        self.f.seek(b * 4096 + off)
        self.f.readinto(buf)
    def writeblocks(self, b, buf, off=None):
        raise OSError(30)
    def ioctl(self, op, arg):
        return self.n if op == 4 else 4096 if op == 5 else 0
vfs.mount(vfs.VfsLfs2(Dev(sys.argv[1]), readsize=32, progsize=32, lookahead=32), '/flash', readonly=True)
files = {}
def walk(d):
    for e in os.ilistdir(d):
        p = d + '/' + e[0]
        if e[1] == 0x4000:
            walk(p)
        else:
            files[p[len('/flash'):]] = os.stat(p)[6]
walk('/flash')
st = os.statvfs('/flash')
sys.path[:] = ['/flash', '.frozen', '/flash/lib']  # the ESP32's ['', '.frozen', '/lib']
import cardfmt, configerror, pn532.frames
from doorapp.config import schema
mods = {m.__name__: m.__file__ for m in (cardfmt, configerror, pn532.frames, schema)}
print(json.dumps({'files': files, 'bsize': st[0], 'blocks': st[2], 'bfree': st[3], 'mods': mods,
                  'uid': cardfmt.format_uid(b'\x04\xa1\xb2\xc3', '8HN'), 'path': sys.path}))
"""


def snapshot_tree(dest):
    """A copy of the device sources (others edit the checkout while tests run)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for d in ("firmware", "lib", "boards"):
        shutil.copytree(os.path.join(ROOT, d), os.path.join(dest, d), ignore=ignore)
    return str(dest)


def build(tmp, tree, *args, env=None):
    out = os.path.join(str(tmp), "door.bin")
    e = dict(os.environ, DOORCTL_ROOT=tree)
    e.update(env or {})
    r = subprocess.run([DOORCTL, "build", "--json", "-o", out] + list(args), capture_output=True, text=True,
                       env=e, timeout=180)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), out, r


@pytest.fixture(scope="module")
def fw_path(tmp_path_factory):
    p = tmp_path_factory.mktemp("fw") / "ESP32_GENERIC-v1.29.0.bin"
    p.write_bytes(fi.synth_firmware(app_bytes=300 * 1024))
    return str(p)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return snapshot_tree(tmp_path_factory.mktemp("tree") / "src")


@pytest.fixture(scope="module")
def built(tmp_path_factory, fw_path, tree):
    tmp = tmp_path_factory.mktemp("build")
    cfg = tmp / "site.json"
    cfg.write_text(json.dumps({"device": {"id": "door-42"}, "relays": {"1": {"hold_ms": 400}}}))
    sec = tmp / "secrets.json"
    sec.write_text(json.dumps(SECRETS))
    report, out, r = build(tmp, tree, "--firmware", fw_path, "--board", "esp32-devkitc", "--flash-size", "4MB",
                           "--config", str(cfg), "--users", DEMO_USERS, "--secrets", str(sec))
    return {"report": report, "out": out, "stderr": r.stderr, "tmp": tmp, "tree": tree}


def test_outputs_and_layout(built, fw_path):
    rep, out = built["report"], built["out"]
    merged = open(out, "rb").read()
    fs = open(out[:-4] + ".fs.img", "rb").read()
    fw = open(fw_path, "rb").read()
    assert len(merged) == 0x400000 - BASE  # ends exactly at the end of the 4 MiB flash
    assert merged[:len(fw)] == fw  # the stock firmware, untouched
    assert set(merged[len(fw):VFS - BASE]) == {0xFF}  # erased flash up to the filesystem
    assert merged[VFS - BASE:] == fs and len(fs) == 0x200000  # cut back out at the partition offset
    assert rep["vfs_offset"] == VFS and rep["vfs_size"] == 0x200000 and rep["image_offset"] == BASE
    assert rep["image"]["sha256"] == hashlib.sha256(merged).hexdigest()
    info = json.load(open(out[:-4] + ".build.json"))
    assert info["fs_image"]["sha256"] == hashlib.sha256(fs).hexdigest()
    assert "pw-not-in-output" not in json.dumps(info) and "11" * 32 not in json.dumps(info)


def test_cut_filesystem_mounts_under_micropython_with_esp32_parameters(built, tmp_path):
    merged = open(built["out"], "rb").read()
    img = tmp_path / "cut.img"
    img.write_bytes(merged[VFS - BASE:VFS - BASE + 0x200000])
    script = tmp_path / "mount.py"
    script.write_text(MOUNT_AND_LIST)
    r = subprocess.run([paths.micropython_binary(), "-X", "heapsize=112000w", str(script), str(img)],
                       capture_output=True, text=True, env=dict(os.environ, MICROPYPATH=".frozen"), timeout=60)
    assert r.returncode == 0, r.stderr + r.stdout
    got = json.loads(r.stdout.strip().splitlines()[-1])
    want = {f["path"]: f["bytes"] for f in built["report"]["files"]}
    assert got["files"] == want
    # device layout: sources only for main.py/boot.py, everything else compiled
    assert "/main.py" in want and "/boot.py" in want
    assert "/doorapp/app.mpy" in want and "/lib/pn532/frames.mpy" in want and "/lib/hal/esp32.mpy" in want
    assert all(p.endswith(".mpy") for p in want if p.startswith(("/doorapp/", "/lib/")))
    for p in ("/board.json", "/config.json", "/secrets.json", "/users.tbl"):
        assert p in want
    # nothing simulator-only
    assert not any(p.startswith(("/sim", "/lib/pn532emu")) or p == "/lib/hal/sim.mpy" for p in want)
    # .mpy built for xtensawin import on the unix port: bytecode only, same mpy version
    assert got["path"] == ["/flash", ".frozen", "/flash/lib"]
    assert got["mods"] == {"cardfmt": "/flash/lib/cardfmt.mpy", "configerror": "/flash/lib/configerror.mpy",
                           "pn532.frames": "/flash/lib/pn532/frames.mpy", "doorapp.config.schema": "/flash/doorapp/config/schema.mpy"}
    assert got["uid"] == "04A1B2C3"
    # the size report agrees with what MicroPython's LittleFS says
    assert got["bsize"] == 4096 and got["blocks"] == 512
    # (MicroPython's lfs2 statvfs counts each subdirectory's metadata pair twice: 2 blocks more per
    # folder than littlefs-python's lfs_fs_size; the report gives the true figure)
    dirs = {p.rsplit("/", i)[0] for p in want for i in range(1, p.count("/"))} - {""}
    assert got["bfree"] * 4096 == built["report"]["fs_free_bytes"] - 2 * len(dirs) * 4096


def test_board_and_settings_files_are_the_given_bytes(built):
    files = fsimage.read_image(open(built["out"][:-4] + ".fs.img", "rb").read())
    assert files["board.json"] == open(os.path.join(built["tree"], "boards", "esp32-devkitc.json"), "rb").read()
    assert json.loads(files["config.json"])["device"]["id"] == "door-42"
    assert json.loads(files["secrets.json"]) == SECRETS
    # the user list is built into the table on the host (a board can't afford building it)
    assert "users.json" not in files
    from usertable.reader import Base

    tbl = os.path.join(built["tmp"], "users-from-image.tbl")
    with open(tbl, "wb") as f:
        f.write(files["users.tbl"])
    b = Base(tbl)
    try:
        b.verify()
        assert b.users == 2 and b.fid == cardfmt.format_id("8HN")
    finally:
        b.close()
    assert files["main.py"] == open(os.path.join(built["tree"], "firmware", "main.py"), "rb").read()
    mpy = files["doorapp/app.mpy"]
    assert mpy[:2] == b"M\x06"  # .mpy v6


def test_every_device_file_is_in_the_image_or_sim_only(built):
    """The manifest is the one definition: a new file under firmware/ or lib/ must be classified."""
    in_image = {f["path"].lstrip("/") for f in built["report"]["files"]}
    tree = built["tree"]
    for rel in manifest.all_tree_files(tree):
        where = [(s, d) for s, d in manifest.DEVICE_TREES if rel == s or rel.startswith(s + "/")]
        dev = manifest.device_path(where[0][1] + rel[len(where[0][0]):]) if where else None
        if manifest.is_sim_only(rel):
            assert dev is None or dev not in in_image, rel + " is simulator-only but in the image"
        else:
            assert dev in in_image, "%s is neither in the image (as /%s) nor listed as simulator-only" % (rel, dev)
    assert "lib/hal/sim.mpy" not in in_image and not any(p.startswith("lib/pn532emu") for p in in_image)


def test_checkout_files_are_all_classified():
    """Same rule on the live checkout (catches a file added without updating manifest.py)."""
    srcs = {s for s, _d in manifest.device_sources(ROOT)}
    for rel in manifest.all_tree_files(ROOT):
        assert rel in srcs or manifest.is_sim_only(rel), rel + " is neither a device file nor simulator-only"


def test_size_report(built, fw_path, tree, tmp_path):
    rep = built["report"]
    kinds = rep["kinds"]
    files = fsimage.read_image(open(built["out"][:-4] + ".fs.img", "rb").read())
    assert kinds["users"] == {"files": 1, "bytes": len(files["users.tbl"])}
    srcs = manifest.device_sources(tree)
    assert kinds["app"]["files"] == len([d for _s, d in srcs if not d.startswith("www/")])
    assert kinds.get("web", {"files": 0})["files"] == len([d for _s, d in srcs if d.startswith("www/")])
    assert rep["fs_free_bytes"] == (512 - rep["fs_used_blocks"]) * 4096
    r = subprocess.run([DOORCTL, "build", "--firmware", fw_path, "-o", str(tmp_path / "d.bin")], capture_output=True,
                       text=True, env=dict(os.environ, DOORCTL_ROOT=tree), timeout=180)
    assert r.returncode == 0, r.stderr
    assert "compiling the app for xtensawin" in r.stdout  # progress
    for word in ("firmware app", "filesystem     0x200000-0x400000", "app", "user table", "free"):
        assert word in r.stdout


def test_reproducible_from_another_location_without_cache(built, fw_path, tmp_path):
    """Same inputs -> same bytes: a second copy of the tree elsewhere, cold mpy-cross (no cache)."""
    tree2 = str(tmp_path / "elsewhere" / "checkout")
    shutil.copytree(built["tree"], tree2)
    sec = tmp_path / "secrets.json"
    sec.write_text(json.dumps(SECRETS))
    cfg = tmp_path / "site.json"
    cfg.write_text(json.dumps({"device": {"id": "door-42"}, "relays": {"1": {"hold_ms": 400}}}))
    rep2, out2, _r = build(tmp_path, tree2, "--firmware", fw_path, "--config", str(cfg), "--users", DEMO_USERS,
                           "--secrets", str(sec), env={"DOORCTL_MPY_CACHE": "off"})
    assert open(out2, "rb").read() == open(built["out"], "rb").read()
    assert rep2["fs_image"]["sha256"] == built["report"]["fs_image"]["sha256"]


def test_8mb_build_sets_the_header_and_grows_the_filesystem(fw_path, tree, tmp_path):
    from esptool.bin_image import LoadFirmwareImage

    rep, out, _r = build(tmp_path, tree, "--firmware", fw_path, "--flash-size", "8MB")
    merged = open(out, "rb").read()
    assert len(merged) == 0x800000 - BASE
    assert merged[3] >> 4 == 3  # flash size nibble: 8MB, so the chip sees all of it
    LoadFirmwareImage("esp32", merged).verify()  # esptool re-signed the bootloader's SHA-256
    fs = merged[VFS - BASE:]
    assert len(fs) == 0x600000 and rep["vfs_size"] == 0x600000
    assert fs == open(out[:-4] + ".fs.img", "rb").read()
    assert "boot.py" in fsimage.read_image(fs)


def test_invalid_config_stops_the_build(fw_path, tree, tmp_path):
    cfg = tmp_path / "bad.json"
    cfg.write_text(json.dumps({"relays": {"1": {"hold_ms": 10}}}))
    r = subprocess.run([DOORCTL, "build", "--firmware", fw_path, "--config", str(cfg), "-o",
                        str(tmp_path / "o" / "d.bin")], capture_output=True, text=True,
                       env=dict(os.environ, DOORCTL_ROOT=tree), timeout=120)
    assert r.returncode == 1
    assert "bad.json: relays.1.hold_ms: must be between 100 and 600000, got 10" in r.stderr
    assert not (tmp_path / "o").exists()


def test_invalid_users_stop_the_build(fw_path, tree, tmp_path):
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"users": [{"id": 1, "cards": ["04A1B2C3"], "relays": [9]}]}))
    r = subprocess.run([DOORCTL, "build", "--firmware", fw_path, "--users", str(users), "-o",
                        str(tmp_path / "o" / "d.bin")], capture_output=True, text=True,
                       env=dict(os.environ, DOORCTL_ROOT=tree), timeout=120)
    assert r.returncode == 1 and "users.json:1: users[0].relays" in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()


def test_app_that_does_not_fit_is_a_clear_error(tree, tmp_path):
    big_app = (("nvs", 1, 2, 0x9000, 0x6000, 0), ("factory", 0, 0, 0x10000, 0x3E0000, 0))
    fw = tmp_path / "fw.bin"
    fw.write_bytes(fi.synth_firmware(table=big_app, app_bytes=4096))  # leaves 64 KiB of filesystem
    r = subprocess.run([DOORCTL, "build", "--firmware", str(fw), "-o", str(tmp_path / "o" / "d.bin")],
                       capture_output=True, text=True, env=dict(os.environ, DOORCTL_ROOT=tree), timeout=120)
    assert r.returncode == 1 and "don't fit in the 64 KiB filesystem" in r.stderr
    assert not (tmp_path / "o").exists()


def test_package_closure_brings_microdot_only_when_imported(tmp_path):
    """Third-party device packages come in only as far as the app imports them."""
    for d in ("firmware/doorapp", "lib"):
        (tmp_path / d).mkdir(parents=True)
    for f in ("firmware/main.py", "firmware/boot.py", "firmware/doorapp/__init__.py", "lib/x.py"):
        (tmp_path / f).write_text("import sys\n")
    assert manifest.package_sources(str(tmp_path)) == []
    (tmp_path / "firmware/doorapp/api.py").write_text("def f():\n    from microdot import Microdot\n")
    got = [d for _s, d in manifest.package_sources(str(tmp_path))]
    assert got == ["lib/microdot/__init__.py", "lib/microdot/microdot.py"]


def test_compiled_user_table_is_checked_and_installed(fw_path, tree, tmp_path):
    usertable = pytest.importorskip("usertable.build")
    import cardfmt

    tbl = tmp_path / "users.tbl"
    usertable.build_file(str(tbl), [], [], cardfmt.format_id("8HN"), 1)
    rep, out, _r = build(tmp_path, tree, "--firmware", fw_path, "--users", str(tbl))
    assert rep["kinds"]["users"] == {"files": 1, "bytes": tbl.stat().st_size}
    assert fsimage.read_image(open(out[:-4] + ".fs.img", "rb").read())["users.tbl"] == tbl.read_bytes()
    bad = tmp_path / "bad.tbl"
    bad.write_bytes(tbl.read_bytes()[:-5])
    r = subprocess.run([DOORCTL, "build", "--firmware", fw_path, "--users", str(bad), "-o", str(tmp_path / "o" / "d.bin")],
                       capture_output=True, text=True, env=dict(os.environ, DOORCTL_ROOT=tree), timeout=120)
    assert r.returncode == 1 and "bad.tbl: (file): not a usable user table" in r.stderr

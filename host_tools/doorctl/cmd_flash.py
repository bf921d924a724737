"""`doorctl flash`: write a built image to a board over USB with esptool, then verify it.

A merged image (door.bin) goes at the chip's bootloader offset, read from the image itself
(its header names the chip); a filesystem image (door.fs.img) goes at the vfs offset from the
build description next to it (door.build.json) or --offset. The image is checked before
esptool is started, so a wrong file never reaches the board.

esptool runs as `python -m esptool` (esptool 5, dash-style commands); DOORCTL_ESPTOOL replaces
that command (a wrapper, or a recorder in tests).
"""
import json
import os
import shlex
import subprocess
import sys

from doorctl import firmware_image, fsimage, partitions
from doorctl.errors import CliError

DEFAULT_BAUD = 460800


def esptool_base():
    env = os.environ.get("DOORCTL_ESPTOOL")
    return shlex.split(env) if env else [sys.executable, "-m", "esptool"]


def _build_info(image):
    stem = image
    for suffix in (".fs.img", ".bin", ".img"):
        if stem.endswith(suffix):
            stem = stem[:-len(suffix)]
            break
    path = stem + ".build.json"
    try:
        with open(path) as f:
            return json.load(f), path
    except (OSError, ValueError):
        return None, path


def plan(image, chip=None, offset=None):
    """What to write: {"kind", "chip", "offset", "bytes", "note"}; CliError if the file is wrong."""
    try:
        with open(image, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CliError("cannot read %s: %s" % (image, e.strerror or e))
    if data[:1] == bytes((firmware_image.IMAGE_MAGIC,)):
        try:
            fw = firmware_image.load_firmware(image, chip)
            size = partitions.parse_flash_size(fw.bootloader.flash_size)
        except (firmware_image.FirmwareError, partitions.PartitionError) as e:
            raise CliError(str(e))
        if offset is not None and offset != fw.base:
            raise CliError("%s is a %s image: it must go at 0x%x, not 0x%x" % (image, fw.chip.name, fw.base, offset))
        if fw.base + len(data) > size:
            raise CliError("%s (%d bytes from 0x%x) is larger than its %s flash" % (image, len(data), fw.base,
                                                                                   fw.bootloader.flash_size))
        return {"kind": "image", "chip": fw.chip.name, "offset": fw.base, "bytes": len(data),
                "note": "%s, %s flash" % (firmware_image.describe(fw), fw.bootloader.flash_size)}
    if fsimage.is_littlefs(data):
        info, info_path = _build_info(image)
        if offset is None:
            if info is None:
                raise CliError("%s is a filesystem image: give --offset, or keep %s next to it" % (image, info_path))
            if info["fs_image"]["bytes"] != len(data):
                raise CliError("%s is %d bytes but %s describes a %d-byte filesystem"
                               % (image, len(data), info_path, info["fs_image"]["bytes"]))
            offset = info["vfs_offset"]
        c = chip or (info or {}).get("chip") or "esp32"
        try:
            c = firmware_image.chip(c).name
        except firmware_image.FirmwareError as e:
            raise CliError(str(e))
        if offset % partitions.BLOCK:
            raise CliError("offset 0x%x is not a multiple of 4 KiB" % offset)
        return {"kind": "filesystem", "chip": c, "offset": offset, "bytes": len(data),
                "note": "LittleFS filesystem only (firmware untouched)"}
    raise CliError("%s is neither an image from `doorctl build` nor a filesystem image" % image)


def commands(image, port, p, baud=DEFAULT_BAUD, verify=True):
    """The esptool invocations, in order (argv lists)."""
    base = esptool_base() + ["--chip", p["chip"], "--port", port, "--baud", str(baud), "--before", "default-reset"]
    addr = "0x%x" % p["offset"]
    # flash params "keep": the header already says what the build chose (merge-bin --flash-size)
    write = base + ["--after", "no-reset" if verify else "hard-reset", "write-flash",
                    "--flash-mode", "keep", "--flash-freq", "keep", "--flash-size", "keep", addr, image]
    out = [write]
    if verify:
        out.append(base + ["--after", "hard-reset", "verify-flash", addr, image])
    return out


def flash(image, port, chip=None, offset=None, baud=DEFAULT_BAUD, verify=True, progress=print):
    if not port:
        raise CliError("--port is required (e.g. /dev/ttyUSB0)")
    p = plan(image, chip, offset)
    if port.startswith("/dev/") and not os.path.exists(port):
        raise CliError("serial port %s does not exist (is the board plugged in?)" % port)
    cmds = commands(image, port, p, baud, verify)
    progress("flashing %s (%s, %d bytes) at 0x%x on %s" % (image, p["note"], p["bytes"], p["offset"], port))
    for argv in cmds:
        step = "write-flash" if "write-flash" in argv else "verify-flash"
        progress("esptool %s ..." % step)
        r = subprocess.run(argv)
        if r.returncode != 0:
            raise CliError("esptool %s failed (exit %d): check the port, hold BOOT if the board doesn't "
                           "enter the bootloader" % (step, r.returncode))
    progress("done: %s written%s, board reset" % (image, " and verified" if verify else ""))
    return p


def _offset(text):
    try:
        return int(text, 0)
    except ValueError:
        raise CliError("--offset must be a number like 0x200000, got %r" % text)


def cmd_flash(args):
    flash(args.image, args.port, args.chip, _offset(args.offset) if args.offset else None, args.baud,
          not args.no_verify, progress=lambda m: print(m, flush=True))
    return 0


def register(sub):
    p = sub.add_parser(
        "flash", help="write a built image to a board over USB (esptool), then verify",
        description="Write door.bin (firmware + filesystem, at the chip's bootloader offset) or door.fs.img "
                    "(filesystem only, at the vfs offset from door.build.json) with esptool write-flash, "
                    "then check the flash with esptool verify-flash and reset the board.")
    p.add_argument("image", help="door.bin or door.fs.img from `doorctl build`")
    p.add_argument("--port", required=True, help="serial port of the board, e.g. /dev/ttyUSB0")
    p.add_argument("--baud", type=int, default=DEFAULT_BAUD, help="(default %(default)s)")
    p.add_argument("--chip", help="chip, if the image doesn't say (filesystem images; default esp32)")
    p.add_argument("--offset", help="flash offset of a filesystem image (default from the build description)")
    p.add_argument("--no-verify", action="store_true", help="skip the verify-flash pass")
    p.set_defaults(func=cmd_flash)

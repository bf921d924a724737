"""`doorctl build` (one flashable image), `doorctl firmware info|download`, `doorctl sim-image`.

build: stock MicroPython firmware + the app compiled with mpy-cross + board/config/secrets/users
in a LittleFS image laid out exactly as the vfs partition of that firmware and flash size
(read from the firmware's own partition table), merged with esptool into one file that starts
at the chip's bootloader offset. Also writes the filesystem image alone (app updates without
touching the firmware) and a build description (offsets, sizes, SHA-256s). Everything is
checked before anything is written; the same inputs give the same bytes.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from doorctl import firmware_image, fsimage, manifest, partitions, paths, stockfw
from doorctl.errors import CliError

DEFAULT_BOARD = "esp32-devkitc"
DEFAULT_FLASH = "4MB"
MPY_MIN_FIRMWARE = (1, 23)  # mpy-cross 1.29 writes .mpy v6.3, loadable by MicroPython >= 1.23
ERRORS = (firmware_image.FirmwareError, partitions.PartitionError, manifest.ManifestError,
          fsimage.FsImageError, stockfw.StockError)


def _say(progress, msg):
    if progress:
        progress(msg)


def output_names(out, fs_out=None):
    """(merged image, filesystem image, build description) paths for `-o out`."""
    stem = out[:-4] if out.endswith(".bin") else out
    return out, fs_out or stem + ".fs.img", stem + ".build.json"


def _version_tuple(text):
    digits = []
    for part in text.lstrip("v").split("-")[0].split("."):
        if not part.isdigit():
            break
        digits.append(int(part))
    return tuple(digits)


def _flash_size(given, spec, board_path):
    """--flash-size, else the board file's `flash_size` (the module's), else DEFAULT_FLASH: bytes."""
    if given is not None:
        return partitions.parse_flash_size(given)
    named = spec.get("flash_size")
    if named is None:
        return partitions.parse_flash_size(DEFAULT_FLASH)
    try:
        return partitions.parse_flash_size(named)
    except partitions.PartitionError as e:
        raise CliError("%s: flash_size: %s" % (board_path, e))


def _fw_version(fw):
    return fw.app_desc.version if fw.app_desc else None


def _check_chip(fw, firmware, spec, want_chip, from_option):
    """Refuse a firmware for another chip than the board's, saying which file to get instead."""
    want = firmware_image.chip(want_chip)
    if fw.chip == want:
        return
    name = os.path.basename(firmware)
    fetch = stockfw.where_to_get(stockfw.board_build(spec, want.name), _fw_version(fw))
    if from_option:
        raise CliError("firmware %s is for %s, --chip says %s: download %s" % (name, fw.chip.name, want.name, fetch))
    raise CliError("firmware %s is for %s, board %s is %s: download %s"
                   % (name, fw.chip.name, spec["name"], want.name, fetch))


def _check_variant(fw, firmware, spec):
    """Refuse a build that can't drive the board's PSRAM (psram profile); warnings otherwise."""
    errors, warnings = stockfw.check(os.path.basename(firmware), stockfw.identify(fw.machine), spec, fw.chip.name,
                                     _fw_version(fw))
    if errors:
        raise CliError(errors[0])
    return warnings


def esptool_merge(chip, base, flash_size_name, parts, out):
    """Run `esptool --chip C merge-bin` (esptool 5 dash-style) writing `out`; parts = [(addr, path)]."""
    argv = [sys.executable, "-m", "esptool", "--chip", chip, "merge-bin", "-o", out,
            "--flash-size", flash_size_name, "--target-offset", "0x%x" % base]
    for addr, path in parts:
        argv += ["0x%x" % addr, path]
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise CliError("esptool merge-bin failed (exit %d): %s" % (r.returncode, (r.stderr or r.stdout).strip()))
    return argv


def build(firmware, out, board=DEFAULT_BOARD, flash_size=None, config=None, secrets=None,
          users=None, provision=None, fs_out=None, chip=None, root=None, progress=None):
    """Build door.bin (+ .fs.img, .build.json); returns the report dict. Raises CliError.

    flash_size: None = the board file's `flash_size`, else DEFAULT_FLASH."""
    t0 = time.monotonic()
    try:
        _say(progress, "reading firmware %s" % firmware)
        board_path, _data, spec = manifest.load_board(board)
        size = _flash_size(flash_size, spec, board_path)
        want_chip = chip or spec.get("chip")
        if want_chip is None and spec["backend"] == "esp32":
            want_chip = "esp32"
        fw = firmware_image.load_firmware(firmware)
        warnings = []
        if want_chip is not None:
            _check_chip(fw, firmware, spec, want_chip, chip is not None)
        if spec["backend"] == "esp32":
            warnings += _check_variant(fw, firmware, spec)
        vfs_off, vfs_size, rule = partitions.vfs_region(fw.partitions, size)
        if fw.base + len(fw.data) > vfs_off:
            raise CliError("firmware file %s runs into the filesystem at 0x%x" % (firmware, vfs_off))
        if fw.app_desc and _version_tuple(fw.app_desc.version)[:2] < MPY_MIN_FIRMWARE:
            warnings.append("firmware %s is older than v%d.%d: it can't load .mpy files from mpy-cross %s"
                            % (fw.app_desc.version, MPY_MIN_FIRMWARE[0], MPY_MIN_FIRMWARE[1],
                               manifest.mpy_cross_version()))
        if spec["backend"] != "esp32":
            warnings.append("board %s has backend %s: this image only runs in the simulator"
                            % (spec["name"], spec["backend"]))
        _say(progress, "compiling the app for %s (%s)" % (fw.chip.arch, manifest.mpy_cross_version()))
        staged = manifest.stage(root, fw.chip.arch, board_path, config, secrets, users, provision)
        _say(progress, "making the LittleFS image: %d files, %d KiB partition at 0x%x"
             % (len(staged), vfs_size // 1024, vfs_off))
        img, used = fsimage.make_image([(s.path, s.data) for s in staged], vfs_size)
    except ERRORS as e:
        raise CliError(str(e))
    out, fs_path, info_path = output_names(out, fs_out)
    outdir = os.path.dirname(os.path.abspath(out))
    os.makedirs(outdir, exist_ok=True)
    os.makedirs(os.path.dirname(os.path.abspath(fs_path)), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="doorctl-build-", dir=outdir) as tmp:
        tmp_fs = os.path.join(tmp, "fs.img")
        with open(tmp_fs, "wb") as f:
            f.write(img)
        _say(progress, "merging firmware and filesystem with esptool merge-bin")
        tmp_out = os.path.join(tmp, "door.bin")
        esptool_merge(fw.chip.name, fw.base, partitions.flash_size_name(size),
                      [(fw.base, os.path.abspath(firmware)), (vfs_off, tmp_fs)], tmp_out)
        with open(tmp_out, "rb") as f:
            merged = f.read()
        if merged[vfs_off - fw.base:] != img:
            raise CliError("esptool merge-bin did not place the filesystem at 0x%x" % vfs_off)
        report = _report(fw, spec, size, vfs_off, vfs_size, rule, staged, used, merged, img,
                         (out, fs_path, info_path), warnings)
        os.replace(tmp_fs, fs_path)
        os.replace(tmp_out, out)
        tmp_info = os.path.join(tmp, "info.json")
        with open(tmp_info, "w") as f:
            json.dump(report, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp_info, info_path)
    report["seconds"] = round(time.monotonic() - t0, 2)
    return report


def _report(fw, spec, size, vfs_off, vfs_size, rule, staged, used, merged, img, outs, warnings):
    kinds = manifest.summarize(staged)
    d = fw.app_desc
    return {
        "chip": fw.chip.name,
        "arch": fw.chip.arch,
        "board": spec["name"],
        "profile": spec.get("profile", "lean"),
        "micropython": d.version if d else None,
        "machine": fw.machine,
        "psram": stockfw.identify(fw.machine).psram,
        "idf": d.idf_version if d else None,
        "flash_size": partitions.flash_size_name(size),
        "image_offset": fw.base,
        "firmware_app_bytes": firmware_image.app_size(fw),
        "app_partition": {"label": fw.app_partition.label, "offset": fw.app_partition.offset,
                          "size": fw.app_partition.size},
        "vfs_offset": vfs_off,
        "vfs_size": vfs_size,
        "vfs_rule": rule,
        "fs_blocks": vfs_size // fsimage.BLOCK,
        "fs_used_blocks": used,
        "fs_free_bytes": (vfs_size // fsimage.BLOCK - used) * fsimage.BLOCK,
        "kinds": kinds,
        "files": [{"path": "/" + s.path, "bytes": len(s.data), "kind": s.kind} for s in staged],
        "image": {"path": outs[0], "bytes": len(merged), "sha256": hashlib.sha256(merged).hexdigest()},
        "fs_image": {"path": outs[1], "bytes": len(img), "sha256": hashlib.sha256(img).hexdigest()},
        "info": outs[2],
        "warnings": warnings,
    }


def _n(x):
    return "{:,}".format(x)


def format_report(r):
    k = r["kinds"]

    def part(kind_names):
        files = sum(k.get(n, {}).get("files", 0) for n in kind_names)
        size = sum(k.get(n, {}).get("bytes", 0) for n in kind_names)
        return "%3d file%s %10s B" % (files, " " if files == 1 else "s", _n(size))

    ap = r["app_partition"]
    lines = [
        "image for %s (%s, %s profile), %s flash, MicroPython %s (ESP-IDF %s)" % (
            r["board"], r["chip"], r["profile"], r["flash_size"], r["micropython"] or "?", r["idf"] or "?"),
        "  firmware       %s (%s)" % (r["machine"] or "no MicroPython board name in it",
                                      stockfw.PSRAM_WORDS.get(r["psram"], "PSRAM support unknown")),
        "  firmware app   %s B in partition %s (%s B, %d%% used)" % (
            _n(r["firmware_app_bytes"]), ap["label"], _n(ap["size"]), 100 * r["firmware_app_bytes"] // ap["size"]),
        "  filesystem     0x%x-0x%x: %s KiB, %d blocks of 4 KiB (%s)" % (
            r["vfs_offset"], r["vfs_offset"] + r["vfs_size"], _n(r["vfs_size"] // 1024), r["fs_blocks"], r["vfs_rule"]),
        "    app          %s  (.mpy for %s, main.py/boot.py as source)" % (part(["app", "package"]), r["arch"]),
        "    web UI       %s  (gzipped)" % part(["web"]),
        "    board/config %s" % part(["board", "config", "secrets"]),
        "    user table   %s" % part(["users"]),
        "    free         %s B (%d of %d blocks used)" % (_n(r["fs_free_bytes"]), r["fs_used_blocks"], r["fs_blocks"]),
        "wrote %s (%s B, flash at 0x%x), %s, %s" % (r["image"]["path"], _n(r["image"]["bytes"]), r["image_offset"],
                                                  r["fs_image"]["path"], r["info"]),
    ]
    for w in r["warnings"]:
        lines.append("warning: " + w)
    return "\n".join(lines)


def needed_build(board, chip=None):
    """(board name, stock build id) a board (name or file) runs; CliError for a bad board file."""
    try:
        _path, _data, spec = manifest.load_board(board)
        want = chip or spec.get("chip") or "esp32"
        return spec["name"], stockfw.board_build(spec, firmware_image.chip(want).name)
    except ERRORS as e:
        raise CliError(str(e))


def cmd_build(args):
    if not args.firmware or not os.path.isfile(args.firmware):
        name, build_id = needed_build(args.board, args.chip)
        what = ("firmware file %s not found" % args.firmware if args.firmware else "--firmware PATH is required")
        raise CliError("%s: the stock MicroPython firmware, for board %s: %s "
                       "(or `doorctl firmware download --board %s --version VERSION`)"
                       % (what, name, stockfw.where_to_get(build_id), args.board))
    progress = (lambda m: print(m, file=sys.stderr, flush=True)) if args.json else (lambda m: print(m, flush=True))
    r = build(args.firmware, args.output, args.board, args.flash_size, args.config, args.secrets, args.users,
              args.provision, args.fs_output, args.chip, progress=None if args.quiet else progress)
    if args.json:
        print(json.dumps(r, indent=2, sort_keys=True))
    else:
        print(format_report(r))
        print("done in %.1f s" % r["seconds"])
    return 0


# --- doorctl firmware info / download -----------------------------------------------------------
def firmware_info(path, chip=None):
    try:
        fw = firmware_image.load_firmware(path, chip)
    except firmware_image.FirmwareError as e:
        raise CliError(str(e))
    d = fw.app_desc
    vfs = {}
    for name in ("4MB", "8MB", "16MB"):
        try:
            off, size, rule = partitions.vfs_region(fw.partitions, partitions.parse_flash_size(name))
            vfs[name] = {"offset": off, "size": size, "rule": rule}
        except partitions.PartitionError as e:
            vfs[name] = {"error": str(e)}
    b = stockfw.identify(fw.machine)
    return {
        "path": path, "chip": fw.chip.name, "arch": fw.chip.arch, "image_offset": fw.base,
        "header_flash_size": fw.bootloader.flash_size,
        "project": d.project if d else None, "version": d.version if d else None,
        "idf": d.idf_version if d else None,
        "machine": b.machine, "board_name": b.board_name, "mcu": b.mcu, "psram": b.psram,
        "app_bytes": firmware_image.app_size(fw),
        "partitions": [dict(p._asdict()) for p in fw.partitions],
        "vfs": vfs,
    }


def cmd_firmware_info(args):
    info = firmware_info(args.firmware, args.chip)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    print("%s: %s %s (ESP-IDF %s) for %s, starts at 0x%x, header flash size %s, app %s B" % (
        info["path"], info["project"] or "?", info["version"] or "?", info["idf"] or "?", info["chip"],
        info["image_offset"], info["header_flash_size"], _n(info["app_bytes"])))
    print("build: %s (%s)" % (info["machine"] or "no MicroPython board name in it",
                              stockfw.PSRAM_WORDS.get(info["psram"], "PSRAM support unknown")))
    print(partitions.format_table([partitions.Partition(**p) for p in info["partitions"]]))
    for name, v in info["vfs"].items():
        if "error" in v:
            print("vfs on %-4s: %s" % (name, v["error"]))
        else:
            print("vfs on %-4s: 0x%06x size 0x%06x (%s)" % (name, v["offset"], v["size"], v["rule"]))
    return 0


def mpflash_command():
    exe = shutil.which("mpflash")
    if exe:
        return [exe]
    import importlib.util

    if importlib.util.find_spec("mpflash") is not None:
        return [sys.executable, "-m", "mpflash"]
    return None


def download_target(board):
    """--board of `firmware download`: a doorctl board (name or file: the build it runs) or a
    micropython.org build id (ESP32_GENERIC_S3-SPIRAM_OCT). -> (build id, doorctl board spec or None)."""
    path = manifest.resolve_board(board)
    if os.path.exists(path):
        try:
            _path, _data, spec = manifest.load_board(board)
            return stockfw.board_build(spec, firmware_image.chip(spec.get("chip") or "esp32").name), spec
        except ERRORS as e:
            raise CliError(str(e))
    try:
        return stockfw.check_build_id(board, "--board"), None
    except stockfw.StockError:
        raise CliError("--board %s is neither a board file (%s) nor a micropython.org board id like "
                       "ESP32_GENERIC-SPIRAM" % (board, path))


def cmd_firmware_download(args):
    build_id, spec = download_target(args.board)
    mp_board, _variant = stockfw.split_id(build_id)
    page = stockfw.DOWNLOAD_PAGE % mp_board
    cmd = mpflash_command()
    if cmd is None:
        raise CliError("mpflash is not installed, so doorctl can't download firmware: get %s and pass it with "
                       "--firmware (or `pip install mpflash` and run this again)"
                       % stockfw.where_to_get(build_id, args.version))
    dest = os.path.abspath(args.dest)
    os.makedirs(dest, exist_ok=True)
    env = dict(os.environ, MPFLASH_FIRMWARE=dest)
    print("downloading %s %s with mpflash into %s" % (build_id, args.version, dest), flush=True)
    r = subprocess.run(cmd + ["download", "--version", args.version, "--board", mp_board], env=env)
    if r.returncode != 0:
        raise CliError("mpflash download failed (exit %d); get %s instead"
                       % (r.returncode, stockfw.where_to_get(build_id, args.version)))
    found = []
    for base, _dirs, files in os.walk(dest):
        found += [os.path.join(base, f) for f in files if stockfw.file_matches(f, build_id, args.version)]
    if not found:
        raise CliError("mpflash finished but no %s is in %s; get it from %s"
                       % (stockfw.file_pattern(build_id, args.version), dest, page))
    path = sorted(found)[-1]
    if spec is not None:  # the file must be what the board needs, as `doorctl build` will check
        try:
            fw = firmware_image.load_firmware(path)
            _check_chip(fw, path, spec, spec.get("chip") or "esp32", False)
            for w in _check_variant(fw, path, spec):
                print("warning: " + w, file=sys.stderr)
        except ERRORS as e:
            raise CliError(str(e))
    print(path)
    return 0


# --- doorctl sim-image ----------------------------------------------------------------------------
def fs_from_image(data, where="image"):
    """The filesystem image inside `data`: a merged door.bin (cut at the vfs offset its own
    partition table and header flash size give) or a bare LittleFS image. -> (fs bytes, note)."""
    if fsimage.is_littlefs(data):
        return data, "filesystem image"
    if not data or data[0] != firmware_image.IMAGE_MAGIC:
        raise CliError("%s is neither a merged doorctl image nor a LittleFS image" % where)
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(data)
        f.flush()
        try:
            fw = firmware_image.load_firmware(f.name)
            size = partitions.parse_flash_size(fw.bootloader.flash_size)
            off, vsize, _rule = partitions.vfs_region(fw.partitions, size)
        except ERRORS as e:
            raise CliError("%s: %s" % (where, e))
    fs = data[off - fw.base:off - fw.base + vsize]
    if len(fs) != vsize or not fsimage.is_littlefs(fs):
        raise CliError("%s has no LittleFS filesystem at 0x%x" % (where, off))
    return fs, "cut from the merged image at 0x%x (%s flash)" % (off, fw.bootloader.flash_size)


def _image_heap(args, fs):
    """The heap for the image's board: --heap, else its board file's profile (--board's, or the
    board.json in the image)."""
    from doorctl import profiles

    if args.heap:
        return args.heap
    if args.board:
        return profiles.heap_for_board(manifest.resolve_board(args.board))
    try:
        spec = json.loads(fsimage.read_image(fs).get("board.json", b"{}"))
    except (ValueError, fsimage.FsImageError):
        spec = {}
    return profiles.HEAPS.get(spec.get("profile"), profiles.HEAPS["lean"])


def _image_transport(args, fs):
    """The PN532 transport of the board the image runs as (--board's file, else the image's
    board.json): "emulator" on the simulator's boards; "" if it can't be read (the simulator
    reports that itself)."""
    try:
        if args.board:
            with open(manifest.resolve_board(args.board)) as f:
                spec = json.load(f)
        else:
            spec = json.loads(fsimage.read_image(fs).get("board.json", b"{}"))
        return spec["pn532"].get("transport", "emulator") if spec.get("backend") == "sim" else ""
    except (OSError, ValueError, KeyError, TypeError, AttributeError, fsimage.FsImageError):
        return ""


def sim_image_argv(args, flash):
    argv = [paths.micropython_binary(), "-X", "heapsize=" + args.heap,
            os.path.join(paths.FIRMWARE, "sim", "run.py"), "--app-from-flash",
            "--flash", flash, "--flash-size", str(os.path.getsize(flash)),
            "--control", args.control, "--http", args.http]
    if args.board:
        argv += ["--board", os.path.abspath(manifest.resolve_board(args.board))]
    if args.pn532:
        argv += ["--pn532", args.pn532]
    if args.quiet:
        argv.append("--quiet")
    return argv


def cmd_sim_image(args):
    try:
        with open(args.image, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CliError("cannot read %s: %s" % (args.image, e.strerror or e))
    fs, note = fs_from_image(data, args.image)
    args.heap = _image_heap(args, fs)
    work = os.path.abspath(args.work)
    os.makedirs(os.path.dirname(work), exist_ok=True)
    with open(work, "wb") as f:  # a copy: the simulator writes to its flash, never to the build output
        f.write(fs)
    print("simulator flash: %s (%s)" % (work, note), flush=True)
    if not args.pn532 and _image_transport(args, fs) == "emulator":
        # the emulator in its own process, as `doorctl sim run` has it: test equipment stays out
        # of the heap the image runs in (inside it, a lean board's heap has no room for it). It
        # watches this process, which the simulator replaces below (same pid): it ends with it
        from doorctl import pn532_service

        _proc, args.pn532 = pn532_service.start()
    argv = sim_image_argv(args, work)
    env = dict(os.environ, MICROPYPATH=paths.micropython_path())
    sys.stdout.flush()
    os.execve(argv[0], argv, env)


def register(sub):
    from doorctl.simctl import DEFAULT_CONTROL

    p = sub.add_parser(
        "build", help="build one flashable image: MicroPython + app + settings",
        description="Compile the app with mpy-cross, lay it out with the board/config/secrets/users in a "
                    "LittleFS image matching the firmware's vfs partition for the flash size, and merge it "
                    "with the stock firmware into one image (esptool merge-bin). Also writes the filesystem "
                    "image alone (OUT.fs.img) and a build description (OUT.build.json).")
    p.add_argument("--firmware", help="stock MicroPython firmware .bin for the board (e.g. "
                                      "ESP32_GENERIC-20250911-v1.26.1.bin; boards/README.md says which)")
    p.add_argument("--board", default=DEFAULT_BOARD, help="board name or file (default %(default)s)")
    p.add_argument("--flash-size", help="flash size of the module: 4MB, 8MB, 16MB... (default: the board "
                                        "file's flash_size, else %s)" % DEFAULT_FLASH)
    p.add_argument("--chip", help="expected chip (default: the board file's `chip`, else esp32)")
    p.add_argument("--config", help="config.json to install (validated against the board)")
    p.add_argument("--secrets", help="secrets.json to install (validated)")
    p.add_argument("--users", help="user list: users.json (validated) or a compiled users.tbl")
    p.add_argument("--provision", metavar="DIR", help="take config.json/secrets.json (and the HTTPS key and certificate, if "
                                                         "made with --tls) from `doorctl provision --out DIR`")
    p.add_argument("-o", "--output", default=os.path.join("build", "door.bin"),
                   help="merged image (default %(default)s)")
    p.add_argument("--fs-output", help="filesystem image alone (default OUTPUT with .fs.img)")
    p.add_argument("--json", action="store_true", help="print the build report as JSON (progress on stderr)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_build)

    fw = sub.add_parser("firmware", help="inspect or download stock MicroPython firmware",
                        description="Inspect a stock firmware file (chip, version, partition table, where the "
                                    "filesystem goes for each flash size), or download one with mpflash.")
    fsub = fw.add_subparsers(dest="fwcmd", metavar="FWCOMMAND")
    fsub.required = True
    fi = fsub.add_parser("info", help="chip, version, partitions and vfs region of a firmware file")
    fi.add_argument("firmware")
    fi.add_argument("--chip", help="refuse firmware for another chip")
    fi.add_argument("--json", action="store_true")
    fi.set_defaults(func=cmd_firmware_info)
    fd = fsub.add_parser("download", help="download stock firmware with mpflash (if installed)")
    fd.add_argument("--version", required=True, help="MicroPython version, e.g. v1.26.0")
    fd.add_argument("--board", default=DEFAULT_BOARD,
                    help="a doorctl board (name or file: downloads the build it needs) or a micropython.org "
                         "board id with its variant, e.g. ESP32_GENERIC-SPIRAM (default %(default)s)")
    fd.add_argument("--dest", default=os.path.join("build", "firmware"), help="folder (default %(default)s)")
    fd.set_defaults(func=cmd_firmware_download)

    si = sub.add_parser("sim-image", help="run the simulator on a built image (app imported from it)",
                        description="Boot the simulator from a built image: door.bin (the filesystem is cut out "
                                    "at the vfs offset) or door.fs.img. The app and libraries are imported from "
                                    "the image's .mpy files; only simulator-only modules come from the checkout. "
                                    "The board file is the image's /board.json unless --board is given (an "
                                    "esp32 board file needs --board sim).")
    si.add_argument("image", help="door.bin or door.fs.img from `doorctl build`")
    si.add_argument("--board", help="board name or file overriding the image's /board.json (e.g. sim)")
    si.add_argument("--work", default=os.path.join(paths.ROOT, "build", "sim", "image-flash.img"),
                    help="copy of the filesystem the simulator runs on (default %(default)s)")
    si.add_argument("--control", default=os.environ.get("DOORCTL_SIM_CONTROL", DEFAULT_CONTROL),
                    help="control channel HOST:PORT (default %(default)s)")
    si.add_argument("--http", default="127.0.0.1:8080", help="device HTTP HOST:PORT or off (default %(default)s)")
    si.add_argument("--pn532", default="", help="PN532 link: the emulator in its own process (default), emulator "
                                                "(inside the simulator's heap), tcp:HOST:PORT or serial:/dev/tty...")
    si.add_argument("--quiet", action="store_true", help="no live display")
    si.add_argument("--heap", default=None, help="MicroPython heap (default: the board's memory profile's, "
                    "docs/memory.md)")
    si.set_defaults(func=cmd_sim_image)

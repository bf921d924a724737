"""Benchmark of `doorctl build`: time and sizes of the full app image, reproducibility, and what
loading the app from the image's .mpy costs on the ESP32-sized heap.

The firmware is a synthetic ESP32_GENERIC-shaped file with a 1.6 MB app (no downloads); the app
is the checkout's. Cold = mpy-cross runs for every file (cache off); warm = compiled-module
cache hit (the deploy edit loop). The heap figure imports doorapp.app under
`micropython -X heapsize=112000w` once from the image's .mpy files and once from source.
"""
import json
import os
import subprocess
import tempfile
import time

from doorctl import cmd_build, firmware_image, manifest, paths

HEAP = "112000w"
IMPORT_APP = r"""
import sys, os, gc, time, vfs
gc.collect()
t = time.ticks_us()
if sys.argv[1] != '-':
    class Dev:
        def __init__(self, p):
            self.f = open(p, 'rb')
            self.n = os.stat(p)[6] // 4096
        def readblocks(self, b, buf, off=0):
            self.f.seek(b * 4096 + off)
            self.f.readinto(buf)
        def ioctl(self, op, arg):
            return self.n if op == 4 else 4096 if op == 5 else 0
    vfs.mount(vfs.VfsLfs2(Dev(sys.argv[1]), readsize=32, progsize=32, lookahead=32), '/flash', readonly=True)
    sys.path[:] = ['/flash', '.frozen', '/flash/lib']
else:
    sys.path[:] = ['.frozen', sys.argv[2] + '/firmware', sys.argv[2] + '/lib']
from doorapp import app
t = time.ticks_diff(time.ticks_us(), t)
gc.collect()
print('{"import_us": %d, "heap_used": %d, "heap_free": %d, "file": "%s"}' % (t, gc.mem_alloc(), gc.mem_free(), app.__file__))
"""


def _build(fw, out, flash, cache):
    old = os.environ.get("DOORCTL_MPY_CACHE")
    os.environ["DOORCTL_MPY_CACHE"] = cache
    try:
        t = time.perf_counter()
        rep = cmd_build.build(fw, out, "esp32-devkitc", flash)
        rep["wall_s"] = time.perf_counter() - t
        return rep
    finally:
        if old is None:
            os.environ.pop("DOORCTL_MPY_CACHE", None)
        else:
            os.environ["DOORCTL_MPY_CACHE"] = old


def _import_app(arg, tmp):
    script = os.path.join(tmp, "import_app.py")
    with open(script, "w") as f:
        f.write(IMPORT_APP)
    r = subprocess.run([paths.micropython_binary(), "-X", "heapsize=" + HEAP, script, arg, paths.ROOT],
                       capture_output=True, text=True, timeout=120, env=dict(os.environ, MICROPYPATH=".frozen"))
    if r.returncode != 0:
        return {"error": (r.stderr or r.stdout).strip().splitlines()[-1:]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def run():
    with tempfile.TemporaryDirectory(prefix="doorctl-bench-image-") as tmp:
        fw = os.path.join(tmp, "ESP32_GENERIC-synthetic.bin")
        with open(fw, "wb") as f:
            f.write(firmware_image.synth_firmware(app_bytes=1600 * 1024))
        cache = os.path.join(tmp, "cache")
        cold = _build(fw, os.path.join(tmp, "a", "door.bin"), "4MB", "off")
        warm1 = _build(fw, os.path.join(tmp, "b", "door.bin"), "4MB", cache)  # fills the cache
        warm = _build(fw, os.path.join(tmp, "c", "door.bin"), "4MB", cache)
        big = _build(fw, os.path.join(tmp, "d", "door.bin"), "16MB", cache)
        same = len({r["image"]["sha256"] for r in (cold, warm1, warm)}) == 1
        from_image = _import_app(cold["fs_image"]["path"], tmp)
        from_source = _import_app("-", tmp)
        k = cold["kinds"]
        app = k.get("app", {"files": 0, "bytes": 0})
        pkg = k.get("package", {"files": 0, "bytes": 0})
        web = k.get("web", {"files": 0, "bytes": 0})
        src_bytes = 0
        for s, _d in manifest.device_sources():
            if s.endswith(".py"):
                src_bytes += os.path.getsize(os.path.join(paths.ROOT, s))
        return {
            "cold_s": round(cold["wall_s"], 2),
            "warm_s": round(warm["wall_s"], 2),
            "build_16mb_s": round(big["wall_s"], 2),
            "reproducible": same,
            "image_bytes": cold["image"]["bytes"],
            "image_sha256": cold["image"]["sha256"][:16],
            "fs_bytes": cold["vfs_size"],
            "fs_used_blocks": cold["fs_used_blocks"],
            "fs_blocks": cold["fs_blocks"],
            "fs_free_bytes": cold["fs_free_bytes"],
            "fs_free_16mb_bytes": big["fs_free_bytes"],
            "app_files": app["files"] + pkg["files"],
            "app_bytes": app["bytes"] + pkg["bytes"],
            "web_bytes": web["bytes"],
            "source_bytes": src_bytes,
            "import_from_image": from_image,
            "import_from_source": from_source,
            "firmware_app_bytes": cold["firmware_app_bytes"],
        }


def rows(r):
    kib = lambda n: "%d KiB" % (n // 1024)  # noqa: E731
    out = [
        ("Image build, full app, 4 MB (cold: mpy-cross every file / warm: compile cache)",
         "%.2f s / %.2f s (16 MB: %.2f s); reproducible: %s" % (
             r["cold_s"], r["warm_s"], r["build_16mb_s"], "yes, identical bytes" if r["reproducible"] else "NO")),
        ("Image sizes (4 MB ESP32, 1.6 MB firmware app)",
         "door.bin %s B; filesystem %s: app %d files %s as .mpy (.py source %s), web UI %s gz; free %s (%d of %d blocks used); "
         "16 MB: free %s" % ("{:,}".format(r["image_bytes"]), kib(r["fs_bytes"]), r["app_files"], kib(r["app_bytes"]),
                             kib(r["source_bytes"]), kib(r["web_bytes"]), kib(r["fs_free_bytes"]), r["fs_used_blocks"],
                             r["fs_blocks"], kib(r["fs_free_16mb_bytes"]))),
    ]
    fi, fs = r["import_from_image"], r["import_from_source"]
    if "error" not in fi and "error" not in fs:
        out.append(("import doorapp.app, 112000w heap (.mpy from the image vs .py source)",
                    "%.1f ms, %d B heap used vs %.1f ms, %d B" % (fi["import_us"] / 1000.0, fi["heap_used"],
                                                                   fs["import_us"] / 1000.0, fs["heap_used"])))
    else:
        out.append(("import doorapp.app from the image", "failed: %s / %s" % (fi.get("error"), fs.get("error"))))
    return out


if __name__ == "__main__":
    res = run()
    print(json.dumps(res, indent=2))
    for m, v in rows(res):
        print("| %s | %s |" % (m, v))

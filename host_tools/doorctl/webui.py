"""The web UI as it goes on the device: each file of firmware/www gzipped (reproducibly: no
name, mtime 0) into a folder the image builder copies to /www. The device serves `name.gz`
with Content-Encoding: gzip (firmware/doorapp/http/webui.py), so only the .gz files go on flash.
"""
import gzip
import os

from doorctl import paths

WWW = os.path.join(paths.FIRMWARE, "www")
# what the device serves (firmware/doorapp/http/webui.py TYPES); anything else in www/ is not copied
EXTENSIONS = (".html", ".js", ".css", ".svg", ".png", ".ico", ".json")


def www_files(src_dir=WWW):
    """Names of the servable files in src_dir, sorted."""
    return sorted(
        n for n in os.listdir(src_dir)
        if not n.startswith(".") and n.endswith(EXTENSIONS) and os.path.isfile(os.path.join(src_dir, n))
    )


def gzip_bytes(data):
    """Deterministic gzip: the same input gives the same bytes on every machine."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def build_www(out_dir, src_dir=WWW):
    """Write `<name>.gz` for every servable file of src_dir into out_dir (created if needed).

    Returns {"files": {name: {"size": plain bytes, "gzip": gzipped bytes}}, "size": total plain,
    "gzip": total gzipped}. Stale .gz files of names no longer in src_dir are removed.
    """
    os.makedirs(out_dir, exist_ok=True)
    names = www_files(src_dir)
    files = {}
    for name in names:
        with open(os.path.join(src_dir, name), "rb") as f:
            data = f.read()
        packed = gzip_bytes(data)
        dst = os.path.join(out_dir, name + ".gz")
        tmp = dst + ".tmp"
        with open(tmp, "wb") as f:
            f.write(packed)
        os.replace(tmp, dst)
        files[name] = {"size": len(data), "gzip": len(packed)}
    for old in os.listdir(out_dir):
        if old.endswith(".gz") and old[:-3] not in files and old[:-3].endswith(EXTENSIONS):
            os.remove(os.path.join(out_dir, old))
    return {
        "files": files,
        "size": sum(v["size"] for v in files.values()),
        "gzip": sum(v["gzip"] for v in files.values()),
    }

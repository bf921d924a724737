"""Small file helpers for flash: existence check, removal and atomic replace (old or new, never a mix)."""
import json
import os


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def remove(path):
    """Remove path if it is there."""
    try:
        os.remove(path)
    except OSError:
        pass


def write_atomic(path, data):
    """Write to path.tmp, check it reads back, then rename over path: old or new, never a mix."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    with open(tmp, "rb") as f:
        if f.read() != data:
            raise OSError("verify failed writing " + path)
    _replace(tmp, path)


def _replace(tmp, path):
    try:
        os.rename(tmp, path)
    except OSError:  # some VFS refuse to rename over an existing file
        os.remove(path)
        os.rename(tmp, path)


def write_json_atomic(path, obj):
    """json.dump streamed to path.tmp (no text of the whole document in RAM: one contiguous
    block that a busy heap may not have), checked by reading it back, renamed over path."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    with open(tmp) as f:
        if json.load(f) != obj:
            raise OSError("verify failed writing " + path)
    _replace(tmp, path)

"""Small file helpers for flash: existence check and atomic replace (old or new, never a mix)."""
import json
import os



def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def write_atomic(path, data):
    """Write to path.tmp, check it reads back, then rename over path: old or new, never a mix."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    with open(tmp, "rb") as f:
        if f.read() != data:
            raise OSError("verify failed writing " + path)
    try:
        os.rename(tmp, path)
    except OSError:  # some VFS refuse to rename over an existing file
        os.remove(path)
        os.rename(tmp, path)


def write_json_atomic(path, obj):
    write_atomic(path, json.dumps(obj).encode())

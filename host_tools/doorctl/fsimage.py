"""LittleFS v2 images with the geometry MicroPython's ESP32 port mounts.

MicroPython's `_boot.py` mounts the vfs partition as VfsLfs2 with 4096-byte blocks and
read/prog/lookahead sizes of 32; the block count comes from the partition size. An image made
with other parameters (or another block count) is "corrupted" to the device, which then
reformats it — so the partition size always comes from the firmware's partition table.

Reproducible: files are written in one fixed order (sorted paths, parents first) into a
freshly formatted image; LittleFS stores no timestamps unless asked (we set none), so the
same files give the same bytes.
"""
import littlefs

from doorctl import partitions

BLOCK = partitions.BLOCK
LFS_PARAMS = {"block_size": BLOCK, "read_size": 32, "prog_size": 32, "lookahead_size": 32,
              "block_cycles": 100, "cache_size": 128}


class FsImageError(ValueError):
    pass


def _open(size, buffer=None):
    if size % BLOCK or size < 2 * BLOCK:
        raise FsImageError("filesystem size must be a multiple of %d bytes, got %d" % (BLOCK, size))
    kw = dict(LFS_PARAMS, block_count=size // BLOCK, mount=False)
    if buffer is not None:
        kw["context"] = littlefs.UserContext(buffer=bytearray(buffer))
    return littlefs.LittleFS(**kw)


def make_image(files, size):
    """LittleFS image of `size` bytes holding files = [(device path, bytes)].

    Returns (image bytes, used blocks). FsImageError if the files don't fit.
    """
    fs = _open(size)
    fs.format()
    fs.mount()
    made = set()
    total = 0
    try:
        for path, data in sorted(files):
            parts = path.strip("/").split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in made:
                    fs.mkdir(d)
                    made.add(d)
            with fs.open("/".join(parts), "wb") as f:
                f.write(data)
            total += len(data)
        used = fs.used_block_count
    except littlefs.errors.LittleFSError as e:
        if getattr(e, "code", None) == littlefs.errors.LittleFSError.Error.LFS_ERR_NOSPC:
            raise FsImageError("the files (%d bytes) don't fit in the %d KiB filesystem"
                               % (sum(len(d) for _p, d in files), size // 1024))
        raise FsImageError("LittleFS: %s" % e)
    fs.unmount()
    return bytes(fs.context.buffer), used


def read_image(data):
    """{device path: bytes} of every file in a LittleFS image (ESP32 geometry)."""
    fs = _open(len(data), data)
    try:
        fs.mount()
    except littlefs.errors.LittleFSError as e:
        raise FsImageError("not a LittleFS image with the ESP32 geometry (%s)" % e)
    out = {}
    for top, _dirs, files in fs.walk("/"):
        for name in files:
            p = (top.rstrip("/") + "/" + name).lstrip("/")
            with fs.open(p, "rb") as f:
                out[p] = f.read()
    return out


def is_littlefs(data):
    """LittleFS v2 keeps the string 'littlefs' in its superblock (block 0 or 1, offset 8)."""
    return data[8:16] == b"littlefs" or data[BLOCK + 8:BLOCK + 16] == b"littlefs"

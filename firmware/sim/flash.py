"""Simulated SPI flash: a LittleFS v2 image file mounted with the ESP32's parameters.

The image has the geometry of the ESP32's vfs partition (4096-byte blocks, readsize/progsize/
lookahead 32 as MicroPython's ESP32 _boot.py mounts it), so data survives restarts exactly as
on a board, and host tools (littlefs-python) can build or read the same image.
"""
import os
import vfs

BLOCK = 4096
LFS_OPTS = {"readsize": 32, "progsize": 32, "lookahead": 32}
DEFAULT_SIZE = 0x200000  # vfs partition of a 4 MiB ESP32 (0x200000..0x400000)


class FileBlockDevice:
    """Block device protocol (readblocks/writeblocks/ioctl) over an image file.

    Writes go straight to the file (the unix port does not buffer), so killing the process
    is a power cut at that instant.
    """

    def __init__(self, path, size):
        self.path = path
        self.count = size // BLOCK
        self.f = open(path, "r+b")

    def readblocks(self, block, buf, off=0):
        self.f.seek(block * BLOCK + off)
        self.f.readinto(buf)

    def writeblocks(self, block, buf, off=None):
        self.f.seek(block * BLOCK + (off or 0))
        self.f.write(buf)

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.count
        if op == 5:  # block size
            return BLOCK
        return 0  # init, deinit, sync, erase: nothing to do for a file


def _file_size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


def create_image(path, size):
    """A blank image (erased flash reads 0xFF) formatted as LittleFS v2."""
    blank = b"\xff" * BLOCK
    with open(path, "wb") as f:
        for _ in range(size // BLOCK):
            f.write(blank)
    dev = FileBlockDevice(path, size)
    vfs.VfsLfs2.mkfs(dev, **LFS_OPTS)
    dev.f.close()


def mount(path, mountpoint="/flash", size=0):
    """Mount the image (creating it if missing); returns True if it was created now.

    An existing file that is not a LittleFS image is never reformatted: that is the user's
    data. Raise OSError with a message instead.
    """
    have = _file_size(path)
    created = False
    if have < 0:
        create_image(path, size or DEFAULT_SIZE)
        created = True
        have = size or DEFAULT_SIZE
    elif size and have != size:
        raise OSError("flash image %s is %d bytes, not %d" % (path, have, size))
    if have % BLOCK or have < 16 * BLOCK:
        raise OSError("flash image %s has a bad size (%d bytes)" % (path, have))
    dev = FileBlockDevice(path, have)
    try:
        fs = vfs.VfsLfs2(dev, **LFS_OPTS)
    except OSError:
        raise OSError("flash image %s is not a LittleFS image (delete it to start afresh)" % path)
    vfs.mount(fs, mountpoint)
    return created

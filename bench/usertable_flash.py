"""Flash images for the user-table benchmarks (MicroPython unix port, ESP32 heap).

Usage: micropython -X heapsize=112000w bench/usertable_flash.py CMD IMAGE ...
  base IMAGE SIZE          new LittleFS image (ESP32 geometry) holding a full 20,000-event log
                           and ~250 KB of app files, as on a deployed board
  install IMAGE TABLE      copy a host-built table into /flash/users.tbl
  peer IMAGE N             one JSON file per user in /flash/P/ (esp-rfid's layout) for users
                           0..N-1, stopping at the first ENOSPC
Prints one JSON object. `mount()` (imported by the other bench scripts) mounts an image on a
block device that counts block reads, so flash traffic below the filesystem can be compared.
"""
import gc
import json
import os
import sys
import time

import vfs
from sim import flash

APP_BYTES = 250000
EVENTS = 20000


class CountingDevice(flash.FileBlockDevice):
    """The simulator's flash, counting readblocks calls and bytes (LittleFS's reads of flash)."""

    def __init__(self, path, size):
        super().__init__(path, size)
        self.reads = 0
        self.bytes = 0
        self.track_heap = False
        self.heap_low = 1 << 30

    def readblocks(self, block, buf, off=0):
        self.reads += 1
        self.bytes += len(buf)
        if self.track_heap and not self.reads & 31:  # live heap low-water mark, sampled
            gc.collect()
            f = gc.mem_free()
            if f < self.heap_low:
                self.heap_low = f
        super().readblocks(block, buf, off)


def mount(image):
    size = os.stat(image)[6]
    dev = CountingDevice(image, size)
    vfs.mount(vfs.VfsLfs2(dev, **flash.LFS_OPTS), "/flash")
    return dev


def free_bytes():
    s = os.statvfs("/flash")
    return s[0] * s[3]


def total_bytes():
    s = os.statvfs("/flash")
    return s[0] * s[2]


def _exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def base(image, size):
    if _exists(image):
        os.remove(image)
    flash.create_image(image, size)
    mount(image)
    import eventcodes
    import eventlog

    t0 = time.ticks_ms()
    log = eventlog.EventLog("/flash/events.log", EVENTS)
    uid = b"\x04\xa1\xb2\xc3"
    for i in range(EVENTS):
        log.append(1700000000 + i, eventcodes.KIND_CARD, eventcodes.RESULT_GRANTED, eventcodes.REASON_OK, uid, 1,
                   user=100000 + i, relays=1)
    log.close()
    os.mkdir("/flash/app")
    chunk = bytes(range(256)) * 16  # one 4 KiB block per file: the app takes ~APP_BYTES of flash
    left = APP_BYTES
    k = 0
    while left > 0:
        n = min(len(chunk), left)
        with open("/flash/app/m%02d.mpy" % k, "wb") as f:
            f.write(chunk[:n])
        left -= n
        k += 1
    return {"image_bytes": size, "fs_bytes": total_bytes(), "free_bytes": free_bytes(), "events": EVENTS,
            "app_bytes": APP_BYTES, "seconds": time.ticks_diff(time.ticks_ms(), t0) / 1000}


def install(image, table):
    mount(image)
    before = free_bytes()
    size = 0
    ok = True
    try:
        with open(table, "rb") as src, open("/flash/users.tbl", "wb") as dst:
            buf = bytearray(4096)
            while True:
                n = src.readinto(buf)
                if not n:
                    break
                dst.write(buf if n == len(buf) else buf[:n])
                size += n
    except OSError:
        ok = False
    after = free_bytes()
    return {"fits": ok, "table_bytes": size, "free_before": before, "free_after": after,
            "flash_bytes": before - after, "room_for_second_copy": ok and after >= before - after}


def peer(image, n):
    sys.path.append(sys.argv[0].rsplit("/", 1)[0])
    import usertable_gen as gen

    mount(image)
    try:
        os.mkdir("/flash/P")
    except OSError:
        pass
    before = free_bytes()
    t0 = time.ticks_ms()
    written = 0
    full = False
    for i in range(n):
        try:
            with open("/flash/P/" + gen.card(i), "w") as f:
                f.write(gen.peer_json(i))
        except OSError:
            full = True
            break
        written += 1
        if written % 500 == 0:
            gc.collect()
    # once LittleFS is full its statvfs is not meaningful: all that was free is used
    used = before if full else before - free_bytes()
    return {"written": written, "full": full, "flash_bytes": used,
            "bytes_per_user": used / written if written else 0, "free_after": 0 if full else free_bytes(),
            "seconds": time.ticks_diff(time.ticks_ms(), t0) / 1000}


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "base":
        out = base(sys.argv[2], int(sys.argv[3]))
    elif cmd == "install":
        out = install(sys.argv[2], sys.argv[3])
    else:
        out = peer(sys.argv[2], int(sys.argv[3]))
    print(json.dumps(out))

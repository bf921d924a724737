"""HTTP routes for a whole user table (docs/http-api.md "User table"): `PUT /api/v1/users/table`
takes a table built by `doorctl users build` (what `doorctl push` sends), streamed to flash in
small pieces next to the live one, checked (header, checksum, card format) and swapped in
atomically before the answer; `GET` sends the live table file back, with any single-user
edits merged into it first. A push that is cut off
leaves the old table live (the partial file is removed at the next push or start-up).
Loaded on demand by doorapp.http.api (handlers take the shared Api first)."""
import asyncio
import os

from micropython import const

from compat import sleep_ms
from configerror import ConfigError
from deadline import Deadline
from doorapp import fileio
from doorapp.http.api import ApiError
from doorapp.http.server import Stream

CHUNK = const(512)
_READ_TIMEOUT_MS = const(10000)  # per piece: a sender that stalls this long is dropped
_SPARE = const(8192)  # flash left free after a push (journal, events)
_MERGE_WAIT_MS = const(60000)  # a download waits this long for a running compaction
_busy = [False]


def _free_flash(door):
    try:
        st = os.statvfs(door.board.data_dir or "/")
        return st[0] * st[4]  # block size x free blocks
    except OSError:
        return -1


async def _receive(request, path, n):
    """Write the request body (n bytes) to `path`; the part read with the head comes first."""
    buf = bytearray(CHUNK)
    mv = memoryview(buf)
    dl = Deadline()
    got = 0
    with open(path, "wb") as f:
        head = request.body
        if head:
            f.write(head)
            got = len(head)
        request.body = b""
        reader = request.reader
        while got < n:
            want = min(CHUNK, n - got)
            k = await dl.run(reader.readinto(mv[:want]), _READ_TIMEOUT_MS)
            if not k:
                raise ApiError(400, "body ended after %d of %d bytes" % (got, n))
            f.write(mv[:k])
            got += k


async def put_table(api, request):
    door = api.door
    n = request.content_length
    if n <= 0:
        raise ApiError(400, "send the table file as the body (Content-Length)")
    if _busy[0]:
        raise ApiError(409, "another table push is running")
    path = fileio.data_path(door.board, fileio.STAGED_FILE)
    fileio.remove(path)
    free = _free_flash(door)
    if 0 <= free < n + _SPARE:
        raise ApiError(413, "table of %d bytes does not fit: %d bytes of flash free" % (n, free))
    _busy[0] = True
    try:
        try:
            await _receive(request, path, n)
        except asyncio.TimeoutError:
            raise ApiError(408, "table upload stalled")
        except OSError as e:
            raise ApiError(413, "could not store the table: %s" % e)
        t = door.table
        try:
            t.install(path)  # checked, then renamed over the live table; on error the old one stays
        except ConfigError as e:
            raise ApiError(400, e.message, e.field)
        door.use_table(t)
        return {"serial": t.serial, "users": t.count}
    finally:
        fileio.remove(path)
        _busy[0] = False


async def _merged(t):
    """Merge single-user edits from the journal into the table file (waiting for a compaction
    that is already running), so that a download holds every user. 409 if it can't be done
    (e.g. no flash for the second copy a merge writes: the edits stay in the journal)."""
    waited = 0
    while t.busy and waited < _MERGE_WAIT_MS:  # the background compaction after an edit
        await sleep_ms(100)
        waited += 100
    if t.journal_entries and not t.busy:
        try:
            await t.compact_async()
        except (OSError, ConfigError) as e:
            print("users: compaction for a download failed:", e)
    if t.journal_entries:
        raise ApiError(409, "%d user edits could not be merged into the table file (see the device "
                       "log: flash full?); GET /api/v1/users/export has every user" % t.journal_entries)


async def get_table(api, request):
    """The live table file; edits made since the last compaction are merged into it first."""
    t = api.door.table
    if t.journal_entries:
        await _merged(t)
    size = os.stat(t.path)[6]
    src = () if request.method == "HEAD" else open(t.path, "rb")
    return Stream(src, "application/octet-stream", size, {"Content-Disposition": 'attachment; filename="users.tbl"'})

"""Timeouts for a task's awaits without asyncio.wait_for.

Why: wait_for makes two tasks per call (the awaited one and a runner). On a full heap the second
can fail after the first was started: that task runs on alone, unowned, still reading its socket
(it takes the next answer of the PN532, or writes into a head buffer that the HTTP server has
already given to another client) and keeps what it refers to in the heap. Seen under the HTTP
bench as connections answered by a closed socket and a heap that shrank by kilobytes a round.

Here one watchdog task cancels the task whose deadline passed; the task catches that and sees it
was its own deadline (`run` turns it into asyncio.TimeoutError). Arming and disarming allocate
nothing and start no task, so a timeout can't fail half-way. Precision is _TICK_MS.

    dl = Deadline()                       # one per user that waits (a connection slot, a stream)
    data = await dl.run(stream.read(n), 200)   # raises asyncio.TimeoutError after 200 ms
"""
import asyncio

from micropython import const

from compat import sleep_ms, ticks_add, ticks_diff, ticks_ms

_TICK_MS = const(10)

_armed = []  # the Deadlines armed now (a handful: a list, no allocation once grown)
_watcher = [None, None]  # the watchdog task, the Event that wakes it when idle


class Deadline:
    def __init__(self):
        self.task = None  # the task to cancel (None: not armed)
        self.at = 0
        self.fired = False

    def arm(self, ms):
        """Cancel the current task if it is still waiting `ms` from now (unless disarmed). What
        may find no heap comes first: a MemoryError leaves nothing armed."""
        w = _watcher[0]
        if w is None or w.done():  # (CPython tests run several event loops, one after another)
            _watcher[1] = asyncio.Event()
            _watcher[0] = asyncio.create_task(_watch(_watcher[1]))
        if self not in _armed:
            _armed.append(self)
        self.fired = False
        self.at = ticks_add(ticks_ms(), ms)
        self.task = asyncio.current_task()
        _watcher[1].set()

    def disarm(self):
        self.task = None
        if self in _armed:
            _armed.remove(self)

    async def run(self, aw, ms):
        """await `aw`; asyncio.TimeoutError if it takes more than `ms` (its await is cancelled
        where it waits: a socket read keeps its data for the next read)."""
        self.arm(ms)
        try:
            return await aw
        except asyncio.CancelledError:
            if not self.fired:
                raise  # cancelled from outside (the door stopping): not a timeout
            _uncancel()
            raise asyncio.TimeoutError
        finally:
            self.disarm()


def _uncancel():
    """CPython counts cancellations and would cancel later awaits too (3.11+)."""
    t = asyncio.current_task()
    un = getattr(t, "uncancel", None)
    if un is not None:
        un()


async def _watch(wake):
    while True:
        if not _armed:
            wake.clear()
            await wake.wait()
            continue
        now = ticks_ms()
        for d in _armed:
            t = d.task
            if t is not None and ticks_diff(now, d.at) >= 0:
                d.task = None
                d.fired = True
                t.cancel()
        d = t = None  # a task (and all it refers to) must not stay reachable from here
        await sleep_ms(_TICK_MS)

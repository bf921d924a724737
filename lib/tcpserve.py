"""A TCP server for MicroPython that bounds what its clients can take: how many connections are
served at once (`limit`), and only while `admit()` says the heap can spare it.

asyncio's start_server makes a task per connection, as many as clients come (a flood of them
takes the heap the device's own work needs), and its accept loop ends for good when taking a
connection fails for lack of heap. Here the accept task makes a connection's task only while
fewer than `limit` run and `admit()` allows; a few others wait (no task, no buffer) up to
_WAIT_MS for a place (a client that connects again right after an answer often comes before its
old connection is closed here); any other gets the ready-made `refusal` bytes at once, and what
it sends is then read into one scratch buffer and dropped for up to
_REFUSE_MS by the accept loop itself (closing a socket with unread bytes resets the connection,
and the client would not see the refusal), then it is closed: no task, no buffer per refused
connection. At most _ACCEPT_PER_POLL connections are taken per poll: the rest wait in the listen
queue, so a flood costs the loop a bounded share of its time. The listening socket is watched
through a poll object of its own, every _ACCEPT_POLL_MS: no asyncio internals.

    lst = tcpserve.listen(host, port, handler, limit=4, refusal=b"...", admit=None)
    async def handler(sock, peer): ...   # the socket is closed after it returns
    lst.close()
"""
import asyncio
import gc

from micropython import const

from compat import print_exception, sleep_ms, ticks_diff, ticks_ms

_REFUSE_SLOTS = const(4)  # refused connections read briefly before closing (the rest: closed)
_REFUSE_MS = const(300)
_SCRATCH = const(256)
_ACCEPT_POLL_MS = const(10)
_ACCEPT_PER_POLL = const(2)
_WAIT_SLOTS = const(4)  # connections waiting for a place (accepted, no task yet)
_WAIT_MS = const(1000)


class Listener:
    """A listening socket, its accept task, and the refused connections being read."""

    def __init__(self, sock, handler, limit, refusal, admit):
        self.sock = sock
        self.handler = handler
        self.limit = limit
        self.refusal = refusal
        self.admit = admit
        self.active = 0  # connections being served
        self.served = 0
        self.refused = 0
        self._refused = [[None, 0] for _ in range(_REFUSE_SLOTS)]  # [socket, ticks_ms refused]
        self._waiting = [[None, None, 0] for _ in range(_WAIT_SLOTS)]  # [socket, peer, ticks_ms accepted]
        self._task = asyncio.create_task(self._acceptor())

    def close(self):
        self._task.cancel()
        for e in self._refused + self._waiting:
            if e[0] is not None:
                _close(e[0])
                e[0] = None
        self.sock.close()

    async def _acceptor(self):
        import select

        s = self.sock
        poller = select.poll()
        poller.register(s, select.POLLIN)
        scratch = bytearray(_SCRATCH)
        while True:
            self._tend(scratch)
            self._hand_over()
            ready = 0
            for _ in poller.ipoll(0):
                ready = _ACCEPT_PER_POLL
            while ready:
                ready -= 1
                try:
                    c, peer = s.accept()
                except MemoryError:  # no heap for the socket: it waits in the listen queue
                    gc.collect()
                    break
                except OSError:  # none left (EAGAIN), or it went away before being taken
                    break
                c.setblocking(False)
                if not self._start(c, peer) and not self._wait(c, peer):
                    self._refuse(c)
                c = peer = None
            await sleep_ms(_ACCEPT_POLL_MS)

    async def _serve(self, c, peer):
        """One connection's task; whatever the handler does, the socket is closed after it."""
        try:
            await self.handler(c, peer)
            self.served += 1
        except MemoryError:  # (no heap for the handler's first step): the refusal, if it fits
            _send(c, self.refusal)
        except Exception as e:  # a bug in the handler: logged, the server goes on
            print_exception(e)
        finally:
            self.active -= 1
            _close(c)

    def _start(self, c, peer):
        """Serve the connection now if a place is free and the heap allows (False: not now)."""
        if self.active >= self.limit or not (self.admit is None or self.admit()):
            return False
        try:
            asyncio.create_task(self._serve(c, peer))
        except MemoryError:
            return False
        self.active += 1
        return True

    def _wait(self, c, peer):
        """Keep a connection that finds every place taken for up to _WAIT_MS (a client that
        connects again right after an answer often comes before its old connection is closed
        here); False if every waiting slot is taken."""
        for e in self._waiting:
            if e[0] is None:
                e[0] = c
                e[1] = peer
                e[2] = ticks_ms()
                return True
        return False

    def _hand_over(self):
        """Waiting connections, oldest first: served once a place is free, refused after _WAIT_MS."""
        now = ticks_ms()
        while True:
            oldest = None
            for e in self._waiting:
                if e[0] is not None and (oldest is None or ticks_diff(e[2], oldest[2]) < 0):
                    oldest = e
            if oldest is None:
                return
            c = oldest[0]
            if self._start(c, oldest[1]):
                oldest[0] = oldest[1] = None
                continue
            if ticks_diff(now, oldest[2]) <= _WAIT_MS:
                return
            oldest[0] = oldest[1] = None
            self._refuse(c)

    def _refuse(self, c):
        self.refused += 1
        _send(c, self.refusal)
        for e in self._refused:
            if e[0] is None:
                e[0] = c
                e[1] = ticks_ms()
                return
        _close(c)

    def _tend(self, scratch):
        """Read and drop what refused connections send; close each at its end (EOF or an empty
        line) or after _REFUSE_MS."""
        now = ticks_ms()
        for e in self._refused:
            c = e[0]
            if c is None:
                continue
            done = ticks_diff(now, e[1]) > _REFUSE_MS
            while not done:
                try:
                    k = c.readinto(scratch)
                except Exception:
                    k = 0
                if k is None:  # nothing more for now
                    break
                done = not k or scratch.find(b"\r\n\r\n", 0, k) >= 0
            if done:
                e[0] = None
                _close(c)
        c = None


def _send(c, data):
    """Write ready-made bytes to a non-blocking socket, as far as it takes them (no heap)."""
    try:
        c.write(data)
    except Exception:
        pass


def _close(c):
    try:
        c.close()
    except Exception:
        pass


def listen(host, port, handler, limit, refusal=b"", admit=None):
    """Listen on host:port (OSError if it can't) and serve it; returns the Listener."""
    import socket

    addr = socket.getaddrinfo(host, port)[0][-1]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(addr)
    s.listen(limit + _REFUSE_SLOTS)
    s.setblocking(False)
    return Listener(s, handler, limit, refusal, admit)

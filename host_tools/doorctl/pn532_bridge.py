"""Serve the PN532 emulator (lib/pn532emu) over a pty or a TCP socket, so any HSU client
(pyserial, the Adafruit driver, the simulator's serial/TCP transport) talks to it like a chip.

One pump thread moves bytes between the link and the emulator and runs the emulator's timed
events; `place`/`remove`/`call` may be used from any thread. Output produced by a call is
written to the link before the call returns.

    with PN532Bridge() as br:
        path = br.serve_pty()          # or: port = br.serve_tcp()
        br.place(b"\\x04\\x11\\x22\\x33")
"""
import os
import select
import socket
import threading

from doorctl import paths

paths.use_device_code()

from pn532emu import PN532Emulator  # noqa: E402

_IDLE_S = 0.25  # select timeout when nothing timed is pending


class PN532Bridge:
    """One emulator behind one link (a pty or a TCP listener); kwargs go to PN532Emulator."""

    def __init__(self, emulator=None, **emulator_kw):
        self.emulator = emulator if emulator is not None else PN532Emulator(**emulator_kw)
        self.lock = threading.RLock()
        self.path = None
        self.port = None
        self._master = None
        self._slave = None
        self._listener = None
        self._client = None
        self._thread = None
        self._stop = False
        self._wake_r, self._wake_w = os.pipe()

    # -- serving -----------------------------------------------------------------------------
    def serve_pty(self):
        """Open a pty in raw mode; returns the slave path (e.g. /dev/pts/5) for the client."""
        import pty
        import tty

        self._check_idle()
        self._master, self._slave = pty.openpty()
        tty.setraw(self._slave)  # no echo, no line editing, before any client opens it
        self.path = os.ttyname(self._slave)
        self._start()
        return self.path

    def serve_tcp(self, port=0, host="127.0.0.1"):
        """Listen on host:port (0 = any free port), one client at a time; returns the port."""
        self._check_idle()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(1)
        self._listener = s
        self.port = s.getsockname()[1]
        self._start()
        return self.port

    def close(self):
        self._stop = True
        self._wake()
        if self._thread is not None:
            self._thread.join(2)
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = self._wake_r = self._wake_w = None
        for s in (self._client, self._listener):
            if s is not None:
                s.close()
        self._client = self._listener = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- thread-safe control -----------------------------------------------------------------
    def place(self, uid, **kw):
        """Put a card in the field (kwargs as PN532Emulator.place)."""
        return self.call("place", uid, **kw)

    def remove(self):
        return self.call("remove")

    def call(self, name, *args, **kw):
        """Run emulator method `name` under the lock, then send what it produced."""
        with self.lock:
            r = getattr(self.emulator, name)(*args, **kw)
            self._flush()
        self._wake()  # timed events may have changed
        return r

    # -- internals ---------------------------------------------------------------------------
    def _check_idle(self):
        if self._thread is not None:
            raise RuntimeError("bridge already serving")

    def _start(self):
        self._thread = threading.Thread(target=self._pump, name="pn532-bridge", daemon=True)
        self._thread.start()

    def _wake(self):
        if self._wake_w is not None:
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass

    def _flush(self):
        """Send pending emulator output to the link (lock held)."""
        out = self.emulator.read()
        if not out:
            return
        try:
            if self._master is not None:
                view = memoryview(out)
                while view:
                    view = view[os.write(self._master, view):]
            elif self._client is not None:
                self._client.sendall(out)
        except OSError:
            pass  # client gone: the bytes are lost, as on a real wire

    def _feed(self, data):
        with self.lock:
            self.emulator.feed(data)
            self._flush()

    def _drop_client(self):
        try:
            self._client.close()
        except OSError:
            pass
        self._client = None

    def _pump(self):
        while not self._stop:
            rl = [self._wake_r]
            if self._master is not None:
                rl.append(self._master)
            if self._client is not None:
                rl.append(self._client)
            elif self._listener is not None:
                rl.append(self._listener)
            with self.lock:
                due = self.emulator.due_in()
            timeout = _IDLE_S if due is None else min(_IDLE_S, due / 1000)
            try:
                ready, _, _ = select.select(rl, [], [], timeout)
            except (OSError, ValueError):
                break  # closed under us
            if self._stop:
                break
            for x in ready:
                if x == self._wake_r:
                    os.read(self._wake_r, 512)
                elif x == self._master:
                    try:
                        data = os.read(self._master, 4096)
                    except OSError:
                        data = b""
                    if data:
                        self._feed(data)
                elif x is self._listener:
                    conn, _ = self._listener.accept()
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self._client = conn
                elif x is self._client:
                    try:
                        data = self._client.recv(4096)
                    except OSError:
                        data = b""
                    if data:
                        self._feed(data)
                    else:
                        self._drop_client()
            with self.lock:
                self._flush()  # timed answers (end of a card search)

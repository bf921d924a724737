"""The simulator's PN532 links that are not the in-process emulator (hal/sim.py
Board.pn532_stream): the emulator in its own host process, and a tty. Loaded when the reader
starts."""
import asyncio

from hal.streams import AsyncioByteStream


async def connect(board, t):
    """The ByteStream for transport `t` (emu:HOST:UART:CONTROL or serial:PATH) of `board`;
    emu: also sets board.emulator (cards placed through its control port)."""
    if t.startswith("emu:"):  # the emulator in a host process (doorctl.pn532_service)
        host, port, cport = t[4:].rsplit(":", 2)
        board.emulator = RemoteEmulator(host, int(cport))
        r, w = await asyncio.open_connection(host, int(port))
        return AsyncioByteStream(r, w)
    dev = SerialDevice(t[7:], board.spec["pn532"]["baudrate"])
    return AsyncioByteStream(asyncio.StreamReader(dev.f), asyncio.StreamWriter(dev.f, {}))


class SerialDevice:
    """A tty opened raw at the board's baud rate, usable as an asyncio stream."""

    def __init__(self, path, baudrate):
        import termios

        self.f = open(path, "r+b")
        fd = self.f.fileno()
        termios.setraw(fd)
        attrs = termios.tcgetattr(fd)
        speed = getattr(termios, "B%d" % baudrate)
        attrs[4] = speed
        attrs[5] = speed
        # VMIN = VTIME = 0 (Linux indices 6, 5): a read returns what is there instead of
        # blocking the whole event loop until n bytes arrived; asyncio polls for readiness.
        attrs[6][6] = 0
        attrs[6][5] = 0
        termios.tcsetattr(fd, termios.TCSANOW, attrs)


class RemoteEmulator:
    """The PN532 emulator running in its own host process (doorctl.pn532_service: test
    equipment kept out of the heap the firmware is measured in); card commands go over a
    JSON-lines socket, the PN532's UART bytes over another (transport `emu:HOST:UART:CONTROL`)."""

    def __init__(self, host, port):
        import socket

        self.addr = socket.getaddrinfo(host, port)[0][-1]
        self.sock = None

    def _call(self, req):
        """Send one command, wait for its answer (localhost: well under a millisecond)."""
        import json
        import socket

        if self.sock is None:
            s = socket.socket()
            s.connect(self.addr)
            self.sock = s
        try:
            self.sock.send(json.dumps(req).encode() + b"\n")
            line = b""
            while not line.endswith(b"\n"):
                chunk = self.sock.recv(256)
                if not chunk:
                    raise OSError("emulator closed the control connection")
                line += chunk
        except OSError:
            self.sock.close()
            self.sock = None
            raise
        ans = json.loads(line)
        if not ans.get("ok"):
            raise ValueError(ans.get("error", "emulator refused the command"))
        return ans

    def place(self, uid):
        self._call({"call": "place", "uid": uid.hex()})

    def place_mifare(self, uid, desc):
        self._call({"call": "place", "uid": uid.hex(), "mifare": desc})

    def place_desfire(self, uid, desc):
        self._call({"call": "place", "uid": uid.hex(), "desfire": desc})

    def place_plus(self, uid, desc):
        self._call({"call": "place", "uid": uid.hex(), "plus": desc})

    def place_phone(self, desc, uid=None):
        self._call({"call": "place", "uid": uid.hex() if uid else "", "hce": desc})

    def place_felica(self, idm, kbps=(212, 424)):
        self._call({"call": "place", "uid": idm.hex(), "felica": True, "kbps": list(kbps)})

    def remove(self):
        self._call({"call": "remove"})

    def inject(self, data):
        self._call({"call": "inject", "hex": bytes(data).hex()})

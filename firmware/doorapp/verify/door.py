"""Third-party verification in the running door (docs/verify.md, seed 004).

Credentials of the kinds the configured Verifier sends to the server (card from the PN532 or a
Wiegand reader, PIN from a keypad, QR text from a scanner, a BLE key fob or phone) go through it instead of the door's
own table; everything else keeps the local path. Results come back in the loop turn of the
server's answer and are acted on like a local decision: relays first, then LED/buzzer and the
event (the card UID as the value, never a PIN or QR text); a result that is not final (waiting,
"Enter PIN", "Present card first") is only a prompt. A PIN the server denies counts as a wrong
guess on its keypad (lockout). Loaded only when config `verify.mode` is not `off`.

The HTTP client (lib/verifyclient.py) is made for each request around one 2 KB answer buffer
kept by the link; on lean boards its code goes again after each request (doorapp/residency.py).
"""
import asyncio
import gc

from micropython import const

from compat import sleep_ms, ticks_diff, ticks_ms
from doorapp.verify import verifier
from doorapp.access.decision import Decision
from doorapp import residency
from verifynames import NETWORK

# the event log's codes (lib/eventcodes.py names them)
_KIND_CARD = const(1)
_KIND_PIN = const(2)
_KIND_QR = const(3)
_KIND_BLE = const(4)
_REASON_REMOTE_DENIED = const(10)
_REASON_WRONG_PIN = const(14)

_TO_VERIFY = {_KIND_CARD: verifier.CARD, _KIND_PIN: verifier.PIN, _KIND_QR: verifier.QR,
              _KIND_BLE: verifier.BLE}
_TO_EVENT = {verifier.CARD: _KIND_CARD, verifier.PIN: _KIND_PIN, verifier.QR: _KIND_QR,
             verifier.BLE: _KIND_BLE}
_RETRY_MS = const(50)
_BUF_SIZE = const(2048)  # the answer buffer (verifyclient: header and body of one answer)


class LazyClient:
    """verifyclient.from_config(...) for one request at a time (the Verifier sends one at a
    time); on lean boards the client's code goes again after each (doorapp/residency.py)."""

    def __init__(self, cfg, data_dir, buf):
        self.cfg = cfg
        self.data_dir = data_dir
        self.status = 0
        self.buf = buf  # the answer buffer, allocated once (RemoteCheck)
        if cfg["ca_file"]:  # checked now (ConfigError at start or on the change), not per request
            self._make()
            self._drop()

    async def verify(self, url):
        self.status = 0
        t0 = ticks_ms()
        while True:  # no heap for the client's code is a moment's state (an API request): retry
            try:
                c = self._make()
                break
            except MemoryError:
                c = None
                residency.trim()
                if ticks_diff(ticks_ms(), t0) >= self.cfg["timeout_ms"] - _RETRY_MS:
                    print("verify: no heap for the client")
                    return False, NETWORK, ""
                await sleep_ms(_RETRY_MS)
                gc.collect()
        c.timeout_ms -= ticks_diff(ticks_ms(), t0)  # the retries count against the timeout
        try:
            ans = await c.verify(url)
            self.status = c.status
            return ans
        finally:
            c = None
            self._drop()

    def _make(self):
        from verifyclient import from_config

        return from_config(self.cfg, self.data_dir, buf=self.buf)

    def _drop(self):
        residency.trim()


class RemoteCheck:
    """The Door's link to a Verifier built from config `verify` (ConfigError if the CA file
    named there can't be used)."""

    def __init__(self, door, client=None, cfg=None, buf=None):
        """cfg: a config document to take `verify` and `device.id` from (a change not applied
        yet), else the door's. buf: the answer buffer of the RemoteCheck this one replaces."""
        cfg = cfg or door.cfg
        v = cfg["verify"]
        if client is None:
            client = LazyClient(v, door.board.data_dir, buf or bytearray(_BUF_SIZE))
        self.door = door
        self.verifier = verifier.new(v, client, self.on_result, device_id=cfg["device"]["id"],
                                        local=self.local)
        if isinstance(client, LazyClient):
            client._drop()  # the template code compiled the URL: dropped too while the heap is short
        self.task = None
        self.results = 0  # results acted on or shown (state / tests)

    def handles(self, kind):
        k = _TO_VERIFY.get(kind)
        return k is not None and self.verifier.handles(k)

    def start(self):
        """Step timeouts of a two-factor entry come without a credential arriving: a small task."""
        if self.task is None and self.verifier.two_factor:
            self.task = asyncio.create_task(self.verifier.run())

    def buffer(self):
        """The answer buffer, for the RemoteCheck that replaces this one."""
        return getattr(self.verifier.client, "buf", None)

    def close(self):
        if self.task is not None:
            self.task.cancel()
            self.task = None
        self.verifier.cancel()

    def submit(self, kind, value, shown, fmt):
        """Door.decide for a kind the server decides: returns at once (a Result, maybe pending)."""
        r = self.verifier.submit(_TO_VERIFY[kind], value, (shown, fmt))
        self.on_result(r)
        return r

    def on_result(self, r):
        door = self.door
        self.results += 1
        if not r.final:
            door.show(r.prompt)
            return
        shown, fmt = r.raw if r.raw else (b"", 0)
        kind = _TO_EVENT[r.kind]
        door.conclude(kind, r, shown, fmt)  # (a PIN: not kept)
        if kind == _KIND_PIN and r.reason == _REASON_REMOTE_DENIED and door.readers:
            door.readers.remote_pin_denied()

    def local(self, kind, value, pin=None):
        """The door's own decision (sources `local` and the fallback); a two-factor pair is a
        card whose user must also have this PIN."""
        door = self.door
        d = door.engine.decide(_TO_EVENT[kind], value)
        if pin is None or not d.granted:
            return d
        u = door.table.by_pin(pin)
        if u is None or u.id != d.user.id:
            return Decision(False, d.user, (), _REASON_WRONG_PIN, "Wrong PIN")
        return d

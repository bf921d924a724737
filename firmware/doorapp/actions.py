"""Input actions (the vendor's "Action To Execute") and web relays.

An input that triggers runs its actions, Execute Relay (`relay`) and an HTTP GET (`http_url`),
at once or after `action_delay_s`: unconditionally, or only if the input is still triggered
then (`delay_mode` still_triggered: e.g. notify a server when a door stays open). A door
sensor's alarms (doorapp/alarms.py) send its HTTP GET too, never its relay. A granted user with
a `web_relay` id sends that web relay's GET (config `web_relays`, e.g. an IP relay board).

The GETs go out one after another from this module's own task, each bounded by _TIMEOUT_MS:
they never delay a decision, a relay or an input. At most _QUEUE wait; one more is dropped and
counted. A GET without a 2xx answer is an `action_failed` event (what failed, never the URL:
it may hold a token), not retried. Loaded only while some input or web relay has an action.
"""
import asyncio

from micropython import const

import verifyurl
from compat import sleep_ms, ticks_add, ticks_diff, ticks_ms
from doorapp import clock
from verifynames import expand

# the event log's codes (lib/eventcodes.py names them)
_KIND_SYSTEM = const(0)
_REASON_ACTION_FAILED = const(39)

_QUEUE = const(4)
_TIMEOUT_MS = const(3000)
_TICK_MS = const(100)
_BUFSIZE = const(1024)  # the answer's head (its body is not needed)


class Actions:
    def __init__(self, door):
        self.door = door
        self._urls = {}  # input name or web relay id (int) -> compiled URL template
        self._due = {}  # input name -> when its delayed actions run (ticks)
        self._queue = []  # (URL parts, values, what) waiting to be sent
        self._wake = asyncio.Event()
        self._client = None
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    def configure(self):
        """The URLs from the door's config (checked already: compiling can't fail here)."""
        cfg = self.door.cfg
        urls = {}
        for name in cfg["inputs"]:
            u = cfg["inputs"][name]["http_url"]
            if u:
                urls[name] = verifyurl.compile_template(u, None, verifyurl.ACTION_VARIABLES)
        for key in cfg["web_relays"]:
            urls[int(key)] = verifyurl.compile_template(cfg["web_relays"][key]["url"], None,
                                                        verifyurl.ACTION_VARIABLES)
        self._urls = urls
        for name in list(self._due):
            if name not in cfg["inputs"] or not cfg["inputs"][name]["action_delay_s"]:
                del self._due[name]

    def input_changed(self, inp, active):
        if not active:
            return  # (still_triggered looks at the input when the delay is over)
        c = self.door.cfg["inputs"][inp.name]
        if c["action_delay_s"]:
            if inp.name not in self._due:  # a re-trigger meanwhile doesn't push it back
                self._due[inp.name] = ticks_add(ticks_ms(), c["action_delay_s"] * 1000)
        else:
            self._run(inp)

    def _run(self, inp):
        if inp.relay:
            self.door.input_relay(inp)
        self._send_for(inp.name, inp.name, "triggered", "")

    def alarm(self, name, what):
        """A door sensor's alarm (held_open, forced): its HTTP GET only, never its relay."""
        self._send_for(name, name, what, "")

    def web_relay(self, user):
        """A granted user's web relay; an id with no web relay configured is a failed action."""
        wr = user.web_relay
        what = "web %d" % wr
        if wr not in self._urls:
            self._failed(what, "no web relay %d configured" % wr)
            return
        self._send_for(wr, what, "granted", str(user.id))

    def _send_for(self, key, what, event, uid):
        parts = self._urls.get(key)
        if parts is None:
            return
        if len(self._queue) >= _QUEUE:
            self.dropped += 1
            self._failed(what, "%d calls waiting already" % _QUEUE)
            return
        values = (self.door.cfg["device"]["id"], what if isinstance(key, str) else "", event,
                  str(clock.now()), uid)
        self._queue.append((parts, values, what))
        self._wake.set()

    def _failed(self, what, why):
        self.failed += 1
        print("action %s failed: %s" % (what, why))
        self.door.record(_KIND_SYSTEM, None, _REASON_ACTION_FAILED, what.encode(), 0, None, ())

    def state(self):
        return {"sent": self.sent, "failed": self.failed, "dropped": self.dropped,
                "waiting": len(self._queue), "delayed": len(self._due)}

    async def run(self):
        """Delays (checked every _TICK_MS) here; the GETs in their own task."""
        asyncio.create_task(self._sender())
        while True:
            await sleep_ms(_TICK_MS)
            if not self._due:
                continue
            now = ticks_ms()
            for name in list(self._due):
                if ticks_diff(self._due[name], now) > 0:
                    continue
                del self._due[name]
                inp = None
                for i in self.door.inputs:
                    if i.name == name:
                        inp = i
                if inp is None:
                    continue
                if self.door.cfg["inputs"][name]["delay_mode"] == "still_triggered" and not inp.active:
                    continue
                self._run(inp)

    async def _sender(self):
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            parts, values, what = self._queue.pop(0)
            if self._client is None:
                from verifyclient import VerifyClient

                self._client = VerifyClient(timeout_ms=_TIMEOUT_MS, bufsize=_BUFSIZE, max_redirects=2)
            ok, reason = await self._client.notify(expand(parts, values))
            if ok:
                self.sent += 1
            else:
                self._failed(what, "%s %s" % (reason, self._client.detail))

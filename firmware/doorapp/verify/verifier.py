"""Third-party verification modes (seed 004) as pure logic over an injected client.

Modes (config `verify`, docs/verify.md): General sends QR codes; Customize sends the selected
methods (Any Method) or both steps of a two-factor entry (TwoFactor; `new()` picks the class). Per method the source is `local`, `remote` or `remote_fallback`
(local table when the server is unreachable); the vendor's behaviour, and the default, is
remote only: an unreachable server denies.

The reader never waits: `submit()` returns at once. A request in flight makes the verifier busy;
one more credential is queued (answered when the request ends), any further one is refused with
the prompt "Busy, try again". Answers arrive through `on_result(result)`, called in the same
loop turn as the HTTP answer, so the app energises relays in that turn.

Results are Decision-like (granted, user, relays, reason, prompt) plus:
  final    True: act on it and log an event; False: only show `prompt` (waiting, next step)
  pending  a request was started or the credential was queued
  kind, value, raw   the credential to log (two-factor: the card factor; a PIN is never logged)
  detail   the client's reason ("ok", "timeout", "not_json", ...), "fallback:<reason>",
           "busy", "wrong_method", "step_timeout" - for the event's meta / the display
  status   final HTTP status of the request (0 = none)
"""
import asyncio

import verifynames as vc  # templates (verifyurl) and the client (verifyclient) load when used
from compat import print_exception, sleep_ms, ticks_diff, ticks_ms

from micropython import const

# the event log's codes (lib/eventcodes.py names them)
_REASON_OK = const(0)
_REASON_UNKNOWN_CREDENTIAL = const(1)
_REASON_REMOTE_DENIED = const(10)
_REASON_REMOTE_TIMEOUT = const(11)
_REASON_REMOTE_ERROR = const(12)
_REASON_FACTOR_TIMEOUT = const(15)
_REASON_BUSY = const(26)
_REASON_WRONG_METHOD = const(27)

QR = "qr"
CARD = "card"
PIN = "pin"
BLE = "ble"  # a key fob (value: its id) or a paired phone (value: its user's id, an int)
KINDS = (QR, CARD, PIN, BLE)
TYPE_FOB = "3"  # {Type} of a BLE request (1 and 2 are the two-factor modes')
TYPE_PHONE = "4"

REASON_BUSY = _REASON_BUSY
REASON_WRONG_METHOD = _REASON_WRONG_METHOD

P_GRANTED = "Welcome"
P_DENIED = "Access denied"
P_TIMEOUT = "Server timeout"
P_UNREACHABLE = "Server unreachable"
P_ERROR = "Server error"
P_VERIFYING = "Verifying..."
P_WAIT = "Please wait"
P_BUSY = "Busy, try again"

_FIELDS = vc.N_VARIABLES


class Result:
    __slots__ = ("granted", "user", "relays", "reason", "prompt", "final", "pending", "kind",
                 "value", "raw", "detail", "status", "floors", "hold")

    def __init__(self, granted, relays, reason, prompt, final, kind, value, raw, detail="",
                 user=None, pending=False, status=0):
        self.granted = granted
        self.user = user
        self.relays = relays
        self.reason = reason
        self.prompt = prompt
        self.final = final
        self.pending = pending
        self.kind = kind
        self.value = value
        self.raw = raw
        self.detail = detail
        self.status = status
        self.floors = ()  # as access.Decision: set from a local decision
        self.hold = 0


def _reason_code(reason):
    if reason == vc.OK:
        return _REASON_OK
    if reason == vc.DENIED:
        return _REASON_REMOTE_DENIED
    if reason == vc.TIMEOUT:
        return _REASON_REMOTE_TIMEOUT
    return _REASON_REMOTE_ERROR


def _default_prompt(reason):
    if reason == vc.OK:
        return P_GRANTED
    if reason == vc.DENIED:
        return P_DENIED
    if reason == vc.TIMEOUT:
        return P_TIMEOUT
    if reason in vc.UNREACHABLE:
        return P_UNREACHABLE
    return P_ERROR


def _now():
    from doorapp import clock

    return clock.now()


def new(cfg, client, on_result, **kw):
    """The verifier for a validated `verify` section: Verifier, or TwoFactor in the two-factor
    modes (same arguments as Verifier)."""
    if cfg["mode"] == "customize" and cfg["auth_mode"] != "any":
        return TwoFactor(cfg, client, on_result, **kw)
    return Verifier(cfg, client, on_result, **kw)


class Verifier:
    """General and Any Method (two-factor: TwoFactor; use `new()`).
    cfg: a validated `verify` section (doorapp.config.schema.validate_verify).
    client: has `async verify(url) -> (granted, reason, prompt)` (verifyclient.VerifyClient).
    on_result(result): receives every result produced after submit() returned.
    device_id: used for {DeviceID} when cfg["device_id"] is empty (the app passes device.id).
    local(kind, value, pin=None): the device's own decision (access engine), Decision-like, for
      `local` methods and the fallback; two-factor pairs are asked as local("card", card, pin).
    clock(): unix seconds for {Time} (0 = not set); ticks(): ms ticks for the step timeout.
    """

    two_factor = False
    waiting_for = None  # two-factor: the kind expected as second factor
    type_text = None  # {Type}

    def __init__(self, cfg, client, on_result, device_id="", local=None, clock=None, ticks=ticks_ms):
        self.cfg = cfg
        self.mode = cfg["mode"]
        self.client = client
        self.on_result = on_result
        self.local = local
        self.clock = clock or _now
        self.ticks = ticks
        self.device_id = cfg["device_id"] or device_id
        self.relays = tuple(cfg["relays"])
        self.sources = cfg["methods"]
        self.return_value = cfg["prompt"] == "return_value"
        self.parts = ()
        if cfg["url"]:
            from verifyurl import compile_template

            self.parts = compile_template(cfg["url"])
        self._values = [None] * _FIELDS
        self._task = None
        self._queued = None  # (kind, value, raw) waiting for the request in flight
        self.requests = 0

    # --- routing -------------------------------------------------------------------------
    def source(self, kind):
        """'local', 'remote' or 'remote_fallback' for a credential kind."""
        if self.mode == "off" or not self.parts or (self.mode == "general" and kind != QR):
            return "local"
        return self.sources[kind]

    def handles(self, kind):
        """True if this kind goes to the server (the app keeps `local` kinds to itself)."""
        return self.source(kind) != "local"

    @property
    def busy(self):
        return self._task is not None

    # --- entry points --------------------------------------------------------------------
    def submit(self, kind, value, raw=None):
        """Handle a credential now; returns a Result (see the module docstring)."""
        if kind not in KINDS:
            raise ValueError("unknown credential kind %r" % (kind,))
        late = self.poll()
        if late is not None:
            self._deliver(late)
        if self._task is not None:
            if self._queued is None:
                self._queued = (kind, value, raw)
                return Result(False, (), _REASON_OK, P_WAIT, False, kind, value, raw,
                              "queued", pending=True)
            return Result(False, (), REASON_BUSY, P_BUSY, True, kind, value, raw, "busy")
        return self._handle(kind, value, raw)

    def poll(self):
        """A result due without a credential (two-factor step timeout), else None."""
        return None

    def cancel(self):
        """Drop a request in flight and the queue."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._queued = None

    # --- internals -----------------------------------------------------------------------
    def _deliver(self, res):
        try:
            self.on_result(res)
        except Exception as e:
            print_exception(e)

    def _handle(self, kind, value, raw):
        if self.source(kind) == "local":
            return self._local(kind, value, raw, None, "")
        return self._start(kind, value, raw, 0)

    def url_for(self, kind, value):
        """The URL sent for a credential (also what `_start` sends)."""
        v = self._values
        for i in range(_FIELDS):
            v[i] = None
        if kind == QR:
            v[vc.V_QRCODE] = value
        elif kind == BLE:
            v[vc.V_TYPE] = TYPE_PHONE if isinstance(value, int) else TYPE_FOB
            value = str(value)
        else:
            i = vc.V_CARD if kind == CARD else vc.V_PIN
            v[i] = value
            v[i + 1] = value  # {CardCode} / {PINCode}
            v[vc.V_TYPE] = self.type_text
        v[vc.V_TOKEN] = value
        v[vc.V_DEVICEID] = self.device_id
        v[vc.V_TIME] = str(self.clock())
        return vc.expand(self.parts, v)

    def _start(self, kind, value, raw, step):
        url = self.url_for(kind, value)
        self.requests += 1
        self._task = asyncio.create_task(self._run(url, kind, value, raw, step))
        return Result(False, (), _REASON_OK, P_VERIFYING, False, kind, value, raw,
                      "requested", pending=True)

    async def _run(self, url, kind, value, raw, step):
        try:
            granted, reason, prompt = await self.client.verify(url)
        except Exception as e:  # a broken client must not leave the verifier busy for ever
            print_exception(e)
            granted, reason, prompt = False, vc.NETWORK, ""
        self._task = None
        status = getattr(self.client, "status", 0)
        fallback = reason in vc.UNREACHABLE and self.sources.get(kind) == "remote_fallback"
        self._deliver(self._answer(granted, reason, prompt, kind, value, raw, step, status, fallback))
        q = self._queued
        if q is not None and self._task is None:
            self._queued = None
            self._deliver(self._handle(q[0], q[1], q[2]))

    def _answer(self, granted, reason, prompt, kind, value, raw, step, status, fallback):
        if fallback:
            r = self._local(kind, value, raw, None, "fallback:" + reason)
            r.status = status
            return r
        return self._remote(granted, reason, prompt, kind, value, raw, status)

    def _remote(self, granted, reason, prompt, kind, value, raw, status):
        p = prompt if (self.return_value and prompt) else _default_prompt(reason)
        return Result(granted, self.relays if granted else (), _reason_code(reason), p, True,
                      kind, value, raw, reason, status=status)

    def _local(self, kind, value, raw, pin, detail):
        if self.local is None:
            reason = detail[9:] if detail.startswith("fallback:") else ""
            if reason:
                return self._remote(False, reason, "", kind, value, raw, 0)
            return Result(False, (), _REASON_UNKNOWN_CREDENTIAL, P_DENIED, True, kind,
                          value, raw, "no_local")
        d = self.local(kind, value, pin)
        r = Result(d.granted, d.relays if d.granted else (), d.reason, d.prompt, True, kind,
                   value, raw, detail, user=d.user)
        if d.granted:
            r.floors = getattr(d, "floors", ())
            r.hold = getattr(d, "hold", 0)
        return r


# --- two-factor (seed 004, Customize > Two-Factor): RF Card + PIN ({Type} 1) or PIN + RF Card
# ({Type} 2), each step's credential sent as {Token}. The wrong first method gets a prompt naming
# the right one (nothing is sent); the second step must come within `step_timeout_ms`, else the
# entry ends with `factor_timeout`; a new first factor replaces one waiting for its second; QR
# codes stay single step. When step 1 fell back to the local table (server unreachable,
# `remote_fallback`), the pair is finished locally: the card's user must own the PIN. BLE stays
# single step too.
P_STEP_TIMEOUT = "Timed out, start again"
P_NEXT = {CARD: "Present card", PIN: "Enter PIN"}
P_FIRST = {CARD: "Present card first", PIN: "Enter PIN first"}


class TwoFactor(Verifier):
    """Verifier for auth_mode card_pin / pin_card (same arguments)."""

    two_factor = True

    def __init__(self, cfg, client, on_result, **kw):
        super().__init__(cfg, client, on_result, **kw)
        card_first = cfg["auth_mode"] == "card_pin"
        self.first_kind = CARD if card_first else PIN
        self.type_text = "1" if card_first else "2"
        self.step_timeout_ms = cfg["step_timeout_ms"]
        self._first = None  # after step 1: [kind, value, raw, ticks, local_only, reason]

    @property
    def waiting_for(self):
        """The kind expected as second factor, or None."""
        if self._first is None:
            return None
        return PIN if self._first[0] == CARD else CARD

    def poll(self):
        """The step-timeout result once the second factor is overdue, else None."""
        f = self._first
        if f is None or self._task is not None:
            return None
        if ticks_diff(self.ticks(), f[3]) < self.step_timeout_ms:
            return None
        self._first = None
        return Result(False, (), _REASON_FACTOR_TIMEOUT, P_STEP_TIMEOUT, True, f[0], f[1],
                      f[2], "step_timeout")

    async def run(self, interval_ms=250):
        """Deliver step timeouts without a credential having to arrive (a small task)."""
        while True:
            await sleep_ms(interval_ms)
            r = self.poll()
            if r is not None:
                self._deliver(r)

    def cancel(self):
        """Drop a request in flight, the queue and a half-done entry."""
        super().cancel()
        self._first = None

    def _handle(self, kind, value, raw):
        if kind == QR or kind == BLE or self.source(kind) == "local":
            return super()._handle(kind, value, raw)
        f = self._first
        if f is None:
            if kind != self.first_kind:
                return Result(False, (), _REASON_WRONG_METHOD, P_FIRST[self.first_kind], False,
                              kind, value, raw, "wrong_method")
            return self._start(kind, value, raw, 1)
        if kind == f[0]:  # a new first factor replaces the one waiting for its second
            self._first = None
            return self._start(kind, value, raw, 1)
        if f[4]:  # step 1 fell back to the local table: finish locally
            self._first = None
            return self._local_pair(f, kind, value, raw, "fallback:" + f[5])
        return self._start(kind, value, raw, 2)

    def _answer(self, granted, reason, prompt, kind, value, raw, step, status, fallback):
        if step == 1:
            if granted or fallback:
                self._first = [kind, value, raw, self.ticks(), fallback, reason]
                p = prompt if (granted and self.return_value and prompt) else P_NEXT[PIN if kind == CARD else CARD]
                return Result(False, (), _REASON_OK, p, False, kind, value, raw,
                              "fallback:" + reason if fallback else reason, status=status)
            return self._remote(False, reason, prompt, kind, value, raw, status)
        if step == 2:
            f = self._first
            self._first = None
            if fallback:
                return self._local_pair(f, kind, value, raw, "fallback:" + reason)
            if f[0] == CARD:  # the event shows the card factor
                kind, value, raw = f[0], f[1], f[2]
            return self._remote(granted, reason, prompt, kind, value, raw, status)
        return super()._answer(granted, reason, prompt, kind, value, raw, step, status, fallback)

    def _local_pair(self, f, kind, value, raw, detail):
        if f[0] == CARD:
            return self._local(CARD, f[1], f[2], value, detail)
        return self._local(CARD, value, raw, f[1], detail)

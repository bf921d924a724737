"""Two-factor third-party verification (seed 004, Customize > Two-Factor): RF Card + PIN
({Type} 1) or PIN + RF Card ({Type} 2), each step's credential sent as {Token}.

The wrong first method gets a prompt naming the right one (nothing is sent); the second step
must come within `step_timeout_ms`, else the entry ends with `factor_timeout` ("Timed out,
start again"); a new first factor replaces one waiting for its second; QR codes stay single
step. When step 1 fell back to the local table (server unreachable, `remote_fallback`), the
pair is finished locally: the card's user must own the PIN.

Loaded only in the two-factor modes (doorapp/verify.new), so that a door in General or Any
Method mode does not hold this code.
"""
import eventlog
from compat import sleep_ms, ticks_diff
from doorapp.verify import CARD, PIN, QR, Result, Verifier

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
        return Result(False, (), eventlog.REASON_FACTOR_TIMEOUT, P_STEP_TIMEOUT, True, f[0], f[1],
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
        if kind == QR or self.source(kind) == "local":
            return super()._handle(kind, value, raw)
        f = self._first
        if f is None:
            if kind != self.first_kind:
                return Result(False, (), eventlog.REASON_WRONG_METHOD, P_FIRST[self.first_kind], False,
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
                return Result(False, (), eventlog.REASON_OK, p, False, kind, value, raw,
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

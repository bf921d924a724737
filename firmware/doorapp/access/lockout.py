"""Wrong-PIN (and later wrong-password) lockout per source, with a growing delay and an alarm.

Pure logic: the clock (ms ticks) is injected. A source is any short text naming where attempts
come from ("keypad", "wiegand", "api:10.0.0.7"). Per source:

  - the first `free` failures cost nothing;
  - failure number free+1 locks the source for `base_ms`, each further one multiplies the
    delay by `factor`, up to `max_ms` (defaults: 3 free, then 30 s, 60 s, 120 s ... 15 min);
  - while locked, `check()` returns the remaining ms: the caller refuses the attempt without
    evaluating it (reason "lockout") and without counting it, so a locked keypad can't be used
    to probe PINs and a user's typing doesn't extend the lock;
  - failure number `alarm_at`, and every `alarm_at` failures after it, raise the alarm flag
    returned by `failure()` (the app logs an alarm event);
  - a success clears the source; failures older than `forget_ms` are forgotten.

At most `slots` sources are tracked (fixed arrays, no allocation per attempt). A new source
takes a slot nobody uses or whose failures are forgotten; it never takes one with failures still
counted (that would give their source fresh tries: failing from many addresses would wipe a
lock). With every slot taken, the failures of all untracked sources count together in one more
slot, the overflow: once it locks, every untracked source waits (a global delay), so many
addresses buy an attacker `free` more tries, not a fresh start. `clear()` forgets everything
(someone at the door, see doorapp/http/api.py). Ticks differences are valid for about 6 days on
the ESP32 (ticks_ms wraps at 2**30 ms), far beyond `forget_ms`.

Resident with the keypads and the HTTP API: few methods (the delay and the slot choice are
inline in failure()).
"""
from compat import ticks_add, ticks_diff, ticks_ms


class Lockout:
    def __init__(self, free=3, base_ms=30000, factor=2, max_ms=900000, alarm_at=5,
                 forget_ms=3600000, slots=8, clock=ticks_ms):
        if free < 0 or base_ms <= 0 or factor < 1 or max_ms < base_ms or alarm_at < 1 or slots < 1:
            raise ValueError("bad lockout parameters")
        self.free = free
        self.base_ms = base_ms
        self.factor = factor
        self.max_ms = max_ms
        self.alarm_at = alarm_at
        self.forget_ms = forget_ms
        self.clock = clock
        n = slots + 1  # the last one: the overflow (see above)
        self._src = [None] * n
        self._count = [0] * n
        self._last = [0] * n  # ticks of the last failure
        self._until = [0] * n  # ticks the lock ends
        self._locked = [False] * n

    def _age(self, i, now):
        """Forget slot i's failures once the last is forget_ms old (and no lock is running)."""
        if self._count[i] and ticks_diff(now, self._last[i]) >= self.forget_ms and not self._is_locked(i, now):
            self._count[i] = 0

    def _own(self, source, now):
        """The slot tracking `source`, or -1."""
        for i in range(len(self._src) - 1):
            if self._src[i] == source:
                self._age(i, now)
                return i
        return -1

    def _spare(self, now):
        """A slot a new source may take (unused, or its failures forgotten), or -1."""
        for i in range(len(self._src) - 1):
            self._age(i, now)
            if self._src[i] is None or not self._count[i]:
                return i
        return -1

    def _find(self, source, now):
        """Where the source's failures count: its own slot; else -1 while a slot is spare
        (nothing counted yet); else the overflow."""
        i = self._own(source, now)
        if i < 0 and self._spare(now) < 0:
            i = len(self._src) - 1
            self._age(i, now)
        return i

    def _is_locked(self, i, now):
        if self._locked[i] and ticks_diff(self._until[i], now) <= 0:
            self._locked[i] = False
        return self._locked[i]

    def check(self, source, now=None):
        """Milliseconds the source is still locked for; 0 = it may try."""
        now = self.clock() if now is None else now
        i = self._find(source, now)
        if i < 0 or not self._is_locked(i, now):
            return 0
        return ticks_diff(self._until[i], now)

    def failures(self, source, now=None):
        """Failures counted for the source (0 once forgotten or cleared)."""
        now = self.clock() if now is None else now
        i = self._find(source, now)
        return self._count[i] if i >= 0 else 0

    def failure(self, source, now=None):
        """Count a failure; returns (lock_ms, alarm): the lock now in force and whether this
        failure raises the alarm."""
        now = self.clock() if now is None else now
        i = self._own(source, now)
        if i < 0:  # a new source: a spare slot, else the overflow
            i = self._spare(now)
            if i >= 0:
                self._src[i] = source
                self._count[i] = 0
                self._locked[i] = False
            else:
                i = len(self._src) - 1
                self._age(i, now)
        n = self._count[i] + 1
        self._count[i] = n
        self._last[i] = now
        lock = 0  # base_ms after failure free+1, times factor per failure after it, at most max_ms
        if n > self.free:
            lock = self.base_ms
            for _ in range(n - self.free - 1):
                lock *= self.factor
                if lock >= self.max_ms:
                    break
            lock = min(lock, self.max_ms)
        if lock:
            self._until[i] = ticks_add(now, lock)
            self._locked[i] = True
        alarm = n >= self.alarm_at and (n - self.alarm_at) % self.alarm_at == 0
        return lock, alarm

    def success(self, source, now=None):
        """A correct attempt: forget the source's failures (not the overflow's: those are many
        sources' failures)."""
        now = self.clock() if now is None else now
        i = self._own(source, now)
        if i >= 0:
            self._src[i] = None
            self._count[i] = 0
            self._locked[i] = False

    def clear(self):
        """Forget every failure and lock, the overflow's too."""
        for i in range(len(self._src)):
            self._src[i] = None
            self._count[i] = 0
            self._locked[i] = False

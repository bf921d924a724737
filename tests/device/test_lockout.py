"""Wrong-PIN and wrong-password lockout: free tries, growing delay, cap, alarm, per-source,
forget, and slots that run out without unlocking anyone (the overflow)."""
from doorapp.access.lockout import Lockout


class Clock:
    def __init__(self):
        self.t = 0

    def __call__(self):
        return self.t


def test_free_tries_then_growing_delay_capped():
    c = Clock()
    lo = Lockout(free=3, base_ms=30000, factor=2, max_ms=120000, alarm_at=99, clock=c)
    locks = []
    for _ in range(7):
        assert lo.check("keypad") == 0
        lock, alarm = lo.failure("keypad")
        locks.append(lock)
        c.t += lock  # wait the lock out before the next attempt
    assert locks == [0, 0, 0, 30000, 60000, 120000, 120000]
    assert lo.failures("keypad") == 7


def test_locked_source_refused_without_counting():
    c = Clock()
    lo = Lockout(free=1, base_ms=10000, clock=c)
    lo.failure("keypad")
    lock, _ = lo.failure("keypad")
    assert lock == 10000
    c.t = 4000
    assert lo.check("keypad") == 6000
    assert lo.failures("keypad") == 2  # checking does not count
    c.t = 10000
    assert lo.check("keypad") == 0


def test_sources_are_independent_and_success_clears():
    c = Clock()
    lo = Lockout(free=0, base_ms=5000, clock=c)
    lo.failure("keypad")
    assert lo.check("keypad") == 5000 and lo.check("wiegand") == 0
    c.t = 6000
    lo.success("keypad")
    assert lo.failures("keypad") == 0
    lock, _ = lo.failure("keypad")
    assert lock == 5000  # back to the first delay


def test_alarm_at_threshold_and_every_threshold_after():
    c = Clock()
    lo = Lockout(free=10, alarm_at=3, clock=c)
    alarms = [lo.failure("api:10.0.0.7")[1] for _ in range(9)]
    assert alarms == [False, False, True, False, False, True, False, False, True]


def test_old_failures_forgotten():
    c = Clock()
    lo = Lockout(free=2, base_ms=1000, forget_ms=60000, clock=c)
    lo.failure("keypad")
    lo.failure("keypad")
    c.t = 61000
    assert lo.failures("keypad") == 0
    assert lo.failure("keypad") == (0, False)


def test_failures_from_many_sources_never_unlock_a_tracked_one():
    """An attacker locked at one address fails from others until the slots run out: the lock
    and the count stay (no eviction), the rest share the overflow, which locks them all."""
    c = Clock()
    lo = Lockout(free=2, base_ms=100000, slots=3, clock=c)
    for _ in range(3):
        lo.failure("api:attacker")
    assert lo.check("api:attacker") > 0
    lo.failure("api:1")
    lo.failure("api:2")  # every slot taken now
    for n in range(3, 40):  # 37 more addresses, one wrong password each
        c.t += 10
        lo.failure("api:%d" % n)
    assert lo.check("api:attacker") > 0 and lo.failures("api:attacker") == 3
    assert lo.failures("api:1") == 1 and lo.failures("api:2") == 1
    # the overflow counted the untracked ones and locked after `free`: a global delay for them
    assert lo.check("api:99") > 0 and lo.check("api:fresh") > 0
    assert lo.check("api:1") == 0  # a tracked, unlocked source keeps its own count


def test_overflow_not_cleared_by_success_but_by_clear():
    c = Clock()
    lo = Lockout(free=1, base_ms=100000, slots=1, clock=c)
    lo.failure("a")
    lo.failure("b")
    lo.failure("c")  # overflow: 2 failures, locked
    assert lo.check("z") > 0
    lo.success("z")  # an untracked success forgets nobody's failures
    assert lo.check("z") > 0
    lo.clear()
    assert lo.check("z") == 0 and lo.check("a") == 0 and lo.failures("a") == 0


def test_forgotten_slots_are_reused():
    c = Clock()
    lo = Lockout(free=3, base_ms=1000, forget_ms=60000, slots=2, clock=c)
    lo.failure("a")
    lo.failure("b")
    c.t = 61000  # both forgotten: a new source takes a slot, not the overflow
    lo.failure("c")
    assert lo.failures("c") == 1 and lo.failures("a") == 0


def test_bad_parameters_rejected():
    for kw in ({"free": -1}, {"base_ms": 0}, {"max_ms": 10, "base_ms": 20}, {"alarm_at": 0}, {"slots": 0}):
        try:
            Lockout(**kw)
        except ValueError:
            continue
        raise AssertionError(kw)

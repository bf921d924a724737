"""The access decision for a credential: who is it, may they open, which relays.

Pure logic: the user store is injected. `decide_card` is the first version (users, cards, relay
rights over users.json); the full engine (doorapp/engine.py: schedules, validity, roles,
intervals, clock rules, floors, relay schedule holds) returns the same Decision type.
"""
import eventlog


class Decision:
    """granted (bool), user (record or None), relays (relay numbers to pulse; numbers above 8
    are I/O expander outputs from the floor map), reason (eventlog.REASON_*), prompt (text for
    a display), floors (floor numbers granted), hold (bit mask of relays whose schedule hold
    this grant activated: a Relay Schedule Activation badge-in)."""

    __slots__ = ("granted", "user", "relays", "reason", "prompt", "floors", "hold")

    def __init__(self, granted, user, relays, reason, prompt="", floors=(), hold=0):
        self.granted = granted
        self.user = user
        self.relays = relays
        self.reason = reason
        self.prompt = prompt
        self.floors = floors
        self.hold = hold

    def relay_mask(self):
        """Board relays 1..8 as the event log's bit mask (expander outputs are not in it)."""
        m = 0
        for r in self.relays:
            if r <= 8:
                m |= 1 << (r - 1)
        return m


def decide_card(store, code, cards_enabled):
    """Decision for a card whose code is already in the configured display format."""
    if not cards_enabled:
        return Decision(False, None, (), eventlog.REASON_DISABLED, "Cards disabled")
    user = store.by_card(code)
    if user is None:
        return Decision(False, None, (), eventlog.REASON_UNKNOWN_CREDENTIAL, "Unknown card")
    if not user.relays:
        return Decision(False, user, (), eventlog.REASON_NO_RELAY_RIGHTS, "No door rights")
    return Decision(True, user, user.relays, eventlog.REASON_OK, "Welcome")

"""The access decision for a credential: who is it, may they open, which relays.

Pure logic: the user store is injected. This first version knows users, cards and relay rights;
the full engine (schedules, validity, roles, intervals, clock rules) replaces `decide_card`
without changing its result type.
"""
import eventlog


class Decision:
    __slots__ = ("granted", "user", "relays", "reason", "prompt")

    def __init__(self, granted, user, relays, reason, prompt=""):
        self.granted = granted
        self.user = user
        self.relays = relays
        self.reason = reason
        self.prompt = prompt


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

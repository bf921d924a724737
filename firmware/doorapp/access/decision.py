"""The result of an access decision (doorapp/access/engine.py makes them): kept apart so code that
only reads decisions (event log, display, API) doesn't load the engine."""


class Decision:
    """granted (bool), user (record or None), relays (relay numbers to pulse; numbers above 8
    are I/O expander outputs from the floor map), reason (eventcodes.REASON_*), prompt (text for
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

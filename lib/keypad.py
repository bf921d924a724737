"""PIN keypads: a 3x4 matrix scanner and the PIN entry state machine shared with Wiegand keypads.

Matrix: 4 row outputs, 3 column inputs (board-layer pins: OutputPin `on()`/`off()`, InputPin
`value()`). One row at a time is selected (`on()`), the columns are read, the row released. With
the usual wiring - columns pulled up, rows driven low when selected (board file: rows
`"active": "low"`, columns `"pull": "up"`) - a pressed key reads 0 (`pressed_level`). Use
open-drain rows or a diode per row if two keys in one column may be pressed together (two
driven rows would short). Keys are reported once per press after `debounce_ms` of stable
reading; a press of two keys at once is ignored (ghosting).

Layout (rows top to bottom): 1 2 3 / 4 5 6 / 7 8 9 / * 0 #

PinEntry: digits collect until `#` (submit) - `*` clears - and are dropped after `timeout_ms`
without a key. `key(k)` returns None, the PIN (str) on a valid submit, or "" for a submit that
can't be a PIN (too short, too long: longer entries keep counting but are not kept). The digits
live in a preallocated buffer; only a submitted PIN becomes a string (`n` counts the keys
typed so far).

Resident on a board with a keypad (and PinEntry with a Wiegand keypad), so kept small: no
accessors, the layout is one string.
"""
from micropython import const

from compat import sleep_ms, ticks_diff, ticks_ms

LAYOUT = "123456789*0#"
_NONE = const(-1)
_MANY = const(-2)


class MatrixKeypad:
    """3x4 (or any rows x cols) matrix over board-layer pins; `poll(now_ms)` -> key or None."""

    def __init__(self, rows, cols, keys=LAYOUT, pressed_level=0, debounce_ms=30):
        if len(keys) != len(rows) * len(cols):
            raise ValueError("need %d keys for %d rows x %d columns" % (
                len(rows) * len(cols), len(rows), len(cols)))
        self.rows = rows
        self.cols = cols
        self.keys = keys
        self.pressed_level = pressed_level
        self.debounce_ms = debounce_ms
        self._cand = _NONE  # reading being debounced
        self._since = 0
        self._stable = _NONE  # debounced state
        for r in rows:
            r.off()

    def scan(self):
        """Index of the one pressed key, -1 for none, -2 for several."""
        found = _NONE
        ncols = len(self.cols)
        for ri in range(len(self.rows)):
            row = self.rows[ri]
            row.on()
            for ci in range(ncols):
                if self.cols[ci].value() == self.pressed_level:
                    found = ri * ncols + ci if found == _NONE else _MANY
            row.off()
        return found

    def poll(self, now_ms):
        """The key (str) just pressed, debounced, or None."""
        k = self.scan()
        if k != self._cand:
            self._cand = k
            self._since = now_ms
            return None
        if k == self._stable or ticks_diff(now_ms, self._since) < self.debounce_ms:
            return None
        self._stable = k
        return self.keys[k] if k >= 0 else None

    async def run(self, on_key, interval_ms=10):
        """Task: scan every interval_ms and call on_key(key) for each press."""
        while True:
            k = self.poll(ticks_ms())
            if k is not None:
                on_key(k)
            await sleep_ms(interval_ms)


class PinEntry:
    """Collects keys into a PIN: `#` submits, `*` clears, idle > timeout_ms drops the entry."""

    def __init__(self, min_len=2, max_len=8, timeout_ms=5000, clock=ticks_ms):
        self.min_len = min_len
        self.max_len = max_len
        self.timeout_ms = timeout_ms
        self.clock = clock
        self._buf = bytearray(max_len)
        self.n = 0  # keys typed, may exceed max_len (then the entry is invalid)
        self._last = 0
        self.timeouts = 0

    def poll(self, now=None):
        """Drop a partial entry idle longer than timeout_ms; True if one was dropped."""
        if self.n and ticks_diff(self.clock() if now is None else now, self._last) >= self.timeout_ms:
            self.n = 0
            self.timeouts += 1
            return True
        return False

    def key(self, k, now=None):
        """Feed one key ("0"-"9", "*", "#"); returns None, a PIN, or "" (invalid submit)."""
        t = self.clock() if now is None else now
        self.poll(t)
        self._last = t
        if k == "*":
            self.n = 0
            return None
        if k == "#":
            n = self.n
            self.n = 0
            if n < self.min_len or n > self.max_len:
                return ""
            return bytes(self._buf[:n]).decode()
        if len(k) != 1 or not "0" <= k <= "9":
            return None
        if self.n < self.max_len:
            self._buf[self.n] = ord(k)
        if self.n <= self.max_len:  # one past max marks the entry too long
            self.n += 1
        return None

"""Door alarms from door sensors: held open too long, and forced (break-in), as an intrusion
panel means them: two different events, the buzzer, the sensor input's HTTP action; an alarm
never opens a relay.

Forced: the sensor opens while nothing let anyone through: no relay of its door on or released
less than MARGIN_MS ago, no exit press within its relay's hold time plus MARGIN_MS. A forced
alarm stays latched (on flash: it survives a restart) until an administrator clears it (HTTP
API, web UI) or turns the sensor's break_in off. Held open: open past door_opened_timeout_s;
it clears itself when the door closes. Loaded only on boards with a door sensor that raises
either alarm (docs/inputs.md).
"""
import json

from micropython import const

from compat import sleep_ms, ticks_add, ticks_diff, ticks_ms
from doorapp import fileio

# the event log's codes (lib/eventcodes.py names them)
_KIND_DOOR = const(9)
_REASON_DOOR_HELD_OPEN = const(23)
_REASON_DOOR_FORCED = const(24)
_REASON_ALARM_CLEARED = const(38)

ALARMS_FILE = "alarms.json"  # the latched forced alarms: {"forced": [input names]}
MARGIN_MS = 3000  # a door opened this long after its relay let go still counts as let in
_TICK_MS = const(250)
_REPEAT_MS = const(5000)  # the buzzer's pattern again while the alarm lasts
_FORCED_SOUND_MS = const(60000)  # a forced door sounds at most this long (the latch stays)
HELD_BEEP = (200, 200, 200, 200, 200)
FORCED_BEEP = (1000, 250, 1000, 250, 1000)


class Alarms:
    def __init__(self, door):
        self.door = door
        self._path = fileio.data_path(door.board, ALARMS_FILE)
        self.forced = []  # latched: input names
        try:
            with open(self._path) as f:
                self.forced = list(json.load(f)["forced"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        self._open = {}  # door sensor name -> [opened at, held (bool), sounding until]
        self._auth = {}  # relay id -> let in until (ticks)
        self._rex_until = None  # an exit press lets in until (ticks)

    def configure(self):
        """The sensors and their settings from the door's config (start, config change);
        break_in turned off clears that sensor's latched alarm (the vendor's way to clear it)."""
        cfg = self.door.cfg["inputs"]
        for name in list(self.forced):
            if not cfg.get(name, {}).get("break_in"):
                self.clear(name)

    def let_in(self, relays=None):
        """Someone may open a door now: relays pulsed (their doors), or None = an exit press
        (any door, for the longest hold)."""
        now = ticks_ms()
        if relays is None:
            hold = 0
            for r in self.door.relays.values():
                hold = max(hold, r.hold_ms)
            self._rex_until = ticks_add(now, hold + MARGIN_MS)
            return
        for rid in relays:
            r = self.door.relays.get(rid)
            if r is not None:
                self._auth[rid] = ticks_add(now, r.hold_ms + MARGIN_MS)

    def _let_in(self, rid, now):
        r = self.door.relays.get(rid)
        if r is not None and r.is_on():
            return True
        until = self._auth.get(rid)
        if until is not None and ticks_diff(until, now) > 0:
            return True
        return self._rex_until is not None and ticks_diff(self._rex_until, now) > 0

    def door_changed(self, inp, opened):
        c = self.door.cfg["inputs"][inp.name]
        now = ticks_ms()
        if not opened:
            st = self._open.pop(inp.name, None)
            if st is not None and st[1]:
                self._event(_REASON_ALARM_CLEARED, inp.name, c)
            return
        self._open[inp.name] = [now, False, 0]
        if c["break_in"] and not self._let_in(c["door_relay"], now):
            if inp.name not in self.forced:
                self.forced.append(inp.name)
                self._save()
            self._event(_REASON_DOOR_FORCED, inp.name, c)
            self._open[inp.name][2] = ticks_add(now, _FORCED_SOUND_MS)
            self._sound(FORCED_BEEP)
            self._action(inp.name, "forced")

    def clear(self, name=None):
        """Clear a latched forced alarm (`name`, None = all); returns the names cleared."""
        names = [n for n in self.forced if name is None or n == name]
        for n in names:
            self.forced.remove(n)
            st = self._open.get(n)
            if st is not None:
                st[2] = 0  # the buzzer stops too
            self._event(_REASON_ALARM_CLEARED, n, self.door.cfg["inputs"].get(n))
        if names:
            self._save()
        return names

    def state(self):
        out = {}
        for inp in self.door.inputs:
            if inp.kind == "door_sensor":
                st = self._open.get(inp.name)
                out[inp.name] = {"held_open": bool(st and st[1]), "forced": inp.name in self.forced}
        for n in self.forced:  # a latched sensor since disabled still shows
            if n not in out:
                out[n] = {"held_open": False, "forced": True}
        return out

    def _event(self, reason, name, c):
        rid = c["door_relay"] if c else 1
        self.door.record(_KIND_DOOR, None, reason, name.encode(), 0, None, (rid,))

    def _sound(self, pattern):
        self.door.buzzer.play(pattern)

    def _action(self, name, what):
        acts = self.door.actions
        if acts is not None:
            acts.alarm(name, what)

    def _save(self):
        fileio.write_json_atomic(self._path, {"forced": self.forced})

    async def run(self):
        """Held-open timers and the buzzer's repeats."""
        last = ticks_ms()
        while True:
            await sleep_ms(_TICK_MS)
            now = ticks_ms()
            repeat = ticks_diff(now, last) >= _REPEAT_MS
            if repeat:
                last = now
            for name in self._open:
                st = self._open[name]
                c = self.door.cfg["inputs"].get(name)
                if c is None:
                    continue
                if not st[1] and c["alarm_door_opened"] and ticks_diff(now, st[0]) >= c["door_opened_timeout_s"] * 1000:
                    st[1] = True
                    self._event(_REASON_DOOR_HELD_OPEN, name, c)
                    self._sound(HELD_BEEP)
                    self._action(name, "held_open")
                elif repeat:
                    if st[2] and ticks_diff(st[2], now) > 0:
                        self._sound(FORCED_BEEP)
                    elif st[1]:
                        self._sound(HELD_BEEP)
            if self._auth:  # expired let-ins go (ticks wrap after ~12 days)
                for rid in list(self._auth):
                    if ticks_diff(self._auth[rid], now) <= 0:
                        del self._auth[rid]
            if self._rex_until is not None and ticks_diff(self._rex_until, now) <= 0:
                self._rex_until = None

"""The simulator's live view: one line per output or (debounced) input change and one per event."""
from compat import ticks_diff, ticks_ms


class Display:
    def __init__(self, door, board):
        self.door = door
        self.t0 = ticks_ms()
        self.names = {}
        for r in board.spec["relays"]:
            self.names[r["pin"]] = "relay%d" % r["id"]
        for o in ("led", "buzzer"):
            if o in board.spec:
                self.names[board.spec[o]["pin"]] = o
        board.pins.listeners.append(self.on_pin)
        door.listeners.append(self.on_event)
        door.input_listeners.append(self.on_input)
        door.on_prompt = self.on_prompt

    def stamp(self):
        return "%9.3f" % (ticks_diff(ticks_ms(), self.t0) / 1000)

    def status(self):
        d = self.door
        parts = []
        for rid in sorted(d.relays):
            parts.append("relay%d=%s" % (rid, "ON" if d.relays[rid].is_on() else "off"))
        parts.append("led=%s" % ("on" if d.led.is_on() else "off"))
        parts.append("buzzer=%s" % ("on" if d.buzzer.is_on() else "off"))
        for i in d.inputs:
            if i.kind == "door_sensor":
                parts.append("%s=%s" % (i.name, "OPEN" if i.active else "closed"))
            else:
                parts.append("%s=%s" % (i.name, "PRESSED" if i.active else "idle"))
        parts.append("reader=%s" % d.reader_status().get("status"))
        return " ".join(parts)

    def on_pin(self, num, level, t_us):
        if num in self.names:
            print(self.stamp(), "|", self.status())

    def on_input(self, inp, active):
        print(self.stamp(), "|", self.status())

    def on_event(self, ev):
        who = ("user %d" % ev["user"]) if ev.get("user") else "-"
        print(self.stamp(), "* event #%d %s %s %s %s %s" % (
            ev["seq"], ev["kind"], ev.get("code") or "-", who, ev["result"], ev["reason"]))

    def on_prompt(self, text):
        print(self.stamp(), '> "%s"' % text)

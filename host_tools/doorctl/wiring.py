"""A board's wiring, drawn from its board file (boards/<name>.json): one list of connections
that makes both the SVG diagram (`doorctl wiring`) and the wiring tables of docs/hardware.md,
so neither can disagree with the pin table the firmware reads.

`connections(spec)` is that list: groups (PN532, relays, inputs, LED, buzzer, Wiegand, keypad,
QR scanner), each with rows from an ESP32 pin (or a supply rail) to a terminal of the part.
`svg(spec)` draws it; `table(spec)` writes it as a Markdown table. Plain SVG text, no
dependency: the output depends only on the board file, byte for byte.
"""
from xml.sax.saxutils import escape

from doorctl import manifest

# where docs/hardware.md keeps each board's generated table and the diagrams
DOC = "docs/hardware.md"
IMG_DIR = "docs/img"


def table_markers(name):
    return "<!-- wiring:%s:start -->" % name, "<!-- wiring:%s:end -->" % name


def image_path(name):
    return "%s/wiring-%s.svg" % (IMG_DIR, name)


# header positions of GPIOs on dev boards whose pin-out is fixed (board name -> {gpio: "J1-4"});
# ESP32-S3-DevKitC-1 header J1
HEADERS = {
    "esp32s3-devkitc-n16r8": {4: "J1-4", 5: "J1-5", 6: "J1-6", 7: "J1-7", 15: "J1-8", 16: "J1-9", 17: "J1-10",
                              18: "J1-11", 8: "J1-12", 3: "J1-13", 46: "J1-14", 9: "J1-15", 10: "J1-16",
                              11: "J1-17", 12: "J1-18", 13: "J1-19", 14: "J1-20"},
}


class WiringError(ValueError):
    """A board file that can't be drawn (the message names the file)."""


class Row:
    """One wire: from an ESP32 GPIO (`gpio`) or a supply rail (`rail`, gpio None) to `term`,
    a terminal of the part. `role` is the pin's job on the ESP32 side (UART2 TX), `wire` the
    label on the wire, `function`/`to` the columns of the Markdown table."""

    def __init__(self, term, gpio=None, rail=None, role="", wire="", function="", to=""):
        self.term, self.gpio, self.rail, self.role, self.wire = term, gpio, rail, role, wire
        self.function, self.to = function, to


class Group:
    def __init__(self, key, title, rows, notes=(), extra=None):
        self.key, self.title, self.rows, self.notes, self.extra = key, title, rows, list(notes), extra


def load(board):
    """A board name or path -> (path, validated spec); WiringError naming the file otherwise."""
    try:
        path, _data, spec = manifest.load_board(board)
    except manifest.ManifestError as e:
        raise WiringError(str(e))
    if spec["backend"] != "esp32":
        raise WiringError("%s: backend %s: a simulator board has no wiring to draw (use a board file with "
                          "backend esp32, e.g. boards/esp32-devkitc.json)" % (path, spec["backend"]))
    return path, spec


def hardware_name(spec):
    """The board's hardware from its description, up to the first comma outside brackets."""
    text = spec.get("description") or spec["name"]
    depth = 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            text = text[:i]
            break
    return text.split(" (")[0].strip()


def _pn532(spec):
    pn = spec["pn532"]
    power = [Row("VCC", rail="3V3", wire="3.3 V"), Row("GND", rail="GND")]
    if pn["bus"] == "uart":
        u = "UART%d" % pn["uart"]
        rows = power + [
            Row("RXD", pn["tx"], role=u + " TX", wire="TX → RXD", function="PN532 RXD ← ESP32 TX (%s)" % u,
                to="PN532 in HSU mode (DIP switches 1 and 2 OFF), powered from 3V3"),
            Row("TXD", pn["rx"], role=u + " RX", wire="RX ← TXD", function="PN532 TXD → ESP32 RX (%s)" % u,
                to="PN532 TXD (TX and RX cross over)"),
        ]
        notes = ["DIP switches: 1 OFF, 2 OFF = HSU (UART)", "%d baud, 8N1" % pn["baudrate"],
                 "TX and RX cross: ESP32 TX to PN532 RXD"]
        title = "PN532 NFC module, HSU (UART)"
    else:
        b = "I2C%d" % pn["i2c"]
        rows = power + [
            Row("SDA", pn["sda"], role=b + " SDA", wire="SDA", function="PN532 SDA (%s)" % b,
                to="PN532 in I2C mode (DIP switch 1 ON, 2 OFF), powered from 3V3"),
            Row("SCL", pn["scl"], role=b + " SCL", wire="SCL", function="PN532 SCL (%s)" % b,
                to="PN532 SCL; 4.7 kΩ pull-ups to 3V3 if the module has none"),
        ]
        notes = ["DIP switches: 1 ON, 2 OFF = I2C", "address 0x%02x, %d kHz" % (pn["addr"], pn["freq"] // 1000),
                 "4.7 kΩ pull-ups to 3V3 on SDA and SCL", "if the module has none"]
        title = "PN532 NFC module, I2C"
    return Group("pn532", title, rows, notes)


def _relays(spec):
    rows = [Row("VCC", rail="+5V", wire="5 V"), Row("GND", rail="GND")]
    for r in spec["relays"]:
        rows.append(Row("IN%d" % r["id"], r["pin"], role="relay %d" % r["id"], wire="active %s" % r["active"],
                        function="Relay %d%s" % (r["id"], " (door lock)" if r is spec["relays"][0] else ""),
                        to="relay module IN%d, active %s" % (r["id"], r["active"])))
    first = spec["relays"][0]["id"]
    notes = ["opto-isolated module, 5 V coils, contacts 10 A",
             "IN%d pulled %s energises relay %d" % (first, spec["relays"][0]["active"], first)]
    return Group("relays", "Relay module (%d channels)" % len(spec["relays"]), rows, notes, extra="lock")


INPUT_PARTS = {
    "exit_button": ("Exit button", "NO", "COM", "Exit button", "push to exit: NO contact, closed = pressed"),
    "door_sensor": ("Door sensor", "contact", "contact", "Door sensor (reed switch)",
                    "reed contact, closed while the door is shut"),
    "generic": ("Input", "contact", "contact", "Input", "a dry contact"),
}


def _input(inp):
    title, term, other, function, what = INPUT_PARTS[inp["kind"]]
    pull = inp["pull"]
    rail = "3V3" if pull == "down" else "GND"
    if pull == "up":
        how = "internal pull-up"
        to = "to GND (internal pull-up)"
    elif pull == "down":
        how = "internal pull-down"
        to = "to 3V3 (internal pull-down)"
    else:
        how = "no pull inside: fit 10 kΩ to 3V3"
        to = "to GND, with a 10 kΩ pull-up to 3V3 (no pull inside)"
    if inp["kind"] == "door_sensor":
        to += "; closed while the door is shut"
    rows = [Row(term, inp["pin"], role="input %s" % inp["id"], wire=how,
                function="%s `%s`" % (function, inp["id"]) if inp["kind"] == "generic" else function, to=to),
            Row(other, rail=rail)]
    return Group("input-" + inp["id"], "%s (input %s)" % (title, inp["id"]), rows,
                 [what, "long cable: 4.7 kΩ pull-up and 100 nF at the ESP32"])


def _led(spec):
    o = spec["led"]
    if o["active"] == "high":
        rows = [Row("anode (via 330 Ω)", o["pin"], role="LED", wire="active high", function="Status LED",
                    to="LED anode via 330 Ω, cathode to GND"), Row("cathode", rail="GND")]
    else:
        rows = [Row("cathode (via 330 Ω)", o["pin"], role="LED", wire="active low", function="Status LED",
                    to="LED cathode via 330 Ω, anode to 3V3"), Row("anode", rail="3V3")]
    return Group("led", "Status LED", rows, ["any LED, 330 Ω in series"])


def _buzzer(spec):
    o = spec["buzzer"]
    rows = [Row("base (via 1 kΩ)", o["pin"], role="buzzer", wire="active %s" % o["active"], function="Buzzer",
                to="active buzzer through an %s transistor (1 kΩ to its base), active %s"
                   % ("NPN" if o["active"] == "high" else "PNP", o["active"])),
            Row("buzzer +", rail="+5V"), Row("emitter", rail="GND" if o["active"] == "high" else "+5V")]
    return Group("buzzer", "Active buzzer, %s transistor" % ("NPN" if o["active"] == "high" else "PNP"), rows,
                 ["a 5 V active buzzer (it makes its own tone)"])


def _wiegand(spec):
    w = spec["wiegand"]
    rows = [Row("D0 (via level shifter)", w["d0"], role="Wiegand D0", wire="3.3 V ← 5 V", function="Wiegand D0",
                to="reader's D0 (green) through a 5 V → 3.3 V level shifter"),
            Row("D1 (via level shifter)", w["d1"], role="Wiegand D1", wire="3.3 V ← 5 V", function="Wiegand D1",
                to="reader's D1 (white) through a 5 V → 3.3 V level shifter"),
            Row("reader +12 V (red)", rail="+12V"), Row("reader GND (black)", rail="GND")]
    return Group("wiegand", "Wiegand reader or keypad", rows,
                 ["D0/D1 idle at 5 V: never straight to a GPIO", "level shifter LV side 3V3, HV side +5V"])


def _wiegand_out(spec):
    w = spec["wiegand_out"]
    rows = [Row("buffer input A1", w["d0"], role="Wiegand out D0", wire="idle high, low pulses",
                function="Wiegand output D0", to="panel's D0 through an open-drain buffer (74LVC07)"),
            Row("buffer input A2", w["d1"], role="Wiegand out D1", wire="idle high, low pulses",
                function="Wiegand output D1", to="panel's D1 through an open-drain buffer (74LVC07)"),
            Row("buffer VCC", rail="3V3"), Row("buffer GND, panel GND", rail="GND")]
    return Group("wiegand_out", "Wiegand output to a panel (74LVC07 open-drain buffer)", rows,
                 ["the panel's pull-ups make the high level", "docs/wiegand-out.md"])


def _keypad(spec):
    k = spec["keypad"]
    rows = [Row("row %d" % (i + 1), p, role="keypad row %d" % (i + 1), wire="row",
                function="Keypad row %d" % (i + 1), to="3x4 keypad row %d" % (i + 1)) for i, p in enumerate(k["rows"])]
    rows += [Row("column %d" % (i + 1), p, role="keypad col %d" % (i + 1), wire="column (pull-up)",
                 function="Keypad column %d" % (i + 1), to="3x4 keypad column %d" % (i + 1))
             for i, p in enumerate(k["cols"])]
    return Group("keypad", "3x4 matrix keypad", rows, ["rows driven low one at a time", "columns pulled up"])


def _qr(spec):
    q = spec["qr_scanner"]
    u = "UART%d" % q["uart"]
    rows = [Row("RX", q["tx"], role=u + " TX", wire="TX → RX", function="QR scanner RX ← ESP32 TX (%s)" % u,
                to="QR scanner module RX (3.3 V TTL)"),
            Row("TX", q["rx"], role=u + " RX", wire="RX ← TX", function="QR scanner TX → ESP32 RX (%s)" % u,
                to="QR scanner module TX (a 5 V module needs a level shifter)"),
            Row("VCC", rail="+5V"), Row("GND", rail="GND")]
    return Group("qr", "QR scanner module (UART)", rows, ["%d baud" % q["baudrate"]])


def connections(spec):
    """Every wire of a (validated, esp32) board file, grouped by part: [Group]."""
    groups = [_pn532(spec), _relays(spec)]
    groups += [_input(i) for i in spec["inputs"]]
    if "led" in spec:
        groups.append(_led(spec))
    if "buzzer" in spec:
        groups.append(_buzzer(spec))
    if "wiegand" in spec:
        groups.append(_wiegand(spec))
    if "wiegand_out" in spec:
        groups.append(_wiegand_out(spec))
    if "keypad" in spec:
        groups.append(_keypad(spec))
    if "qr_scanner" in spec and "rx" in spec["qr_scanner"]:
        groups.append(_qr(spec))
    return groups


def board_pins(spec):
    """Every GPIO the board file uses (the diagram and the table must show each)."""
    pins = []
    pn = spec["pn532"]
    pins += [pn[k] for k in ("tx", "rx", "sda", "scl") if k in pn]
    pins += [r["pin"] for r in spec["relays"]] + [i["pin"] for i in spec["inputs"]]
    pins += [spec[k]["pin"] for k in ("led", "buzzer") if k in spec]
    if "wiegand" in spec:
        pins += [spec["wiegand"]["d0"], spec["wiegand"]["d1"]]
    if "wiegand_out" in spec:
        pins += [spec["wiegand_out"]["d0"], spec["wiegand_out"]["d1"]]
    if "keypad" in spec:
        pins += spec["keypad"]["rows"] + spec["keypad"]["cols"]
    q = spec.get("qr_scanner", {})
    pins += [q[k] for k in ("tx", "rx") if k in q]
    return pins


# --- Markdown -------------------------------------------------------------------------------
def table(spec):
    """The board's wiring as a Markdown table, one row per GPIO, in the diagram's order."""
    headers = HEADERS.get(spec["name"])
    chip = "ESP32-S3" if spec.get("chip") == "esp32s3" else "ESP32"
    cols = ["function", "%s GPIO" % chip] + (["header pin"] if headers else []) + ["connect to"]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for g in connections(spec):
        for r in g.rows:
            if r.gpio is None:
                continue
            cells = [r.function, str(r.gpio)] + ([headers.get(r.gpio, "-")] if headers else []) + [r.to]
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


# --- SVG ------------------------------------------------------------------------------------
ROW = 22  # px per row
W = 1200
X_ESP, X_ESP_R = 20, 300  # the ESP32 board's box
X_PART, X_PART_R = 500, 760  # the parts' boxes
X_NOTE = 780  # notes (and the lock drawing) right of the parts
TOP = 200  # first row of the parts
RAIL_COLOURS = {"3V3": "#c0392b", "+5V": "#d35400", "+12V": "#8e44ad", "GND": "#2c3e50"}
WIRE = "#1f6feb"
FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'


class _Svg:
    def __init__(self):
        self.items = []

    def add(self, s):
        self.items.append(s)

    def text(self, x, y, s, size=12, anchor="start", weight="normal", fill="#111", italic=False):
        self.add('<text x="%d" y="%d" font-size="%d" text-anchor="%s"%s%s fill="%s">%s</text>' % (
            x, y, size, anchor, ' font-weight="bold"' if weight == "bold" else "",
            ' font-style="italic"' if italic else "", fill, escape(s)))

    def line(self, x1, y1, x2, y2, stroke="#111", width=1.5, dash=False):
        self.add('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="%s"%s/>' % (
            x1, y1, x2, y2, stroke, width, ' stroke-dasharray="5,4"' if dash else ""))

    def rect(self, x, y, w, h, fill="#fff", stroke="#111", rx=4):
        self.add('<rect x="%d" y="%d" width="%d" height="%d" rx="%d" fill="%s" stroke="%s" stroke-width="1.5"/>' % (
            x, y, w, h, rx, fill, stroke))

    def dot(self, x, y, r=3, fill="#111"):
        self.add('<circle cx="%d" cy="%d" r="%d" fill="%s"/>' % (x, y, r, fill))

    def ring(self, x, y, r=4):
        self.add('<circle cx="%d" cy="%d" r="%d" fill="#fff" stroke="#111" stroke-width="1.5"/>' % (x, y, r))

    def poly(self, points, fill="#111"):
        self.add('<polygon points="%s" fill="%s" stroke="#111" stroke-width="1"/>' % (
            " ".join("%d,%d" % p for p in points), fill))

    def arrow(self, x1, y, x2, label=""):
        self.line(x1, y, x2 - 8, y, width=2)
        self.poly([(x2, y), (x2 - 9, y - 5), (x2 - 9, y + 5)])
        if label:
            self.text((x1 + x2) // 2, y - 6, label, size=11, anchor="middle")

    def rail(self, x, y, name, right_end):
        """A supply rail's flag: a short stub ending in the rail's name (nets join by name)."""
        c = RAIL_COLOURS[name]
        self.line(x, y, right_end, y, stroke=c, width=2)
        self.add('<rect x="%d" y="%d" width="44" height="16" rx="8" fill="%s"/>' % (x - 44, y - 8, c))
        self.text(x - 22, y + 4, name, size=11, anchor="middle", fill="#fff", weight="bold")


def _lock_drawing(s, x, y, relay):
    """Relay `relay`'s contacts switching a 12 V lock, flyback diode across it: fail-secure on NO,
    fail-safe on NC. 8 rows tall from y."""
    s.text(x, y + 12, "Relay %d's contacts switch the 12 V lock" % relay, size=12, weight="bold")
    com, no, nc = (x + 80, y + 64), (x + 130, y + 44), (x + 130, y + 86)
    s.rail(x + 50, com[1], "+12V", com[0] - 4)
    s.ring(*com)
    s.text(com[0] - 4, com[1] + 20, "COM", size=10, anchor="middle")
    s.ring(*no)
    s.text(no[0] - 4, no[1] - 8, "NO", size=10, anchor="middle")
    s.ring(*nc)
    s.text(nc[0] - 4, nc[1] + 20, "NC", size=10, anchor="middle")
    s.line(com[0] + 4, com[1] + 2, nc[0] - 6, nc[1] - 4, width=2)  # the lever rests on NC (relay idle)
    s.line(nc[0] + 4, nc[1], nc[0] + 40, nc[1], dash=True)  # where a fail-safe lock goes instead
    # fail-secure lock on NO: +12 V reaches it while the relay is energised
    lx = x + 240
    top, bot = no[1] + 14, y + 120
    s.line(no[0] + 4, no[1], lx, no[1])
    s.line(lx, no[1], lx, y + 62)
    s.rect(lx - 16, y + 62, 32, 36, fill="#f4f0ff")
    s.text(lx, y + 84, "lock", size=10, anchor="middle")
    s.line(lx, y + 98, lx, bot)
    s.line(lx - 90, bot, lx + 40, bot)
    s.text(lx - 92, bot + 4, "0 V (supply −)", size=10, anchor="end", fill=RAIL_COLOURS["GND"])
    s.dot(lx, top)
    s.dot(lx, bot)
    # flyback diode across the lock, cathode (bar) to the + side
    dx = lx + 40
    s.line(lx, top, dx, top)
    s.line(dx, top, dx, y + 70)
    s.poly([(dx, y + 70), (dx - 8, y + 84), (dx + 8, y + 84)], fill="#fff")
    s.line(dx - 8, y + 70, dx + 8, y + 70, width=2)
    s.line(dx, y + 84, dx, bot)
    s.text(dx + 12, y + 76, "1N4007 flyback", size=10)
    s.text(dx + 12, y + 89, "diode, bar to +", size=10)
    s.text(x, y + 146, "NO: fail-secure strike (locked without power: energised = open)", size=10, fill="#444")
    s.text(x, y + 162, "NC: fail-safe strike or maglock (open without power: energised = released)", size=10,
           fill="#444")


LOCK_ROWS = 8  # rows the lock drawing needs beside the relay module


def svg(spec, source=None):
    """The board's wiring diagram as SVG text; `source` names the board file in the title."""
    groups = connections(spec)
    # rows: one title row per group, its wires, a spacer; the relay group is as tall as the lock drawing
    layout = []
    row = 0
    for g in groups:
        need = 1 + len(g.rows)
        need = max(need, len(g.notes) + 1)
        if g.extra == "lock":
            need = max(need, LOCK_ROWS)
        layout.append((g, row))
        row += need + 1
    height = TOP + row * ROW + 40
    s = _Svg()
    s.add('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" %s>'
          % (W, height, W, height, FONT))
    s.add('<rect width="%d" height="%d" fill="#ffffff"/>' % (W, height))
    s.text(20, 30, "%s: wiring of %s" % (spec["name"], hardware_name(spec)), size=18, weight="bold")
    s.text(20, 50, "Generated from %s by `doorctl wiring`: every GPIO is the board file's." % (
        source or "boards/%s.json" % spec["name"]), size=12, fill="#444")
    # power: 12 V supply -> buck converter -> 5 V; the ESP32 board makes its own 3.3 V
    s.rect(20, 72, 200, 50, fill="#f7f0fb")
    s.text(120, 93, "12 V DC supply", size=12, anchor="middle", weight="bold")
    s.text(120, 110, "lock current + 1 A", size=11, anchor="middle")
    s.arrow(220, 97, 300, "+12V")
    s.rect(300, 72, 230, 50, fill="#fdf2e9")
    s.text(415, 93, "buck converter 12 V → 5 V", size=12, anchor="middle", weight="bold")
    s.text(415, 110, "set to 5.0 V before connecting", size=11, anchor="middle")
    s.arrow(530, 97, 610, "+5V")
    s.rect(610, 72, 300, 50, fill="#fdf2e9")
    s.text(760, 93, "ESP32 board 5V pin, relay module VCC,", size=11, anchor="middle")
    s.text(760, 110, "buzzer; the board's regulator makes 3V3", size=11, anchor="middle")
    s.text(930, 93, "+12V also feeds the lock (relay COM)", size=11)
    s.text(930, 110, "and a Wiegand reader; all GNDs joined", size=11)
    s.text(20, 160, "Supply rails join by name: " + ", ".join(sorted(RAIL_COLOURS)) + ".", size=11, fill="#444")
    # the ESP32 board
    last = layout[-1]
    bottom = TOP + (last[1] + max(1 + len(last[0].rows), len(last[0].notes) + 1)) * ROW
    s.rect(X_ESP, TOP - 10, X_ESP_R - X_ESP, bottom - TOP + 10, fill="#eef6ee")
    s.text(X_ESP + 10, TOP + 10, hardware_name(spec), size=12, weight="bold")
    s.text(X_ESP + 10, TOP + 28, "%s, %s profile" % (spec.get("chip", "esp32").upper().replace("ESP32S3", "ESP32-S3"),
                                                     spec["profile"]), size=11, fill="#444")
    headers = HEADERS.get(spec["name"], {})
    for g, first in layout:
        gy = TOP + first * ROW
        n = 1 + len(g.rows)
        s.rect(X_PART, gy - 4, X_PART_R - X_PART, n * ROW + 4, fill="#f5f8ff")
        s.text(X_PART + 8, gy + 12, g.title, size=12, weight="bold")
        for i, r in enumerate(g.rows):
            y = gy + (i + 1) * ROW + 10
            s.text(X_PART + 12, y + 4, r.term, size=11)
            s.dot(X_PART, y)
            if r.gpio is None:
                s.rail(X_PART - 110, y, r.rail, X_PART)
                continue
            s.text(X_ESP_R - 12, y + 4, "GPIO %d" % r.gpio, size=12, anchor="end", weight="bold")
            s.text(X_ESP + 12, y + 4, r.role + (" (%s)" % headers[r.gpio] if r.gpio in headers else ""),
                   size=11, fill="#333")
            s.dot(X_ESP_R, y)
            s.line(X_ESP_R, y, X_PART, y, stroke=WIRE, width=2)
            s.text((X_ESP_R + X_PART - 110) // 2, y - 4, r.wire, size=10, anchor="middle", fill=WIRE)
        if g.extra == "lock":
            _lock_drawing(s, X_NOTE, gy, spec["relays"][0]["id"])
            for j, note in enumerate(g.notes):
                s.text(X_PART + 8, gy + (n + 1 + j) * ROW, note, size=10, fill="#444")
        else:
            for j, note in enumerate(g.notes):
                s.text(X_NOTE, gy + 12 + j * 16 + 10, note, size=11, fill="#444")
    s.add("</svg>")
    return "\n".join(s.items) + "\n"


def real_boards():
    """The board files of real hardware in boards/ (backend esp32), by name, sorted."""
    import json
    import os

    from doorctl import paths

    out = []
    for f in sorted(os.listdir(paths.BOARDS)):
        if f.endswith(".json"):
            with open(os.path.join(paths.BOARDS, f)) as fh:
                if json.load(fh).get("backend") == "esp32":
                    out.append(f[:-5])
    return out

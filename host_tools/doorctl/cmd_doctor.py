"""`doorctl doctor`: ask a connected board how it is (mpremote raw REPL) and say what looks wrong.

Reports the MicroPython version, flash size and vfs partition (ESP32 only: `esp.flash_size()`,
`esp32.Partition`; "n/a on this port" elsewhere), free filesystem, which app and settings files
are present, whether the PN532 answers GetFirmwareVersion (through the board's own driver and
board file), and relay/input pin sanity: relays read back idle, each input's level against its
trigger level, plus the chip's pin rules (flash and PSRAM pins, input-only pins, strapping pins,
USB and console pins; ESP32 and ESP32-S3), and for a psram-profile board whether MicroPython's
heap is in the PSRAM (a build without PSRAM support leaves it unused).

Connecting stops the running app (as any mpremote command does); relays are driven to their
idle level by the check. Afterwards a soft reset restarts the app (--no-reset to stay).
Exit status 1 if something needs attention. A check that fails or warns names the section of
the hardware guide (docs/hardware.md) or other doc that says what to look at (POINTERS).
"""
import json

from doorctl import remote, stockfw
from doorctl.cmd_deploy import add_connection_args

# ESP32 (classic) GPIO facts
ESP32_FLASH_PINS = (6, 7, 8, 9, 10, 11)  # wired to the SPI flash on WROOM/WROVER modules
ESP32_PSRAM_PINS = (16, 17)  # PSRAM chip select and clock on WROVER modules (not on the header)
ESP32_INPUT_ONLY = (34, 35, 36, 37, 38, 39)  # no output driver, no internal pull resistors
ESP32_STRAPPING = (0, 2, 5, 12, 15)  # sampled at reset: external levels change the boot mode
# ESP32-S3 GPIO facts (ESP32-S3-WROOM-1 modules, ESP32-S3-DevKitC-1)
S3_FLASH_PINS = tuple(range(26, 33))  # SPI flash and PSRAM (quad part) inside the module
S3_OCTAL_PINS = tuple(range(33, 38))  # the upper data lines and DQS of octal PSRAM/flash (R8, R16 modules)
S3_STRAPPING = (0, 3, 45, 46)
S3_USB_PINS = (19, 20)  # USB D-/D+ of the native USB port
S3_UART0_PINS = (43, 44)  # UART0 TX/RX: the console, through the board's USB-UART bridge
PSRAM_HEAP_MIN = 1 << 20  # a psram board's MicroPython heap is MBs; without PSRAM it is a few hundred KB
INPUT_DEFAULT_TRIGGER = {"exit_button": "low", "door_sensor": "high", "generic": "low"}
# what to read when a check fails or warns: the hardware guide's sections (docs/hardware.md)
POINTERS = {
    "micropython": "docs/hardware.md#stock-micropython-firmware",
    "app": "docs/build-and-flash.md#doorctl-deploy",
    "board": "boards/README.md",
    "pn532": "docs/hardware.md#pn532-does-not-answer",
    "relay": "docs/hardware.md#relay-active-level",
    "input": "docs/hardware.md#an-input-is-stuck",
    "memory": "docs/hardware.md#psram-not-in-use",
    "pins": "docs/hardware.md#choosing-other-pins",
}

_PROBE = """
import sys, os, json
R = %(root)r
r = {'files': {}}
for _n in ('board.json', 'config.json', 'secrets.json', 'users.json', 'users.tbl', 'main.py'):
    try:
        r['files'][_n] = os.stat(R + '/' + _n)[6]
    except OSError:
        pass
try:
    _s = os.statvfs(R or '/')
    r['fs'] = [_s[0] * _s[2], _s[0] * _s[3]]
except (OSError, AttributeError):
    r['fs'] = None
try:
    import esp
    r['flash_size'] = esp.flash_size()
except (ImportError, AttributeError):
    r['flash_size'] = None
try:
    import esp32
    _p = esp32.Partition.find(esp32.Partition.TYPE_DATA, label='vfs')
    r['vfs'] = list(_p[0].info()[2:4]) if _p else None
except (ImportError, AttributeError):
    r['vfs'] = None
try:
    import gc
    gc.collect()
    r['heap'] = gc.mem_free() + gc.mem_alloc()
except (ImportError, AttributeError):
    r['heap'] = None
try:
    import doorapp
    r['app'] = doorapp.VERSION
except Exception as e:
    r['app'] = None
    r['app_error'] = repr(e)
print(json.dumps(r))
"""

_PINS = """
import json, asyncio
R = %(root)r
def _dc_pins():
    r = {'relays': [], 'inputs': [], 'pn532': None, 'cfg_inputs': {}}
    try:
        import hal
        spec = hal.load_board(R + '/board.json')
        b = hal.open_board(spec, data_dir=R)
    except Exception as e:
        r['board_error'] = str(e)
        return r
    r['spec'] = spec
    r['backend'] = spec['backend']
    try:
        with open(R + '/config.json') as f:
            r['cfg_inputs'] = json.load(f).get('inputs', {})
    except (OSError, ValueError):
        pass
    for x in spec['relays']:
        try:
            o = b.output(x['pin'], x['active'] == 'high')
            r['relays'].append([x['id'], x['pin'], o.is_on(), None])
        except Exception as e:
            r['relays'].append([x['id'], x['pin'], None, repr(e)])
    for x in spec['inputs']:
        try:
            p = b.input(x['pin'], x['pull'])
            r['inputs'].append([x['id'], x['kind'], x['pin'], x['pull'], p.value(), None])
        except Exception as e:
            r['inputs'].append([x['id'], x['kind'], x['pin'], x['pull'], None, repr(e)])
    async def _pn():
        kind, t = await b.pn532_transport()
        if kind == 'uart':
            from pn532.hsu import PN532_HSU
            chip = PN532_HSU(t)
        else:
            from pn532.i2c import PN532_I2C
            chip = PN532_I2C(t[0], t[1])
        return await chip.init()
    try:
        r['pn532'] = list(asyncio.run(asyncio.wait_for(_pn(), %(pn_timeout)d)))
    except Exception as e:
        r['pn532_error'] = repr(e)
    return r
print(json.dumps(_dc_pins()))
"""


def _board_pins(spec):
    """(what, pin, is output, pull) for every pin a board file uses."""
    for r in spec.get("relays", []):
        yield "relay %s" % r["id"], r["pin"], True, "none"
    for i in spec.get("inputs", []):
        yield "input %s" % i["id"], i["pin"], False, i.get("pull", "none")
    for name in ("led", "buzzer"):
        if name in spec:
            yield name, spec[name]["pin"], True, "none"
    for k in ("d0", "d1"):  # Wiegand output to a panel: driven outputs
        if k in spec.get("wiegand_out", {}):
            yield "wiegand_out %s" % k, spec["wiegand_out"][k], True, "none"
    pn = spec.get("pn532", {})
    for k in ("tx", "rx", "sda", "scl"):
        if k in pn:
            yield "pn532 %s" % k, pn[k], k in ("tx", "sda", "scl"), "none"


def _strapping_relay(out, what, pin, strapping, note=""):
    if what.startswith("relay") and pin in strapping:
        out.append(("warning", "%s on GPIO %d: a strapping pin, the relay may click at reset%s" % (what, pin, note)))


def esp32_pin_findings(spec):
    """Static ESP32 pin rules for a board file: [(level, message)], level 'error' or 'warning'."""
    out = []
    psram = spec.get("profile") == "psram"
    for what, pin, output, pull in _board_pins(spec):
        if pin in ESP32_FLASH_PINS:
            out.append(("error", "%s on GPIO %d: GPIOs 6-11 are the SPI flash's" % (what, pin)))
        elif psram and pin in ESP32_PSRAM_PINS:
            out.append(("error", "%s on GPIO %d: GPIOs 16-17 are the PSRAM's on WROVER modules" % (what, pin)))
        elif output and pin in ESP32_INPUT_ONLY:
            out.append(("error", "%s on GPIO %d: GPIOs 34-39 are input-only" % (what, pin)))
        elif pull != "none" and pin in ESP32_INPUT_ONLY:
            out.append(("warning", "%s on GPIO %d: GPIOs 34-39 have no internal pull-%s, fit a resistor"
                        % (what, pin, pull)))
        _strapping_relay(out, what, pin, ESP32_STRAPPING,
                         " and a pulled-up GPIO 12 stops the boot" if pin == 12 else "")
    return out


def esp32s3_pin_findings(spec):
    """Static ESP32-S3 pin rules for a board file (no input-only pins on the S3)."""
    out = []
    octal = stockfw.BUILDS.get(stockfw.board_build(spec, "esp32s3"), (None, None))[1] == "octal"
    for what, pin, _output, _pull in _board_pins(spec):
        if pin in S3_FLASH_PINS:
            out.append(("error", "%s on GPIO %d: GPIOs 26-32 are the SPI flash's and PSRAM's" % (what, pin)))
        elif pin in S3_OCTAL_PINS:
            out.append(("error" if octal else "warning",
                        "%s on GPIO %d: GPIOs 33-37 are the octal PSRAM's and flash's on N8R8/N16R8 (and WROOM-2) "
                        "modules" % (what, pin)))
        elif pin in S3_USB_PINS:
            out.append(("warning", "%s on GPIO %d: GPIOs 19-20 are the USB port's D-/D+ (it stops working)"
                        % (what, pin)))
        elif pin in S3_UART0_PINS:
            out.append(("warning", "%s on GPIO %d: GPIOs 43-44 are UART0, the REPL through the USB-UART bridge"
                        % (what, pin)))
        _strapping_relay(out, what, pin, S3_STRAPPING)
    return out


PIN_RULES = {"esp32": esp32_pin_findings, "esp32s3": esp32s3_pin_findings}


def pin_findings(spec):
    """The board's chip's static pin rules ([] for a chip without rules here)."""
    rules = PIN_RULES.get(spec.get("chip") or "esp32")
    return rules(spec) if rules else []


def memory_row(spec, info, heap):
    """For an esp32 board: does MicroPython's heap fit the board's memory profile? (check, status, text) or None."""
    if heap is None:
        return None
    profile = spec.get("profile", "lean")
    text = "%s profile: MicroPython heap %s KiB" % (profile, "{:,}".format(heap // 1024))
    if profile != "psram":
        return ("memory", "ok", text)
    if heap >= PSRAM_HEAP_MIN:
        return ("memory", "ok", text + " (in PSRAM)")
    chip = spec.get("chip") or "esp32"
    b = stockfw.identify(info.get("machine"))
    return ("memory", "fail", text + ": the PSRAM is not in use (firmware %s); flash %s"
            % (b.machine or "unknown", stockfw.board_build(spec, chip)))


def pn532_hint(spec):
    """What to check when the PN532 is silent, in the board file's own terms."""
    pn = (spec or {}).get("pn532", {})
    if (spec or {}).get("backend") != "esp32":
        return "wiring, HSU mode switches, power"
    if pn.get("bus") == "i2c":
        return ("I2C mode: DIP switch 1 ON, 2 OFF; SDA GPIO %s, SCL GPIO %s, pull-ups; VCC 3V3, GND; power-cycle "
                "after changing switches" % (pn.get("sda"), pn.get("scl")))
    return ("HSU mode: DIP switches 1 and 2 OFF; ESP32 TX GPIO %s -> PN532 RXD, RX GPIO %s <- TXD; VCC 3V3, GND; "
            "power-cycle after changing switches" % (pn.get("tx"), pn.get("rx")))


def pointer(check, status):
    """The guide's section for a check that failed or warned (None when it passed)."""
    return POINTERS.get(check) if status in ("fail", "warn") else None


def check_dicts(rows):
    """assess()'s rows as the report's checks; one that fails or warns carries `see`, its pointer."""
    out = []
    for c, s, t in rows:
        d = {"check": c, "status": s, "text": t}
        if pointer(c, s):
            d["see"] = pointer(c, s)
        out.append(d)
    return out


def report_lines(r):
    """The human report: a line per check, and under a failing or warning one the section to read
    (once for a run of rows with the same pointer)."""
    marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "na": "n/a "}
    lines = []
    checks = r["checks"]
    for i, c in enumerate(checks):
        lines.append("%s %-12s %s" % (marks[c["status"]], c["check"], c["text"]))
        see = c.get("see")
        nxt = checks[i + 1].get("see") if i + 1 < len(checks) else None
        if see and see != nxt:
            lines.append("     %-12s see %s" % ("", see))
    if r["reset"]:
        lines.append("soft reset: the app restarts")
    return lines


def assess(info, probe, pins, pin_rules=True):
    """Turn the board's answers into report lines: [(check, status, text)], status ok/warn/fail/na."""
    rows = []
    ver = ".".join(map(str, info["version"]))
    arch = remote.mpy_arch(info["mpy"])
    mv, ms = remote.mpy_version(info["mpy"])
    rows.append(("micropython", "ok" if (mv, ms) >= (6, 3) else "fail",
                 "MicroPython %s (%s) on %s, %s; mpy %d.%d%s" % (
                     ver, info["release"] or "?", info["platform"], info["machine"], mv, ms,
                     ", arch " + arch if arch else "")))
    if probe["flash_size"] is None:
        rows.append(("flash", "na", "flash size: n/a on this port"))
    else:
        vfs = probe["vfs"]
        rows.append(("flash", "ok", "%d MB flash%s" % (
            probe["flash_size"] >> 20,
            ", vfs partition 0x%x size 0x%x" % (vfs[0], vfs[1]) if vfs else ", no vfs partition found")))
    fs = probe["fs"]
    if fs:
        free = fs[1]
        rows.append(("filesystem", "ok" if free >= 64 * 1024 else "warn",
                     "%d KiB free of %d KiB" % (free // 1024, fs[0] // 1024)))
    else:
        rows.append(("filesystem", "na", "free space: n/a"))
    files = probe["files"]
    if probe.get("app"):
        have = [n for n in ("board.json", "config.json", "secrets.json", "users.json", "users.tbl") if n in files]
        rows.append(("app", "ok", "doorctl %s installed; %s" % (probe["app"], ", ".join(have) or "no settings files")))
    else:
        rows.append(("app", "fail", "doorctl app not installed or broken (%s): `doorctl deploy` or `doorctl flash`"
                     % probe.get("app_error", "no doorapp")))
    if pins is None:
        return rows
    if "board_error" in pins:
        rows.append(("board", "fail", "board file: %s" % pins["board_error"]))
        return rows
    if pins.get("pn532"):
        ic, v, rev, _sup = pins["pn532"]
        rows.append(("pn532", "ok", "PN532 answers: IC 0x%02x, firmware %d.%d" % (ic, v, rev)))
    else:
        rows.append(("pn532", "fail", "PN532 does not answer: %s (%s)"
                     % (pins.get("pn532_error", "no reply"), pn532_hint(pins.get("spec")))))
    for rid, pin, on, err in pins["relays"]:
        if err:
            rows.append(("relay", "fail", "relay %s (GPIO %d): %s" % (rid, pin, err)))
        else:
            rows.append(("relay", "ok" if on is False else "fail",
                         "relay %s (GPIO %d): %s" % (rid, pin, "idle" if on is False else "reads energised at idle")))
    for iid, kind, pin, pull, level, err in pins["inputs"]:
        if err:
            rows.append(("input", "fail", "input %s (GPIO %d): %s" % (iid, pin, err)))
            continue
        trig = pins["cfg_inputs"].get(iid, {}).get("trigger", INPUT_DEFAULT_TRIGGER.get(kind, "low"))
        active = level == (1 if trig == "high" else 0)
        text = "input %s (%s, GPIO %d, pull %s): level %d = %s" % (
            iid, kind, pin, pull, level, ("open" if active else "closed") if kind == "door_sensor"
            else ("ACTIVE" if active else "idle"))
        status = "ok"
        if active and kind == "exit_button":
            status = "warn"
            text += " (button stuck, or wrong trigger level in config)"
        rows.append(("input", status, text))
    if pins.get("backend") == "esp32":
        mem = memory_row(pins["spec"], info, probe.get("heap"))
        if mem:
            rows.append(mem)
    if pin_rules and pins.get("backend") == "esp32":
        for level, msg in pin_findings(pins["spec"]):
            rows.append(("pins", "fail" if level == "error" else "warn", msg))
    return rows


def doctor(port, baud=115200, root="/", reset=True, pn_timeout=3):
    with remote.Board(port, baud, root) as b:
        info = b.info()
        probe = b.eval_json(_PROBE % {"root": b.root})
        pins = None
        if "board.json" in probe["files"] and probe.get("app"):
            pins = b.eval_json(_PINS % {"root": b.root, "pn_timeout": pn_timeout}, timeout=pn_timeout + 10)
        if reset:
            b.soft_reset()
    rows = assess(info, probe, pins)
    return {"port": port, "info": info, "probe": probe, "pins": pins,
            "checks": check_dicts(rows),
            "ok": not any(s == "fail" for _c, s, _t in rows), "reset": reset}


def cmd_doctor(args):
    r = doctor(args.port, args.baud, args.root, not args.no_reset, args.pn532_timeout)
    if args.json:
        print(json.dumps(r, indent=2, sort_keys=True))
    else:
        for line in report_lines(r):
            print(line)
    return 0 if r["ok"] else 1


def register(sub):
    p = sub.add_parser(
        "doctor", help="check a connected board: MicroPython, flash, filesystem, PN532, relays and inputs",
        description="Talk to the board over its REPL (mpremote) and report the MicroPython version, flash size, "
                    "free filesystem, installed app and settings, whether the PN532 answers, and relay/input pin "
                    "sanity. Stops the running app while it checks (relays go idle), then soft-resets. "
                    "Exit status 1 when a check fails; each failing check names the section of docs/hardware.md "
                    "to read.")
    add_connection_args(p)
    p.add_argument("--pn532-timeout", type=int, default=3, help="seconds to wait for the PN532 (default %(default)s)")
    p.add_argument("--no-reset", action="store_true", help="stay in the REPL afterwards")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)

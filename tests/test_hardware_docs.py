"""docs/hardware.md and its wiring diagrams agree with the board files (`doorctl wiring`), and the
pointers `doorctl doctor` prints lead to sections that exist."""
import json
import os
import re
import subprocess
import sys

import pytest

from doorctl import cli, cmd_doctor, cmd_wiring, wiring

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "hardware.md")
REAL = ["esp32-devkitc", "esp32-wrover-e", "esp32s3-devkitc-n16r8"]


def read(rel):
    with open(os.path.join(ROOT, rel)) as f:
        return f.read()


def raw_board(name):
    with open(os.path.join(ROOT, "boards", name + ".json")) as f:
        return json.load(f)


def gpios_of(spec):
    """Every GPIO a board file names, read here from the raw JSON (not through doorctl.wiring)."""
    out = []
    for key, val in spec.items():
        if key in ("relays", "inputs"):
            out += [x["pin"] for x in val]
        elif key in ("led", "buzzer"):
            out.append(val["pin"])
        elif key in ("pn532", "qr_scanner", "wiegand", "wiegand_out"):
            out += [val[k] for k in ("tx", "rx", "sda", "scl", "d0", "d1") if k in val]
        elif key == "keypad":
            out += val["rows"] + val["cols"]
    return sorted(out)


def svg_gpios(text):
    return sorted(int(n) for n in re.findall(r">GPIO (\d+)</text>", text))


def slug(heading):
    """GitHub's anchor for a Markdown heading."""
    s = heading.strip().lower().replace("`", "")
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(rel):
    return {slug(m) for m in re.findall(r"^#+ (.+)$", read(rel), re.M)}


def test_the_real_boards_are_the_ones_drawn():
    assert wiring.real_boards() == REAL


@pytest.mark.parametrize("name", REAL)
def test_committed_diagram_shows_every_pin_of_its_board_file(name):
    text = read("docs/img/wiring-%s.svg" % name)
    assert text.startswith("<svg xmlns=") and text.rstrip().endswith("</svg>")
    assert svg_gpios(text) == gpios_of(raw_board(name))  # each pin once, none the board file lacks
    assert "boards/%s.json" % name in text
    assert "![Wiring of %s](img/wiring-%s.svg)" % (name, name) in read("docs/hardware.md")


def test_diagrams_and_tables_are_what_the_board_files_make():
    """Regenerated from the board files, the diagrams and docs/hardware.md are byte for byte the
    committed ones: edit a board file and this fails until `doorctl wiring --docs` is run."""
    want = cmd_wiring.doc_outputs()
    assert sorted(want) == ["docs/hardware.md"] + ["docs/img/wiring-%s.svg" % n for n in REAL]
    for rel, text in want.items():
        assert read(rel) == text, "%s is stale: run `doorctl wiring --docs`" % rel


def table_rows(name):
    doc = read("docs/hardware.md")
    start, end = wiring.table_markers(name)
    body = doc.split(start, 1)[1].split(end, 1)[0]
    rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in body.strip().splitlines()]
    assert rows[0][0] == "function" and "GPIO" in rows[0][1]
    return rows[0], rows[2:]


@pytest.mark.parametrize("name", REAL)
def test_doc_table_pins_match_the_board_file(name):
    spec = raw_board(name)
    head, rows = table_rows(name)
    by_kind = {i["kind"]: i["pin"] for i in spec["inputs"]}
    relays = {r["id"]: r for r in spec["relays"]}
    seen = []
    for row in rows:
        fn, gpio = row[0], int(row[1])
        if fn.startswith("PN532 RXD"):
            want = spec["pn532"]["tx"]  # the ESP32 transmits into the PN532's RXD
        elif fn.startswith("PN532 TXD"):
            want = spec["pn532"]["rx"]
        elif fn.startswith("Relay "):
            r = relays[int(fn.split()[1])]
            want = r["pin"]
            assert "active %s" % r["active"] in row[-1]
        elif fn.startswith("Exit button"):
            want = by_kind["exit_button"]
        elif fn.startswith("Door sensor"):
            want = by_kind["door_sensor"]
        elif fn == "Status LED":
            want = spec["led"]["pin"]
        elif fn == "Buzzer":
            want = spec["buzzer"]["pin"]
        elif fn.startswith("Wiegand output D"):
            want = spec["wiegand_out"]["d" + fn[-1]]
            assert "open-drain buffer" in row[-1]  # never straight to a 5 V panel input
        else:
            raise AssertionError("unexpected row %r" % row)
        assert gpio == want, row
        seen.append(gpio)
    assert sorted(seen) == gpios_of(spec)
    if name == "esp32s3-devkitc-n16r8":  # its wires sit on header J1, pins 4-11
        assert head[2] == "header pin"
        assert sorted(int(r[2].split("-")[1]) for r in rows) == list(range(4, 12)) + [16, 17]  # + Wiegand out


def test_every_board_file_on_the_header_j1_map_is_consistent():
    """The S3 header map never gives two GPIOs one header pin."""
    for name, pins in wiring.HEADERS.items():
        assert len(set(pins.values())) == len(pins), name


def board_variant(tmp_path, **changes):
    spec = raw_board("esp32-devkitc")
    spec.update(changes)
    p = tmp_path / "variant.json"
    p.write_text(json.dumps(spec))
    return p


def test_a_board_with_every_part_draws_every_pin(tmp_path):
    p = board_variant(tmp_path, pn532={"bus": "i2c", "i2c": 0, "sda": 21, "scl": 22},
                      relays=[{"id": 1, "pin": 26, "active": "low"}, {"id": 2, "pin": 27}, {"id": 3, "pin": 14}],
                      inputs=[{"id": "exit", "kind": "exit_button", "pin": 32, "pull": "up"},
                              {"id": "door", "kind": "door_sensor", "pin": 33, "pull": "up"},
                              {"id": "tamper", "kind": "generic", "pin": 39}],
                      led={"pin": 2, "active": "low"},
                      wiegand={"d0": 34, "d1": 35}, keypad={"rows": [4, 13, 15, 18], "cols": [19, 23, 5]},
                      qr_scanner={"uart": 1, "tx": 12, "rx": 36})
    _path, spec = wiring.load(str(p))
    text = wiring.svg(spec)
    assert svg_gpios(text) == gpios_of(json.loads(p.read_text()))
    assert "DIP switches: 1 ON, 2 OFF = I2C" in text and "PN532 NFC module, I2C" in text
    assert "Relay module (3 channels)" in text and "IN1 pulled low energises relay 1" in text
    assert "no pull inside: fit 10 kΩ to 3V3" in text  # the generic input without a pull
    assert "Wiegand reader or keypad" in text and "3x4 matrix keypad" in text and "QR scanner module" in text
    rows = wiring.table(spec).splitlines()[2:]
    assert len(rows) == len(gpios_of(spec))
    assert "| Relay 1 (door lock) | 26 | relay module IN1, active low |" in rows
    assert "| Status LED | 2 | LED cathode via 330 Ω, anode to 3V3 |" in rows


def test_the_diagram_draws_the_lock_on_no_and_nc_with_its_diode():
    _path, spec = wiring.load("esp32-devkitc")
    text = wiring.svg(spec)
    for words in ("NO: fail-secure strike", "NC: fail-safe strike or maglock", "1N4007 flyback", "+12V",
                  "buck converter 12 V → 5 V", "DIP switches: 1 OFF, 2 OFF = HSU (UART)"):
        assert words in text


def test_wiring_cli(tmp_path, capsys):
    out = tmp_path / "w.svg"
    assert cli.main(["wiring", "--board", "esp32-wrover-e", "-o", str(out)]) == 0
    assert capsys.readouterr().out == "%s: diagram of esp32-wrover-e (10 GPIOs)\n" % out  # 8 + the Wiegand output
    assert svg_gpios(out.read_text()) == gpios_of(raw_board("esp32-wrover-e"))
    assert "boards/esp32-wrover-e.json" in out.read_text()
    assert cli.main(["wiring", "--board", "esp32-devkitc", "--table"]) == 0
    assert "| Relay 1 (door lock) | 26 |" in capsys.readouterr().out
    assert cli.main(["wiring", "--docs", "--check"]) == 0
    assert capsys.readouterr().out == "wiring diagrams and tables match the board files\n"


@pytest.mark.parametrize("args, words", [
    (["--board", "sim"], "sim.json: backend sim: a simulator board has no wiring to draw"),
    (["--board", "nope/missing.json"], "cannot read board file nope/missing.json"),
    ([], "give --board NAME|PATH (or --docs)"),
    (["--board", "esp32-devkitc", "--check"], "--check goes with --docs"),
])
def test_wiring_cli_errors_are_one_line(args, words, capsys):
    assert cli.main(["wiring"] + args) == 1
    err = capsys.readouterr().err
    assert err.startswith("doorctl: error: ") and words in err and err.count("\n") == 1


def test_a_bad_board_file_is_named_with_its_field(tmp_path):
    bad = board_variant(tmp_path, relays=[{"id": 1, "pin": 99}])
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "host_tools"), DOORCTL_ROOT=ROOT)
    r = subprocess.run([sys.executable, "-m", "doorctl.cli", "wiring", "--board", str(bad)], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == "doorctl: error: %s: relays[0].pin: GPIO number out of range 0-48: 99\n" % bad
    r = subprocess.run([sys.executable, "-m", "doorctl.cli", "wiring", "--help"], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 0 and "--board" in r.stdout and "--docs" in r.stdout


def test_doc_links_inside_the_guide_resolve():
    have = anchors("docs/hardware.md")
    for target in re.findall(r"\]\(#([^)]+)\)", read("docs/hardware.md")):
        assert target in have, target
    for rel in re.findall(r"\]\(([^)#:]+\.md)[)#]", read("docs/hardware.md")):
        assert os.path.exists(os.path.normpath(os.path.join(ROOT, "docs", rel))), rel


def test_doctor_pointers_lead_to_existing_sections():
    assert cmd_doctor.POINTERS  # every check that can fail or warn points somewhere
    for check, ref in cmd_doctor.POINTERS.items():
        rel, _, anchor = ref.partition("#")
        assert os.path.exists(os.path.join(ROOT, rel)), ref
        if anchor:
            assert anchor in anchors(rel), ref
    hw = anchors("docs/hardware.md")
    for a in ("pn532-does-not-answer", "relay-active-level", "an-input-is-stuck", "choosing-other-pins"):
        assert a in hw


def test_doctor_report_points_failing_checks_to_the_guide():
    """A board whose PN532 is silent, relay 1 reads energised and exit button reads pressed: each
    failing or warning row is followed by the guide's section; passing rows are not."""
    spec = raw_board("esp32-devkitc")
    info = {"version": [1, 26, 1], "release": "1.26.1", "platform": "esp32", "mpy": 0xA06 | (3 << 8),
            "machine": "Generic ESP32 module with ESP32"}
    probe = {"flash_size": 4 << 20, "vfs": [0x200000, 0x200000], "fs": [2 << 20, 1 << 20], "files": {"board.json": 1},
             "app": "1.0", "heap": 110 << 10}
    pins = {"relays": [[1, 26, True, None], [2, 27, False, None]],
            "inputs": [["exit", "exit_button", 32, "up", 0, None], ["door", "door_sensor", 33, "up", 0, None]],
            "pn532_error": "PN532Timeout()", "cfg_inputs": {}, "backend": "esp32", "spec": spec}
    checks = cmd_doctor.check_dicts(cmd_doctor.assess(info, probe, pins))
    by = {(c["check"], c["text"].split(":")[0]): c for c in checks}
    pn = by[("pn532", "PN532 does not answer")]
    assert pn["status"] == "fail" and pn["see"] == "docs/hardware.md#pn532-does-not-answer"
    assert "DIP switches 1 and 2 OFF; ESP32 TX GPIO 17 -> PN532 RXD, RX GPIO 16 <- TXD" in pn["text"]
    assert by[("relay", "relay 1 (GPIO 26)")]["see"] == "docs/hardware.md#relay-active-level"
    assert "see" not in by[("relay", "relay 2 (GPIO 27)")]
    assert [c for c in checks if c["check"] == "micropython"][0]["status"] == "ok"
    assert all("see" not in c for c in checks if c["status"] in ("ok", "na"))
    assert by[("input", "input exit (exit_button, GPIO 32, pull up)")]["see"] == "docs/hardware.md#an-input-is-stuck"
    assert "see" not in by[("input", "input door (door_sensor, GPIO 33, pull up)")]  # closed: fine
    lines = cmd_doctor.report_lines({"checks": checks, "reset": False})
    i = [n for n, ln in enumerate(lines) if ln.startswith("FAIL pn532")][0]
    assert lines[i + 1].split() == ["see", "docs/hardware.md#pn532-does-not-answer"]
    assert sum("see docs/hardware.md" in ln for ln in lines) == 3  # pn532, relay 1, the exit button
    # i2c: the hint names its switches and pins
    spec["pn532"] = {"bus": "i2c", "i2c": 0, "sda": 21, "scl": 22}
    assert "I2C mode: DIP switch 1 ON, 2 OFF; SDA GPIO 21, SCL GPIO 22" in cmd_doctor.pn532_hint(spec)


def test_doctor_points_pin_rule_findings_once_per_run():
    spec = raw_board("esp32-devkitc")
    spec["relays"][0]["pin"], spec["relays"][1]["pin"] = 12, 15
    rows = [("pins", "warn" if lvl == "warning" else "fail", msg) for lvl, msg in cmd_doctor.pin_findings(spec)]
    assert len(rows) == 2
    lines = cmd_doctor.report_lines({"checks": cmd_doctor.check_dicts(rows), "reset": True})
    assert [ln.split()[-1] for ln in lines if "see " in ln] == ["docs/hardware.md#choosing-other-pins"]
    assert lines[-1] == "soft reset: the app restarts"

"""`doorctl users build|validate|show|export`: every error at once with line numbers (CSV and
JSON), and a built table the device reads."""
import json

import pytest
from doorctl.cli import main
from usertable.table import UserTable

KEY_HEX = "00112233445566778899aabbccddeeff" * 2

GOOD_CSV = """id,name,role,cards,pin,qr,ble,plates,relays,floors,web_relay,relay_schedule_activation,valid_from,valid_to,schedules
1001,Ann Smith,user,04A1B2C3;de:ad:be:ef,4711,12345678,a1b2c3d4e5f6,AB-12 CDE;XY99ZZZ@2026-06-01T00:00/2026-06-30T23:59,1;2,3;4,0,false,2026-01-01T00:00,2027-01-01T00:00,Office
1002,Bob,admin,CAFEBABE,,,,,1,,7,yes,,,Always|Late
"""

BAD_CSV = """id,name,cards,pin,plates,relays,schedules,valid_from,valid_to
1001,Ann,04A1B2C3,4711,AB12CDE,1,,,
1002,Bob,04a1b2c3,1,,3,Nowhere,2026-13-01,
1001,Dup,,,,1,,,

1003,Carl,01;02;03;04;05;06,4711,ab12cde,9,,,2020-01-01
x,Dan,,,,,,,,extra
1004,Eve,11111111,12345,,1,,2026-05-01,2026-04-01
"""

SCHEDULES = {"schedules": [
    {"id": 2, "name": "Office", "weekly": [{"days": "mon-fri", "from": "08:00", "to": "18:00"}],
     "dates": [{"from": "2026-01-01", "to": "2026-12-31"}], "holidays": ["2026-12-25"]},
    {"id": 3, "name": "Late", "weekly": [{"days": "sat", "from": "22:00", "to": "02:00"}]}]}


@pytest.fixture
def files(tmp_path):
    (tmp_path / "site.key").write_text(KEY_HEX + "\n")
    (tmp_path / "sched.json").write_text(json.dumps(SCHEDULES, indent=1))
    return tmp_path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_csv_reports_every_error_with_its_line(files, capsys):
    (files / "users.csv").write_text(BAD_CSV)
    code, out, err = run(capsys, "users", "validate", files / "users.csv", "--schedules", files / "sched.json",
                         "--site-key-file", files / "site.key", "--relays", "1,2")
    assert code == 1
    lines = [x for x in err.splitlines() if x.startswith(str(files / "users.csv") + ":")]
    got = [x.split(": ", 1)[0].rsplit(":", 1)[1] + " " + x.split(": ")[1] for x in lines]
    expected = [
        "3 users[1].cards[0]",  # card owned twice (normalised)
        "3 users[1].pin",  # bad PIN length
        "3 users[1].relays",  # unknown relay
        "3 users[1].schedules",  # unknown schedule
        "3 users[1].valid_from",  # malformed date
        "4 users[2].id",  # duplicate id
        "6 users[3].cards",  # too many cards
        "6 users[3].pin",  # PIN owned twice
        "6 users[3].plates[0]",  # plate owned twice
        "6 users[3].relays",  # relay out of range
        "7 users[4]",  # extra cells
        "7 users[4].id",  # not a number
        "8 users[5].valid_to",  # before valid_from
    ]
    for e in expected:
        assert any(g == e for g in got), (e, got)
    assert "card 04A1B2C3 already belongs to user 1001 (line 2)" in err
    assert "user id 1001 already used (line 2)" in err
    assert "this PIN already belongs to user 1001 (line 2)" in err
    assert "4711" not in err.split("users[3].pin")[1].split("\n")[0]  # secrets are not echoed
    assert "error(s) in" in err


def test_validate_json_lines_and_schedule_errors(files, capsys):
    doc = """{
  "schedules": [
    {"id": 1, "name": "Office", "weekly": [{"days": "mon-xyz", "from": "8:00", "to": "18:00"}]}
  ],
  "users": [
    {"id": 1, "cards": ["04A1B2C3"]},
    {"id": 2,
     "cards": ["04A1B2C3"],
     "valid_to": "2026-02-30",
     "colour": "red"},
    {"id": 3, "ble": "zz"}
  ]
}
"""
    (files / "users.json").write_text(doc)
    code, out, err = run(capsys, "users", "validate", files / "users.json", "--json")
    assert code == 1
    errs = json.loads(out)["errors"]
    at = {(e["line"], e["field"]) for e in errs}
    assert (3, "schedules[0].id") in at and (3, "schedules[0].weekly[0].days") in at
    assert (3, "schedules[0].weekly[0].from") in at
    assert (8, "users[1].cards[0]") in at and (9, "users[1].valid_to") in at and (10, "users[1].colour") in at
    assert (11, "users[2].ble") in at
    (files / "broken.json").write_text('{"users": [\n  {"id": 1},\n  {"id": 2,}\n]}')
    code, out, err = run(capsys, "users", "validate", files / "broken.json")
    assert code == 1 and "broken.json:3: not valid JSON" in err


def test_secrets_need_a_site_key(files, capsys):
    (files / "users.csv").write_text(GOOD_CSV)
    code, out, err = run(capsys, "users", "build", files / "users.csv", "-o", files / "users.tbl",
                         "--schedules", files / "sched.json")
    assert code == 1 and "no site key" in err and not (files / "users.tbl").exists()


def test_build_show_export_and_device_reads_it(files, capsys):
    (files / "users.csv").write_text(GOOD_CSV)
    tbl = files / "flash" / "users.tbl"
    tbl.parent.mkdir()
    code, out, err = run(capsys, "users", "build", files / "users.csv", "-o", tbl, "--schedules",
                         files / "sched.json", "--site-key-file", files / "site.key", "--serial", "77", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["users"] == 2 and info["entries"] == {"card": 3, "pin": 1, "qr": 1, "ble": 1, "plate": 2}
    assert info["serial"] == 77 and info["size"] == tbl.stat().st_size

    code, out, err = run(capsys, "users", "show", tbl, "--json")
    show = json.loads(out)
    assert code == 0 and show["checksum_ok"] and show["users"] == 2 and show["card_format"] == "8HN"
    assert show["schedules"] == 2 and show["site_key_check"] and show["indexes"]["card"]["entries"] == 3
    code, out, err = run(capsys, "users", "show", tbl)
    assert "2 users, card format 8HN" in out and "checksum" in out

    t = UserTable.open(str(tbl.parent), site_key=bytes.fromhex(KEY_HEX), card_format="8HN")
    ann = t.by_card("DEADBEEF")
    assert ann.id == 1001 and ann.name == "Ann Smith" and ann.relays == 3 and ann.floors == 0b1100
    assert t.by_pin("4711").id == 1001 and t.by_qr("12345678").id == 1001 and t.by_ble("A1B2C3D4E5F6").id == 1001
    assert t.by_plate("AB12CDE").id == 1001 and t.by_plate("XY99ZZZ").plate_to == 1782863940
    bob = t.by_id(1002)
    assert bob.role == 1 and bob.rsa and bob.web_relay == 7 and bytes(bob.schedules) == b"\x00\x03"
    assert [s["name"] for s in t.schedules] == ["Office", "Late"]
    t.close()

    code, out, err = run(capsys, "users", "export", tbl, "-o", files / "out.json")
    assert code == 0 and "3 PIN/QR/BLE credentials not exported" in out
    doc = json.loads((files / "out.json").read_text())
    ann = doc["users"][0]
    assert ann["cards"] == ["04A1B2C3", "DEADBEEF"] and ann["valid_to"] == "2027-01-01T00:00"
    assert ann["plates"][1] == {"plate": "XY99ZZZ", "from": "2026-06-01T00:00", "to": "2026-06-30T23:59"}
    assert ann["schedules"] == ["Office"] and "pin" not in ann
    assert doc["schedules"][0]["weekly"][0]["from"] == "08:00"
    # the export validates and rebuilds (without secrets) to the same users
    code, out, err = run(capsys, "users", "validate", files / "out.json")
    assert code == 0, err


def test_card_format_option_and_mismatch(files, capsys):
    (files / "u.json").write_text(json.dumps({"users": [{"id": 1, "cards": ["77705923"]}]}))
    d = files / "flash"
    d.mkdir()
    code, out, err = run(capsys, "users", "build", files / "u.json", "-o", d / "users.tbl", "--card-format", "10D")
    assert code == 0, err
    t = UserTable.open(str(d), card_format="10D")
    assert t.by_card("0077705923").id == 1
    t.close()
    with pytest.raises(Exception) as e:
        UserTable.open(str(d), card_format="8HN")
    assert "10D" in str(e.value) and "8HN" in str(e.value)
    code, out, err = run(capsys, "users", "build", files / "u.json", "-o", d / "x.tbl", "--tz", "Europe/Berlin")
    assert code == 1 and "POSIX rule" in err


def test_local_times_use_the_site_tz_rule(files, capsys):
    (files / "u.json").write_text(json.dumps({"users": [
        {"id": 1, "valid_from": "2026-07-01T08:00", "valid_to": "2026-12-31",
         "plates": [{"plate": "AB1", "from": "2026-03-29T02:30"}]}]}))
    d = files / "flash"
    d.mkdir()
    cet = "CET-1CEST,M3.5.0,M10.5.0/3"
    code, out, err = run(capsys, "users", "build", files / "u.json", "-o", d / "users.tbl", "--tz", cet)
    assert code == 0, err
    t = UserTable.open(str(d))
    r = t.by_id(1)
    assert r.valid_from == 1782885600  # 06:00 UTC (CEST)
    assert r.valid_to == 1798757999  # 2026-12-31 23:59:59 CET
    assert t.by_plate("AB1").plate_from == 1774747800  # skipped hour: 01:30 UTC
    t.close()
    code, out, err = run(capsys, "users", "export", d / "users.tbl", "--tz", cet)
    doc = json.loads(out)
    assert doc["users"][0]["valid_from"] == "2026-07-01T08:00" and doc["users"][0]["valid_to"] == "2026-12-31T23:59"


def test_show_detects_damage(files, capsys):
    (files / "u.json").write_text(json.dumps({"users": [{"id": i, "cards": ["%08X" % i]} for i in range(1, 50)]}))
    code, out, err = run(capsys, "users", "build", files / "u.json", "-o", files / "users.tbl")
    data = bytearray((files / "users.tbl").read_bytes())
    data[100] ^= 0xFF
    (files / "users.tbl").write_bytes(bytes(data))
    code, out, err = run(capsys, "users", "show", files / "users.tbl")
    assert code == 1 and "BAD" in out


@pytest.mark.parametrize("text, line, says", [
    ('id,name,cards\n1,"Alice,04A1B2C3\n2,Bob,DEADBEEF\n3,Carol,01020304\n', 2, "never closed"),
    ('id,name,cards\n1,"Alice,04A1B2C3\n2,Bob,"DEADBEEF"\n3,x,01020304\n', 2, "runs on to line 3"),
    ('id,name,cards\n1,Al,04A1B2C3\n2,"Bo"b,DEADBEEF\n', 3, "malformed CSV"),
])
def test_a_csv_quote_left_open_is_reported_at_its_line(files, capsys, text, line, says):
    (files / "users.csv").write_text(text)
    code, out, err = run(capsys, "users", "validate", files / "users.csv")
    assert code == 1
    assert "%s:%d: " % (files / "users.csv", line) in err and says in err, err

"""The same table file (and journal) reads identically under CPython and MicroPython, whichever
interpreter wrote it: a host-built table, MicroPython edits, MicroPython compaction, CPython
edits."""
import json
import os
import subprocess
import sys

from mpy import ROOT, run_micropython
from usertable import build, validate, validate_list

KEY = bytes(range(7, 39))

DUMP = r'''
import sys, json
from binascii import unhexlify
from usertable.table import UserTable
d, probes, key = sys.argv[1], sys.argv[2], unhexlify(sys.argv[3])
t = UserTable.open(d, site_key=key, card_format="8HN", compact_at=1000)
st = t.stats()
print(json.dumps(["stats", st["users"], st["serial"], st["size"], st["journal_entries"], st["ram"]]))
with open(probes) as f:
    for line in f:
        kind, value = json.loads(line)
        r0 = t.reads
        r = getattr(t, "by_" + kind)(value)
        out = None if r is None else [r.to_dict(), r.plate_from, r.plate_to, r.source]
        print(json.dumps([kind, value, out, t.reads - r0]))
for u in t.iter_users():
    print(json.dumps(["user", u]))
t.close()
'''

EDIT = r'''
import sys, json
from binascii import unhexlify
from usertable.table import UserTable
d, ops, key = sys.argv[1], sys.argv[2], unhexlify(sys.argv[3])
t = UserTable.open(d, site_key=key, card_format="8HN", compact_at=1000)
with open(ops) as f:
    for line in f:
        op = json.loads(line)
        if op[0] == "put":
            t.add_or_replace(op[1])
        elif op[0] == "delete":
            t.delete(op[1])
        else:
            t.compact()
print("ok", t.count)
t.close()
'''


def _user(i):
    u = {"id": 10 + 37 * i, "name": "N\u00e4me %d" % i, "cards": ["%08X" % (0x12340000 + i * 3)]}
    if i % 2:
        u["cards"].append("%08X" % (0xAB000000 + i))
        u["pin"] = "%06d" % i
    if i % 3 == 0:
        u["plates"] = [{"plate": "K%dL" % i, "from": "2026-02-01", "to": "2026-03-01T12:00"}, "Z%d" % i]
    if i % 4 == 0:
        u.update({"qr": "qr-%d" % i, "ble": "%012x" % (i * 991), "relays": [1, 3], "floors": [2, 31],
                  "role": "admin", "web_relay": 3, "valid_from": "2026-01-01T07:00", "valid_to": "2027-01-01",
                  "schedules": ["Day", "Always"], "phone": "sip:%d" % i, "relay_schedule_activation": True})
    return u


def _probes(users):
    out = []
    for u in users:
        out += [["id", u["id"]]] + [["card", c] for c in u.get("cards", [])]
        for k in ("pin", "qr", "ble"):
            if k in u:
                out.append([k, u[k]])
        out += [["plate", p if isinstance(p, str) else p["plate"]] for p in u.get("plates", [])]
    out += [["card", "00000000"], ["card", "FFFFFFFF"], ["pin", "000000"], ["plate", "NOPE"], ["id", 1],
            ["id", 4294967294], ["qr", "none"], ["ble", "ABCD"], ["card", "1234000"], ["card", "bad"]]
    return out


def _write_lines(path, items):
    with open(path, "w") as f:
        for x in items:
            f.write(json.dumps(x) + "\n")


def _dump_both(tmp_path, d, probes):
    script = tmp_path / "dump.py"
    script.write_text(DUMP)
    args = [str(script), str(d), str(probes), KEY.hex()]
    r = run_micropython(args, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "host_tools", "doorctl", "_shims"),
                                         os.path.join(ROOT, "lib")])
    c = subprocess.run([sys.executable] + args, capture_output=True, text=True, env=env, timeout=120)
    assert c.returncode == 0, c.stderr
    mp = [json.loads(x) for x in r.stdout.splitlines()]
    cp = [json.loads(x) for x in c.stdout.splitlines()]
    assert len(mp) == len(cp)
    for a, b in zip(mp, cp):
        assert a == b
    return cp


def _edit(tmp_path, d, ops, micropython=True):
    script = tmp_path / "edit.py"
    script.write_text(EDIT)
    opsf = tmp_path / "ops.jsonl"
    _write_lines(opsf, ops)
    args = [str(script), str(d), str(opsf), KEY.hex()]
    if micropython:
        r = run_micropython(args, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
    else:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "host_tools", "doorctl", "_shims"),
                                             os.path.join(ROOT, "lib")])
        r = subprocess.run([sys.executable] + args, capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == 0, r.stderr


def test_same_reads_under_cpython_and_micropython(tmp_path):
    users = [_user(i) for i in range(400)]
    ctx = validate.Ctx("8HN", site_key=KEY, collect=True)
    sched, norm = validate_list.document({"users": users, "schedules": [
        {"id": 5, "name": "Day", "weekly": [{"days": "mon-sun", "from": "06:00", "to": "22:00"}],
         "holidays": ["2026-12-25"]}]}, ctx)
    assert not ctx.errors
    d = tmp_path / "flash"
    d.mkdir()
    build.build_file(str(d / "users.tbl"), sched, norm, ctx.fid, 4242, ctx.keyed, 1700000000)
    probes = tmp_path / "probes.jsonl"
    extra = [["card", "0A0A0A0A"], ["pin", "424242"], ["id", 5], ["card", "%08X" % 0x12340000]]
    _write_lines(probes, _probes(users) + extra)

    out = _dump_both(tmp_path, d, probes)
    hits = [x for x in out if x[0] not in ("stats", "user") and x[2] is not None]
    assert len(hits) > 1500 and all(x[3] <= 2 for x in out if x[0] not in ("stats", "user"))
    assert out[0][1:5] == [400, 4242, os.path.getsize(d / "users.tbl"), 0]

    # MicroPython edits the table through its journal: both read the same
    _edit(tmp_path, d, [["put", {"id": 5, "cards": ["0A0A0A0A"], "pin": "424242", "name": "\u00fcber"}],
                        ["put", {"id": 10, "name": "replaced", "cards": []}], ["delete", 47],
                        ["put", {"id": 4294967294, "plates": ["MAX1"]}]])
    out = _dump_both(tmp_path, d, probes)
    assert out[0][1] == 400 + 2 - 1 and out[0][4] == 4
    got = {(x[0], str(x[1])): x[2] for x in out if x[0] != "stats" and x[0] != "user"}
    assert got[("card", "0A0A0A0A")][0]["id"] == 5 and got[("pin", "424242")][3] == 1
    assert got[("card", "%08X" % 0x12340000)] is None and got[("id", "47")] is None

    # MicroPython compacts: both read the new table
    _edit(tmp_path, d, [["compact"]])
    out2 = _dump_both(tmp_path, d, probes)
    assert out2[0][2] == 4243 and out2[0][4] == 0

    def answers(lines):  # lookups and export, minus read counts and journal/table source
        return [x if x[0] == "user" else [x[0], x[1], x[2] and x[2][:3]] for x in lines[1:]]

    assert answers(out) == answers(out2)  # same answers after compaction

    # CPython edits, MicroPython reads the journal CPython wrote
    _edit(tmp_path, d, [["delete", 5], ["put", {"id": 6, "cards": ["0A0A0A0A"]}]], micropython=False)
    out3 = _dump_both(tmp_path, d, probes)
    got = {(x[0], str(x[1])): x[2] for x in out3 if x[0] not in ("stats", "user")}
    assert got[("card", "0A0A0A0A")][0]["id"] == 6 and got[("pin", "424242")] is None

"""The simulated radio from the host: `doorctl sim fob|radio|ble` and the control channel's
`fob`, `emit`, `radio`, `ble`, `central` against a running simulator (errors name the field or
option), the door-advert decoding of `doorctl sim ble`, and the board layer's BLE hook (only
hal/esp32.py imports `bluetooth`). The radio's behaviour itself (IRQs, duty cycle, RSSI model,
pairing) is tested in tests/device/test_sim_radio.py, under both interpreters."""
import json
import os
import subprocess
import sys
import time
import types

import pytest

from simproc import ROOT, Sim

DOORCTL = os.path.join(os.path.dirname(sys.executable), "doorctl")
FOB = "C0:FF:EE:00:10:01"


def doorctl(*args, timeout=30):
    return subprocess.run([DOORCTL] + list(args), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = Sim(tmp_path_factory.mktemp("radio"))
    yield s
    s.stop()


def cli_json(sim, *args):
    r = doorctl("sim", *args, "--json", "--control", sim.control)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def emitters(sim):
    return {e["key"]: e for e in cli_json(sim, "radio")["emitters"]}


def test_help():
    for cmd in ("fob", "radio", "ble"):
        r = doorctl("sim", cmd, "--help")
        assert r.returncode == 0 and "usage: doorctl sim " + cmd in r.stdout, r.stdout + r.stderr


def test_fob_radio_ble_against_a_running_simulator(sim):
    ans = cli_json(sim, "fob", FOB, "--distance", "2")
    assert (ans["key"], ans["address"], ans["distance"], ans["addr_type"], ans["rssi_1m"], ans["interval_ms"]) == (
        "fob:" + FOB, FOB, 2.0, 1, -59, 200)
    r = doorctl("sim", "fob", FOB, "--distance", "3.5", "--interval-ms", "100", "--rssi-1m", "-62",
                "--control", sim.control)
    assert r.returncode == 0 and r.stdout.strip() == "fob %s at 3.50 m (every 100 ms, -62 dBm at 1 m)" % FOB, r
    e = emitters(sim)["fob:" + FOB]
    assert (e["distance"], e["interval_ms"], e["rssi_1m"], e["walking"]) == (3.5, 100, -62, False)

    radio = cli_json(sim, "radio", "--noise-db", "2.5", "--background", "30", "--seed", "7")
    assert (radio["noise_db"], radio["background"], radio["seed"]) == (2.5, 30, 7)
    assert radio["active"] is False and radio["scanning"] is False  # the firmware has no BLE yet
    r = doorctl("sim", "radio", "--control", sim.control)
    assert r.returncode == 0 and "noise 2.5 dB, background 30 adverts/s, seed 7" in r.stdout, r
    assert FOB in r.stdout and "3.50 m" in r.stdout

    # a walk: 12 m -> 1 m at 100 m/s is over in 0.11 s; polled, not timed
    ans = cli_json(sim, "fob", "C0:FF:EE:00:10:02", "--distance", "12", "--to", "1", "--speed", "100")
    assert ans["walking"] is True
    deadline = time.time() + 10
    while emitters(sim)["fob:C0:FF:EE:00:10:02"]["walking"]:
        assert time.time() < deadline, "the walk never ended"
        time.sleep(0.05)
    assert emitters(sim)["fob:C0:FF:EE:00:10:02"]["distance"] == 1.0

    ans = cli_json(sim, "fob", "C0:FF:EE:00:10:03", "--distance", "1", "--ibeacon",
                   "E2C56DB5-DFFB-48D2-B060-D0F5A71096E0", "--major", "1", "--minor", "2", "--power", "-61")
    assert ans["rssi_1m"] == -61  # the beacon's measured power is its 1 m reference
    ans = cli_json(sim, "fob", "C0:FF:EE:00:10:03", "--distance", "4")  # moved: the rest stays
    assert (ans["distance"], ans["rssi_1m"], ans["interval_ms"]) == (4.0, -61, 200)
    r = doorctl("sim", "fob", FOB, "--distance", "2", "--control", sim.control)
    assert "(every 100 ms, -62 dBm at 1 m)" in r.stdout, r.stdout  # its earlier settings stay

    r = doorctl("sim", "fob", FOB, "--distance", "off", "--control", sim.control)
    assert r.returncode == 0 and r.stdout.strip() == "fob %s removed" % FOB
    assert "fob:" + FOB not in emitters(sim)
    r = doorctl("sim", "fob", FOB, "--distance", "off", "--control", sim.control)
    assert r.stdout.strip() == "fob %s was not on the air" % FOB

    b = cli_json(sim, "ble", "--distance", "2")
    assert (b["active"], b["advertising"], b["adv"], b["resp"], b["connections"], b["rssi"]) == (
        False, False, "", "", [], None)
    assert len(b["address"]) == 17 and b["gap_name"] == "ESP32"
    r = doorctl("sim", "ble", "--control", sim.control)
    assert r.returncode == 0 and "door radio: off" in r.stdout and "connections: none" in r.stdout


def test_emit_and_central_over_the_control_channel(sim):
    ans = sim.call("emit", key="phone-1", addr="D0:11:22:33:44:55", adv=["020106", "0201060303aafe"],
                   interval_ms=50, distance=0.8, exponent=2.2, adv_type=3)
    assert (ans["key"], ans["address"], ans["distance"], ans["interval_ms"], ans["exponent"]) == (
        "phone-1", "D0:11:22:33:44:55", 0.8, 50, 2.2)
    ans = sim.call("emit", key="phone-1", addr="D0:11:22:33:44:55", adv="020106", distance=1.5, to=3, speed=0.5)
    assert ans["walking"] is True and ans["distance"] == 1.5
    e = emitters(sim)["phone-1"]
    assert e["addr_type"] == 1 and e["distance"] >= 1.5
    assert sim.call("emit", key="phone-1", distance="off")["removed"] is True
    assert "phone-1" not in emitters(sim)


def test_central_needs_an_advertising_door(sim):
    from doorctl.simctl import SimError

    with pytest.raises(SimError, match="^connect: the door's radio is off"):
        sim.call("central", op="connect")
    with pytest.raises(SimError, match="^conn: no connection 3"):
        sim.call("central", op="write", conn=3, handle=12, hex="00")


@pytest.mark.parametrize("cmd,req,field", [
    ("fob", {"address": FOB}, "distance"),
    ("fob", {"address": "C0:FF", "distance": 1}, "address"),
    ("fob", {"address": FOB, "distance": -1}, "distance"),
    ("fob", {"address": FOB, "distance": "near"}, "distance"),
    ("fob", {"address": FOB, "distance": 1, "interval_ms": 5}, "interval_ms"),
    ("fob", {"address": FOB, "distance": 1, "rssi_1m": 40}, "rssi_1m"),
    ("fob", {"address": FOB, "distance": 1, "to": 3}, "speed"),
    ("fob", {"address": FOB, "distance": 1, "ibeacon": {"uuid": "E2C5"}}, "ibeacon.uuid"),
    ("fob", {"address": FOB, "distance": 1, "ibeacon": {"uuid": "00" * 16, "major": 70000}}, "major"),
    ("emit", {"addr": FOB, "adv": ["020106"], "distance": 1}, "key"),
    ("emit", {"key": "k", "addr": FOB, "adv": ["00" * 32], "distance": 1}, "adv[0]"),
    ("emit", {"key": "k", "addr": FOB, "adv": [], "distance": 1}, "adv"),
    ("emit", {"key": "k", "adv": ["020106"], "distance": 1}, "addr"),
    ("emit", {"key": "k", "addr": FOB, "adv": ["020106"], "distance": 1, "adv_type": 9}, "adv_type"),
    ("radio", {"noise_db": 99}, "noise_db"),
    ("radio", {"background": -1}, "background"),
    ("radio", {"seed": "x"}, "seed"),
    ("ble", {"distance": "x"}, "distance"),
    ("central", {"op": "fly"}, "op"),
    ("central", {"op": "pair", "conn": "x"}, "conn"),
])
def test_control_errors_name_the_field(sim, cmd, req, field):
    from doorctl.simctl import SimError

    with pytest.raises(SimError) as e:
        sim.call(cmd, **req)
    assert str(e.value).startswith(field + ": "), str(e.value)


def test_cli_errors_name_the_option(sim):
    for args, start, rc in ((["fob", "C0:FF:EE", "--distance", "1"], "doorctl: error: ADDRESS: ", 1),
                            (["fob", FOB, "--distance", "1", "--interval-ms", "5"],
                             "doorctl: error: --interval-ms: ", 1),
                            (["fob", FOB, "--distance", "1", "--rssi-1m", "99"], "doorctl: error: --rssi-1m: ", 1),
                            (["fob", FOB, "--distance", "1", "--to", "3"], "doorctl: error: --to and --speed", 1),
                            (["radio", "--noise-db", "99"], "doorctl: error: --noise-db: ", 1),
                            (["fob", FOB, "--distance", "near"], "usage: doorctl sim fob", 2),
                            (["fob", FOB], "usage: doorctl sim fob", 2)):
        r = doorctl("sim", *args, "--control", sim.control)
        assert r.returncode == rc and r.stderr.startswith(start), (args, r.returncode, r.stderr)
        assert "Traceback" not in r.stderr
    r = doorctl("sim", "radio", "--control", "127.0.0.1:1")
    assert r.returncode == 1 and r.stderr.startswith("doorctl: error: no simulator at 127.0.0.1:1")


def test_ble_text_decodes_the_door_advert():
    from doorctl import simble

    adv = bytes.fromhex("020106") + bytes((17, 0xFF, 0xFF, 0xFF)) + b"dc\x01\x01" + bytes(range(8)) + b"D1"
    resp = bytes((11, 0x09)) + b"Front door"
    text = simble.format_ble({"active": True, "advertising": True, "connectable": True, "interval_us": 250000,
                              "scanning": True, "address": "24:0A:C4:5D:00:01", "gap_name": "Front door",
                              "adv": adv.hex(), "resp": resp.hex(), "connections": [], "rssi": -65, "_distance": 2.0})
    assert "advertising every 250 ms (connectable), scanning" in text
    assert "advert (%d bytes): %s" % (len(adv), adv.hex()) in text
    assert "flags 0x06" in text
    assert "door advert: version 1, pairing open, challenge 0001020304050607, device id 'D1'" in text
    assert "name 'Front door'" in text and "rssi at 2.0 m: -65 dBm" in text
    beacon = bytes.fromhex("1aff4c000215") + bytes.fromhex("E2C56DB5DFFB48D2B060D0F5A71096E0") + b"\x00\x01\x00\x02\xc3"
    assert simble.describe_ad(0xFF, beacon[2:]).endswith(
        "(iBeacon E2C56DB5DFFB48D2B060D0F5A71096E0 major 1 minor 2 power -61)")
    assert simble.ad_structures(b"\x02\x01\x06\x05\x09ab") == [(1, b"\x06"), (None, b"\x05\x09ab")]


def test_board_layer_ble_hook():
    """hal.esp32: one bluetooth.BLE() however often asked; the sim's Board.ble() is one BLE over
    its air; nothing else in device code imports bluetooth."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "esp32"))
    import machine_double

    saved = {k: sys.modules.get(k) for k in ("machine", "bluetooth")}
    made = []
    bt = types.ModuleType("bluetooth")
    bt.BLE = lambda: made.append(object()) or made[-1]
    bt.UUID = lambda v: ("UUID", v)
    sys.modules["machine"] = machine_double
    sys.modules["bluetooth"] = bt
    try:
        sys.modules.pop("hal.esp32", None)
        from hal.esp32 import Board

        b = Board({"name": "t"})
        assert b.ble() is b.ble() is made[0] and len(made) == 1
        assert b.ble_uuid(0x180D) == ("UUID", 0x180D)
    finally:
        sys.modules.pop("hal.esp32", None)
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    from hal.sim import Board as SimBoard
    from sim.radio import BLE, Air
    from sim.radiogatt import UUID

    sb = SimBoard({"name": "sim", "pn532": {}})
    assert sb.air is None
    ble = sb.ble()
    assert isinstance(ble, BLE) and isinstance(sb.air, Air) and sb.ble() is ble and ble.air is sb.air
    assert sb.ble_uuid(0x180D) == UUID(0x180D)
    offenders = []
    for d in ("firmware", "lib"):
        for base, _dirs, files in os.walk(os.path.join(ROOT, d)):
            for f in files:
                path = os.path.join(base, f)
                if f.endswith(".py") and not path.endswith(os.path.join("hal", "esp32.py")):
                    text = open(path).read()
                    if "import bluetooth" in text or "from bluetooth" in text:
                        offenders.append(os.path.relpath(path, ROOT))
    assert offenders == []


ALLOC = """
import gc
from sim.radio import Air, BLE, Emitter
t = [1000]
air = Air(seed=1, clock=lambda: t[0])
ble = BLE(air)
n = [0]
def h(ev, data):
    n[0] += 1
ble.irq(h)
ble.active(True)
for i in range(5):
    air.add(Emitter("e%d" % i, 1, b"\\xc0\\x00\\x00\\x00\\x00" + bytes((i,)), [bytes(31), bytes(20)], 20, 2.0 + i))
air.set_background(200)
ble.gap_scan(0, 30000, 30000, True)
for i in range(50):
    t[0] += 10
    air.step()
gc.collect()
gc.disable()
a0 = gc.mem_alloc()
n0 = n[0]
for i in range(300):
    t[0] += 10
    air.step()
print("RESULT", n[0] - n0, gc.mem_alloc() - a0)
"""


def test_scan_path_allocates_only_the_irq_tuple():
    """Under MicroPython (the simulator's heap is the firmware's): per delivered advert the radio
    allocates the 5-tuple the handler gets (4 GC blocks on the 64-bit unix port) and nothing else."""
    from mpy import run_code

    r = run_code(ALLOC)
    assert r.returncode == 0, r.stdout + r.stderr
    adverts, used = (int(x) for x in r.stdout.split("RESULT")[1].split())
    assert adverts > 1000
    assert used <= adverts * 64 + 512, (adverts, used, used / adverts)  # (a few blocks once)


def test_central_ops_through_blectl():
    """The `central` command's ops on a door whose firmware registered a service and advertises
    (sim/blectl.py over hal.sim's radio, in CPython: the firmware's BLE side is not in this
    branch)."""
    from hal.sim import Board as SimBoard
    from sim import blectl
    from sim.radiogatt import UUID

    board = SimBoard({"name": "sim", "pn532": {}})
    ctl = types.SimpleNamespace(board=board)
    ble = board.ble()
    events = []
    ble.irq(lambda ev, data: events.append((ev, tuple(bytes(x) if isinstance(x, memoryview) else x for x in data))))
    ble.active(True)
    ble.config(io=0, le_secure=True, mitm=True, bond=True)
    chars = ((UUID(0x2A00), 0x0002 | 0x0008 | 0x0010), (UUID(0x2A01), 0x0008 | 0x1000))
    ((h_plain, h_secret),) = ble.gatts_register_services(((UUID(0x180D), chars),))
    ble.gap_advertise(250000, b"\x02\x01\x06", resp_data=b"\x05\x09Door")
    assert blectl.cmd_ble(ctl, {"distance": 1})["rssi"] is not None
    conn = blectl.cmd_central(ctl, {"op": "connect", "addr": "D0:01:02:03:04:05"})["conn"]
    assert events[-1] == (1, (conn, 1, b"\xd0\x01\x02\x03\x04\x05"))
    assert blectl.cmd_ble(ctl, {})["advertising"] is False  # advertising stops on a connection
    assert blectl.cmd_central(ctl, {"op": "write", "conn": conn, "handle": h_plain, "hex": "6869"}) == {
        "error": 0, "accepted": True}
    assert events[-1] == (3, (conn, h_plain)) and ble.gatts_read(h_plain) == b"hi"
    assert blectl.cmd_central(ctl, {"op": "write", "conn": conn, "handle": h_secret, "hex": "00"})["error"] == 0x0F
    assert blectl.cmd_central(ctl, {"op": "read", "conn": conn, "handle": h_plain}) == {"error": 0, "hex": "6869"}
    assert blectl.cmd_central(ctl, {"op": "subscribe", "conn": conn, "handle": h_plain}) == {"error": 0}
    ble.gatts_write(h_plain, b"new", True)
    ble.gatts_notify(conn, h_plain, b"direct")
    notes = blectl.cmd_central(ctl, {"op": "notifications", "conn": conn})
    assert notes == {"notifications": [{"kind": "notify", "handle": h_plain, "hex": b"new".hex()},
                                       {"kind": "notify", "handle": h_plain, "hex": b"direct".hex()}], "dropped": 0}
    assert blectl.cmd_central(ctl, {"op": "notifications", "conn": conn})["notifications"] == []
    assert blectl.cmd_central(ctl, {"op": "mtu", "conn": conn, "mtu": 247}) == {"mtu": 23}  # the door's mtu: 23
    ble.irq(lambda ev, data: ble.gap_passkey(data[0], data[1], 424242) if ev == 31 else events.append((ev, data)))
    ans = blectl.cmd_central(ctl, {"op": "pair", "conn": conn, "passkey": "424242"})
    assert ans == {"pairing": "ok", "method": "le_secure passkey"}
    board.air.step()
    assert events[-1] == (28, (conn, 1, 1, 1, 16))
    st = blectl.cmd_central(ctl, {"op": "status", "conn": conn})
    assert (st["encrypted"], st["authenticated"], st["bonded"], st["pairing"]) == (1, 1, 1, "ok")
    assert blectl.cmd_central(ctl, {"op": "write", "conn": conn, "handle": h_secret, "hex": "01"})["error"] == 0
    with pytest.raises(ValueError, match="^passkey: "):
        blectl.cmd_central(ctl, {"op": "pair", "conn": conn, "passkey": "12345"})
    with pytest.raises(ValueError, match="^handle: "):
        blectl.cmd_central(ctl, {"op": "subscribe", "conn": conn, "handle": h_secret})
    assert blectl.cmd_ble(ctl, {})["connections"][0]["encrypted"] == 1
    assert blectl.cmd_central(ctl, {"op": "disconnect", "conn": conn}) == {}
    assert events[-1][0] == 2 and blectl.cmd_ble(ctl, {})["connections"] == []
    with pytest.raises(ValueError, match="^connect: the door is not advertising connectably"):
        blectl.cmd_central(ctl, {"op": "connect"})

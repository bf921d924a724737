"""Board files and config.json: defaults, and errors that name the file and the field."""
import json

import hal
from configerror import ConfigError
from doorapp.config import schema

ROOT = __file__.rsplit("/tests/device/", 1)[0] + "/"


def board():
    return hal.validate_board(json.loads(open(ROOT + "boards/sim.json").read()), "boards/sim.json")


def err(fn, *args):
    try:
        fn(*args)
    except ConfigError as e:
        return e
    raise AssertionError("no ConfigError")


def test_shipped_board_files_are_valid():
    for name in (ROOT + "boards/sim.json", ROOT + "boards/esp32-devkitc.json"):
        spec = hal.load_board(name)
        assert [r["id"] for r in spec["relays"]] == [1, 2]
        assert [i["kind"] for i in spec["inputs"]] == ["exit_button", "door_sensor"]


def test_board_errors_name_field():
    spec = json.loads(open(ROOT + "boards/esp32-devkitc.json").read())
    spec["relays"][1]["pin"] = 26
    e = err(hal.validate_board, spec, "b.json")
    assert e.file == "b.json" and e.field == "relays[1].pin" and "already used" in e.message
    spec = json.loads(open(ROOT + "boards/sim.json").read())
    spec["relays"][0]["active"] = "hi"
    assert err(hal.validate_board, spec, "b.json").field == "relays[0].active"
    spec = json.loads(open(ROOT + "boards/sim.json").read())
    del spec["pn532"]
    assert err(hal.validate_board, spec, "b.json").field == "pn532"
    assert err(hal.validate_board, [], "b.json").field == "(top)"


def test_board_file_not_json():
    path = "/tmp/doorctl-test-board.json"
    with open(path, "w") as f:
        f.write("{not json")
    e = err(hal.load_board, path)
    assert e.file == path and "JSON" in e.message
    assert err(hal.load_board, "/tmp/doorctl-no-such-board.json").field == "(file)"


def test_config_defaults_follow_board():
    cfg = schema.defaults(board())
    assert cfg["card"]["format"] == "8HN"
    assert cfg["relays"]["1"]["hold_ms"] == 5000 and "2" in cfg["relays"]
    assert cfg["inputs"]["exit"] == {"enabled": True, "trigger": "low", "debounce_ms": 50, "relay": 1, "http_url": "",
                                     "action_delay_s": 0, "delay_mode": "unconditional"}
    door = cfg["inputs"]["door"]
    assert door["trigger"] == "high" and door["relay"] == 0
    assert door["break_in"] and door["alarm_door_opened"] and door["door_opened_timeout_s"] == 60  # on by default
    assert cfg["web_relays"] == {}
    assert cfg["lpr"] == {"enabled": False, "relay": 1, "username": ""}  # LPR off until enabled


def test_config_partial_values_kept():
    cfg = schema.validate({"relays": {"1": {"hold_ms": 800}}, "inputs": {"exit": {"trigger": "high"}}}, board())
    assert cfg["relays"]["1"]["hold_ms"] == 800 and cfg["relays"]["2"]["hold_ms"] == 5000
    assert cfg["inputs"]["exit"]["trigger"] == "high" and cfg["inputs"]["exit"]["relay"] == 1


def test_config_errors_name_field():
    b = board()
    cases = [
        ({"relays": {"1": {"hold_ms": 10}}}, "relays.1.hold_ms"),
        ({"relays": {"1": {"hold_ms": "5s"}}}, "relays.1.hold_ms"),
        ({"relays": {"3": {}}}, "relays.3"),
        ({"card": {"format": "9X"}}, "card.format"),
        ({"card": {"enabled": 1}}, "card.enabled"),
        ({"inputs": {"exit": {"relay": 7}}}, "inputs.exit.relay"),
        ({"inputs": {"exti": {}}}, "inputs.exti"),
        ({"device": {"id": "much-too-long-id"}}, "device.id"),
        ({"relay": {}}, "relay"),
        ({"reader": {"removal_ms": True}}, "reader.removal_ms"),
        ({"lpr": {"relay": 3}}, "lpr.relay"),  # the sim board has relays 1 and 2
        ({"lpr": {"relay": 0}}, "lpr.relay"),
        ({"lpr": {"enabled": "yes"}}, "lpr.enabled"),
        ({"lpr": {"username": "x" * 33}}, "lpr.username"),
        ({"lpr": {"camera": "gate"}}, "lpr.camera"),
        ({"ble": {"trigger_m": 4}}, "ble.trigger_m"),
        ({"ble": {"bkey_range_m": "10-12"}}, "ble.bkey_range_m"),
        ({"ble": {"rssi_1m": -5}}, "ble.rssi_1m"),
        ({"ble": {"path_loss_x10": 60}}, "ble.path_loss_x10"),
        ({"ble": {"hands_free": "on"}}, "ble.hands_free"),
        ({"ble": {"range": 3}}, "ble.range"),
    ]
    for doc, field in cases:
        e = err(schema.validate, doc, b, "config.json")
        assert e.field == field, (doc, e.field)
        assert e.file == "config.json"


def test_ble_settings_and_the_advertised_device_id():
    b = board()
    b["profile"] = "psram"
    cfg = schema.validate({"ble": {"enabled": True, "trigger_m": 2, "bkey_range_m": "7-9"}}, b)
    assert cfg["ble"] == {"enabled": True, "hands_free": True, "trigger_m": 2, "bkey_range_m": "7-9",
                          "movement_detection": False, "rssi_1m": -59, "path_loss_x10": 20}
    e = err(schema.validate, {"ble": {"enabled": True}, "device": {"id": "T\u00fcr-1"}}, b, "config.json")
    assert e.field == "device.id" and "ASCII" in str(e)
    assert schema.validate({"device": {"id": "T\u00fcr-1"}}, b)["device"]["id"] == "T\u00fcr-1"  # BLE off: any text
    b["profile"] = "lean"
    e = err(schema.validate, {"ble": {"enabled": True}}, b, "config.json")
    assert e.field == "ble.enabled" and "lean" in str(e)


def test_a_config_change_adds_and_removes_floors_and_web_relays():
    """PATCH semantics (doorapp/config/changes.py): floors and web relays merge by id, null removes one."""
    from doorapp.config import changes

    spec = board()
    spec["profile"] = "psram"
    cfg = schema.validate({"floors": {"3": 1, "4": 2}}, spec)
    new = changes.check(cfg, {"floors": {"5": 1, "3": None}}, spec, "config.json")
    assert new["floors"] == {"4": 2, "5": 1}
    new = changes.check(new, {"web_relays": {"7": {"url": "http://10.0.0.9/on"}}}, spec, "config.json")
    assert new["web_relays"] == {"7": {"url": "http://10.0.0.9/on"}}
    new = changes.check(new, {"web_relays": {"7": None}}, spec, "config.json")
    assert new["web_relays"] == {} and new["floors"] == {"4": 2, "5": 1}

"""doorctl.phoneproto on its own: what the reference phone and the simulator's phone rely on
(argument checks, parsing the door, the phone's counter, the pairing values)."""
import pytest

from doorctl import phoneproto as pp

KEY = bytes(range(16))
CH = bytes.fromhex("a0a1a2a3a4a5a6a7")


def test_build_and_parse_round_trip():
    m = pp.build_message(KEY, CH, 7, 9, moved=True, rssi=-70)
    p = pp.parse_message(m)
    assert (p.version, p.phone_id, p.counter, p.moved, p.wave, p.rssi) == (1, 7, 9, True, False, -70)
    assert p.tag == m[11:] and pp.verify_message(KEY, CH, m)
    assert pp.parse_message(pp.build_message(KEY, CH, 7, 10)).rssi is None


@pytest.mark.parametrize("kw", [dict(phone_id=0), dict(phone_id=1 << 32), dict(counter=-1),
                                dict(counter=1 << 32), dict(rssi=128), dict(rssi=-129)])
def test_build_refuses_out_of_range(kw):
    args = dict(key=KEY, challenge=CH, phone_id=1, counter=1)
    args.update(kw)
    with pytest.raises(ValueError):
        pp.build_message(**args)


def test_tag_needs_exact_sizes():
    for k, c in ((KEY[:15], CH), (KEY, CH[:7]), (KEY + b"x", CH)):
        with pytest.raises(ValueError):
            pp.tag(k, c, bytes(11))


def test_verify_refuses_changes():
    m = pp.build_message(KEY, CH, 7, 9)
    assert not pp.verify_message(KEY, bytes(8), m)
    assert not pp.verify_message(bytes(16), CH, m)
    assert not pp.verify_message(KEY, CH, m[:18])
    assert not pp.verify_message(KEY, CH, b"\x02" + m[1:])


def test_phone_counter_increases_and_ends():
    ph = pp.Phone(5, KEY)
    a, b = ph.message(CH), ph.message(CH)
    assert [pp.parse_message(x).counter for x in (a, b)] == [1, 2]
    ph.counter = pp.COUNTER_MAX
    with pytest.raises(OverflowError):
        ph.message(CH)
    with pytest.raises(ValueError):
        pp.Phone(5, KEY[:8])


def test_parse_door():
    adv = bytes.fromhex("020106" "15FFFFFF6463" "0101") + CH + b"DOOR-1"
    resp = bytes.fromhex("0B09") + b"Front door"
    d = pp.parse_door_adv(adv, resp)
    assert (d.device_id, d.challenge, d.pairing_open, d.name, d.name_complete) == ("DOOR-1", CH, True, "Front door", True)
    assert pp.parse_scan_resp(bytes.fromhex("0408") + b"abc") == ("abc", False)
    assert pp.parse_scan_resp(b"\x03\x09\xff\xfe") is None  # not UTF-8
    assert pp.parse_door_adv(adv[:-1] + b"\x01") is None  # id byte not printable
    short = pp.flags_ad() + pp.manufacturer(0xFFFF, b"dc\x01\x00" + CH + b"D")
    assert pp.parse_door_adv(short) == pp.DoorAdvert(1, False, CH, "D")
    assert pp.parse_door_adv(adv[:-2]) is None  # the length byte says 6 more: malformed
    assert pp.parse_door_adv(pp.flags_ad() + pp.manufacturer(0xFFFF, b"dc\x01\x00" + CH)) is None  # no id
    assert pp.parse_door_adv(adv + b"\x05") is None  # malformed
    assert pp.parse_door_adv(adv.replace(b"dc", b"dp")) is None  # a phone, not a door
    assert pp.parse_door_adv(adv.replace(b"\x64\x63\x01", b"\x64\x63\x02")) is None  # unknown version
    assert pp.parse_door_adv(pp.ibeacon_adv(bytes(16), 1, 2)) is None


def test_ad_structures_and_fob_id():
    assert pp.ad_structures(b"\x02\x01\x06\x00\x00\x05") == [(1, b"\x06")]  # zero length ends it
    with pytest.raises(ValueError):
        pp.ad_structures(b"\x05\x09ab")
    b = pp.ibeacon_adv(bytes(range(16)), 0x0102, 0xA0B1, -59)
    assert pp.fob_id(bytes.fromhex("c0ffee001001"), b) == bytes(range(16)).hex().upper() + "0102A0B1"
    assert pp.fob_id(bytes.fromhex("c0ffee001001"), b"\x02\x01\x06") == "C0FFEE001001"
    assert pp.fob_id(bytes.fromhex("c0ffee001001"), b"\x09") is None


def test_pairing_values():
    assert pp.pair_request(1001) == bytes.fromhex("01000003e9")
    pid, key = pp.parse_pair_result(b"\x01\x00\x00\x00\x07" + KEY)
    assert (pid, key) == (7, KEY)
    for bad in (b"\x01\x00\x00\x00\x00" + KEY, b"\x02\x00\x00\x00\x07" + KEY, b"\x01\x00\x00\x00\x07" + KEY[:15],
                b"\x01\x40\x00\x00\x00" + KEY):
        with pytest.raises(ValueError):
            pp.parse_pair_result(bad)


def test_phone_without_bluetooth_on_the_pc_is_one_clear_error(monkeypatch, capsys):
    """`doorctl phone scan` on a PC where bleak can't reach BlueZ (its D-Bus socket missing):
    one line saying so and naming --sim, not "[Errno 2] No such file or directory"."""
    import bleak

    from doorctl import cli

    async def no_bluez(*args, **kwargs):
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(bleak.BleakScanner, "discover", no_bluez)
    assert cli.main(["phone", "scan", "--seconds", "0.1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("doorctl: error: Bluetooth on this PC failed: No such file or directory (it needs an "
                          "adapter and, on Linux, BlueZ running)"), err
    assert "--sim HOST:PORT" in err and "Traceback" not in err

"""The door's BLE reader (firmware/doorapp/readers/ble.py) fed through its scan IRQ the way
MicroPython's bluetooth module calls it: memoryviews valid only during the call."""
from doorapp.readers import ble as bler

FOB = b"\xC0\xFF\xEE\x00\x10\x01"
FLAGS = b"\x02\x01\x06"


def ibeacon(uuid, major, minor, power=-59):
    body = b"\x4c\x00\x02\x15" + uuid + bytes((major >> 8, major & 255, minor >> 8, minor & 255, power & 255))
    return FLAGS + bytes((len(body) + 1, 0xFF)) + body


class Radio:
    """Just enough of bluetooth.BLE for the reader: records what it is told."""

    def __init__(self):
        self.handler = None
        self.scan = None
        self.adv = None
        self.on = False

    def active(self, on=None):
        if on is not None:
            self.on = on
        return self.on

    def irq(self, handler):
        self.handler = handler

    def gap_scan(self, duration_ms, interval_us=1280000, window_us=11250, active=False):
        self.scan = None if duration_ms is None else (duration_ms, interval_us, window_us, active)

    def gap_advertise(self, interval_us, adv_data=None, resp_data=None, connectable=True):
        self.adv = None if interval_us is None else (interval_us, bytes(adv_data), bytes(resp_data))

    # GATT, as far as the door uses it; a central (the phone) is driven by the test
    def config(self, *a, **kw):
        self.cfg = kw

    def gatts_register_services(self, services):
        self.values = {}
        handles = []
        h = 10
        for _uuid, chars in services:
            hs = []
            for _c, flags in chars:
                h += 2
                hs.append(h)
                self.values[h] = b""
            handles.append(tuple(hs))
        return tuple(handles)

    def gatts_write(self, h, v):
        self.values[h] = bytes(v)

    def gatts_read(self, h):
        return self.values[h]

    def gap_passkey(self, conn, action, passkey):
        self.passkey = passkey

    def gap_disconnect(self, conn):
        self.disconnected = conn

    def hear(self, addr, rssi, adv):
        """One scan result, its buffers overwritten after the call as the stack reuses them."""
        a = bytearray(addr)
        d = bytearray(adv)
        self.handler(5, (0, memoryview(a), 0, rssi, memoryview(d)))
        for i in range(len(a)):
            a[i] = 0xEE
        for i in range(len(d)):
            d[i] = 0xEE


class Board:
    data_dir = "/tmp"  # (the fob tests' phones file: none is written)

    def __init__(self):
        self.radio = Radio()

    def ble(self):
        return self.radio

    def ble_uuid(self, text):
        return text


class Table:
    def __init__(self, known):
        self.known = known
        self.asked = []

    def by_ble(self, text):
        self.asked.append(text)
        return object() if text in self.known else None


class Door:
    def __init__(self, known=()):
        self.cfg = {"ble": {"enabled": True, "hands_free": True, "trigger_m": 1, "bkey_range_m": "1-3",
                            "movement_detection": False, "rssi_1m": -59, "path_loss_x10": 20},
                    "device": {"id": "door-7", "name": "Front door"}}
        self.table = Table(known)
        self.decisions = []

    def decide(self, kind, value, shown, fmt):
        self.decisions.append((kind, value, bytes(shown), fmt))

    def record(self, *a):
        pass


def reader(known=("C0FFEE001001",)):
    door = Door(known)
    board = Board()
    r = bler.BleReader(door, board)
    r.start()
    return r, door, board.radio


def test_start_scans_and_advertises_the_door():
    r, door, radio = reader()
    assert radio.on and radio.scan == (0, bler.SCAN_INTERVAL_US, bler.SCAN_WINDOW_US, False)
    interval, adv, resp = radio.adv
    assert b"door-7" in adv and resp[2:] == b"Front door"
    r.stop()
    assert radio.scan is None and radio.adv is None


def test_a_known_fob_near_the_door_opens_once():
    r, door, radio = reader()
    t = 0
    for i in range(20):  # 2 s at 0.5 m (about -53 dBm)
        radio.hear(FOB, -53, FLAGS)
        r.drain(t)
        t += 100
    assert len(door.decisions) == 1, door.decisions
    kind, value, shown, fmt = door.decisions[0]
    assert kind == 4 and value == "C0FFEE001001" and fmt == bler.SOURCE_ADDRESS
    assert shown == bytes((256 - 53,)) + FOB
    assert door.table.asked == ["C0FFEE001001"]  # looked up once, then tracked


def test_a_fob_far_away_never_opens():
    r, door, radio = reader()
    for i in range(300):
        radio.hear(FOB, -81, FLAGS)  # ~12 m
        r.drain(i * 100)
    assert door.decisions == []


def test_unknown_devices_are_looked_up_once_and_never_decided():
    r, door, radio = reader(known=())
    for i in range(200):
        radio.hear(b"\x11\x22\x33\x44\x55" + bytes((i % 4,)), -40, FLAGS)
        r.drain(i * 10)
    assert sorted(door.table.asked) == ["112233445500", "112233445501", "112233445502", "112233445503"]
    assert door.decisions == []


def test_new_devices_are_looked_up_at_most_8_a_second():
    r, door, radio = reader(known=())
    for i in range(100):
        radio.hear(bytes((1, 2, 3, 4, i >> 8, i & 255)), -40, FLAGS)
        r.drain(i)  # all within 100 ms
    assert len(door.table.asked) == bler.LOOKUPS_PER_S


def test_an_ibeacon_is_identified_by_uuid_major_minor_and_its_own_power():
    uuid = bytes(range(16))
    key = "000102030405060708090A0B0C0D0E0F" + "0102" + "0304"
    r, door, radio = reader(known=(key,))
    # measured power -70 at 1 m: -64 dBm is then 0.5 m away, near enough
    for i in range(30):
        radio.hear(b"\x7a\x11\x22\x33\x44\x55", -64, ibeacon(uuid, 0x0102, 0x0304, -70))
        r.drain(i * 100)
    assert len(door.decisions) == 1
    assert door.decisions[0][1] == key and door.decisions[0][3] == bler.SOURCE_IBEACON


def test_a_full_ring_drops_and_counts():
    r, door, radio = reader(known=())
    for i in range(100):
        radio.hear(FOB, -60, FLAGS)
    assert r.c[2] == 100 - 31  # 31 buffered (one slot stays free), the rest dropped
    r.drain(0)
    assert r.state()["adverts"] == 31


def test_the_irq_allocates_nothing_and_never_raises():
    import micropython

    r, door, radio = reader()
    a = bytearray(FOB)
    d = bytearray(FLAGS + b"\x05\xff\x01\x02\x03\x04")
    args = (0, memoryview(a), 0, -50, memoryview(d))
    bad = (0, memoryview(a), 0, -50, memoryview(bytearray(40)))  # longer than a legacy advert
    r._irq(5, args)  # warm up
    if hasattr(micropython, "heap_lock"):
        micropython.heap_lock()
    try:
        for _ in range(20):
            r._irq(5, args)
        r._irq(5, bad)
        r._irq(5, None)  # a malformed call: counted, not raised
    finally:
        if hasattr(micropython, "heap_unlock"):
            micropython.heap_unlock()
    assert r.c[3] == 1  # the malformed call


# --- phones -----------------------------------------------------------------------------------
import os

import bleproto
from phonekeys import PhoneKeys

PHONES = "/tmp/doorctl-test-phones.bin"


def phone_msg(pid, key, challenge, counter, flags=0, rssi=0):
    m = bytearray(19)
    m[0] = 1
    for i in range(4):
        m[1 + i] = (pid >> (24 - 8 * i)) & 255
        m[5 + i] = (counter >> (24 - 8 * i)) & 255
    m[9] = flags
    m[10] = rssi & 255
    tag = bleproto.Checker().digest(key, challenge, m, 0)
    m[11:19] = tag[:8]
    return bytes(m)


def phone_adv(msg):
    body = b"\xff\xff" + b"dp" + msg
    return FLAGS + bytes((len(body) + 1, 0xFF)) + body


def paired(movement=False, hands_free=True):
    try:
        os.remove(PHONES)
    except OSError:
        pass
    keys = PhoneKeys(PHONES)
    pid, key = keys.pair(1001)
    door = Door()
    door.cfg["ble"]["movement_detection"] = movement
    door.cfg["ble"]["hands_free"] = hands_free
    door.recorded = []
    door.record = lambda *a: door.recorded.append(a)
    door.deny = lambda: None
    door.table.by_id = lambda uid: uid
    board = Board()
    r = bler.BleReader(door, board, phones_path=PHONES)
    r.challenge.since = r.budget_t = 0  # the tests' clock starts at 0
    r.start()
    return r, door, board.radio, pid, key


def walk(r, radio, pid, key, t0, counter0, seconds, rssi, flags=0, step_counter=True):
    """A phone advertising every 100 ms for `seconds` at `rssi`, its counter rising every advert."""
    t = t0
    counter = counter0
    for _ in range(int(seconds * 10)):
        r.challenge.tick(t)
        radio.hear(b"\x55\x44\x33\x22\x11\x00", rssi, phone_adv(phone_msg(pid, key, r.challenge.current, counter, flags)))
        r.drain(t)
        t += 100
        if step_counter:
            counter += 1
    return t, counter


def test_a_paired_phone_coming_near_opens_once_for_its_user():
    r, door, radio, pid, key = paired()
    t, n = walk(r, radio, pid, key, 1000, 1, 3, -75)  # 6 m: nothing
    assert door.decisions == []
    t, n = walk(r, radio, pid, key, t, n, 4, -53)  # 0.5 m
    assert len(door.decisions) == 1, door.decisions
    kind, user, shown, fmt = door.decisions[0]
    assert kind == 4 and user == 1001 and fmt == bler.SOURCE_PHONE
    assert shown[1:5] == bytes(((pid >> 24) & 255, (pid >> 16) & 255, (pid >> 8) & 255, pid & 255))


def test_a_replayed_phone_message_opens_nothing():
    r, door, radio, pid, key = paired()
    t, n = walk(r, radio, pid, key, 1000, 1, 3, -50)
    assert len(door.decisions) == 1
    # the attacker recorded the phone's adverts; the phone leaves, they replay each 10 times
    msgs = [phone_msg(pid, key, r.challenge.current, c) for c in range(1, n)]
    t += 6000
    r.drain(t)
    for m in msgs:
        for _ in range(10):
            radio.hear(b"\x55\x44\x33\x22\x11\x00", -45, phone_adv(m))
            r.drain(t)
            t += 100
    assert len(door.decisions) == 1
    assert r.state()["replayed"] > 0
    # ... and after a restart: the door's challenge is new, every recorded tag is wrong
    r2 = bler.BleReader(door, Board(), phones_path=PHONES)
    r2.start()
    for m in msgs:
        for _ in range(10):
            r2.ble.hear(b"\x55\x44\x33\x22\x11\x00", -45, phone_adv(m))
            r2.drain(t)
            t += 100
    assert len(door.decisions) == 1
    st = r2.state()
    assert st["bad_tag"] > 0 and st["bad_tag"] + st["replayed"] + st["dropped"] == 10 * len(msgs), st


def test_a_wrong_key_or_an_old_challenge_opens_nothing():
    r, door, radio, pid, key = paired()
    walk(r, radio, pid, b"K" * 16, 1000, 1, 3, -45)
    assert door.decisions == [] and r.state()["bad_tag"] >= 20
    old = bytes(r.challenge.current)
    t = 1000
    for _ in range(3):  # two rotations later the old challenge is no longer accepted
        t += 10000
        r.challenge.tick(t)
    for c in range(100, 130):
        radio.hear(b"\x55\x44\x33\x22\x11\x00", -45, phone_adv(phone_msg(pid, key, old, c)))
        r.drain(t)
        t += 100
    assert door.decisions == []


def test_an_unknown_phone_id_is_looked_up_once():
    r, door, radio, pid, key = paired()
    for c in range(1, 40):
        radio.hear(b"\x01\x02\x03\x04\x05\x06", -45, phone_adv(phone_msg(pid + 1, key, r.challenge.current, c)))
        r.drain(c * 100)
    assert door.decisions == [] and r.state()["lookups"] == 1


def test_movement_detection_refuses_a_phone_that_did_not_move():
    r, door, radio, pid, key = paired(movement=True)
    walk(r, radio, pid, key, 1000, 1, 3, -45)
    assert door.decisions == []
    assert len(door.recorded) == 1 and door.recorded[0][2] == 35  # eventcodes.REASON_NOT_MOVED
    r, door, radio, pid, key = paired(movement=True)
    walk(r, radio, pid, key, 1000, 1, 3, -45, flags=bleproto.F_MOVED)
    assert len(door.decisions) == 1


def test_the_app_button_opens_within_the_trigger_distance_when_hands_free_is_off():
    r, door, radio, pid, key = paired(hands_free=False)
    walk(r, radio, pid, key, 1000, 1, 3, -53)  # near, no wave, no button: nothing
    assert door.decisions == []
    walk(r, radio, pid, key, 5000, 100, 1, -53, flags=bleproto.F_WAVE)
    assert len(door.decisions) == 1
    r, door, radio, pid, key = paired(hands_free=False)
    walk(r, radio, pid, key, 1000, 1, 3, -75, flags=bleproto.F_WAVE)  # the button from 6 m: nothing
    assert door.decisions == []


# --- pairing ----------------------------------------------------------------------------------
def pairing_door():
    try:
        os.remove(PHONES)
    except OSError:
        pass
    door = Door()
    door.recorded = []
    door.record = lambda *a: door.recorded.append(a)
    door.deny = lambda: None
    door.table.by_id = lambda uid: uid if uid in (1001, 1002) else None
    board = Board()
    r = bler.BleReader(door, board, phones_path=PHONES)
    r.challenge.since = r.budget_t = 0
    r.start()
    return r, door, board.radio


def pair(r, radio, conn, uid, passkey, read=True):
    """A phone pairing: connect, ask for uid, LE SC passkey entry with `passkey` typed."""
    g = r.gatt
    radio.handler(1, (conn, 0, memoryview(b"\x01\x02\x03\x04\x05\x06")))
    radio.values[g.h_pair] = bytes((1, uid >> 24 & 255, uid >> 16 & 255, uid >> 8 & 255, uid & 255))
    radio.handler(3, (conn, g.h_pair))
    r.drain(0)
    radio.passkey = None
    radio.handler(31, (conn, 3, 0))
    r.drain(0)
    ok = radio.passkey == passkey
    radio.handler(28, (conn, ok, ok, False, 16 if ok else 0))
    r.drain(0)
    got = radio.values[g.h_pair] if read else None
    radio.handler(2, (conn, 0, memoryview(b"\x01\x02\x03\x04\x05\x06")))
    r.drain(0)
    return got


def test_pairing_with_the_code_issues_a_key_the_door_then_accepts():
    r, door, radio = pairing_door()
    code = r.gatt.new_code(1001, 300)
    assert len(code) == 6 and code.isdigit()
    assert radio.adv[1][10] & 1  # the advert says pairing is open
    got = pair(r, radio, 5, 1001, int(code))
    assert len(got) == 21 and got[0] == 1
    pid = got[1] << 24 | got[2] << 16 | got[3] << 8 | got[4]
    key = got[5:]
    assert radio.values[r.gatt.h_pair] == b""  # gone from the attribute at disconnect
    assert not radio.adv[1][10] & 1  # no code left: pairing closed
    assert door.recorded[-1][2] == 36 and door.recorded[-1][5] == 1001  # paired, for user 1001
    assert code not in repr(door.recorded)
    # the phone now opens the door
    t, n = walk(r, radio, pid, key, 1000, 1, 3, -50)
    assert len(door.decisions) == 1 and door.decisions[0][1] == 1001
    # the same code again pairs nothing: it was spent
    assert pair(r, radio, 6, 1001, int(code)) == b""
    assert r.keys.count == 1


def test_a_wrong_code_pairs_nothing_and_spends_the_code():
    r, door, radio = pairing_door()
    code = r.gatt.new_code(1001, 300)
    assert pair(r, radio, 5, 1001, (int(code) + 1) % 1000000) == b""
    assert door.recorded[-1][2] == 37  # pairing_failed
    assert pair(r, radio, 6, 1001, int(code)) == b""  # the right code, too late
    assert r.keys.count == 0


def test_an_expired_code_or_another_users_code_pairs_nothing():
    r, door, radio = pairing_door()
    code = r.gatt.new_code(1001, 30)
    r.gatt.codes[0][2] = bler.ticks_ms() - 1  # its 30 s are over
    assert pair(r, radio, 5, 1001, int(code)) == b""
    code = r.gatt.new_code(1002, 300)
    assert pair(r, radio, 6, 1001, int(code)) == b""  # user 1001 has no code
    assert r.keys.count == 0


def test_codes_are_refused_for_unknown_users_and_bad_validity():
    r, door, radio = pairing_door()
    for uid, valid, field in ((4242, 300, "user"), (1001, 5, "valid_s"), (1001, 90000, "valid_s")):
        try:
            r.gatt.new_code(uid, valid)
        except ValueError as e:
            assert str(e).startswith(field + ":"), e
        else:
            raise AssertionError("accepted %r" % ((uid, valid),))


def test_wrong_codes_lock_pairing():
    r, door, radio = pairing_door()
    for i in range(4):
        code = r.gatt.new_code(1001, 300)
        pair(r, radio, 5 + i, 1001, (int(code) + 1) % 1000000)
    code = r.gatt.new_code(1001, 300)
    assert pair(r, radio, 20, 1001, int(code)) == b""  # locked: the right code is not even asked for
    assert radio.disconnected == 20


def test_a_message_written_over_gatt_with_the_phones_rssi_opens():
    r, door, radio = pairing_door()
    got = pair(r, radio, 5, 1001, int(r.gatt.new_code(1001, 300)))
    pid = got[1] << 24 | got[2] << 16 | got[3] << 8 | got[4]
    key = got[5:]
    radio.handler(1, (7, 0, memoryview(b"\x01\x02\x03\x04\x05\x06")))
    r.drain(0)
    t = 1000
    for c in range(1, 8):  # iOS: the phone measures the door (-52 dBm) and writes its message
        radio.values[r.gatt.h_unlock] = phone_msg(pid, key, r.challenge.current, c, bleproto.F_RSSI_VALID, -52)
        radio.handler(3, (7, r.gatt.h_unlock))
        r.drain(t)
        t += 250
    assert len(door.decisions) == 1 and door.decisions[0][1] == 1001
    radio.handler(3, (7, r.gatt.h_unlock))  # the last write sent again: refused
    r.drain(t)
    assert r.state()["replayed"] == 1


def test_forged_messages_cost_at_most_40_tag_checks_a_second():
    r, door, radio, pid, key = paired()
    for c in range(1, 201):  # a real phone id, rising counters, a wrong key: 200 within 0.2 s
        radio.hear(b"\x01\x02\x03\x04\x05\x06", -40, phone_adv(phone_msg(pid, b"F" * 16, r.challenge.current, c)))
        r.drain(c)
    st = r.state()
    assert st["bad_tag"] == bler.CHECKS_PER_S and st["dropped"] == 200 - bler.CHECKS_PER_S, st
    # a copy of the phone's last message with one byte changed but the same counter: no tag check
    t, n = walk(r, radio, pid, key, 2000, 1000, 1, -75)
    m = bytearray(phone_msg(pid, key, r.challenge.current, n - 1, bleproto.F_MOVED))
    radio.hear(b"\x01\x02\x03\x04\x05\x06", -40, phone_adv(m))
    r.drain(t)
    assert r.state()["bad_tag"] == bler.CHECKS_PER_S + 1 and door.decisions == []

"""sim/radio.py, the simulator's `bluetooth.BLE` over a virtual air, under MicroPython and CPython:
IRQ codes and tuple shapes, buffers valid only inside the handler, a raising handler switched
off, the duty cycle, the RSSI model's mean and spread, walks, advertising read from outside, the
GATT server with its flags, passkey pairing (match and mismatch). Time is stepped by hand (a
fake clock), so nothing here depends on how loaded the machine is; one test runs the air's own
asyncio task."""
import asyncio
import errno
import math
from array import array

from sim.radio import Air, BLE, Emitter
from sim.radiogatt import UUID

_IRQ_CENTRAL_CONNECT = 1
_IRQ_CENTRAL_DISCONNECT = 2
_IRQ_GATTS_WRITE = 3
_IRQ_GATTS_READ_REQUEST = 4
_IRQ_SCAN_RESULT = 5
_IRQ_SCAN_DONE = 6
_IRQ_ENCRYPTION_UPDATE = 28
_IRQ_PASSKEY_ACTION = 31
_PASSKEY_ACTION_DISPLAY = 3

_FLAG_READ = 0x0002
_FLAG_WRITE = 0x0008
_FLAG_NOTIFY = 0x0010
_FLAG_WRITE_ENCRYPTED = 0x1000
_FLAG_WRITE_AUTHENTICATED = 0x2000

FOB = b"\xc0\xff\xee\x00\x10\x01"
FLAGS_AD = b"\x02\x01\x06"


class Clock:
    def __init__(self):
        self.t = 1000

    def __call__(self):
        return self.t


def radio(seed=1, noise_db=4.0):
    clock = Clock()
    air = Air(seed=seed, noise_db=noise_db, clock=clock)
    ble = BLE(air)
    return air, ble, clock


def run_for(air, clock, ms, tick=5):
    end = clock.t + ms
    while clock.t < end:
        clock.t += tick
        air.step()


def raises(exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    raise AssertionError("%s not raised" % exc.__name__)


class Recorder:
    """Copies what it needs inside the handler, as firmware must."""

    def __init__(self):
        self.events = []
        self.results = []

    def __call__(self, event, data):
        if event == _IRQ_SCAN_RESULT:
            addr_type, addr, adv_type, rssi, adv = data
            self.results.append((addr_type, bytes(addr), adv_type, rssi, bytes(adv)))
        elif event in (_IRQ_CENTRAL_CONNECT, _IRQ_CENTRAL_DISCONNECT):
            self.events.append((event, data[0], data[1], bytes(data[2])))
        else:
            self.events.append((event, tuple(data)))

    def kinds(self):
        return [e[0] for e in self.events]


def test_scan_result_and_done_shapes():
    air, ble, clock = radio()
    rec = Recorder()
    seen = []

    def handler(event, data):
        seen.append((event, type(data), len(data)))
        if event == _IRQ_SCAN_RESULT:
            assert isinstance(data[1], memoryview) and len(data[1]) == 6
            assert isinstance(data[4], memoryview)
        rec(event, data)

    ble.irq(handler)
    e = raises(OSError, ble.gap_scan, 100)  # not active: ENODEV, as NimBLE's binding raises
    assert e.args[0] == 19
    assert ble.active() is False and ble.active(True) is True
    air.add(Emitter("fob", 1, FOB, [FLAGS_AD + b"\x04\x09Fob"], interval_ms=100, distance=1.0, adv_type=3))
    ble.gap_scan(1000, 30000, 30000)  # full duty cycle
    assert raises(OSError, ble.gap_scan, 1000).args[0] == errno.EALREADY
    run_for(air, clock, 1200)
    assert 8 <= len(rec.results) <= 11, len(rec.results)
    addr_type, addr, adv_type, rssi, adv = rec.results[0]
    assert (addr_type, addr, adv_type, adv) == (1, FOB, 3, FLAGS_AD + b"\x04\x09Fob")
    assert isinstance(rssi, int) and -80 < rssi < -40
    assert rec.events == [(_IRQ_SCAN_DONE, ())], rec.events  # the duration ended: once, no data
    assert seen[-1] == (_IRQ_SCAN_DONE, tuple, 0)
    assert all(s[1] is tuple for s in seen)
    assert ble.gap_scan(0, 30000, 30000) is None  # 0: until stopped
    run_for(air, clock, 3000)
    assert len(rec.results) > 35 and rec.kinds() == [_IRQ_SCAN_DONE]
    ble.gap_scan(None)  # stopping raises _IRQ_SCAN_DONE too
    assert rec.kinds() == [_IRQ_SCAN_DONE, _IRQ_SCAN_DONE]
    n = len(rec.results)
    run_for(air, clock, 1000)
    assert len(rec.results) == n  # nothing heard without a scan
    assert raises(OSError, ble.gap_scan, 100, 10000, 20000).args[0] == 22  # window > interval: EINVAL


def test_scan_already_running_is_ealready():
    air, ble, clock = radio()
    ble.active(True)
    ble.gap_scan(0)
    assert raises(OSError, ble.gap_scan, 100).args[0] == errno.EALREADY


def test_buffers_are_overwritten_after_the_handler():
    air, ble, clock = radio()
    kept = []

    def careless(event, data):  # keeps the memoryviews (a firmware bug the radio must expose)
        if event == _IRQ_SCAN_RESULT:
            kept.append((data[1], data[4], bytes(data[4])))

    ble.irq(careless)
    ble.active(True)
    air.add(Emitter("fob", 1, FOB, [FLAGS_AD], interval_ms=100, distance=1.0))
    ble.gap_scan(0, 30000, 30000)
    run_for(air, clock, 500)
    assert kept
    for addr, adv, copy in kept:
        assert copy == FLAGS_AD
        assert bytes(addr) == b"\xee" * 6 and bytes(adv) == b"\xee" * len(copy)


def test_a_raising_handler_is_switched_off_for_good():
    air, ble, clock = radio()
    calls = []

    def bad(event, data):
        calls.append(event)
        raise ValueError("firmware bug")

    ble.irq(bad)
    ble.active(True)
    e = air.add(Emitter("fob", 1, FOB, [FLAGS_AD], interval_ms=50, distance=1.0))
    ble.gap_scan(0, 30000, 30000)
    run_for(air, clock, 1000)
    assert calls == [_IRQ_SCAN_RESULT] and ble.irq_errors == 1
    assert e.heard > 15 and e.delivered == 1
    ble.gap_scan(None)
    assert calls == [_IRQ_SCAN_RESULT]  # not even _IRQ_SCAN_DONE
    assert raises(ValueError, ble.irq, 42)  # not callable


def test_duty_cycle_scales_what_is_heard():
    air, ble, clock = radio(seed=7)
    got = [0]

    def count(event, data):  # (counts only: the test runs in the ESP32's heap)
        if event == _IRQ_SCAN_RESULT:
            got[0] += 1

    ble.irq(count)
    ble.active(True)
    e = air.add(Emitter("fob", 1, FOB, [FLAGS_AD], interval_ms=20, distance=2.0))
    ble.gap_scan(0, 100000, 25000)  # 1/4 of the time listening
    run_for(air, clock, 60000, tick=20)
    assert 2300 <= e.sent <= 2500, e.sent  # one advert per 20-30 ms (advDelay 0-10 ms)
    share = e.heard / e.sent
    assert 0.21 < share < 0.29, (e.heard, e.sent)
    assert e.delivered == e.heard == got[0] and ble.irq_errors == 0
    ble.gap_scan(None)
    e.sent = e.heard = 0
    ble.gap_scan(0, 1280000, 11250)  # NimBLE's background scan: < 1 %
    run_for(air, clock, 60000, tick=20)
    assert e.heard / e.sent < 0.02, (e.heard, e.sent)


def rssi_samples(distance, noise_db, n=2500, seed=11, rssi_1m=-59, exponent=2.0):
    air, ble, clock = radio(seed=seed, noise_db=noise_db)
    xs = array("b", bytes(n))  # preallocated: the handler allocates nothing (the ESP32's heap)
    got = [0]

    def handler(event, data):
        if event == _IRQ_SCAN_RESULT and got[0] < n:
            xs[got[0]] = data[3]
            got[0] += 1

    ble.irq(handler)
    ble.active(True)
    air.add(Emitter("fob", 1, FOB, [FLAGS_AD], interval_ms=20, distance=distance, rssi_1m=rssi_1m,
                    exponent=exponent))
    ble.gap_scan(0, 30000, 30000)
    for _ in range(n):  # (bounded: a handler switched off would end the test, not hang it)
        if got[0] >= n:
            break
        run_for(air, clock, 1000, tick=20)
    assert got[0] == n and ble.irq_errors == 0, (got[0], ble.irq_errors)
    return list(xs)


def mean_sd(xs):
    m = sum(xs) / len(xs)
    return m, math.sqrt(sum((x - m) * (x - m) for x in xs) / len(xs))


def test_rssi_mean_and_spread_follow_the_model():
    xs = rssi_samples(4.0, 4.0)
    m, sd = mean_sd(xs)
    expect = -59 - 20 * math.log10(4.0)  # -71.04
    assert abs(m - expect) < 0.4, m
    assert 3.6 < sd < 4.4, sd
    near = sum(1 for x in xs if abs(x - expect) <= 4) / len(xs)  # ~68 % within one sigma (+rounding)
    assert 0.62 < near < 0.80, near
    xs = rssi_samples(10.0, 0.0, n=50, rssi_1m=-65, exponent=3.0)
    assert set(xs) == {-95}  # no noise: exactly A - 10 n log10(d)
    assert set(rssi_samples(0.01, 0.0, n=20)) == {-39}  # closer than 0.1 m counts as 0.1 m
    assert set(rssi_samples(1e9, 0.0, n=20)) == {-127}  # clamped


def test_same_seed_same_air():
    assert rssi_samples(3.0, 4.0, n=200, seed=5) == rssi_samples(3.0, 4.0, n=200, seed=5)
    assert rssi_samples(3.0, 4.0, n=200, seed=5) != rssi_samples(3.0, 4.0, n=200, seed=6)


def test_walk_moves_the_distance():
    air, ble, clock = radio(noise_db=0.0)
    rec = Recorder()
    ble.irq(rec)
    ble.active(True)
    e = air.add(Emitter("phone", 1, FOB, [FLAGS_AD], interval_ms=100, distance=10.0))
    ble.gap_scan(0, 30000, 30000)
    air.walk(e, 1.0, 1.0)  # 10 m -> 1 m at 1 m/s
    run_for(air, clock, 4500, tick=10)
    assert 5.3 < e.d < 5.7, e.d
    first = rec.results[0][3]
    run_for(air, clock, 6000, tick=10)
    assert e.d == 1.0 and e.walk is None
    assert first == -79 and rec.results[-1][3] == -59  # -59 - 20 log10(d)
    rs = [r[3] for r in rec.results]
    assert all(rs[i] <= rs[i + 1] for i in range(len(rs) - 1))  # only ever closer
    air.walk(e, 3.0, 0.5)  # and away again
    run_for(air, clock, 2000, tick=10)
    assert 1.9 < e.d < 2.1, e.d


def test_payloads_cycle_and_emitters_come_and_go():
    air, ble, clock = radio()
    rec = Recorder()
    ble.irq(rec)
    ble.active(True)
    air.add(Emitter("phone", 1, FOB, [b"\x02\x01\x06", b"\x02\x01\x04", b"\x02\x01\x02"], interval_ms=100,
                    distance=1.0))
    ble.gap_scan(0, 30000, 30000)
    run_for(air, clock, 1000)
    ads = [r[4] for r in rec.results]
    assert ads[:3] in ([b"\x02\x01\x06", b"\x02\x01\x04", b"\x02\x01\x02"],
                       [b"\x02\x01\x04", b"\x02\x01\x02", b"\x02\x01\x06"],
                       [b"\x02\x01\x02", b"\x02\x01\x06", b"\x02\x01\x04"])
    assert ads[3] == ads[0]
    assert air.remove("phone") and not air.remove("phone")
    n = len(rec.results)
    run_for(air, clock, 1000)
    assert len(rec.results) == n
    raises(ValueError, Emitter, "x", 1, FOB, [bytes(32)])
    raises(ValueError, Emitter, "x", 1, FOB[:5], [FLAGS_AD])


def test_background_devices():
    air, ble, clock = radio(seed=3)
    air.set_background(100)
    seen = {}  # address -> (addr_type, adv_type, length, iBeacon?)
    count = [0]

    def handler(event, data):
        if event == _IRQ_SCAN_RESULT:
            count[0] += 1
            adv = data[4]
            key = bytes(data[1])
            if key not in seen:
                seen[key] = (data[0], data[2], len(adv), bytes(adv[5:9]) == b"\x4c\x00\x02\x15")

    ble.irq(handler)
    ble.active(True)
    ble.gap_scan(0, 30000, 30000)
    run_for(air, clock, 5000, tick=10)
    assert 490 <= air.bg_sent <= 510, air.bg_sent
    assert air.bg_heard == air.bg_sent == air.bg_delivered == count[0]
    assert 30 < len(seen) <= 48
    assert all(v[0] == 1 and k[0] & 0xC0 == 0xC0 for k, v in seen.items())  # random static
    beacons = [v for v in seen.values() if v[3]]
    assert beacons and all(v[2] == 30 and v[1] == 3 for v in beacons)
    assert all(v[2] <= 31 for v in seen.values())
    air.set_background(0)
    run_for(air, clock, 1000, tick=10)
    assert air.bg_sent < 510


def test_scan_response_only_to_an_active_scan():
    air, ble, clock = radio()
    rec = Recorder()
    ble.irq(rec)
    ble.active(True)
    air.add(Emitter("dev", 0, FOB, [FLAGS_AD], interval_ms=100, distance=1.0, adv_type=0, resp=b"\x04\x09abc"))
    ble.gap_scan(500, 30000, 30000)
    run_for(air, clock, 600)
    assert rec.results and all(r[2] == 0 for r in rec.results)
    rec.results = []
    ble.gap_scan(500, 30000, 30000, True)
    run_for(air, clock, 600)
    assert [r[2] for r in rec.results[:2]] == [0, 4] and rec.results[1][4] == b"\x04\x09abc"


def test_config():
    air, ble, clock = radio()
    assert raises(OSError, ble.config, "mac").args[0] == 19  # only while active
    ble.active(True)
    addr_type, mac = ble.config("mac")
    assert addr_type == 0 and len(mac) == 6
    ble.config(addr_mode=1)
    addr_type, mac = ble.config("mac")
    assert addr_type == 1 and mac[0] & 0xC0 == 0xC0
    ble.config(gap_name="Front door")
    assert ble.config("gap_name") == b"Front door"
    ble.config(mtu=185, rxbuf=512, io=0, mitm=True, le_secure=True, bond=False)
    assert ble.config("mtu") == 185 and ble.config("rxbuf") == 512
    raises(ValueError, ble.config, "io")  # set-only
    raises(ValueError, ble.config, nonsense=1)
    raises(TypeError, ble.config)
    raises(TypeError, ble.config, "mtu", mtu=40)
    assert raises(OSError, ble.config, mtu=10).args[0] == 22


def test_advertising_is_readable_from_outside():
    air, ble, clock = radio(noise_db=0.0)
    assert raises(OSError, ble.gap_advertise, 250000, FLAGS_AD).args[0] == 19
    ble.active(True)
    adv = FLAGS_AD + b"\x11\xff\xff\xffdc\x01\x01" + bytes(8) + b"D1"
    ble.gap_advertise(250000, adv, resp_data=b"\x05\x09Door")
    assert (ble.advertising, ble.adv_data, ble.resp_data, ble.adv_interval_us, ble.connectable) == (
        True, adv, b"\x05\x09Door", 250000, True)
    ble.gap_advertise(None)
    assert not ble.advertising and ble.adv_data == adv
    ble.gap_advertise(100000)  # None data: the previous payloads again
    assert ble.advertising and ble.adv_data == adv and ble.resp_data == b"\x05\x09Door"
    ble.gap_advertise(100000, b"", resp_data=b"", connectable=False)
    assert ble.adv_data == b"" and ble.resp_data == b"" and not ble.connectable
    assert raises(OSError, ble.gap_advertise, 100000, bytes(32)).args[0] == 22
    assert air.door_rssi(1.0) == -59 and air.door_rssi(10.0) == -79


def gatt(io=0, le_secure=True):
    air, ble, clock = radio()
    rec = Recorder()
    ble.irq(rec)
    ble.active(True)
    ble.config(io=io, mitm=True, le_secure=le_secure, bond=True)
    svc = UUID("6E400001-B5A3-F393-E0A9-E50E24DCCA9E")
    plain = (UUID(0x2A00), _FLAG_READ | _FLAG_WRITE | _FLAG_NOTIFY)
    secret = (UUID("6E400002-B5A3-F393-E0A9-E50E24DCCA9E"), _FLAG_WRITE | _FLAG_WRITE_ENCRYPTED)
    authed = (UUID("6E400003-B5A3-F393-E0A9-E50E24DCCA9E"), _FLAG_WRITE | _FLAG_WRITE_AUTHENTICATED)
    ((h_plain, h_secret, h_authed),) = ble.gatts_register_services(((svc, (plain, secret, authed)),))
    ble.gap_advertise(250000, FLAGS_AD)
    return air, ble, clock, rec, h_plain, h_secret, h_authed


def test_gatt_connect_write_read_notify_disconnect():
    air, ble, clock, rec, h_plain, h_secret, h_authed = gatt()
    assert len(set((h_plain, h_secret, h_authed))) == 3
    conn = ble.central_connect(1, b"\xd0\x01\x02\x03\x04\x05")
    assert rec.events == [(_IRQ_CENTRAL_CONNECT, conn, 1, b"\xd0\x01\x02\x03\x04\x05")]
    assert not ble.advertising  # NimBLE stops advertising on a connection
    assert ble.central_write(conn, h_plain, b"hello") == 0
    assert rec.events[-1] == (_IRQ_GATTS_WRITE, (conn, h_plain))
    assert ble.gatts_read(h_plain) == b"hello"
    assert ble.central_write(conn, h_plain, bytes(range(40))) == 0
    assert ble.gatts_read(h_plain) == bytes(range(20))  # cut to the 20-byte buffer
    ble.gatts_set_buffer(h_plain, 8, True)  # append mode: reads clear
    ble.gatts_write(h_plain, b"")
    ble.central_write(conn, h_plain, b"abc")
    ble.central_write(conn, h_plain, b"defghij")
    assert ble.gatts_read(h_plain) == b"abcdefgh" and ble.gatts_read(h_plain) == b""
    ble.gatts_write(h_plain, b"state")
    assert ble.central_read(conn, h_plain) == (0, b"state")
    assert rec.events[-1] == (_IRQ_GATTS_READ_REQUEST, (conn, h_plain))
    assert ble.central_read(conn, h_secret)[0] == 0x02  # not readable
    ble.gatts_notify(conn, h_plain, b"n1")
    ble.gatts_notify(conn, h_plain)
    ble.gatts_write(h_plain, b"upd", True)  # not subscribed: nothing sent
    ble.central_write(conn, h_plain + 1, b"\x01\x00")  # CCCD: subscribe to notifications
    ble.gatts_write(h_plain, b"upd2", True)
    assert ble.conns[conn].notes == [("notify", h_plain, b"n1"), ("notify", h_plain, b"state"),
                                     ("notify", h_plain, b"upd2")]
    assert raises(OSError, ble.gatts_notify, 99, h_plain).args[0] == errno.ENOTCONN
    assert raises(OSError, ble.gatts_read, 999).args[0] == 22
    n = len(rec.events)
    assert ble.gap_disconnect(conn) is True and ble.gap_disconnect(conn) is False
    assert len(rec.events) == n  # raised by the stack afterwards, not inside the call
    air.step()
    assert rec.events[-1] == (_IRQ_CENTRAL_DISCONNECT, conn, 1, b"\xd0\x01\x02\x03\x04\x05")
    raises(ValueError, ble.central_connect, 1, FOB)  # the door stopped advertising
    ble.gap_advertise(250000)
    conn2 = ble.central_connect(0, FOB)
    assert conn2 != conn
    assert raises(OSError, ble.gatts_register_services, ()).args[0] == 16  # EBUSY while connected
    ble.central_disconnect(conn2)
    assert rec.events[-1] == (_IRQ_CENTRAL_DISCONNECT, conn2, 0, FOB)


def test_encrypted_only_characteristic_refused_on_a_plain_link():
    air, ble, clock, rec, h_plain, h_secret, h_authed = gatt()
    conn = ble.central_connect(1, FOB)
    ble.gatts_write(h_secret, b"old")
    n = len(rec.events)
    assert ble.central_write(conn, h_secret, b"key?") == 0x0F  # insufficient encryption
    assert ble.central_write(conn, h_authed, b"key?") == 0x0F
    assert len(rec.events) == n  # no IRQ: the stack answered
    assert ble.gatts_read(h_secret) == b"old"


def pair(passkey_door, passkey_phone, io=0, le_secure=True):
    air, ble, clock, rec, h_plain, h_secret, h_authed = gatt(io, le_secure)
    conn = ble.central_connect(1, FOB)
    answered = []

    def handler(event, data):
        rec(event, data)
        if event == _IRQ_PASSKEY_ACTION:
            c, action, passkey = data
            answered.append((c, action, passkey))
            ble.gap_passkey(c, action, passkey_door)  # answered inside the IRQ, as firmware may

    ble.irq(handler)
    state = ble.central_pair(conn, passkey_phone)
    assert answered == [(conn, _PASSKEY_ACTION_DISPLAY, 0)]
    assert rec.kinds()[-1] == _IRQ_PASSKEY_ACTION  # the result comes after the call that decided it
    air.step()
    return ble, rec, conn, h_secret, h_authed, state


def test_pairing_with_the_right_passkey_encrypts_the_link():
    ble, rec, conn, h_secret, h_authed, state = pair(123456, 123456)
    assert state == "ok"
    assert rec.events[-1] == (_IRQ_ENCRYPTION_UPDATE, (conn, 1, 1, 1, 16))
    c = ble.conns[conn]
    assert c.pair == "ok" and c.method == "le_secure passkey"
    assert ble.central_write(conn, h_secret, b"key!") == 0 and ble.gatts_read(h_secret) == b"key!"
    assert ble.central_write(conn, h_authed, b"auth") == 0
    assert rec.events[-1] == (_IRQ_GATTS_WRITE, (conn, h_authed))


def test_pairing_with_a_wrong_passkey_leaves_the_link_plain():
    ble, rec, conn, h_secret, h_authed, state = pair(123456, 654321)
    assert state == "failed"
    assert rec.events[-1] == (_IRQ_ENCRYPTION_UPDATE, (conn, 0, 0, 0, 0))
    assert ble.conns[conn].pair == "failed"
    assert ble.central_write(conn, h_secret, b"key?") == 0x0F
    assert raises(OSError, ble.gap_passkey, conn, _PASSKEY_ACTION_DISPLAY, 123456).args[0] == 2  # ENOENT


def test_pairing_details():
    air, ble, clock, rec, h_plain, h_secret, h_authed = gatt(io=3)  # no IO: Just Works
    conn = ble.central_connect(1, FOB)
    ble.central_pair(conn, 0)
    air.step()
    assert rec.events[-1] == (_IRQ_ENCRYPTION_UPDATE, (conn, 1, 0, 1, 16))
    assert ble.central_write(conn, h_secret, b"x") == 0
    assert ble.central_write(conn, h_authed, b"x") == 0x05  # encrypted but not authenticated
    air, ble, clock, rec, h_plain, h_secret, h_authed = gatt(io=0)
    conn = ble.central_connect(1, FOB)
    ble.central_pair(conn, 111111)  # the door's firmware never answers
    assert raises(OSError, ble.gap_passkey, conn, 2, 111111).args[0] == 22  # wrong action
    clock.t += 29000
    air.step()
    assert ble.conns[conn].pair == "pending"
    clock.t += 1000
    air.step()
    assert ble.conns[conn].pair == "timeout" and rec.events[-1] == (_IRQ_ENCRYPTION_UPDATE, (conn, 0, 0, 0, 0))


def test_uuid():
    assert UUID(0x180D) == UUID(b"\x0d\x18") and UUID(0x180D) != UUID(0x180F)
    u = UUID("6E400001-B5A3-F393-E0A9-E50E24DCCA9E")
    assert u == UUID("6e400001b5a3f393e0a9e50e24dcca9e") and repr(u) == "UUID('6e400001-b5a3-f393-e0a9-e50e24dcca9e')"
    assert repr(UUID(0x2A00)) == "UUID(0x2a00)"
    raises(ValueError, UUID, 0x10000)
    raises(ValueError, UUID, "6E400001-B5A3")
    raises(ValueError, UUID, "6E400001-B5A3-F393-E0A9-E50E24DCCAZZ")
    air, ble, clock = radio()
    ble.active(True)
    raises(ValueError, ble.gatts_register_services, ((0x180D, ()),))
    raises(ValueError, ble.gatts_register_services, ((UUID(0x180D), ((0x2A00, 2),)),))


def test_the_air_runs_itself_under_asyncio():
    async def main():
        air = Air(seed=2)
        ble = BLE(air)
        rec = Recorder()
        ble.irq(rec)
        ble.active(True)
        air.add(Emitter("fob", 1, FOB, [FLAGS_AD], interval_ms=20, distance=1.0))
        ble.gap_scan(300, 30000, 30000)
        for _ in range(400):  # up to 4 s on a loaded machine; normally 0.3 s
            await asyncio.sleep(0.01)
            if rec.kinds():
                break
        assert rec.kinds() == [_IRQ_SCAN_DONE] and len(rec.results) >= 3, (rec.kinds(), len(rec.results))
        air.task.cancel()

    asyncio.run(main())


def test_a_full_heap_drops_the_result_not_the_radio():
    """MicroPython only (heap_lock): the IRQ tuple that can't be allocated costs that advert, not
    the handler or the radio. Under CPython only the part before the lock runs."""
    try:
        import micropython

        lock, unlock = micropython.heap_lock, micropython.heap_unlock
    except (ImportError, AttributeError):  # CPython: no heap to lock; the drop is counted the same way
        lock = unlock = None
    air, ble, clock = radio()
    rec = Recorder()
    ble.irq(rec)
    ble.active(True)
    e = air.add(Emitter("fob", 1, FOB, [FLAGS_AD], interval_ms=20, distance=1.0))
    ble.gap_scan(0, 30000, 30000)
    run_for(air, clock, 100)
    n = len(rec.results)
    assert n >= 3
    if lock is None:
        return
    clock.t += 200
    lock()
    try:
        air.step()  # the handler's tuple can't be had: results are dropped, the radio goes on
    finally:
        unlock()
    assert ble.dropped >= 5 and len(rec.results) == n and e.heard > e.delivered
    run_for(air, clock, 100)
    assert len(rec.results) > n and ble._handler is rec

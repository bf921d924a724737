"""The board's network services (doorapp/station.py): which tasks a board runs for its Wi-Fi,
NTP and HTTP settings, the re-join loop, and which clock changes are logged. The whole app on
the ESP32 backend with these services running is tests/esp32/run_esp32_backend.py."""
import asyncio

import eventcodes
import eventlog
from doorapp import station


class Wlan:
    def __init__(self):
        self.joined = True
        self.calls = []

    def isconnected(self):
        return self.joined

    def disconnect(self):
        self.calls.append("disconnect")

    def connect(self, ssid, password):
        self.calls.append(("connect", ssid, password))
        self.joined = True


class Board:
    def __init__(self, wlan, ntp=None):
        self.wlan = wlan
        self._ntp = ntp
        self.asked = []

    def station(self, ssid, password, hostname):
        self.asked.append((ssid, password, hostname))
        return self.wlan if ssid else None

    def ntp(self):
        return self._ntp


class Door:
    def __init__(self, ssid="site", ntp="pool.ntp.org", tls="off"):
        self.cfg = {"network": {"ssid": ssid, "hostname": "door-3"},
                    "time": {"ntp": ntp, "ntp_interval_s": 600}, "http": {"tls": tls, "redirect_http": True}}
        self.secrets = {"wifi_password": "pw"}
        self.timesync = None
        self.records = []

    def record(self, *args):
        self.records.append(args)


def close_all(coros):
    for c in coros:
        c.close()


def test_no_station_no_tasks():
    door = Door(ssid="")
    board = Board(Wlan())
    assert station.tasks(door, board) == [] and door.timesync is None
    assert board.asked == [("", "pw", "door-3")]


def test_station_ntp_and_http_tasks():
    door = Door()
    board = Board(Wlan(), ntp=object())
    tasks = station.tasks(door, board)
    try:
        assert len(tasks) == 3  # keep joined, NTP, HTTP
        assert door.timesync is not None and door.timesync.server == "pool.ntp.org"
        assert door.timesync.interval_s == 600
    finally:
        close_all(tasks)


def test_no_ntp_server_or_module_no_sync_task():
    for door, ntp in ((Door(ntp=""), object()), (Door(), None)):
        tasks = station.tasks(door, Board(Wlan(), ntp=ntp), http_port=0)
        try:
            assert len(tasks) == 1 and door.timesync is None  # only keep-joined
        finally:
            close_all(tasks)


def test_keep_joined_rejoins_a_lost_station():
    wlan = Wlan()
    waits = []

    class Stop(Exception):
        pass

    async def fake_sleep(ms):
        waits.append(ms)
        if len(waits) == 1:
            wlan.joined = False  # the access point went away during the first wait
        if len(waits) == 3:
            raise Stop()  # ends the loop

    orig = station.sleep_ms
    station.sleep_ms = fake_sleep
    try:
        asyncio.run(station.keep_joined(wlan, "site", "pw"))
    except Stop:
        pass
    finally:
        station.sleep_ms = orig
    assert wlan.calls == ["disconnect", ("connect", "site", "pw")]  # once: joined again after
    assert waits == [10000, 10000, 10000]


def test_clock_set_logged_when_first_set_or_stepped():
    door = Door()
    on_set = station.clock_set(door, b"ntp")
    on_set(1800000000, 1800000001)  # drift correction: not worth an event
    assert door.records == []
    on_set(0, 1800000000)  # first set
    on_set(1800000000, 1800000100)  # stepped
    assert len(door.records) == 2
    assert door.records[0][:4] == (eventcodes.KIND_SYSTEM, None, eventcodes.REASON_CLOCK_SET, b"ntp")


def test_tls_on_serves_https_and_never_plain_http():
    calls = []

    async def https(door, board, port, plain_port):
        calls.append(("https", port, plain_port))

    async def http(door, port):
        calls.append(("http", port))

    orig = station.serve_https, station.serve_http
    station.serve_https, station.serve_http = https, http
    try:
        for tls, want in (("on", ("https", 443, 80)), ("off", ("http", 80))):
            tasks = station.tasks(Door(tls=tls), Board(Wlan()))
            assert len(tasks) == 2  # keep joined, HTTP(S)
            close_all(tasks[:1])
            asyncio.run(tasks[1])
            assert calls.pop() == want and not calls
    finally:
        station.serve_https, station.serve_http = orig


def test_https_without_its_files_names_the_file_and_serves_nothing():
    import os

    from doorapp.http import tls

    class Flash:
        data_dir = "tls-test-nowhere"

    try:
        tls.context(Flash.data_dir)
        assert False, "no error"
    except ValueError as e:
        assert str(e).startswith("tls-test-nowhere/tls_cert.der is missing (http.tls is on)"), str(e)
    # started as on a board: it returns (the door runs on), listening nowhere
    asyncio.run(station.serve_https(Door(tls="on"), Flash(), 0, 0))
    # files that are not a key and certificate: named, never their content
    d = "tls-test-garbage"
    try:
        os.mkdir(d)
    except OSError:
        pass
    try:
        for name in (tls.CERT_FILE, tls.KEY_FILE):
            with open(d + "/" + name, "wb") as f:
                f.write(b"0123456789secret" * 4)
        try:
            tls.context(d)
            assert False, "no error"
        except ValueError as e:
            assert "not a usable certificate and key" in str(e) and "secret" not in str(e), str(e)
    finally:
        for name in (tls.CERT_FILE, tls.KEY_FILE):
            try:
                os.remove(d + "/" + name)
            except OSError:
                pass
        os.rmdir(d)

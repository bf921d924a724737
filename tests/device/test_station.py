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
    def __init__(self, ssid="site", ntp="pool.ntp.org"):
        self.cfg = {"network": {"ssid": ssid, "hostname": "door-3"},
                    "time": {"ntp": ntp, "ntp_interval_s": 600}}
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

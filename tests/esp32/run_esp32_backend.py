"""The ESP32 backend (hal.esp32) and the whole app on it, under the MicroPython unix port with
`machine` replaced by tests/esp32/machine_double.py. Prints 'ESP32 BACKEND OK' on success.
Wi-Fi (`network`) and `ntptime` are doubled too: the door joins the configured station, syncs
its clock and serves the HTTP API on HTTP_PORT, as startup.start() does on a board.
Usage: micropython run_esp32_backend.py ROOT DATADIR HTTP_PORT EMU_TRANSPORT"""
import sys

import machine_double
import network_double
import ntptime_double

sys.modules["machine"] = machine_double
sys.modules["network"] = network_double
sys.modules["ntptime"] = ntptime_double

import asyncio  # noqa: E402
import time  # noqa: E402

from compat import sleep_ms  # noqa: E402
from doorapp import fileio, startup
from doorapp.http import status  # noqa: E402

ROOT, DATA, HTTP_PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
cards = machine_double.connect_emulator(sys.argv[4])  # the PN532 emulator service
# DATA/users.tbl was built on the host (user 7, card 04A1B2C3, relay 2), as a board gets it
fileio.write_json_atomic(DATA + "/config.json", {"relays": {"2": {"hold_ms": 200}},
                                                 "network": {"ssid": "site-wifi", "hostname": "door-7"},
                                                 "time": {"ntp": "ntp.example.org"},
                                                 "wiegand_out": {"enabled": True, "format": "w34"}})
fileio.write_json_atomic(DATA + "/secrets.json", {"wifi_password": "wifi-pass-1"})

# as startup.start() on a board; data_dir: on a board "" (LittleFS at /), here off the host's /
# (the WROVER-E board: a psram board, whose config may turn on Wi-Fi and the HTTP API)
board, door = startup.boot(ROOT + "/boards/esp32-wrover-e.json", data_dir=DATA)
assert board.backend == "esp32"
for _code, _name in ((1, "power_on"), (2, "hard_reset"), (3, "watchdog"), (4, "deep_sleep"), (5, "soft_reset"),
                     (99, "")):  # machine.reset_cause() -> the names the reset-cause event uses
    machine_double.cause[0] = _code
    assert board.reset_cause() == _name, (_code, board.reset_cause())
machine_double.cause[0] = machine_double.WDT_RESET  # this start follows a watchdog reset
pins = machine_double.pins
assert pins[21].mode == pins[22].mode == machine_double.Pin.OUT and pins[21].level == pins[22].level == 1
machine_double.watched = (21, 22)  # the Wiegand output (board file wiegand_out), idle high
assert pins[26].mode == machine_double.Pin.OUT and pins[26].level == 0  # active high: idle low
assert pins[32].pull == machine_double.Pin.PULL_UP  # exit button input with pull-up


async def http_status():
    r, w = await asyncio.open_connection("127.0.0.1", HTTP_PORT)
    w.write(b"GET /api/v1/status HTTP/1.0\r\n\r\n")
    await w.drain()
    line = await r.readline()
    w.close()
    return line


async def main():
    from doorapp import clock

    task = asyncio.create_task(door.run(startup.services(door, board, http_port=HTTP_PORT)))
    for _ in range(200):
        if door.watcher is not None and door.watcher.status == "ok":
            break
        await sleep_ms(10)
    assert door.watcher.status == "ok", door.reader_status()
    assert door.watcher.firmware == (0x32, 1, 6, 7) or list(door.watcher.firmware) == [0x32, 1, 6, 7]
    uart = machine_double.uarts[2]
    assert uart.args[:3] == (115200, 19, 18)
    cards.place(b"\x04\xa1\xb2\xc3")
    for _ in range(100):
        if pins[27].level == 1:
            break
        await sleep_ms(5)
    assert pins[27].level == 1, "relay 2 not energised"
    for _ in range(100):  # the granted card goes out as W34 on GPIO 21 (D0) / 22 (D1)
        if len(machine_double.changes) >= 68:
            break
        await sleep_ms(5)
    ch = machine_double.changes
    assert len(ch) == 68 and all(c[3] for c in ch), ch  # each pulse with interrupts off
    import wiegand

    asm = wiegand.WiegandAssembler()
    for i in range(0, 68, 2):
        assert (ch[i][1], ch[i + 1][1], ch[i][0]) == (0, 1, ch[i + 1][0])  # a low pulse on one line
        assert time.ticks_diff(ch[i + 1][2], ch[i][2]) >= 50  # the default 50 us
        if i:
            assert time.ticks_diff(ch[i][2], ch[i - 2][2]) >= 1980  # 2 ms apart (or more)
        asm.pulse(1 if ch[i][0] == 22 else 0, ch[i][2])
    assert asm.poll(time.ticks_add(ch[-1][2], 30000)) == 34
    assert wiegand.decode(asm.frame, 34).uid4 == b"\x04\xa1\xb2\xc3"
    assert pins[26].level == 0
    for _ in range(100):
        if pins[27].level == 0:
            break
        await sleep_ms(10)
    assert pins[27].level == 0, "relay 2 not released after its hold time"
    pins[32].level = 0  # exit button pressed (to GND)
    for _ in range(50):
        if pins[26].level == 1:
            break
        await sleep_ms(10)
    assert pins[26].level == 1, "exit button did not open relay 1"
    ev = door.log.read(0, 10)
    assert [e.kind for e in ev] == [0, 1, 6], ev  # the reset cause, card, exit
    assert ev[0].reason == 30, ev[0]  # REASON_WATCHDOG: machine.reset_cause() was WDT_RESET
    # the watchdog: machine.WDT armed with the firmware's timeout, fed while the door runs
    for _ in range(300):
        if machine_double.wdts and machine_double.wdts[0].feeds >= 1:
            break
        await sleep_ms(10)
    assert len(machine_double.wdts) == 1 and machine_double.wdts[0].timeout == 30000, machine_double.wdts
    assert machine_double.wdts[0].feeds >= 1
    from hal import esp32

    assert esp32.wdt is machine_double.wdts[0]  # where doorctl deploy/doctor find it to feed
    # network services: joined with the configured SSID and password, clock set by NTP
    assert ("hostname", "door-7") in network_double.calls, network_double.calls
    assert ("connect", "site-wifi", "wifi-pass-1") in network_double.calls, network_double.calls
    assert ntptime_double.asked and ntptime_double.asked[0][0] == "ntp.example.org", ntptime_double.asked
    assert door.timesync.syncs == 1 and clock.status()["source"] == "ntp"
    assert status.status_doc(door)["clock"]["ntp"]["server"] == "ntp.example.org"
    line = await http_status()
    assert line.startswith(b"HTTP/1.") and b" 401 " in line, line  # served, and asks to sign in
    # a clock set from nothing is logged as a system event
    from doorapp import station

    station.clock_set(door, b"ntp")(0, clock.now())
    last = door.log.read(door.log.last_seq - 1, 1)[0]
    assert (last.kind, last.reason) == (0, 18), last  # KIND_SYSTEM, REASON_CLOCK_SET
    task.cancel()


asyncio.run(main())
print("ESP32 BACKEND OK")

"""The ESP32 backend (hal.esp32) and the whole app on it, under the MicroPython unix port with
`machine` replaced by tests/esp32/machine_double.py. Prints 'ESP32 BACKEND OK' on success.
Usage: micropython run_esp32_backend.py ROOT DATADIR"""
import sys

import machine_double

sys.modules["machine"] = machine_double

import asyncio  # noqa: E402

import hal  # noqa: E402
from compat import sleep_ms  # noqa: E402
from doorapp import app, fileio  # noqa: E402

ROOT, DATA = sys.argv[1], sys.argv[2]
spec = hal.load_board(ROOT + "/boards/esp32-devkitc.json")
board = hal.open_board(spec)
assert board.backend == "esp32"
board.data_dir = DATA  # on a board this is "" (LittleFS at /); keep the test off the host's /
from usertable import build, validate, validate_list  # noqa: E402  (the host's builder; a board gets the file)

ctx = validate.Ctx("8HN", "UTC0", [1, 2], None, False, "users.json")
sched, users = validate_list.document({"users": [{"id": 7, "cards": ["04A1B2C3"], "relays": [2]}]}, ctx)
build.build_file(DATA + "/users.tbl", sched, users, ctx.fid, 1)
fileio.write_json_atomic(DATA + "/config.json", {"relays": {"2": {"hold_ms": 200}}})

door = app.open_door(board)
pins = machine_double.pins
assert pins[26].mode == machine_double.Pin.OUT and pins[26].level == 0  # active high: idle low
assert pins[32].pull == machine_double.Pin.PULL_UP  # exit button input with pull-up


async def main():
    task = asyncio.create_task(door.run())
    for _ in range(200):
        if door.watcher is not None and door.watcher.status == "ok":
            break
        await sleep_ms(10)
    assert door.watcher.status == "ok", door.reader_status()
    assert door.watcher.firmware == (0x32, 1, 6, 7) or list(door.watcher.firmware) == [0x32, 1, 6, 7]
    uart = machine_double.uarts[2]
    assert uart.args[:3] == (115200, 17, 16)
    uart.emulator.place(b"\x04\xa1\xb2\xc3")
    for _ in range(100):
        if pins[27].level == 1:
            break
        await sleep_ms(5)
    assert pins[27].level == 1, "relay 2 not energised"
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
    assert [e.kind for e in ev] == [1, 6], ev  # card, exit
    task.cancel()


asyncio.run(main())
print("ESP32 BACKEND OK")

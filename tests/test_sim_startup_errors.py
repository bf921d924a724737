"""Bad input stops start-up with one clear line naming the file and field; flash is untouched."""
import json
import os
import subprocess
import sys

from simproc import FAST_CONFIG, Sim, run_to_exit

DOORCTL = os.path.join(os.path.dirname(sys.executable), "doorctl")


def start_fails(tmp_path, **kw):
    s = Sim(tmp_path, start=False, **kw)
    r = run_to_exit(s.argv)
    out = (r.stdout + r.stderr).strip()
    assert r.returncode == 2, out
    assert "Traceback" not in out, out
    lines = out.splitlines()
    assert len(lines) == 1, out
    assert lines[0].startswith("doorctl: cannot start: "), out
    return lines[0]


def flash_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def test_malformed_board_file(tmp_path):
    board = json.load(open(os.path.join(os.path.dirname(__file__), "..", "boards", "sim.json")))
    board["relays"][0]["pin"] = "twenty-six"
    bad = tmp_path / "bad-board.json"
    bad.write_text(json.dumps(board))
    line = start_fails(tmp_path, board=str(bad))
    assert str(bad) in line and "relays[0].pin" in line
    bad.write_text("{")
    assert "not valid JSON" in start_fails(tmp_path, board=str(bad))


def test_bad_config_rejected_and_flash_untouched(tmp_path):
    good = Sim(tmp_path, config=FAST_CONFIG)
    good.stop()
    image = flash_bytes(good.flash)
    line = start_fails(tmp_path, flash=good.flash, config={"relays": {"1": {"hold_ms": -5}}})
    assert "config.json: relays.1.hold_ms: must be between" in line
    line = start_fails(tmp_path, flash=good.flash, config="{broken")
    assert "config.json: (file): is not valid JSON" in line
    # what standard JSON refuses (MicroPython's json would take it)
    line = start_fails(tmp_path, flash=good.flash, config='{"relays": {"1": {"hold_ms": 400},},}')
    assert "config.json: (file): is not valid JSON: a comma before a closing bracket" in line
    assert flash_bytes(good.flash) == image  # nothing written
    again = Sim(tmp_path, flash=good.flash)  # old config still live
    try:
        st = again.state()
        assert st["users"] == 2
    finally:
        again.stop()


def test_bad_users_rejected_and_old_users_kept(tmp_path):
    """A bad user list stops `doorctl sim run` while building the table on the host (as for a
    board), naming file, line and field; the flash image is not touched."""
    good = Sim(tmp_path, config=FAST_CONFIG)
    good.stop()
    image = flash_bytes(good.flash)
    bad = tmp_path / "users.json"
    bad.write_text(json.dumps({"users": [{"id": 5, "cards": ["04A1B2C3"]}, {"id": 6, "cards": ["04a1b2c3"]}]}))
    r = subprocess.run([DOORCTL, "sim", "run", "--flash", good.flash, "--users", str(bad), "--quiet",
                        "--control", "127.0.0.1:1", "--http", "off"], capture_output=True, text=True, timeout=60)
    out = (r.stdout + r.stderr).strip()
    assert r.returncode == 1 and "Traceback" not in out, out
    assert "users.json:1: users[1].cards[0]: card 04A1B2C3 already belongs to user 5" in out
    assert flash_bytes(good.flash) == image
    again = Sim(tmp_path, flash=good.flash)
    try:
        assert again.state()["users"] == 2
    finally:
        again.stop()


def test_bad_config_already_on_flash(tmp_path):
    from littlefs import LittleFS

    good = Sim(tmp_path, config=FAST_CONFIG)
    good.stop()
    data = bytearray(flash_bytes(good.flash))
    fs = LittleFS(block_size=4096, block_count=len(data) // 4096, read_size=32, prog_size=32,
                  lookahead_size=32, mount=False)
    fs.context.buffer = data
    fs.mount()
    with fs.open("config.json", "w") as f:
        f.write(json.dumps({"card": {"format": "12Q"}}))
    fs.unmount()
    with open(good.flash, "wb") as f:
        f.write(fs.context.buffer)
    line = start_fails(tmp_path, flash=good.flash)
    assert "/flash/config.json: card.format: must be one of" in line


def test_image_that_is_not_littlefs_is_not_reformatted(tmp_path):
    img = tmp_path / "junk.img"
    img.write_bytes(b"\x00" * 0x200000)
    line = start_fails(tmp_path, flash=str(img))
    assert "not a LittleFS image" in line
    assert img.read_bytes() == b"\x00" * 0x200000

"""`doorctl provision`: config.json + secrets.json the device accepts, secrets never echoed or printed."""
import json
import os
import pty
import select
import stat
import subprocess
import sys
import time

import pytest

from doorctl import firmware_image as fi
from doorctl import fsimage, paths

DOORCTL = os.path.join(os.path.dirname(sys.executable), "doorctl")
WIFI = "wifi-Secret-4242"
ADMIN = "admin-Secret-9876"
TZ = "CET-1CEST,M3.5.0,M10.5.0/3"


def run(*args, env=None, timeout=60):
    e = dict(os.environ)
    for k in ("DOORCTL_WIFI_PASSWORD", "DOORCTL_ADMIN_PASSWORD", "DOORCTL_SITE_KEY", "DOORCTL_QR_KEY"):
        e.pop(k, None)
    e.update(env or {})
    # (a psram board: Wi-Fi and the HTTP API don't fit a lean one, docs/memory.md)
    board = [] if "--board" in args else ["--board", "esp32-wrover-e"]
    return subprocess.run([DOORCTL, "provision", "--no-input"] + board + list(args), capture_output=True,
                          text=True, env=e, timeout=timeout)


def device_validate(out):
    """The firmware's own validators, as the device runs them at start-up."""
    from doorapp.config import schema as configmod
    from doorapp.config import secrets as secretsmod
    from hal import load_board

    spec = load_board(os.path.join(paths.BOARDS, "esp32-wrover-e.json"))
    cfg = configmod.validate(json.load(open(out / "config.json")), spec)
    sec = secretsmod.validate(json.load(open(out / "secrets.json")))
    return cfg, sec


def test_flags_and_environment(tmp_path):
    out = tmp_path / "prov"
    r = run("--out", str(out), "--device-id", "door-7", "--ssid", "Office", "--tz", TZ,
            env={"DOORCTL_WIFI_PASSWORD": WIFI, "DOORCTL_ADMIN_PASSWORD": ADMIN})
    assert r.returncode == 0, r.stderr
    cfg, sec = device_validate(out)
    assert cfg["device"]["id"] == "door-7" and cfg["network"]["ssid"] == "Office" and cfg["time"]["tz"] == TZ
    raw = json.load(open(out / "secrets.json"))
    assert raw["wifi_password"] == WIFI
    assert len(raw["site_key"]) == 64 and len(raw["qr_key"]) == 64 and raw["site_key"] != raw["qr_key"]
    assert len(sec["site_key"]) == 32
    # the admin password is stored only as a salted hash the device's own code checks
    from doorapp.config import passwords

    assert ADMIN not in json.dumps(raw) and raw["admin_hash"].startswith("pbkdf2-sha256$")
    assert passwords.check_password(ADMIN, raw["admin_hash"]) and not passwords.check_password("guess", raw["admin_hash"])
    assert stat.S_IMODE(os.stat(out / "secrets.json").st_mode) == 0o600
    for secret in (WIFI, ADMIN, raw["site_key"], raw["qr_key"]):
        assert secret not in r.stdout + r.stderr
    assert "wifi_password    set" in r.stdout and "site_key         generated" in r.stdout


def test_rerun_keeps_keys_and_other_settings_new_keys_rotates(tmp_path):
    out = tmp_path / "prov"
    assert run("--out", str(out), "--device-id", "door-1").returncode == 0
    first = json.load(open(out / "secrets.json"))
    cfg = json.load(open(out / "config.json"))
    cfg["relays"] = {"1": {"hold_ms": 3000}}  # set by hand meanwhile
    (out / "config.json").write_text(json.dumps(cfg))
    r = run("--out", str(out), "--ssid", "Lab", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["secrets"] == {"site_key": "kept", "qr_key": "kept", "mifare_key": "kept", "desfire_key": "kept",
                                  "plus_keys": "kept"}
    second = json.load(open(out / "secrets.json"))
    assert second == first
    cfg2 = json.load(open(out / "config.json"))
    assert cfg2["relays"] == {"1": {"hold_ms": 3000}} and cfg2["device"]["id"] == "door-1"
    assert cfg2["network"]["ssid"] == "Lab"
    assert run("--out", str(out), "--new-keys").returncode == 0
    third = json.load(open(out / "secrets.json"))
    assert third["site_key"] != first["site_key"] and third["qr_key"] != first["qr_key"]


def test_desfire_key_generated_kept_given_and_replaced_only_on_request(tmp_path):
    out = tmp_path / "prov"
    assert run("--out", str(out)).returncode == 0
    first = json.load(open(out / "secrets.json"))["desfire_key"]
    assert len(bytes.fromhex(first)) == 16
    assert run("--out", str(out), "--new-keys").returncode == 0
    assert json.load(open(out / "secrets.json"))["desfire_key"] == first  # (site keys only)
    r = run("--out", str(out), "--new-desfire-key", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["secrets"]["desfire_key"] == "regenerated"
    second = json.load(open(out / "secrets.json"))["desfire_key"]
    assert second != first and second not in r.stdout
    r = run("--out", str(out), env={"DOORCTL_DESFIRE_KEY": "AB" * 16})
    assert r.returncode == 0 and json.load(open(out / "secrets.json"))["desfire_key"] == "ab" * 16
    r = run("--out", str(out), "--desfire-key", "abc")
    assert r.returncode != 0 and "desfire_key" in r.stderr and "abc" not in r.stderr


def test_plus_keys_generated_kept_rotated_and_given(tmp_path):
    out = tmp_path / "prov"
    assert run("--out", str(out)).returncode == 0
    first = json.load(open(out / "secrets.json"))["plus_keys"]
    assert len(first) == 1 and len(bytes.fromhex(first[0])) == 16
    assert run("--out", str(out), "--new-keys").returncode == 0
    assert json.load(open(out / "secrets.json"))["plus_keys"] == first
    for n in (2, 3, 3):  # a new key first, the older ones kept as the next choices, at most three
        r = run("--out", str(out), "--new-plus-key", "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["secrets"]["plus_keys"].startswith("regenerated")
        keys = json.load(open(out / "secrets.json"))["plus_keys"]
        assert len(keys) == n and keys[1] == first[0] if n == 2 else len(keys) == 3
        assert keys[0] not in r.stdout
    r = run("--out", str(out), "--plus-key", "ab" * 16, "--plus-key", "CD" * 16)
    assert r.returncode == 0 and json.load(open(out / "secrets.json"))["plus_keys"] == ["ab" * 16, "cd" * 16]
    r = run("--out", str(out), env={"DOORCTL_PLUS_KEYS": "11" * 16 + "," + "22" * 16})
    assert r.returncode == 0 and json.load(open(out / "secrets.json"))["plus_keys"] == ["11" * 16, "22" * 16]
    r = run("--out", str(out), "--plus-key", "abc")
    assert r.returncode != 0 and "plus_keys" in r.stderr and "abc" not in r.stderr
    r = run("--out", str(out), *["--plus-key", "ab" * 16] * 4)
    assert r.returncode != 0 and "plus_keys" in r.stderr and "1-3" in r.stderr


def test_given_keys_are_used(tmp_path):
    out = tmp_path / "prov"
    r = run("--out", str(out), "--site-key", "AB" * 32, env={"DOORCTL_QR_KEY": "cd" * 32})
    assert r.returncode == 0, r.stderr
    raw = json.load(open(out / "secrets.json"))
    assert raw["site_key"] == "ab" * 32 and raw["qr_key"] == "cd" * 32
    assert "ab" * 32 not in r.stdout.lower()


@pytest.mark.parametrize("args,msg", [
    (["--device-id", "much-too-long-id"], "config.json: device.id: must be text of 1-12 characters"),
    (["--site-key", "1234"], "secrets.json: site_key: must be 64 hex digits"),
    (["--admin-password", "short"], "at least 8 characters"),
])
def test_invalid_values_write_nothing(tmp_path, args, msg):
    out = tmp_path / "prov"
    assert run("--out", str(out), "--device-id", "door-3").returncode == 0
    before = {n: open(out / n, "rb").read() for n in ("config.json", "secrets.json")}
    r = run("--out", str(out), *args)
    assert r.returncode == 1 and msg in r.stderr and "nothing written" in r.stderr
    assert {n: open(out / n, "rb").read() for n in before} == before


def test_interactive_prompts_do_not_echo_secrets(tmp_path):
    """On a terminal: plain prompts for the settings, getpass (no echo) for the passwords."""
    out = tmp_path / "prov"
    env = dict(os.environ)
    for k in ("DOORCTL_WIFI_PASSWORD", "DOORCTL_ADMIN_PASSWORD"):
        env.pop(k, None)
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(DOORCTL, [DOORCTL, "provision", "--board", "esp32-wrover-e", "--out", str(out)], env)
    transcript = b""

    def expect(text, timeout=20):
        nonlocal transcript
        deadline = time.time() + timeout
        while text.encode() not in transcript:
            r, _w, _x = select.select([fd], [], [], max(0.0, deadline - time.time()))
            if not r:
                raise AssertionError("no %r in %r" % (text, transcript))
            try:
                transcript += os.read(fd, 1024)
            except OSError:
                raise AssertionError("ended before %r: %r" % (text, transcript))

    answers = [("Device ID", "door-9"), ("Device name", ""), ("Time zone", TZ), ("Wi-Fi SSID", "Lab"),
               ("Wi-Fi password", WIFI), ("Admin password", ADMIN), ("Repeat admin password", ADMIN)]
    for prompt, answer in answers:
        expect(prompt)
        os.write(fd, (answer + "\n").encode())
    expect("next: doorctl build")
    try:
        while True:
            chunk = os.read(fd, 1024)
            if not chunk:
                break
            transcript += chunk
    except OSError:
        pass
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, transcript
    text = transcript.decode(errors="replace")
    assert "door-9" in text and "Lab" in text  # plain answers are echoed as typed
    assert WIFI not in text and ADMIN not in text  # passwords are not
    cfg, _sec = device_validate(out)
    raw = json.load(open(out / "secrets.json"))
    assert cfg["device"]["id"] == "door-9" and cfg["time"]["tz"] == TZ and raw["wifi_password"] == WIFI
    from doorapp.config import passwords

    assert passwords.check_password(ADMIN, raw["admin_hash"])


def test_build_takes_the_provision_directory(tmp_path):
    out = tmp_path / "prov"
    assert run("--out", str(out), "--device-id", "door-5", "--tls", "--ip", "10.0.0.5",
               env={"DOORCTL_WIFI_PASSWORD": WIFI}).returncode == 0
    fw = tmp_path / "fw.bin"
    fw.write_bytes(fi.synth_firmware(app_bytes=16 * 1024, machine="Generic ESP32 module with SPIRAM with ESP32"))
    img = tmp_path / "img" / "door.bin"
    r = subprocess.run([DOORCTL, "build", "--firmware", str(fw), "--provision", str(out), "-o", str(img),
                        "--board", "esp32-wrover-e"],  # (a psram board: HTTPS is refused on lean ones)
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    assert WIFI not in r.stdout + r.stderr
    files = fsimage.read_image(open(str(img)[:-4] + ".fs.img", "rb").read())
    assert files["config.json"] == open(out / "config.json", "rb").read()
    assert files["secrets.json"] == open(out / "secrets.json", "rb").read()
    # the HTTPS key and certificate (`--tls`) go on the flash as well; the PEM copy stays on the host
    assert files["tls_key.der"] == open(out / "tls_key.der", "rb").read()
    assert files["tls_cert.der"] == open(out / "tls_cert.der", "rb").read()
    assert "tls_cert.pem" not in files
    assert open(out / "tls_key.der", "rb").read().hex() not in (r.stdout + r.stderr).lower()

"""`doorctl cards read|encode|enrol` (Adafruit's PN532 driver over pyserial) against our PN532
emulator on a pty (doorctl.pn532_bridge); the encoded card then read as the door reads it."""
import asyncio
import csv
import json
import threading
import time

import pytest

from doorctl import cli
from doorctl.pn532_bridge import PN532Bridge
from pn532emu.mifare import classic_memory

KEY = "a1b2c3d4e5f6"
UID = b"\xde\xad\xbe\xef"


@pytest.fixture
def bridge():
    br = PN532Bridge(select_ms=0)
    path = br.serve_pty()
    yield br, path
    br.close()


@pytest.fixture
def secrets(tmp_path):
    p = tmp_path / "secrets.json"
    p.write_text(json.dumps({"site_key": "5a" * 32, "mifare_key": KEY}))
    return str(p)


def doorctl(capsys, *argv):
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert KEY not in (out + err).lower()
    return rc, out, err


def test_encode_a_blank_card_then_read_it(bridge, secrets, capsys):
    br, port = bridge
    mem = classic_memory(UID)
    br.place(UID, memory=mem)
    rc, out, err = doorctl(capsys, "cards", "encode", "--port", port, "--code", "12345", "--sector", "2",
                           "--block", "1", "--secrets", secrets, "--card-format", "10D", "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["uid"] == "DEADBEEF" and doc["was"] == "blank" and doc["card_code"] == "0000012345", doc
    # on the card: the code in block 9, the site key as key A and B, access bits 78 77 88
    assert mem[9 * 16:9 * 16 + 16] == (12345).to_bytes(4, "big") + bytes(12)
    assert mem[11 * 16:12 * 16] == bytes.fromhex(KEY) + b"\x78\x77\x88\x69" + bytes.fromhex(KEY)

    rc, out, err = doorctl(capsys, "cards", "read", "--port", port, "--sector", "2", "--block", "1",
                           "--secrets", secrets, "--card-format", "10D")
    assert rc == 0, err
    assert "card DEADBEEF: MIFARE Classic 1K" in out and "code 12345 = 0000012345 in 10D" in out, out
    assert "site key" in out
    # without the key: the sector is locked
    rc, out, err = doorctl(capsys, "cards", "read", "--port", port, "--sector", "2", "--block", "1", "--json")
    assert rc == 0 and json.loads(out)["status"] == "key_wrong"
    # encoding again (the site key opens it) writes a new code
    rc, out, err = doorctl(capsys, "cards", "encode", "--port", port, "--code", "777", "--sector", "2", "--block", "1",
                           "--secrets", secrets)
    assert rc == 0 and "encoded before" in out and "code 777" in out, out + err

    # and our firmware's reader code takes it as a door does
    from doorapp import cardkinds
    from pn532.hsu import PN532_HSU
    from pn532emu import PN532Emulator, EmulatorStream

    emu = PN532Emulator(asleep=False)
    emu.place(UID, memory=mem)

    class FakeDoor:
        cfg = {"card": {"enabled": True, "mifare": {"enabled": True, "sector": 2, "block": 1, "key_type": "B",
                                                    "uid_fallback": False}}}
        secrets = {"mifare_key": bytes.fromhex(KEY)}
        card_format = "10D"

        def decide(self, kind, value, shown, fmt):
            self.got = (kind, value, shown, fmt)

    async def main():
        pn = PN532_HSU(EmulatorStream(emu))
        card = await pn.read_passive_target()
        door = FakeDoor()

        class W:
            read_card = None

        cardkinds.follow(door, W)
        await W.read_card(pn, *card)
        return door.got

    assert asyncio.run(main()) == (1, "0000000777", (777).to_bytes(4, "big"), 3)


def test_errors_are_one_line(bridge, secrets, capsys, tmp_path):
    br, port = bridge
    rc, out, err = doorctl(capsys, "cards", "encode", "--port", port, "--code", "5", "--block", "3", "--secrets", secrets)
    assert rc == 1 and "trailer" in err and "Traceback" not in err
    rc, out, err = doorctl(capsys, "cards", "encode", "--port", port, "--code", "5", "--secrets", str(tmp_path / "none"))
    assert rc == 1 and "--secrets" in err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"mifare_key": "a1b2"}))
    rc, out, err = doorctl(capsys, "cards", "encode", "--port", port, "--code", "5", "--secrets", str(bad))
    assert rc == 1 and "mifare_key" in err and "12 hex digits" in err and "a1b2" not in err, err
    rc, out, err = doorctl(capsys, "cards", "read", "--port", str(tmp_path / "no-tty"))
    assert rc == 1 and "--port" in err
    rc, out, err = doorctl(capsys, "cards", "read", "--port", port, "--timeout", "0.3")
    assert rc == 1 and "no card" in err
    br.place(b"\x04\x11\x22\x33\x44\x55\x66")  # an NTAG
    rc, out, err = doorctl(capsys, "cards", "encode", "--port", port, "--code", "5", "--secrets", secrets)
    assert rc == 1 and "not a MIFARE Classic" in err
    # a sector with someone else's keys
    br.place(UID, memory=classic_memory(UID, keys={1: (b"\x01" * 6, b"\x02" * 6)}))
    rc, out, err = doorctl(capsys, "cards", "encode", "--port", port, "--code", "5", "--secrets", secrets)
    assert rc == 1 and "neither the transport key nor the site key" in err


def test_enrol_appends_a_row_per_card(bridge, secrets, capsys, tmp_path):
    br, port = bridge
    users = tmp_path / "users.csv"
    users.write_text("id,name,cards,relays\n41,Existing,0000000001,1\n")
    cards = [(b"\x01\x02\x03\x04", 1001), (b"\x05\x06\x07\x08", 1002), (b"\x09\x0a\x0b\x0c", None)]

    def present():
        for uid, code in cards:
            data = {} if code is None else {4: code.to_bytes(4, "big")}
            br.place(uid, memory=classic_memory(uid, key_a=bytes.fromhex(KEY), key_b=bytes.fromhex(KEY), data=data))
            time.sleep(0.6)
        br.place(b"\x0d\x0e\x0f\x10", memory=classic_memory(b"\x0d\x0e\x0f\x10", data={4: (3).to_bytes(4, "big")}))

    t = threading.Thread(target=present, daemon=True)
    t.start()
    rc, out, err = doorctl(capsys, "cards", "enrol", "--port", port, "--csv", str(users), "--secrets", secrets,
                           "--card-format", "10D", "--count", "3", "--timeout", "5")
    t.join()
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == "card 1: 01020304 -> 0000001001, user 42 appended to %s" % users, out
    assert lines[1].startswith("card 2: 05060708 -> 0000001002, user 43")
    assert "card 090A0B0C: skipped (empty)" in out
    assert lines[-1] == "3 card(s) enrolled into %s" % users
    rows = list(csv.DictReader(users.open()))
    assert [(r["id"], r["cards"]) for r in rows] == [("41", "0000000001"), ("42", "0000001001"), ("43", "0000001002"),
                                                     ("44", "0000000003")]
    # UIDs without a key; the CSV is created
    fresh = tmp_path / "new.csv"
    br.place(b"\x04\xa1\xb2\xc3")
    rc, out, err = doorctl(capsys, "cards", "enrol", "--port", port, "--csv", str(fresh), "--count", "1", "--json")
    assert rc == 0 and json.loads(out)["enrolled"] == [{"id": 1, "uid": "04A1B2C3", "card": "04A1B2C3"}]
    assert fresh.read_text() == "id,name,cards,relays\n1,card 1,04A1B2C3,1\n"


def test_help(capsys):
    for sub in ("read", "encode", "enrol"):
        with pytest.raises(SystemExit) as e:
            cli.main(["cards", sub, "--help"])
        assert e.value.code == 0
        assert "--desfire" in capsys.readouterr().out, sub
    # the overview names both kinds of card the commands handle (README: `doorctl cards` row)
    with pytest.raises(SystemExit):
        cli.main(["cards", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "docs/cards-mifare.md" in out and "docs/cards-desfire.md" in out and "--desfire" in out, out


def test_the_door_readers_private_codes_match_eventlog():
    import eventcodes
    import eventlog
    from doorapp import mifare as doormifare

    assert doormifare._REASON_CARD_KEY_WRONG == eventcodes.REASON_CARD_KEY_WRONG
    assert doormifare._REASON_CARD_BLOCK_EMPTY == eventcodes.REASON_CARD_BLOCK_EMPTY
    from doorapp import cardkinds

    assert cardkinds._REASON_CARD_NOT_MIFARE == eventcodes.REASON_CARD_NOT_MIFARE
    assert doormifare._KIND_CARD == eventcodes.KIND_CARD
    assert eventlog.REASONS[40:43] == ("card_key_wrong", "card_block_empty", "card_not_mifare")


DKEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
DUID = b"\x04\x11\x22\x33\x44\x55\x66"


@pytest.mark.parametrize("diversify", [False, True])
def test_encode_a_blank_desfire_then_the_door_reads_it(bridge, tmp_path, capsys, diversify):
    """Adafruit's driver over the pty creates the application, its keys and the file on a blank
    emulated DESFire (DESFire commands through InDataExchange); our reader then reads it as a door."""
    br, port = bridge
    sec = tmp_path / "secrets.json"
    sec.write_text(json.dumps({"site_key": "5a" * 32, "desfire_key": DKEY}))
    card = br.call("place_desfire", DUID, {})  # blank: no application, PICC key DES zero
    extra = ["--diversify"] if diversify else []
    rc, out, err = doorctl(capsys, "cards", "encode", "--desfire", "--port", port, "--code", "12345", "--aid", "F51230",
                           "--file", "2", "--secrets", str(sec), "--card-format", "10D", "--json", *extra)
    assert rc == 0, err
    assert DKEY not in (out + err).lower()
    doc = json.loads(out)
    assert doc["frames"] == 15, doc  # DESFire commands (docs/cards-desfire.md)
    assert (doc["uid"], doc["was"], doc["card_code"], doc["aid"], doc["file"]) == (
        "04112233445566", "blank", "0000012345", "F51230", 2), doc
    app = card.apps[0xF51230]
    from doorctl import desfire_host

    key = desfire_host.diversify_aes(bytes.fromhex(DKEY), DUID, b"\x30\x12\xf5") if diversify else bytes.fromhex(DKEY)
    assert app.crypto == "aes" and app.keys[0] == key and app.keys[1] == key
    f = app.files[2]
    assert (f.comm, f.read, f.write, bytes(f.data[:4])) == (3, 1, 0, (12345).to_bytes(4, "big"))

    rc, out, err = doorctl(capsys, "cards", "read", "--desfire", "--port", port, "--aid", "F51230", "--file", "2",
                           "--secrets", str(sec), "--card-format", "10D", *extra)
    assert rc == 0, err
    assert "MIFARE DESFire" in out and "applications: F51230" in out and "code 12345 = 0000012345 in 10D" in out, out
    # encoded again: ours (the site key opens it), a new code
    rc, out, err = doorctl(capsys, "cards", "encode", "--desfire", "--port", port, "--code", "777", "--aid", "F51230",
                           "--file", "2", "--secrets", str(sec), *extra)
    assert rc == 0 and "encoded before" in out, out + err
    # without the key: the applications, no code
    rc, out, err = doorctl(capsys, "cards", "read", "--desfire", "--port", port, "--aid", "F51230", "--json")
    assert rc == 0 and json.loads(out)["applications"] == ["F51230"] and "code" not in json.loads(out)

    # our firmware's reader takes it as a door does
    from doorapp import cardkinds
    from pn532.hsu import PN532_HSU
    from pn532emu import PN532Emulator, EmulatorStream

    emu = PN532Emulator(asleep=False)
    emu.place(DUID, ats=b"\x06\x75\x77\x81\x02\x80", desfire=card)

    class FakeDoor:
        cfg = {"card": {"enabled": True, "mifare": {"enabled": False},
                        "desfire": {"enabled": True, "aid": "F51230", "file": 2, "crypto": "aes", "key_index": 1, "comm": "enc",
                                    "offset": 0, "length": 4, "diversify": diversify, "uid_fallback": False}}}
        secrets = {"desfire_key": bytes.fromhex(DKEY)}
        card_format = "10D"

        def decide(self, kind, value, shown, fmt):
            self.got = (kind, value, shown, fmt)

    async def main():
        pn = PN532_HSU(EmulatorStream(emu))
        c = await pn.read_passive_target()
        door = FakeDoor()

        class W:
            read_card = None

        cardkinds.follow(door, W)
        await W.read_card(pn, *c)
        return door.got

    assert asyncio.run(main()) == (1, "0000000777", (777).to_bytes(4, "big"), 3)


def test_desfire_encode_errors(bridge, tmp_path, capsys):
    br, port = bridge
    sec = tmp_path / "secrets.json"
    sec.write_text(json.dumps({"desfire_key": DKEY}))
    br.place(UID, memory=classic_memory(UID))
    rc, out, err = doorctl(capsys, "cards", "encode", "--desfire", "--port", port, "--code", "5", "--secrets", str(sec),
                           "--timeout", "2")
    assert rc == 1 and "not a DESFire" in err, err
    rc, out, err = doorctl(capsys, "cards", "encode", "--desfire", "--port", port, "--code", "5", "--aid", "000000",
                           "--secrets", str(sec))
    assert rc == 1 and "--aid" in err
    nokey = tmp_path / "nokey.json"
    nokey.write_text(json.dumps({"mifare_key": KEY}))
    rc, out, err = doorctl(capsys, "cards", "encode", "--desfire", "--port", port, "--code", "5",
                           "--secrets", str(nokey))
    assert rc == 1 and "desfire_key" in err
    # someone else's application: their keys, not ours
    br.call("place_desfire", DUID, {"aid": "000001", "file": 1, "data": "00", "key": "11" * 16, "key_index": 0})
    rc, out, err = doorctl(capsys, "cards", "encode", "--desfire", "--port", port, "--code", "5", "--secrets", str(sec))
    assert rc == 1 and "application 000001 is there with other keys" in err, err


def test_enrol_desfire_codes(bridge, tmp_path, capsys):
    br, port = bridge
    sec = tmp_path / "secrets.json"
    sec.write_text(json.dumps({"desfire_key": DKEY}))
    users = tmp_path / "users.csv"
    cards = [(DUID, 1001, DKEY), (b"\x04\x11\x22\x33\x44\x55\x67", 1002, "00" * 16),
             (b"\x04\x11\x22\x33\x44\x55\x68", 1003, DKEY)]

    def present():
        for uid, code, key in cards:
            br.call("place_desfire", uid, {"aid": "F51230", "file": 1, "data": "%08x" % code, "key": key})
            time.sleep(0.6)

    t = threading.Thread(target=present, daemon=True)
    t.start()
    rc, out, err = doorctl(capsys, "cards", "enrol", "--desfire", "--aid", "F51230", "--port", port,
                           "--csv", str(users), "--secrets", str(sec), "--card-format", "10D", "--count", "2",
                           "--timeout", "5")
    t.join()
    assert rc == 0, err
    assert "card 04112233445567: skipped (key_wrong)" in out, out
    rows = list(csv.DictReader(users.open()))
    assert [(r["id"], r["cards"]) for r in rows] == [("1", "0000001001"), ("2", "0000001003")]

"""MIFARE DESFire end to end: the simulator (real firmware, MicroPython, ESP32 heap) selects the
application, authenticates with AES and reads the code from a file of a DESFire on the emulated
PN532 (its own process), decides on it, and never shows the key (docs/cards-desfire.md)."""
import json
import subprocess
import time

from httpclient import admin_session
from simproc import FAST_CONFIG, ROOT, Sim, tap_decided

KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
SITE_KEY = "5a" * 32
UID = "04112233445566"
CODE = 12345  # 10D: 0000012345
CFG = dict(FAST_CONFIG, card={"format": "10D", "desfire": {"enabled": True, "aid": "F51230", "file": 1}})
USERS = [{"id": 1001, "name": "Ann", "cards": ["0000012345"], "relays": [1]},
         {"id": 1002, "name": "Uid Only", "cards": ["0068231731"], "relays": [1]}]  # 04112233 in 10D


def card(code=CODE, key=KEY, **over):
    d = {"aid": "F51230", "file": 1, "data": "%08x" % code, "key": key, "crypto": "aes", "key_index": 1, "comm": "enc"}
    d.update(over)
    return d


def tap(sim, uid=UID, **card):
    return tap_decided(sim, uid, **card)


def _sim(tmp, **kw):
    return Sim(tmp, config=CFG, users=USERS, http=True, secrets={"site_key": SITE_KEY, "desfire_key": KEY}, **kw)


def test_desfire_end_to_end(tmp_path):
    sim = _sim(tmp_path)
    try:
        # the file holds user 1001's code: relay 1 opens
        ev = tap(sim, desfire=card())
        assert (ev["result"], ev["reason"], ev["user"], ev["code"]) == ("granted", "ok", 1001, "0000012345"), ev
        assert sim.state()["relays"]["1"]["pulses"] >= 1
        # denials, each with its reason; the UID in full hex, never the key
        ev = tap(sim, desfire=card(key="00" * 16))
        assert (ev["result"], ev["reason"], ev["code"], ev["user"]) == ("denied", "card_key_wrong", UID, 0), ev
        ev = tap(sim, desfire=card(tamper="enc"))
        assert (ev["result"], ev["reason"], ev["code"]) == ("denied", "card_integrity", UID), ev
        ev = tap(sim, desfire=card(code=99999))
        assert (ev["result"], ev["reason"], ev["code"]) == ("denied", "unknown_credential", "0000099999"), ev
        ev = tap(sim, desfire=card(aid="F51231"))
        assert (ev["result"], ev["reason"]) == ("denied", "card_app_missing"), ev
        ev = tap(sim, desfire=card(code=0))
        assert ev["reason"] == "card_block_empty", ev
        ev = tap(sim, "04501234567890")  # not a DESFire (NTAG): its UID no longer opens
        assert (ev["result"], ev["reason"], ev["code"]) == ("denied", "card_not_desfire", "04501234567890"), ev
        # a card leaving mid-authentication: nothing decided; the reader goes on
        last = sim.state(0)["last_seq"]
        sim.call("tap", uid=UID, ms=200, desfire=card(leave_after=2))
        time.sleep(1.0)
        assert sim.state(0)["last_seq"] == last
        ev = tap(sim, desfire=card())
        assert (ev["result"], ev["user"]) == ("granted", 1001), ev

        # config over the API: MACed files, errors name the field; the key never shown
        admin = admin_session(sim.http)
        st, doc = admin.patch("/api/v1/config", {"card": {"desfire": {"comm": "mac"}}})
        assert st == 200 and doc["card"]["desfire"]["comm"] == "mac" and doc["card"]["desfire"]["aid"] == "F51230"
        ev = tap(sim, desfire=card(comm="mac"))
        assert (ev["result"], ev["user"]) == ("granted", 1001), ev
        ev = tap(sim, desfire=card(comm="mac", tamper="mac"))  # a wrong CMAC
        assert (ev["result"], ev["reason"]) == ("denied", "card_integrity"), ev
        for patch, field, word in (({"aid": "F5123"}, "card.desfire.aid", "6 hex digits"),
                                   ({"aid": "F5123G"}, "card.desfire.aid", "6 hex digits"),
                                   ({"aid": "000000"}, "card.desfire.aid", "PICC"),
                                   ({"file": 17}, "card.desfire.file", "between"),
                                   ({"key_index": 12}, "card.desfire.key_index", "between"),
                                   ({"crypto": "3des", "diversify": True}, "card.desfire.diversify", "AES-128 only"),
                                   ({"comm": "clear"}, "card.desfire.comm", "plain"),
                                   ({"colour": 1}, "card.desfire.colour", "unknown")):
            st, doc = admin.patch("/api/v1/config", {"card": {"desfire": patch}})
            assert st == 400 and doc["field"] == field and word in doc["error"], (patch, doc)
        st, doc = admin.patch("/api/v1/config", {"card": {"desfire": {"uid_fallback": True}}})
        assert st == 200
        ev = tap(sim, "04112233")  # a UID-only card (MIFARE Classic), decided on its UID
        assert (ev["result"], ev["user"]) == ("granted", 1002), ev
        texts = []
        for path in ("/api/v1/config", "/api/v1/status", "/api/v1/events?since=0&limit=200"):
            st, doc = admin.get(path)
            assert st == 200, path
            texts.append(json.dumps(doc))
        texts.append(json.dumps(sim.state(100)))
        texts.append(sim.output)
        for t in texts:
            assert KEY not in t.lower() and "desfire_key" not in t, t[:500]
        # DESFire off: the UID again
        st, doc = admin.patch("/api/v1/config", {"card": {"desfire": {"enabled": False}}})
        assert st == 200
        ev = tap(sim, "04112233")
        assert (ev["result"], ev["user"]) == ("granted", 1002), ev
        assert "Traceback" not in sim.output
    finally:
        sim.stop()
        print(sim.output[-3000:])


def test_diversified_cards_and_the_cli(tmp_path):
    from doorctl import cli, desfire_host

    cfg = dict(CFG, card={"format": "10D", "desfire": {"enabled": True, "aid": "F51230", "file": 1, "diversify": True}})
    sim = Sim(tmp_path, config=cfg, users=USERS, secrets={"site_key": SITE_KEY, "desfire_key": KEY})
    try:
        own = desfire_host.diversify_aes(bytes.fromhex(KEY), bytes.fromhex(UID), desfire_host.aid_bytes("F51230"))
        ev = tap(sim, desfire=card(key=own.hex()))
        assert (ev["result"], ev["user"]) == ("granted", 1001), ev
        ev = tap(sim, desfire=card())  # the master key itself on the card: refused
        assert ev["reason"] == "card_key_wrong", ev
        last = sim.state(0)["last_seq"]
        assert cli.main(["sim", "tap", UID, "--control", sim.control, "--desfire", "F51230/1=%08x" % CODE,
                         "--key", own.hex(), "--crypto", "aes"]) == 0
        st = sim.wait_for(lambda s: s["last_seq"] > last, timeout=5)
        ev = [e for e in st["events"] if e["seq"] > last][0]
        assert (ev["result"], ev["user"], ev["code"]) == ("granted", 1001, "0000012345"), ev
        time.sleep(0.8)
        last = sim.state(0)["last_seq"]
        assert cli.main(["sim", "tap", UID, "--control", sim.control, "--desfire", "F51230/1=%08x" % CODE,
                         "--key", own.hex(), "--tamper", "enc"]) == 0
        st = sim.wait_for(lambda s: s["last_seq"] > last, timeout=5)
        assert [e for e in st["events"] if e["seq"] > last][0]["reason"] == "card_integrity"
        assert cli.main(["sim", "tap", UID, "--control", sim.control, "--desfire", "F51230=00"]) == 1
    finally:
        sim.stop()


def test_bad_desfire_key_in_secrets_names_the_field(tmp_path):
    s = Sim(tmp_path, config=CFG, users=USERS, secrets={"site_key": SITE_KEY, "desfire_key": "a1b2c3"}, start=False)
    r = subprocess.run(s.argv, env=s.env(), cwd=ROOT, capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "desfire_key" in out and "32 hex digits" in out, out
    assert "a1b2c3" not in out


K3 = "0123456789abcdef" "fedcba9876543210" "00112233445566aa"  # 3K3DES
K2 = "13579bdf02468ace" "2468ace013579bdf"  # 2K3DES
K1 = "0f1e2d3c4b5a6978"  # DES


def test_3des_and_des_end_to_end(tmp_path):
    """2K3DES, 3K3DES and DES applications read by the door itself (lib/des.py under MicroPython):
    the code opens, a wrong key is card_key_wrong, a tampered MAC or CRC card_integrity."""
    for kind, key, ck in (("3des", K3, K3), ("3des", K2, K2), ("des", K1, K1), ("des", K1 + K1, K1)):
        cfg = dict(FAST_CONFIG, card={"format": "10D", "desfire": {"enabled": True, "aid": "F51230", "file": 1,
                                                                   "crypto": kind, "comm": "mac"}})
        d = tmp_path / (kind + str(len(key)))
        d.mkdir()
        sim = Sim(d, config=cfg, users=USERS, http=(key == K3),
                  secrets={"site_key": SITE_KEY, "desfire_key": key})
        try:
            ev = tap(sim, desfire=card(key=ck, crypto=kind, comm="mac"))
            assert (ev["result"], ev["reason"], ev["user"]) == ("granted", "ok", 1001), (kind, ev)
            ev = tap(sim, desfire=card(key=ck[::-1], crypto=kind, comm="mac"))
            assert (ev["result"], ev["reason"], ev["code"]) == ("denied", "card_key_wrong", UID), (kind, ev)
            ev = tap(sim, desfire=card(key=ck, crypto=kind, comm="mac", tamper="mac"))
            assert (ev["result"], ev["reason"], ev["code"]) == ("denied", "card_integrity", UID), (kind, ev)
            if key == K3:
                ev = tap(sim, desfire=card(key=KEY, crypto="aes", comm="mac"))  # an AES card: refused
                assert ev["reason"] == "card_key_wrong", ev
                admin = admin_session(sim.http)
                st, doc = admin.patch("/api/v1/config", {"card": {"desfire": {"comm": "enc"}}})
                assert st == 200, doc
                ev = tap(sim, desfire=card(key=ck, crypto=kind))
                assert (ev["result"], ev["user"]) == ("granted", 1001), ev
                ev = tap(sim, desfire=card(key=ck, crypto=kind, tamper="enc"))
                assert (ev["result"], ev["reason"]) == ("denied", "card_integrity"), ev
                # the provisioned key must fit the crypto: a 24-byte key is not AES-128
                st, doc = admin.patch("/api/v1/config", {"card": {"desfire": {"crypto": "aes"}}})
                assert st == 400 and doc["field"] == "card.desfire.crypto" and "32 hex digits" in doc["error"], doc
                assert K3 not in json.dumps(doc).lower()
                st, doc = admin.get("/api/v1/config")
                assert doc["card"]["desfire"]["crypto"] == "3des" and K3 not in json.dumps(doc).lower()
            assert "Traceback" not in sim.output
        finally:
            sim.stop()


def test_desfire_key_that_does_not_fit_the_crypto_stops_start_up(tmp_path):
    for kind, key in (("aes", K3), ("des", K3), ("3des", K1)):
        cfg = dict(CFG, card={"format": "10D", "desfire": {"enabled": True, "aid": "F51230", "crypto": kind}})
        (tmp_path / kind).mkdir()
        s = Sim(tmp_path / kind, config=cfg, users=USERS, secrets={"site_key": SITE_KEY, "desfire_key": key},
                start=False)
        r = subprocess.run(s.argv, env=s.env(), cwd=ROOT, capture_output=True, text=True, timeout=60)
        out = r.stdout + r.stderr
        assert r.returncode != 0 and "secrets.json: desfire_key: must be" in out and kind in out, out
        assert key not in out.lower()

"""MIFARE Plus SL3 end to end: the simulator (real firmware, MicroPython, ESP32 heap)
authenticates with AES and reads the code from a block of a MIFARE Plus on the emulated PN532
(its own process), with any of the site's key choices, decides on it, and never shows a key
(docs/cards-plus.md)."""
import json
import time

from httpclient import admin_session
from simproc import FAST_CONFIG, Sim, tap_decided

KEY1 = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
KEY2 = "a0b1c2d3e4f5061728394a5b6c7d8e9f"
SITE_KEY = "5a" * 32
UID = "04213243546576"
CFG = dict(FAST_CONFIG, card={"format": "10D", "plus": {"enabled": True, "sector": 2, "block": 1, "keys": 2}})
USERS = [{"id": 1001, "name": "Ann", "cards": ["0000012345"], "relays": [1]},
         {"id": 1002, "name": "Uid Only", "cards": ["0068231731"], "relays": [1]}]  # 04112233 in 10D


def card(code=12345, key=KEY1, block=9, **over):
    d = {"blocks": {str(block): "%08x" % code}, "key": key}
    d.update(over)
    return d


def tap(sim, uid=UID, **card):
    return tap_decided(sim, uid, **card)


def test_plus_end_to_end(tmp_path):
    sim = Sim(tmp_path, config=CFG, users=USERS, http=True,
              secrets={"site_key": SITE_KEY, "plus_keys": [KEY1, KEY2]})
    try:
        ev = tap(sim, plus=card())  # the block holds user 1001's code: relay 1 opens
        assert (ev["result"], ev["reason"], ev["user"], ev["code"]) == ("granted", "ok", 1001, "0000012345"), ev
        ev = tap(sim, plus=card(key=KEY2))  # the second key choice works too
        assert (ev["result"], ev["user"]) == ("granted", 1001), ev
        ev = tap(sim, plus=card(key="00" * 16))  # neither key: denied, the UID in full hex
        assert (ev["result"], ev["reason"], ev["code"], ev["user"]) == ("denied", "card_key_wrong", UID, 0), ev
        ev = tap(sim, plus=card(tamper="mac"))
        assert (ev["result"], ev["reason"]) == ("denied", "card_integrity"), ev
        ev = tap(sim, plus=card(code=0))
        assert ev["reason"] == "card_block_empty", ev
        ev = tap(sim, "04501234567890")  # not a MIFARE Plus (NTAG): its UID no longer opens
        assert (ev["result"], ev["reason"], ev["code"]) == ("denied", "card_not_plus", "04501234567890"), ev
        # a card leaving mid-authentication: nothing decided; the reader goes on
        last = sim.state(0)["last_seq"]
        sim.call("tap", uid=UID, ms=200, plus=card(leave_after=1))
        time.sleep(1.0)
        assert sim.state(0)["last_seq"] == last
        ev = tap(sim, plus=card())
        assert (ev["result"], ev["user"]) == ("granted", 1001), ev

        # config over the API: errors name the field; one key choice only: KEY2's card is refused
        admin = admin_session(sim.http)
        st, doc = admin.patch("/api/v1/config", {"card": {"plus": {"keys": 1}}})
        assert st == 200 and doc["card"]["plus"] == {"enabled": True, "sector": 2, "block": 1, "key_type": "A",
                                                      "keys": 1, "uid_fallback": False}, doc
        ev = tap(sim, plus=card(key=KEY2))
        assert (ev["result"], ev["reason"]) == ("denied", "card_key_wrong"), ev
        for patch, field, word in (({"sector": 40}, "card.plus.sector", "between"),
                                   ({"block": 3}, "card.plus.block", "trailer"),
                                   ({"sector": 0, "block": 0}, "card.plus.block", "manufacturer"),
                                   ({"keys": 4}, "card.plus.keys", "between"),
                                   ({"key_type": "C"}, "card.plus.key_type", "A/B"),
                                   ({"colour": 1}, "card.plus.colour", "unknown")):
            st, doc = admin.patch("/api/v1/config", {"card": {"plus": patch}})
            assert st == 400 and doc["field"] == field and word in doc["error"], (patch, doc)
        st, doc = admin.patch("/api/v1/config", {"card": {"plus": {"uid_fallback": True}}})
        assert st == 200
        ev = tap(sim, "04112233")  # a UID-only card, decided on its UID
        assert (ev["result"], ev["user"]) == ("granted", 1002), ev
        texts = []
        for path in ("/api/v1/config", "/api/v1/status", "/api/v1/events?since=0&limit=200"):
            st, doc = admin.get(path)
            assert st == 200, path
            texts.append(json.dumps(doc))
        texts.append(json.dumps(sim.state(100)))
        texts.append(sim.output)
        for t in texts:
            assert KEY1 not in t.lower() and KEY2 not in t.lower() and "plus_keys" not in t, t[:500]
        st, doc = admin.patch("/api/v1/config", {"card": {"plus": {"enabled": False}}})  # off: the UID again
        assert st == 200
        ev = tap(sim, "04112233")
        assert (ev["result"], ev["user"]) == ("granted", 1002), ev
        assert "Traceback" not in sim.output
    finally:
        sim.stop()
        print(sim.output[-3000:])


def test_sim_tap_plus_cli(tmp_path):
    from doorctl import cli

    sim = Sim(tmp_path, config=CFG, users=USERS, secrets={"site_key": SITE_KEY, "plus_keys": [KEY1, KEY2]})
    try:
        last = sim.state(0)["last_seq"]
        assert cli.main(["sim", "tap", UID, "--control", sim.control, "--plus",
                         "9=00003039", "--key", KEY2]) == 0
        st = sim.wait_for(lambda s: s["last_seq"] > last, timeout=5)
        ev = [e for e in st["events"] if e["seq"] > last][0]
        assert (ev["result"], ev["user"]) == ("granted", 1001), ev
        assert cli.main(["sim", "tap", UID, "--control", sim.control, "--plus", "9=0000303"]) == 1  # odd hex
        assert cli.main(["sim", "tap", UID, "--control", sim.control, "--plus", "9=00003039", "--key", "ab"]) == 1
    finally:
        sim.stop()

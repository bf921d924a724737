"""MIFARE Classic encryption end to end: the simulator (real firmware, MicroPython, ESP32 heap)
reads the card code from an encrypted sector of a card on the emulated PN532 (its own process),
decides on it, and never shows the key (docs/cards-mifare.md)."""
import json
import subprocess

import pytest

from httpclient import admin_session
from pn532emu.mifare import access_bits
from simproc import FAST_CONFIG, ROOT, Sim, tap_decided

KEY = "a1b2c3d4e5f6"
SITE_KEY = "5a" * 32
UID = "DEADBEEF"  # 10D: 3735928559
CODE = 12345  # 10D: 0000012345
CFG = dict(FAST_CONFIG, card={"format": "10D", "mifare": {"enabled": True, "sector": 2, "block": 1}})
USERS = [{"id": 7, "name": "Ann", "cards": ["0000012345"], "relays": [1]},
         {"id": 8, "name": "Uid Only", "cards": ["3735928559", "0072356404"], "relays": [1]}]


def card(code=CODE, key=KEY, sector=2, block=1, access="787788"):
    blocks = {} if code is None else {str(sector * 4 + block): "%08x" % code}
    return {"sectors": {str(sector): {"key_a": key, "key_b": key, "access": access}}, "blocks": blocks}


def tap(sim, uid=UID, **card):
    return tap_decided(sim, uid, **card)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = Sim(tmp_path_factory.mktemp("mifare"), config=CFG, users=USERS, http=True,
            secrets={"site_key": SITE_KEY, "mifare_key": KEY})
    yield s
    s.stop()
    print(s.output[-3000:])


def test_the_code_in_the_sector_opens_for_its_user(sim):
    ev = tap(sim, mifare=card())
    assert (ev["result"], ev["reason"], ev["user"], ev["code"]) == ("granted", "ok", 7, "0000012345"), ev
    # key B works as well when the config says so (both keys are the site key here)
    ev = tap(sim, "01020304", mifare=card())
    assert ev["result"] == "granted" and ev["user"] == 7


def test_wrong_key_empty_block_and_the_uid_alone_are_denied(sim):
    ev = tap(sim, mifare=card(key="ffffffffffff"))
    assert (ev["result"], ev["reason"], ev["code"], ev["user"]) == ("denied", "card_key_wrong", "DEADBEEF", 0), ev
    ev = tap(sim, mifare=card(code=None))
    assert (ev["result"], ev["reason"], ev["code"]) == ("denied", "card_block_empty", "DEADBEEF"), ev
    ev = tap(sim, mifare=card(code=0xFFFFFFFF))
    assert ev["reason"] == "card_block_empty"
    ev = tap(sim)  # the enrolled UID on a blank card (transport keys): its UID no longer opens
    assert (ev["result"], ev["reason"]) == ("denied", "card_key_wrong"), ev
    # the access bits keep key A from the block: the key is not right for it either
    ev = tap(sim, mifare=card(access=access_bits((4, 3, 4, 3)).hex()))  # block 1: read with key B only (011)
    assert ev["reason"] == "card_key_wrong", ev
    assert not sim.state()["relays"]["1"]["on"]


def test_a_card_that_is_not_mifare(sim):
    ev = tap(sim, "04501234567890")  # 7-byte UID, SAK 00 (Ultralight / NTAG)
    assert (ev["result"], ev["reason"], ev["code"]) == ("denied", "card_not_mifare", "04501234567890"), ev


def test_config_over_the_api_and_the_key_never_shown(sim):
    admin = admin_session(sim.http)
    st, doc = admin.patch("/api/v1/config", {"card": {"mifare": {"block": 3}}})
    assert st == 400 and doc["field"] == "card.mifare.block" and "trailer" in doc["error"], doc
    st, doc = admin.patch("/api/v1/config", {"card": {"mifare": {"sector": 16}}})
    assert st == 400 and doc["field"] == "card.mifare.sector", doc
    st, doc = admin.patch("/api/v1/config", {"card": {"mifare": {"key_type": "B", "uid_fallback": True}}})
    assert st == 200 and doc["card"]["mifare"] == {"enabled": True, "sector": 2, "block": 1, "key_type": "B",
                                                   "uid_fallback": True}, doc
    ev = tap(sim, mifare=card())  # read with key B now
    assert ev["result"] == "granted" and ev["user"] == 7
    ev = tap(sim, "04501234567890")  # UID fallback: 10D of the first 4 bytes = 0072356404
    assert (ev["result"], ev["user"]) == ("granted", 8), ev
    st, doc = admin.patch("/api/v1/config", {"card": {"mifare": {"enabled": False}}})
    assert st == 200 and doc["card"]["mifare"]["sector"] == 2
    ev = tap(sim, mifare=card(key="ffffffffffff"))  # off: the UID again
    assert (ev["result"], ev["user"]) == ("granted", 8), ev
    texts = []
    for path in ("/api/v1/config", "/api/v1/status", "/api/v1/events?since=0&limit=200"):
        st, doc = admin.get(path)
        assert st == 200, path
        texts.append(json.dumps(doc))
    texts.append(json.dumps(sim.state(100)))
    texts.append(sim.output)
    for t in texts:
        assert KEY not in t.lower() and "mifare_key" not in t, t[:500]
    assert admin.patch("/api/v1/config", {"card": {"mifare": {"enabled": True, "key_type": "A",
                                                              "uid_fallback": False}}})[0] == 200


def test_bad_mifare_key_in_secrets_names_the_field(tmp_path):
    s = Sim(tmp_path, config=CFG, users=USERS, secrets={"site_key": SITE_KEY, "mifare_key": "a1b2c3"}, start=False)
    r = subprocess.run(s.argv, env=s.env(), cwd=ROOT, capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "mifare_key" in out and "12 hex digits" in out, out
    assert "a1b2c3" not in out


def test_doorctl_sim_tap_with_a_mifare_card(sim):
    from doorctl import cli

    last = sim.state(0)["last_seq"]
    assert cli.main(["sim", "tap", UID, "--control", sim.control, "--mifare-key", KEY, "--mifare-code", str(CODE),
                     "--mifare-sector", "2", "--mifare-block", "1"]) == 0
    st = sim.wait_for(lambda s: s["last_seq"] > last, timeout=5)
    ev = [e for e in st["events"] if e["seq"] > last][0]
    assert (ev["result"], ev["user"], ev["code"]) == ("granted", 7, "0000012345"), ev

"""NFC phones end to end: the simulator (real firmware, MicroPython, ESP32 heap) selects the site's
AID on a phone on the emulated PN532 (its own process) and decides on the app's answer; the
phone's UID changes every tap (docs/cards-nfc.md)."""
import time

from httpclient import admin_session
from simproc import FAST_CONFIG, Sim

AID = "F0646F6F7263746C"
CFG = dict(FAST_CONFIG, card={"format": "10D", "nfc": {"enabled": True, "aid": AID}})
USERS = [{"id": 1001, "name": "Ann", "cards": ["0000012345"], "relays": [1]},
         {"id": 1002, "name": "Uid Only", "cards": ["0068231731"], "relays": [1]}]  # 04112233 in 10D


def tap(sim, uid=None, hce=None):
    last = sim.state(0)["last_seq"]
    args = {"uid": uid or "", "ms": 200}
    if hce is not None:
        args["hce"] = hce
    sim.call("tap", **args)
    st = sim.wait_for(lambda s: s["last_seq"] > last, timeout=5)
    ev = [e for e in st["events"] if e["seq"] > last]
    sim.wait_for(lambda s: not s["relays"]["1"]["on"], timeout=5)
    time.sleep(0.5)
    return ev[0]


def test_nfc_phones_end_to_end(tmp_path):
    from doorctl import cli

    sim = Sim(tmp_path, config=CFG, users=USERS, http=True)
    try:
        ev = tap(sim, hce={"aid": AID, "response": "00003039"})  # the app answers user 1001's code
        assert (ev["result"], ev["reason"], ev["user"], ev["code"]) == ("granted", "ok", 1001, "0000012345"), ev
        ev = tap(sim, hce={"aid": AID, "response": "00003039"})  # again: another random UID, the same code
        assert (ev["result"], ev["user"]) == ("granted", 1001), ev
        ev = tap(sim, hce={"aid": AID, "installed": False})
        assert (ev["result"], ev["reason"]) == ("denied", "nfc_app_missing"), ev
        assert len(ev["code"]) == 8 and ev["code"].startswith("08"), ev  # the phone's random UID in full hex
        ev = tap(sim, hce={"aid": AID, "response": "0011"})
        assert (ev["result"], ev["reason"]) == ("denied", "nfc_no_code"), ev
        ev = tap(sim, "04112233")  # a plain card: not a phone
        assert (ev["result"], ev["reason"], ev["code"]) == ("denied", "nfc_app_missing", "04112233"), ev
        last = sim.state(0)["last_seq"]
        assert cli.main(["sim", "tap", "--control", sim.control, "--hce", AID + "=00003039"]) == 0
        st = sim.wait_for(lambda s: s["last_seq"] > last, timeout=5)
        ev = [e for e in st["events"] if e["seq"] > last][0]
        assert (ev["result"], ev["user"]) == ("granted", 1001), ev
        sim.wait_for(lambda s: not s["relays"]["1"]["on"], timeout=5)
        time.sleep(0.5)
        assert cli.main(["sim", "tap", "--control", sim.control, "--hce", "F0=00"]) == 1
        assert cli.main(["sim", "tap", "--control", sim.control]) == 2  # no UID, no phone: a usage error

        admin = admin_session(sim.http)
        for patch, word in (({"aid": "F00102"}, "5-16 bytes"), ({"aid": "F0646F6F7263746"}, "5-16 bytes"),
                            ({"aid": "G0646F6F7263746C"}, "hex")):
            st, doc = admin.patch("/api/v1/config", {"card": {"nfc": patch}})
            assert st == 400 and doc["field"] == "card.nfc.aid" and word in doc["error"], (patch, doc)
        st, doc = admin.patch("/api/v1/config", {"card": {"nfc": {"aid": "a0000001020304", "uid_fallback": True}}})
        assert st == 200 and doc["card"]["nfc"] == {"enabled": True, "aid": "A0000001020304", "uid_fallback": True}
        ev = tap(sim, "04112233")  # uid_fallback: a plain card by its UID
        assert (ev["result"], ev["user"]) == ("granted", 1002), ev
        ev = tap(sim, hce={"aid": "A0000001020304", "response": "00003039"})
        assert (ev["result"], ev["user"]) == ("granted", 1001), ev
        assert "Traceback" not in sim.output
    finally:
        sim.stop()
        print(sim.output[-3000:])

"""FeliCa end to end: with card.felica on, the simulator (real firmware, MicroPython, ESP32 heap)
polls FeliCa between its type A polls, decides a FeliCa card on its IDm (card.format FULLH: all
16 hex digits) and still reads type A cards; off, nothing but type A polls (docs/cards-felica.md)."""
import time

from httpclient import admin_session
from simproc import FAST_CONFIG, Sim

IDM = "012E4CD8A5B6C7D8"
CFG = dict(FAST_CONFIG, card={"format": "FULLH", "felica": {"enabled": True}})
USERS = [{"id": 1001, "name": "Ann", "cards": [IDM], "relays": [1]},
         {"id": 1002, "name": "Uid", "cards": ["04112233"], "relays": [1]}]


def tap(sim, **args):
    last = sim.state(0)["last_seq"]
    sim.call("tap", ms=300, **args)
    st = sim.wait_for(lambda s: s["last_seq"] > last, timeout=5)
    ev = [e for e in st["events"] if e["seq"] > last]
    sim.wait_for(lambda s: not s["relays"]["1"]["on"], timeout=5)
    time.sleep(0.5)
    return ev[0]


def test_felica_end_to_end(tmp_path):
    from doorctl import cli

    sim = Sim(tmp_path, config=CFG, users=USERS, http=True)
    try:
        ev = tap(sim, felica=IDM)
        assert (ev["result"], ev["reason"], ev["user"], ev["code"]) == ("granted", "ok", 1001, IDM), ev
        ev = tap(sim, felica="0101010101010101")
        assert (ev["result"], ev["reason"], ev["code"]) == ("denied", "unknown_credential", "0101010101010101"), ev
        ev = tap(sim, uid="04112233")  # type A cards as before
        assert (ev["result"], ev["user"]) == ("granted", 1002), ev
        last = sim.state(0)["last_seq"]
        assert cli.main(["sim", "tap", "--control", sim.control, "--felica", IDM.lower()]) == 0
        st = sim.wait_for(lambda s: s["last_seq"] > last, timeout=5)
        assert [e for e in st["events"] if e["seq"] > last][0]["user"] == 1001
        sim.wait_for(lambda s: not s["relays"]["1"]["on"], timeout=5)
        time.sleep(0.5)
        assert cli.main(["sim", "tap", "--control", sim.control, "--felica", "0102"]) == 1
        admin = admin_session(sim.http)
        st, doc = admin.patch("/api/v1/config", {"card": {"felica": {"enabled": "yes"}}})
        assert st == 400 and doc["field"] == "card.felica.enabled", doc
        st, doc = admin.patch("/api/v1/config", {"card": {"felica": {"kbps": 848}}})
        assert st == 400 and doc["field"] == "card.felica.kbps" and "212/424" in doc["error"], doc
        # 424 kbit/s polls: a card that answers them opens; an older 212-only card isn't found
        st, doc = admin.patch("/api/v1/config", {"card": {"felica": {"kbps": 424}}})
        assert st == 200 and doc["card"]["felica"] == {"enabled": True, "kbps": 424}, doc
        ev = tap(sim, felica=IDM)
        assert (ev["result"], ev["user"]) == ("granted", 1001), ev
        last = sim.state(0)["last_seq"]
        sim.call("tap", felica=IDM, kbps=[212], ms=400)
        time.sleep(1.0)
        assert sim.state(0)["last_seq"] == last
        st, doc = admin.patch("/api/v1/config", {"card": {"felica": {"enabled": False, "kbps": 212}}})
        assert st == 200 and doc["card"]["felica"] == {"enabled": False, "kbps": 212}
        time.sleep(0.2)  # (a FeliCa poll sent just before the change may still be running in the emulator)
        last = sim.state(0)["last_seq"]
        sim.call("tap", felica=IDM, ms=400)  # off: no FeliCa poll finds it
        time.sleep(1.0)
        st = sim.state(10)
        assert st["last_seq"] == last, [e for e in st["events"] if e["seq"] > last]
        ev = tap(sim, uid="04112233")
        assert (ev["result"], ev["user"]) == ("granted", 1002), ev
        assert "Traceback" not in sim.output
    finally:
        sim.stop()
        print(sim.output[-3000:])

"""The simulator's PN532 link is pluggable: the same firmware reads cards from an emulator served
on a TCP socket or on a serial device (a pty standing in for a USB-UART adapter with a real PN532)."""
import pytest

from doorctl.pn532_bridge import PN532Bridge
from simproc import FAST_CONFIG, Sim

DEMO_UID = bytes.fromhex("04A1B2C3")


@pytest.mark.parametrize("link", ["tcp", "serial"])
def test_card_through_external_link_opens_relay(tmp_path, link):
    with PN532Bridge() as br:
        if link == "tcp":
            transport = "tcp:127.0.0.1:%d" % br.serve_tcp(0)
        else:
            transport = "serial:" + br.serve_pty()
        sim = Sim(tmp_path, config=FAST_CONFIG, pn532=transport)
        try:
            sim.wait_for(lambda st: st["reader"]["status"] == "ok", timeout=10)
            assert sim.state()["reader"]["firmware"] == [0x32, 1, 6, 7]
            br.place(DEMO_UID)
            st = sim.wait_for(lambda st: st["relays"]["1"]["on"], timeout=5)
            assert st["events"][-1]["user"] == 1001
            br.remove()
            # the control channel can't place cards on an external reader, and says why
            with pytest.raises(Exception) as e:
                sim.call("tap", uid="04A1B2C3")
            assert "external" in str(e.value)
        finally:
            sim.stop()

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


def test_doorctl_pn532_emu_serves_the_simulator(tmp_path):
    """`doorctl pn532-emu --tcp PORT` (an external emulator) with a card on it from the start."""
    import os
    import subprocess
    import sys

    doorctl = os.path.join(os.path.dirname(sys.executable), "doorctl")
    emu = subprocess.Popen([doorctl, "pn532-emu", "--tcp", "0", "--card", "04A1B2C3"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    try:
        first = emu.stdout.readline()
        assert first.startswith("PN532 emulator on tcp:127.0.0.1:"), first
        sim = Sim(tmp_path, config=FAST_CONFIG, pn532=first.split(" on ")[1].strip())
        try:
            st = sim.wait_for(lambda st: st["relays"]["1"]["on"], timeout=10)
            assert st["events"][-1]["code"] == "04A1B2C3"
        finally:
            sim.stop()
        emu.stdin.write("quit\n")
        emu.stdin.flush()
        assert emu.wait(5) == 0
    finally:
        if emu.poll() is None:
            emu.kill()

"""A slow connection flood on the HTTP port while cards are tapped (docs/security.md): 50
connections each sending a request head one byte a second for 30 s. The door's own work has
heap reserved that no client can take, so every tap opens its relay, the firmware and its
control channel live on, and afterwards the heap's largest free block is where it was (a psram
board: lean boards have no HTTP API, docs/memory.md)."""
import socket
import threading
import time

from simproc import Sim

CONFIG = {"relays": {"1": {"hold_ms": 400}, "2": {"hold_ms": 400}}, "reader": {"removal_ms": 150}}
HEAD = b"GET /api/v1/status HTTP/1.1\r\nHost: door\r\nX-Pad: " + b"a" * 40 + b"\r\n\r\n"


def slow_clients(hostport, n, seconds, stats):
    """n threads, each opening connections that send HEAD one byte a second until `seconds`."""
    host, port = hostport.rsplit(":", 1)
    stop = time.time() + seconds

    def one():
        while time.time() < stop:
            try:
                s = socket.create_connection((host, int(port)), timeout=10)
            except OSError:
                stats["connect_failed"] += 1
                time.sleep(0.2)
                continue
            stats["connections"] += 1
            try:
                for b in HEAD:
                    s.send(bytes([b]))
                    time.sleep(1)
                    if time.time() > stop:
                        break
            except OSError:  # refused at once, or dropped at the head timeout
                stats["cut"] += 1
                time.sleep(0.2)
            finally:
                s.close()

    threads = [threading.Thread(target=one, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    return threads


def tap_until(sim, seconds, every=1.0):
    """Tap demo user 1001's card every `every` s; returns (taps, opened within 2 s)."""
    taps = opened = 0
    stop = time.time() + seconds
    while time.time() < stop:
        before = sim.call("relay", num=1)["pulses"]
        sim.call("tap", uid="04A1B2C3", ms=300)
        taps += 1
        t0 = time.time()
        while time.time() - t0 < 2:
            if sim.call("relay", num=1)["pulses"] > before:
                opened += 1
                break
            time.sleep(0.01)
        time.sleep(max(0.0, every - (time.time() - t0)))
    return taps, opened


def test_slow_flood_while_tapping(tmp_path):
    sim = Sim(tmp_path, config=CONFIG, http=True)
    try:
        stats = {"connections": 0, "connect_failed": 0, "cut": 0}
        # a first burst: asyncio's I/O tables grow once to the connections waiting at once, and
        # the server's head buffers are made; the heap is measured after it
        for t in slow_clients(sim.http, 8, 3, stats):
            t.join(10)
        time.sleep(1)
        heap_before = sim.call("heap")
        reader_before = sim.state(0)["reader"]
        threads = slow_clients(sim.http, 50, 30, stats)
        taps, opened = tap_until(sim, 30)
        for t in threads:
            t.join(15)
        assert sim.proc.poll() is None, "the firmware died:\n" + sim.output[-3000:]
        assert taps >= 25 and opened == taps, (taps, opened)
        st = sim.state(0)  # the control channel answers
        reader = st["reader"]
        assert reader["no_heap"] == reader_before["no_heap"] and reader["reinits"] == reader_before["reinits"], reader
        assert stats["connections"] > 200, stats  # the flood reached the device all along
        # the last slow heads time out (5 s after their last byte): the heap is back by then
        deadline = time.time() + 8
        while True:
            heap_after = sim.call("heap")
            back = (heap_after["largest"] >= 0.8 * heap_before["largest"]
                    and heap_after["free"] >= 0.8 * heap_before["free"])
            if back or time.time() > deadline:
                break
            time.sleep(0.25)
        assert heap_after["largest"] >= 0.8 * heap_before["largest"], (heap_before, heap_after)
        assert heap_after["free"] >= 0.8 * heap_before["free"], (heap_before, heap_after)
        assert "MemoryError" not in sim.output and "Traceback" not in sim.output, sim.output[-3000:]
        # and the API serves again at once
        from httpclient import Api

        assert Api(sim.http).get("/api/v1/status")[0] == 401
    finally:
        sim.stop()


def test_control_channel_survives_a_burst_of_its_own(tmp_path):
    """Test equipment, but a test must not lose it: 50 connections at once to the control
    port; the ones over its limit are told it is busy, and the channel goes on answering."""
    sim = Sim(tmp_path, config=CONFIG)
    try:
        host, port = sim.control.rsplit(":", 1)
        socks = []
        for _ in range(50):
            socks.append(socket.create_connection((host, int(port)), timeout=5))
        busy = 0
        deadline = time.time() + 2  # "busy" is sent on accept: 2 s for all (the ones let in say nothing)
        for s in socks:
            s.settimeout(max(0.05, deadline - time.time()))
            try:
                if b"busy" in s.recv(200):
                    busy += 1
            except socket.timeout:
                pass
        for s in socks:
            s.close()
        assert busy >= 40, busy
        time.sleep(0.5)
        assert sim.state(0)["reader"]["status"] == "ok"
        sim.call("tap", uid="04A1B2C3", ms=300)
        sim.wait_for(lambda s: s["relays"]["1"]["pulses"] >= 1)
    finally:
        sim.stop()

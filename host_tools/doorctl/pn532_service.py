"""The simulator's PN532 emulator as its own process: test equipment stays out of the heap the
firmware is measured in (the simulator runs under the ESP32's 112 KB; the emulator would take
~16 KB of it).

    python -m doorctl.pn532_service [--parent-pid PID]
prints one line `PN532 emulator uart PORT control PORT` and serves:
- the PN532's UART as raw bytes on 127.0.0.1:uart (doorctl.pn532_bridge);
- card commands as JSON lines on 127.0.0.1:control, one answer line each:
  {"call": "place", "uid": "04a1b2c3"[, "mifare": {...} | "desfire": {...} | "plus": {...} | "hce": {...} | "felica": true]} | {"call": "remove"} | {"call": "inject", "hex": "..."}
It exits when its parent process is gone (the simulator, or whatever started it).

`start()` launches it and returns the simulator's `--pn532` transport (`emu:HOST:UART:CONTROL`).
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time

HOST = "127.0.0.1"


def _handle(bridge, conn):
    f = conn.makefile("rwb", buffering=0)
    try:
        for line in f:
            try:
                req = json.loads(line)
                call = req.get("call")
                if call == "place" and req.get("desfire") is not None:
                    bridge.call("place_desfire", bytes.fromhex(req["uid"]), req["desfire"])
                elif call == "place" and req.get("felica"):
                    bridge.call("place_felica", bytes.fromhex(req["uid"]), kbps=tuple(req.get("kbps") or (212, 424)))
                elif call == "place" and req.get("hce") is not None:
                    bridge.call("place_phone", req["hce"], bytes.fromhex(req["uid"]) if req.get("uid") else None)
                elif call == "place" and req.get("plus") is not None:
                    bridge.call("place_plus", bytes.fromhex(req["uid"]), req["plus"])
                elif call == "place" and req.get("mifare") is not None:
                    bridge.call("place_mifare", bytes.fromhex(req["uid"]), req["mifare"])
                elif call == "place":
                    bridge.place(bytes.fromhex(req["uid"]))
                elif call == "remove":
                    bridge.remove()
                elif call == "inject":
                    bridge.call("inject", bytes.fromhex(req["hex"]))
                else:
                    raise ValueError("unknown call %r" % call)
                ans = {"ok": True}
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                ans = {"ok": False, "error": str(e)}
            f.write(json.dumps(ans).encode() + b"\n")
    except OSError:
        pass
    finally:
        conn.close()


def _alive(pid):
    """Is our parent `pid` still there? (Checked by parenthood, not by pid: a parent that has
    exited but not been reaped yet still answers os.kill.)"""
    return os.getppid() == pid


def serve(parent_pid=None):
    from doorctl.pn532_bridge import PN532Bridge

    bridge = PN532Bridge()
    uart = bridge.serve_tcp(0, HOST)
    ctl = socket.socket()
    ctl.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ctl.bind((HOST, 0))
    ctl.listen(4)
    print("PN532 emulator uart %d control %d" % (uart, ctl.getsockname()[1]), flush=True)

    def accept():
        while True:
            try:
                conn, _ = ctl.accept()
            except OSError:
                return
            threading.Thread(target=_handle, args=(bridge, conn), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        while parent_pid is None or _alive(parent_pid):
            time.sleep(0.3)
    except KeyboardInterrupt:
        pass
    finally:
        ctl.close()
        bridge.close()


def start(timeout=10):
    """Launch the service as a child of this process (it ends when this process does; `doorctl
    sim run` execs the simulator, which keeps the pid); returns (process, --pn532 transport)."""
    env = dict(os.environ)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen([sys.executable, "-m", "doorctl.pn532_service", "--parent-pid", str(os.getpid())],
                            stdout=subprocess.PIPE, env=env, text=True)
    deadline = time.time() + timeout
    line = ""
    while time.time() < deadline:
        line = proc.stdout.readline()
        if line.startswith("PN532 emulator uart"):
            w = line.split()
            proc.stdout.close()
            return proc, "emu:%s:%s:%s" % (HOST, w[3], w[5])
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("the PN532 emulator service did not start: %r" % line)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m doorctl.pn532_service", description=__doc__.split("\n")[0])
    p.add_argument("--parent-pid", type=int, help="exit when the parent process (this pid) is gone")
    args = p.parse_args(argv)
    serve(args.parent_pid)


if __name__ == "__main__":
    main()

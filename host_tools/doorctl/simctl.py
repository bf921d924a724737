"""Client side of the simulator's control channel (JSON lines over TCP)."""
import json
import os
import socket

DEFAULT_CONTROL = os.environ.get("DOORCTL_SIM_CONTROL", "127.0.0.1:7700")


class SimError(Exception):
    pass


def split_addr(addr):
    host, _, port = addr.rpartition(":")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError:
        raise SimError("control address must be HOST:PORT, got %r" % addr)


class SimClient:
    """One connection to a running simulator; `call(cmd, **args)` returns the answer dict."""

    def __init__(self, addr=DEFAULT_CONTROL, timeout=5.0):
        host, port = split_addr(addr)
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            raise SimError("no simulator at %s:%d (%s); start one with `make sim`" % (host, port, e.strerror or e))
        self.file = self.sock.makefile("rwb")

    def call(self, cmd, **args):
        args["cmd"] = cmd
        self.file.write(json.dumps(args).encode() + b"\n")
        self.file.flush()
        line = self.file.readline()
        if not line:
            raise SimError("the simulator closed the connection")
        ans = json.loads(line)
        if not ans.get("ok"):
            raise SimError(ans.get("error", "request failed"))
        return ans

    def close(self):
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

"""A test double of MicroPython's ESP32 `network` module: one station interface that 'joins'
as soon as connect() is called, and records what it was asked."""
STA_IF = 0
AP_IF = 1
calls = []
_host = ["espressif"]


def hostname(name=None):
    if name is None:
        return _host[0]
    _host[0] = name
    calls.append(("hostname", name))


class _Iface:
    def __init__(self, which):
        self.which = which
        self.up = False
        self.joined = False

    def active(self, on=None):
        if on is None:
            return self.up
        self.up = bool(on)
        calls.append(("active", self.up))

    def connect(self, ssid, key=None):
        calls.append(("connect", ssid, key))
        self.joined = self.up

    def disconnect(self):
        calls.append(("disconnect",))
        self.joined = False

    def isconnected(self):
        return self.joined


_ifaces = {}


def WLAN(which=STA_IF):  # noqa: N802  (the real one is a class; one object per interface)
    if which not in _ifaces:
        _ifaces[which] = _Iface(which)
    return _ifaces[which]

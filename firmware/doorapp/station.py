"""What a board with Wi-Fi runs beside the door: keep the station joined, set the clock by NTP,
serve the HTTP API.

Loaded only when the board layer hands out a station (the ESP32 backend with an SSID
configured): the simulator runs on the host's network and clock, and its run.py serves HTTP
itself, so none of this code takes heap there.
"""
from micropython import const

from compat import sleep_ms

# the event log's codes (lib/eventcodes.py names them)
_KIND_SYSTEM = const(0)
_REASON_CLOCK_SET = const(18)

_CHECK_MS = const(10000)  # a lost station is asked to join again this often
HTTP_PORT = const(80)


async def keep_joined(wlan, ssid, password):
    """Re-join after the access point went away (the driver's own retries give up)."""
    while True:
        await sleep_ms(_CHECK_MS)
        if not wlan.isconnected():
            try:
                wlan.disconnect()
                wlan.connect(ssid, password)
            except OSError:
                pass


def clock_set(door, source):
    """on_set callback for TimeSync: log the first set, and steps of more than 2 s."""

    def on_set(before, after):
        if not before or abs(after - before) > 2:
            door.record(_KIND_SYSTEM, None, _REASON_CLOCK_SET, source, 0, None, ())

    return on_set


async def serve_http(door, port):
    from doorapp.http import api

    try:
        await api.serve(door, "0.0.0.0", port)
    except OSError as e:
        print("doorctl: HTTP API cannot listen on port %d (%s)" % (port, e))


async def serve_https(door, board, port, plain_port):
    """http.tls on: the API on HTTPS `port`, the plain port redirecting (http.redirect_http) or
    off. Without the key or certificate: one line naming the file, and no HTTP API at all
    (never the API in plain text instead); the door works on."""
    from doorapp.http import tls

    try:
        await tls.serve(door, board.data_dir, "0.0.0.0", port, plain_port, door.cfg["http"]["redirect_http"])
    except ValueError as e:
        print("doorctl: HTTPS off: %s" % e)
    except OSError as e:
        print("doorctl: HTTPS cannot listen on port %d or %d (%s)" % (port, plain_port, e))


def tasks(door, board, http_port=HTTP_PORT):
    """Coroutines for Door.run(extra=...); [] when the board has no station to join."""
    cfg = door.cfg
    net = cfg["network"]
    password = door.secrets["wifi_password"] if door.secrets else ""
    wlan = board.station(net["ssid"], password, net["hostname"])
    if wlan is None:
        return []
    out = [keep_joined(wlan, net["ssid"], password)]
    ntp = board.ntp() if cfg["time"]["ntp"] else None
    if ntp is not None:
        from doorapp.timesync import TimeSync

        door.timesync = TimeSync(cfg["time"]["ntp"], cfg["time"]["ntp_interval_s"], ntp, wlan.isconnected,
                                 clock_set(door, b"ntp"))
        out.append(door.timesync.run())
    if http_port and cfg["http"]["tls"] == "on":
        from doorapp.http.tls import HTTPS_PORT

        out.append(serve_https(door, board, HTTPS_PORT, http_port))
    elif http_port:
        out.append(serve_http(door, http_port))
    return out

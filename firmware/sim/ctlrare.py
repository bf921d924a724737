"""The simulator's rarely used control commands (reader noise, a hung loop, the modules loaded,
the clock, an LPR plate): loaded for one command and, on lean boards, dropped after it
(doorapp/residency.py), so they don't sit in the heap the firmware is measured in."""
import asyncio

from doorapp import clock


def cmd_garbage(ctl, req):
    """Inject noise on the PN532 link (bytes from the reader that are not a frame)."""
    n = req.get("n", 32)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 4096:
        raise ValueError("n: must be 1-4096 bytes, got %r" % (n,))
    data = req.get("hex")
    junk = bytes.fromhex(data) if data else bytes((i * 37 + 11) & 0xFF for i in range(n))
    ctl._emulator().inject(junk)
    return {}


def cmd_hang(ctl, req):
    """Block the whole event loop for `ms` (default 60000) with a blocking sleep, as a stuck
    handler would; answered first. Nothing runs meanwhile, so nothing feeds the watchdog."""
    ms = int(req.get("ms", 60000))
    asyncio.create_task(_hang(ms))
    return {"ms": ms}


async def _hang(ms):
    import time

    await asyncio.sleep_ms(50)  # the answer goes out first
    time.sleep_ms(ms)


def cmd_modules(ctl, req):
    """Modules loaded now (which cold code stayed)."""
    import sys

    return {"modules": sorted(m for m in sys.modules if m != "sim.ctlmore" and m != "sim.readerctl")}


def cmd_clock(ctl, req):
    if "set" in req:
        clock.set_unix(int(req["set"]))
    return {"clock": clock.now()}


def cmd_plate(ctl, req):
    """An LPR camera reads a plate: the code behind POST /api/v1/lpr (doorapp.http.lpr), minus
    the HTTP request and its sign-in. Needs the HTTP API (plates only arrive over HTTP)."""
    import sys

    if "doorapp.http.api" not in sys.modules:
        raise ValueError("the simulator runs without its HTTP API (--http off): no LPR")
    from doorapp import residency
    from doorapp.http import lpr

    try:
        d, plate = lpr.decide_plate(ctl.door, req.get("plate"), req.get("relay"))
        return lpr.answer(d, plate)
    except lpr.ApiError as e:
        raise ValueError("%s: %s" % (e.field, e.message) if e.field else e.message)
    finally:
        residency.trim()

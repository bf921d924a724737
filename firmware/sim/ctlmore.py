"""Simulator control commands used now and then (buttons, door, clock, noise on the PN532 link,
event reads, a hung loop): loaded by sim/control.py for the call and dropped after it. Each takes the
Control and the request, and returns the answer's fields."""
import asyncio

from micropython import const

from doorapp import clock

_PAGE = const(16)  # events per `events` answer


def _input(ctl, name):
    for i in ctl.board.spec["inputs"]:
        if i["id"] == name:
            return i
    raise ValueError("no input named %r (board has: %s)" % (
        name, ", ".join(i["id"] for i in ctl.board.spec["inputs"])))


def _drive(ctl, name, active):
    spec = _input(ctl, name)
    trig = 1 if ctl.door.cfg["inputs"][name]["trigger"] == "high" else 0
    ctl.board.drive_input(spec["pin"], trig if active else 1 - trig)


def cmd_press(ctl, req):
    """Press an input (exit button) for `ms` (default 200) and release it."""
    name = req.get("input", "exit")
    _drive(ctl, name, True)
    asyncio.create_task(ctl._later(int(req.get("ms", 200)), lambda: _drive(ctl, name, False)))
    return {}


def cmd_input(ctl, req):
    """Hold an input active (true) or idle (false) until told otherwise."""
    _drive(ctl, req.get("input", "exit"), bool(req.get("active")))
    return {}


def cmd_door(ctl, req):
    """Open or close the door (door sensor input)."""
    state = req.get("state")
    if state not in ("open", "closed"):
        raise ValueError("state must be open or closed")
    for i in ctl.board.spec["inputs"]:
        if i["kind"] == "door_sensor":
            _drive(ctl, i["id"], state == "open")
            return {}
    raise ValueError("this board has no door sensor")


def cmd_garbage(ctl, req):
    """Inject noise on the PN532 link (bytes from the reader that are not a frame)."""
    n = req.get("n", 32)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 4096:
        raise ValueError("n: must be 1-4096 bytes, got %r" % (n,))
    data = req.get("hex")
    junk = bytes.fromhex(data) if data else bytes((i * 37 + 11) & 0xFF for i in range(n))
    ctl._emulator().inject(junk)
    return {}


def cmd_events(ctl, req):
    """One page of events with seq > `since`, oldest first: at most `limit`, and never more than
    _PAGE (an answer is built whole: a page keeps it small whatever the log holds). `next` is
    the cursor for the next page; `more` says whether the log has events after it."""
    import eventlog

    log = ctl.door.log
    since = int(req.get("since", 0))
    recs = log.read(since, max(1, min(int(req.get("limit", _PAGE)), _PAGE)))
    out = [eventlog.to_dict(r) for r in recs]
    recs = None
    nxt = out[-1]["seq"] if out else max(since, log.last_seq)
    return {"events": out, "next": nxt, "more": nxt < log.last_seq}


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

"""Simulator control commands beside sim/control.py's (buttons, the door, event reads), loaded with
it at start. Each takes the Control and the request, and returns the answer's fields."""
import asyncio

from micropython import const

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

"""HTTP routes for status, configuration, relays and events (the installer's daily use; a
config change is doorapp/http/settings.py). Loaded on demand by doorapp.http.api (handlers take
the shared Api first) and kept while the heap has room (httpapi.ROUTINE)."""
import gc

from micropython import const

import eventlog
from compat import ticks_diff, ticks_ms
from doorapp import VERSION, clock
from doorapp.http.api import ApiError, int_arg, json_body
from doorapp.http.server import Stream

_EVENTS_AT_ONCE = const(4)  # events read from flash per step of a streamed page


def status_doc(door):
    """GET /api/v1/status: firmware, uptime, heap, table, reader, clock, event log."""
    gc.collect()
    c = clock.status()
    c["tz"] = door.cfg["time"]["tz"]
    if door.timesync is not None:
        c["ntp"] = door.timesync.state()
    return {
        "version": VERSION,
        "board": door.board.name,
        "profile": door.board.spec["profile"],
        "device_id": door.cfg["device"]["id"],
        "uptime_s": ticks_diff(ticks_ms(), door.started) // 1000,
        "heap_free": gc.mem_free(),
        "heap_used": gc.mem_alloc(),
        "users": door.table.count,
        "table": {"serial": door.table.serial, "journal": door.table.journal_entries},
        "card_format": door.card_format,
        # a stored change that only a restart applies (card format: the table is built for one)
        "restart_required": door.cfg["card"]["format"] != door.card_format,
        "reader": door.reader_status(),
        "clock": c,
        "events": {"last_seq": door.log.last_seq, "capacity": door.log.capacity},
        # the dashboard's doors: each input's kind and whether it is triggered (a door sensor:
        # the door is open), and the door alarms (as GET /api/v1/alarms)
        "inputs": {i.name: {"kind": i.kind, "active": i.active} for i in door.inputs},
        "alarms": door.alarms.state() if door.alarms else {},
    }


async def status(api, request):
    return status_doc(api.door)


async def get_config(api, request):
    return api.door.cfg


async def relays(api, request):
    return api.door.state(0)["relays"]


async def open_relay(api, request, num):
    door = api.door
    doc = json_body(request, ("seconds",)) if request.content_length else {}
    secs = doc.get("seconds", 0)
    if isinstance(secs, bool) or not isinstance(secs, (int, float)) or not 0 <= secs <= 600:
        raise ApiError(400, "must be a number of seconds 0-600 (0 = the relay's hold time)", "seconds")
    if num not in door.relays:
        raise ApiError(404, "no relay %d" % num)
    door.open_relay(num, int(secs * 1000), "admin")
    return {"relay": num, "on": True}


async def alarms(api, request):
    a = api.door.alarms
    return a.state() if a else {}


async def clear_alarms(api, request):
    """Latched forced-door alarms cleared: {"input": name} one door sensor's, else all."""
    doc = json_body(request, ("input",)) if request.content_length else {}
    name = doc.get("input")
    a = api.door.alarms
    if name is not None:
        if not isinstance(name, str) or a is None or name not in a.state():
            raise ApiError(404, "no door sensor %r with alarms" % (name,), "input")
    cleared = a.clear(name) if a else []
    return {"cleared": cleared, "alarms": a.state() if a else {}}


async def events(api, request):
    """?since=SEQ&limit=N -> {last_seq, events}: streamed an event at a time (a page of 200
    events as dicts would need ~20 KB at once); events logged while it is sent are left for the
    next page (since = the last seq received)."""
    since = int_arg(request, "since", 0, 0, 0xFFFFFFFF)
    limit = int_arg(request, "limit", 50, 1, 200)
    return Stream(_events(api.door.log, since, limit), "application/json")


def _events(log, since, limit):
    import json

    last = log.last_seq
    yield '{"last_seq": %d, "events": [' % last
    sep = ""
    while limit > 0 and since < last:
        n = min(limit, _EVENTS_AT_ONCE, last - since)
        got = log.read(since, n)
        if not got:  # those n were damaged (or overwritten meanwhile): the next ones
            since = max(since, log.first_seq - 1) + n
            continue
        for e in got:
            since = e[0]
            yield sep + json.dumps(eventlog.to_dict(e))
            sep = ", "
        limit -= len(got)
        got = None
    yield "]}"

"""HTTP routes for status, configuration, relays and events (the installer's daily use).
Loaded on demand by doorapp.httpapi (handlers take the shared Api first)."""
from configerror import ConfigError
from doorapp import admin
from doorapp.httpapi import ApiError, int_arg, json_body


async def status(api, request):
    return admin.status(api.door)


async def get_config(api, request):
    return api.door.cfg


async def patch_config(api, request):
    door = api.door
    doc = json_body(request, tuple(door.cfg.keys()))
    try:
        admin.update_config(door, doc)
    except ConfigError as e:
        raise ApiError(400, e.message, e.field)
    if door.cfg["card"]["format"] != door.card_format:  # stored; applied at the next start
        return door.cfg, 200, {"Restart-Required": "card.format"}
    return door.cfg


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


async def events(api, request):
    since = int_arg(request, "since", 0, 0, 0xFFFFFFFF)
    limit = int_arg(request, "limit", 50, 1, 200)
    return {"last_seq": api.door.log.last_seq, "events": admin.events(api.door, since, limit)}

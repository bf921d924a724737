"""HTTP routes for the custom schedules and holidays (docs/http-api.md "Schedules"): they live in
the user table's header, so `PUT /api/v1/schedules` writes a new table with the new set (the
table's own compaction: a verified temp file renamed over the live one, so a power cut leaves
the old table or the new one, whole) and the access engine decides with it at once.
Loaded on demand by doorapp.http.api (handlers take the shared Api first)."""
from compat import sleep_ms
from configerror import ConfigError
from doorapp.http.api import ApiError, json_body

_PAGE = 200  # users read between two pauses while looking for a dropped schedule's users


def _doc(t):
    from usertable.validate_list import schedule_doc

    return {"schedules": [schedule_doc(s) for s in t.schedules]}


async def get_schedules(api, request):
    return _doc(api.door.table)


async def _user_of(t, ids):
    """(user id, schedule id) of a user whose schedules name one of `ids`, or None (every user
    read, journal edits included, pausing between pages so cards are read meanwhile)."""
    after = 0
    while after >= 0:
        for r in t.page(after, _PAGE):
            if r is None:
                continue
            if isinstance(r, int):
                after = r
                break
            for sid in r.schedules:
                if sid in ids:
                    return r.id, sid
        await sleep_ms(0)
    return None


async def put_schedules(api, request):
    """Replace the whole set: checked field by field (the names the errors give are the body's:
    "schedules[1].weekly[0].from"), refused while a user still has a schedule it drops or a
    relay is held open during one it drops or renames; then written and live."""
    from doorapp.access.schedule import compile_all
    from usertable.validate import Ctx
    from usertable.validate_list import schedules as check

    door = api.door
    doc = json_body(request, ("schedules",))
    t = door.table
    if not isinstance(doc.get("schedules"), list):
        raise ApiError(400, "must be a list of schedules ([] removes every custom schedule)", "schedules")
    try:
        new = check(doc["schedules"], Ctx(collect=False, file="schedules", ints_ok=True))
        compiled = compile_all(new, "schedules")  # its limits: ranges, dates, holidays per schedule
    except ConfigError as e:
        raise ApiError(400, e.message, e.field)
    relays = door.cfg["relays"]
    for key in relays:
        ref = relays[key].get("schedule", "")
        if ref and compiled.resolve(ref) is None:
            raise ApiError(409, "relay %s is held open during schedule %r (relays.%s.schedule), which this "
                           "change removes or renames: change the relay first" % (key, ref, key), "schedules")
    if new == t.schedules:
        return _doc(t)  # nothing changed: no table written
    if t.busy:
        raise ApiError(409, "the user table is being merged: try again in a moment")
    kept = {}
    for s in new:
        kept[s["id"]] = s
    gone = {}
    for s in t.schedules:
        if s["id"] not in kept:
            gone[s["id"]] = s["name"]
    if gone:
        hit = await _user_of(t, gone)
        if hit is not None:
            raise ApiError(409, "schedule %d (%s) is still used by user %d: take it from that user (and any "
                           "other) first" % (hit[1], gone[hit[1]], hit[0]), "schedules")
    try:
        await t.compact_async(0, new)  # a new table file: journal merged, these schedules; swapped whole
    except ConfigError as e:  # busy: a merge began meanwhile
        raise ApiError(409, e.message)
    except OSError as e:
        raise ApiError(413, "could not write the new table (flash full?): %s" % e)
    door.engine.set_table(t, compiled)  # the next decision uses them (interval memory kept)
    return _doc(t)

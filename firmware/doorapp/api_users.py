"""HTTP routes for the user list (docs/http-api.md "Users"): a page or a search, one user,
delete (add and replace: doorapp/api_user_edit.py, so the checks of an edit have the heap). Users come from the table in flash one record at a time (never the whole list
in RAM); no answer holds a PIN, QR or BLE key, only has_pin/has_qr/has_ble. Times are the
site's local time text ("YYYY-MM-DDTHH:MM"), as in a user list document (docs/user-model.md).
Loaded on demand by doorapp.httpapi (handlers take the shared Api first)."""
from doorapp.httpapi import ApiError, int_arg
from doorapp.httpd import Stream
from unload import forget

PAGE_MAX = 200
Q_MAX = 32


def _local(d, tz, drop=True):
    """An exported user dict with unix times as local time text (None where unbounded)."""
    from usertable import sitetime

    for k in ("valid_from", "valid_to"):
        d[k] = sitetime.unix_to_local(d[k], tz) if d[k] else None
    for p in d["plates"]:
        for k in ("from", "to"):
            if p.get(k):
                p[k] = sitetime.unix_to_local(p[k], tz)
    if drop:
        forget("usertable.sitetime")
    return d


def _find(t, uid):
    """The user's export dict, or 404."""
    d = t.user_dict(uid)
    if d is None:
        raise ApiError(404, "no user %d" % uid)
    return _local(d, t.tz)


async def list_users(api, request):
    """?offset=&limit=&q= -> {users, total, offset}; q matches id, name or card code."""
    t = api.door.table
    offset = int_arg(request, "offset", 0, 0, 0xFFFFFFFF)
    limit = int_arg(request, "limit", 50, 1, PAGE_MAX)
    q = request.args.get("q", "").strip()
    if len(q) > Q_MAX:
        raise ApiError(400, "search text longer than %d characters" % Q_MAX, "q")
    if q:
        page, total = t.search(q, offset, limit)
    else:
        page, total = t.users(offset, limit), t.count
    for d in page:  # time text code loaded once for the page, not once per user
        _local(d, t.tz, False)
    forget("usertable.sitetime")
    return {"users": page, "total": total, "offset": offset}


async def get_user(api, request, uid):
    return _find(api.door.table, uid)


async def delete_user(api, request, uid):
    if not api.door.table.delete(uid):
        raise ApiError(404, "no user %d" % uid)
    return {"deleted": uid}


async def export_users(api, request):
    """Every user as one JSON document `{"users": [...], "total": N}` (no secrets), streamed:
    one user in RAM at a time, other tasks run every few records."""
    t = api.door.table
    from usertable import export

    return Stream(_export(t, export.walk(t, "", 0, 0xFFFFFFFF)), "application/json",
                  headers={"Content-Disposition": 'attachment; filename="users.json"'})


def _export(t, users):
    import json

    from usertable.table import _COLD

    try:
        yield '{"users": ['
        sep = ""
        total = 0
        for x in users:
            if x is None:
                yield b""  # the server lets other tasks run here
            elif isinstance(x, dict):
                yield sep + json.dumps(_local(x, t.tz, False))
                sep = ", "
            else:
                total = x
            x = None
        yield '], "total": %d}' % total
    finally:
        forget(*_COLD)

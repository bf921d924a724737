"""HTTP routes for the user list (docs/http-api.md "Users"): a page or a search, one user, add,
replace, delete. Users come from the table in flash one record at a time (never the whole list
in RAM); no answer holds a PIN, QR or BLE key, only has_pin/has_qr/has_ble. Times are the
site's local time text ("YYYY-MM-DDTHH:MM"), as in a user list document (docs/user-model.md).
Loaded on demand by doorapp.httpapi (handlers take the shared Api first)."""
import asyncio

from configerror import ConfigError
from doorapp.httpapi import ApiError, int_arg, json_body
from unload import forget

FIELDS = ("id", "name", "role", "phone", "cards", "pin", "qr", "ble", "plates", "relays", "floors",
          "web_relay", "relay_schedule_activation", "valid_from", "valid_to", "schedules")
MAX_ID = 4294967294
PAGE_MAX = 200
Q_MAX = 32


def _local(d, tz):
    """An exported user dict with unix times as local time text (None where unbounded)."""
    from usertable import sitetime

    for k in ("valid_from", "valid_to"):
        d[k] = sitetime.unix_to_local(d[k], tz) if d[k] else None
    for p in d["plates"]:
        for k in ("from", "to"):
            if p.get(k):
                p[k] = sitetime.unix_to_local(p[k], tz)
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
    for d in page:
        _local(d, t.tz)
    return {"users": page, "total": total, "offset": offset}


async def get_user(api, request, uid):
    return _find(api.door.table, uid)


def _save(api, doc):
    t = api.door.table
    try:
        t.add_or_replace(doc)
    except ConfigError as e:  # fields as in the document: "cards[0]", not "user.cards[0]"
        f = e.field
        raise ApiError(400, e.message, f[5:] if f.startswith("user.") else f)
    if t.needs_compaction:  # merge the journal into the table in the background
        asyncio.create_task(_compact(api))


async def _compact(api):
    try:
        await api.door.table.compact_async()
    except Exception as e:  # no room for a second copy (4 MiB board, large table): the journal goes on
        print("users: compaction failed:", e)


def _check_id(doc, uid=None):
    v = doc.get("id")
    if uid is not None and v is None:
        doc["id"] = v = uid
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_ID:
        raise ApiError(400, "must be a number 1-%d" % MAX_ID, "id")
    if uid is not None and v != uid:
        raise ApiError(400, "does not match the user in the path (%d)" % uid, "id")
    return v


async def add_user(api, request):
    doc = json_body(request, FIELDS)
    uid = _check_id(doc)
    t = api.door.table
    if t.by_id(uid) is not None:
        raise ApiError(409, "user %d exists: PUT /api/v1/users/%d changes it" % (uid, uid), "id")
    _save(api, doc)
    return _find(t, uid), 201


async def put_user(api, request, uid):
    """Replace user `uid`; a PIN/QR/BLE key left out is kept, null removes it."""
    doc = json_body(request, FIELDS)
    _check_id(doc, uid)
    t = api.door.table
    if t.by_id(uid) is None:
        raise ApiError(404, "no user %d (POST /api/v1/users adds one)" % uid)
    _save(api, doc)
    return _find(t, uid)


async def delete_user(api, request, uid):
    if not api.door.table.delete(uid):
        raise ApiError(404, "no user %d" % uid)
    return {"deleted": uid}

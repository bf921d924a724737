"""HTTP routes that add or replace a user (docs/http-api.md "Users"). Apart from the list
routes (doorapp/http/users.py) so that only this small module is loaded beside the table's
checks, the heaviest cold code of the API. Loaded on demand by doorapp.http.api."""
import asyncio

from configerror import ConfigError
from doorapp.http.api import ApiError, json_body

FIELDS = ("id", "name", "role", "phone", "cards", "pin", "qr", "ble", "plates", "relays", "floors",
          "web_relay", "relay_schedule_activation", "valid_from", "valid_to", "schedules")
MAX_ID = 4294967294


def _answer(t, uid):
    """The saved user as GET /api/v1/users/<id> shows it (read code loaded after the checks, and
    dropped again by the table)."""
    return t.user_dict(uid, t.tz)


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
    return _answer(t, uid), 201


async def put_user(api, request, uid):
    """Replace user `uid`; a PIN/QR/BLE key left out is kept, null removes it."""
    doc = json_body(request, FIELDS)
    _check_id(doc, uid)
    t = api.door.table
    if t.by_id(uid) is None:
        raise ApiError(404, "no user %d (POST /api/v1/users adds one)" % uid)
    _save(api, doc)
    return _answer(t, uid)

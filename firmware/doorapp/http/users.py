"""HTTP routes for the user list (docs/http-api.md "Users"): a page or a search by cursor, the
export, one user, delete (add and replace: doorapp/http/useredit.py, so the checks of an edit
have the heap). Users come from the table in flash one record at a time and lists are written
as they are read (never a whole page in RAM: UserTable.page); no answer holds a PIN, QR or BLE
key, only has_pin/has_qr/has_ble. Times are the site's local time text ("YYYY-MM-DDTHH:MM"),
as in a user list document (docs/user-model.md).
Loaded on demand by doorapp.http.api (handlers take the shared Api first)."""
from doorapp.http.api import ApiError, int_arg
from doorapp.http.server import Stream

PAGE_MAX = 200
Q_MAX = 32


def _find(t, uid):
    """The user's export dict (times as local text), or 404."""
    d = t.user_dict(uid, t.tz)
    if d is None:
        raise ApiError(404, "no user %d" % uid)
    return d


async def list_users(api, request):
    """?after=ID&limit=N&q=TEXT -> {users, next, total}: the users with id > after (a cursor:
    the previous page's `next`), streamed one user at a time; q matches id, name or card code
    and a search page reads at most usertable.table.BUDGET records (then `next` says where to go
    on). `total` is the number of users in the table."""
    args = request.args
    if "offset" in args:  # the old paging read the table from its start for every page
        raise ApiError(400, "offset paging was replaced by after=ID (the previous page's next)", "offset")
    after = int_arg(request, "after", 0, 0, 0xFFFFFFFF)
    limit = int_arg(request, "limit", 50, 1, PAGE_MAX)
    q = args.get("q", "").strip()
    if len(q) > Q_MAX:
        raise ApiError(400, "search text longer than %d characters" % Q_MAX, "q")
    t = api.door.table
    return Stream(t.json_text(t.page(after, limit, q), '], "next": %s, "total": %d}', t.count), "application/json")


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
    return Stream(_export(t), "application/json",
                  headers={"Content-Disposition": 'attachment; filename="users.json"'})


def _export(t):
    return t.json_text(t.walk(), '], "total": %d}')

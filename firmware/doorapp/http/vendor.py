"""The vendor-compatible unlock routes (seed "Unlock by HTTP Command"): `GET /fcgi/do` with its
own account, and `POST /api/relay/trig` in the vendor's JSON form. Loaded on demand by
doorapp.http.api (handlers take the shared Api first)."""
from doorapp.config import passwords
from doorapp.http.api import ApiError, client_of, json_body


async def fcgi_do(api, request):
    door = api.door
    a = request.args
    if a.get("action") != "OpenDoor":
        raise ApiError(400, "unsupported action", "action")
    vcfg = door.cfg["http"]
    if not vcfg["open_relay_via_http"]:
        raise ApiError(403, "Open Relay Via HTTP is disabled")
    who = client_of(request)
    api.locked(who)
    h = door.secrets.get("http_open_hash") or ""
    user, pw = a.get("UserName", ""), a.get("Password", "")
    ok = passwords.check_password(pw, h or passwords.NO_HASH)  # first: a wrong name costs the same time
    if not (ok and h and vcfg["open_username"] and user == vcfg["open_username"]):
        api.failed(who)
    api.lock.success(who)
    try:
        num = int(a.get("DoorNum", "1"))
    except ValueError:
        raise ApiError(400, "must be a relay number", "DoorNum")
    if num not in door.relays:
        raise ApiError(404, "no relay %d" % num, "DoorNum")
    door.open_relay(num, 0, user)
    return {"retcode": 0, "message": "OK"}


async def relay_trig(api, request):
    door = api.door
    doc = json_body(request, ("target", "action", "data"))
    data = doc.get("data")
    if doc.get("target") != "relay" or doc.get("action") != "trig" or not isinstance(data, dict):
        raise ApiError(400, 'expected {"target": "relay", "action": "trig", "data": {...}}')
    num = data.get("num", 1)
    delay = data.get("delay", 0)
    if isinstance(num, bool) or not isinstance(num, int) or num not in door.relays:
        raise ApiError(400, "no such relay", "data.num")
    if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= 600:
        raise ApiError(400, "must be 0-600 seconds", "data.delay")
    door.open_relay(num, delay * 1000, "admin")
    return {"retcode": 0, "action": "trig", "message": "OK"}

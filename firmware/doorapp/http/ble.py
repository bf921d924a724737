"""Phones for BLE unlock (docs/ble.md): `POST /api/v1/users/<uid>/ble-code` gives the admin a
6-digit pairing code for the user, valid `valid_s` seconds (default 300) and spent at its first
use; `DELETE /api/v1/users/<uid>/phone` unpairs the user's phone. The code is in the answer
only: never logged, never stored on flash. Loaded on demand by doorapp.http.api."""
from doorapp.http.api import ApiError, json_body


def _gatt(door):
    if door.ble is None or door.ble.gatt is None or not door.cfg["ble"]["enabled"]:
        raise ApiError(409, "BLE is off (config ble.enabled)", "ble.enabled")
    return door.ble.gatt


async def new_code(api, request, uid):
    doc = json_body(request, ("valid_s",))
    gatt = _gatt(api.door)
    valid = doc.get("valid_s", 300)
    try:
        code = gatt.new_code(uid, valid)
    except ValueError as e:
        field, _, why = str(e).partition(": ")
        raise ApiError(404 if field == "user" and why.startswith("no user") else 400, why, field)
    return {"user": uid, "code": code, "valid_s": valid}


async def unpair(api, request, uid):
    door = api.door
    if door.ble is None or not door.ble.keys.remove(uid):
        raise ApiError(404, "user %d has no phone paired" % uid)
    door.ble.forget_phone(uid)
    return {"unpaired": uid}

"""Licence plates from an LPR camera (seed "Unlock by License Plate"): `POST /api/v1/lpr` with
{"plate": "AB-12 CDE", "relay": 1, "camera": "gate-1"} decides the plate like a card tap
(plates.normalize -> access engine, the plate's own validity window included -> the gate relay
in the same loop turn -> event kind plate, value = the normalised plate), and
`POST /api/v1/lpr/camera` sets the camera's own account (Basic auth, good for nothing but
posting plates). Loaded on demand by doorapp.http.api (handlers take the shared Api first);
the simulator's `plate` control command calls decide_plate too."""
import eventlog
from doorapp.http.api import MIN_PASSWORD, ApiError, json_body

from micropython import const

# the event log's codes (lib/eventcodes.py names them)
_KIND_PLATE = const(5)

_CAMERA_MAX = 32


def _enabled(door):
    cfg = door.cfg["lpr"]
    if not cfg["enabled"]:
        raise ApiError(403, "licence plate recognition is disabled (config lpr.enabled)")
    return cfg


def decide_plate(door, text, relay=None):
    """Normalise and decide a plate read for `relay` (None = config lpr.relay), open the relays
    and log the event; returns (Decision, plate). ApiError (nothing opened, nothing logged) if
    LPR is disabled or the plate or relay is not acceptable."""
    cfg = _enabled(door)
    if text is None:
        raise ApiError(400, "a plate is required", "plate")
    import plates

    try:
        plate = plates.normalize(text)
    except ValueError as e:
        raise ApiError(400, str(e), "plate")
    if relay is None:
        relay = cfg["relay"]
    elif isinstance(relay, bool) or not isinstance(relay, int) or relay not in door.relays:
        raise ApiError(400, "must be a relay number on this board", "relay")
    d = door.engine.decide(_KIND_PLATE, plate, relay)
    door.conclude(_KIND_PLATE, d, plate)
    return d, plate


def answer(d, plate):
    """The decision as the API and the simulator's control channel report it."""
    reason = eventlog.REASONS[d.reason]
    return {"granted": d.granted, "reason": reason, "relays": list(d.relays),
            "user": d.user.id if d.user else None, "plate": plate}


async def post_plate(api, request):
    _enabled(api.door)  # refused before the body is looked at
    doc = json_body(request, ("plate", "relay", "camera"))
    cam = doc.get("camera", "")
    if not isinstance(cam, str) or len(cam) > _CAMERA_MAX:
        raise ApiError(400, "must be text of at most %d characters" % _CAMERA_MAX, "camera")
    relay = doc.get("relay")
    if request.role == "lpr" and relay is not None and relay != api.door.cfg["lpr"]["relay"]:
        raise ApiError(403, "the LPR camera account opens only the gate relay (config lpr.relay)", "relay")
    d, plate = decide_plate(api.door, doc.get("plate"), relay)
    return answer(d, plate)


async def set_camera(api, request):
    """{"username", "password"} sets the camera account; {"username": ""} removes it."""
    from doorapp.config import passwords

    door = api.door
    doc = json_body(request, ("username", "password"))
    user = doc.get("username")
    pw = doc.get("password")
    if not isinstance(user, str) or len(user) > 32 or user == "admin" or ":" in user:
        raise ApiError(400, 'must be 1-32 characters without ":", not admin ("" removes the account)', "username")
    if user and (not isinstance(pw, str) or not MIN_PASSWORD <= len(pw) <= 64):
        raise ApiError(400, "must be %d-64 characters" % MIN_PASSWORD, "password")
    if not user and pw is not None:
        raise ApiError(400, "no password without a username", "password")
    door.apply_config({"lpr": {"username": user}})  # (a rename clears the old password)
    if user:
        door.set_secret("lpr_hash", passwords.hash_password(pw))
    api.basic_cache.clear()  # a header cached for the old password no longer signs in
    return {"username": user}

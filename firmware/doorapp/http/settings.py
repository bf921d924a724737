"""HTTP route for a config change (PATCH /api/v1/config): validated as a whole, stored
atomically, applied live where it can be (Door.apply_config)."""
from configerror import ConfigError
from doorapp.http.api import ApiError, json_body


async def patch_config(api, request):
    door = api.door
    doc = json_body(request, tuple(door.cfg.keys()))
    try:
        door.apply_config(doc)
    except ConfigError as e:
        raise ApiError(400, e.message, e.field)
    if door.cfg["card"]["format"] != door.card_format:  # stored; applied at the next start
        return door.cfg, 200, {"Restart-Required": "card.format"}
    return door.cfg

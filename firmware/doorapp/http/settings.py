"""HTTP route for a config change (PATCH /api/v1/config): validated as a whole, stored
atomically, applied live where it can be (Door.apply_config)."""
from configerror import ConfigError
from doorapp.http.api import ApiError, json_body


async def patch_config(api, request):
    door = api.door
    doc = json_body(request, tuple(door.cfg.keys()))
    was = door.cfg["http"]
    http = doc.get("http")
    if isinstance(http, dict) and http.get("tls") == "on" and was["tls"] != "on":
        # HTTPS without its key or certificate would leave the next start with no HTTP API
        from doorapp import fileio
        from doorapp.http import tls

        for name in (tls.CERT_FILE, tls.KEY_FILE):
            if not fileio.exists(fileio.data_path(door.board, name)):
                raise ApiError(400, "%s is not on the device: deploy the key and certificate from "
                               "`doorctl provision --tls` first" % name, "http.tls")
    try:
        door.apply_config(doc)
    except ConfigError as e:
        raise ApiError(400, e.message, e.field)
    now = door.cfg["http"]
    if now["tls"] != was["tls"] or now["redirect_http"] != was["redirect_http"]:  # the servers start with the door
        return door.cfg, 200, {"Restart-Required": "http.tls"}
    if door.cfg["card"]["format"] != door.card_format:  # stored; applied at the next start
        return door.cfg, 200, {"Restart-Required": "card.format"}
    return door.cfg

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


def _wifi(door):
    """What the page may know of the Wi-Fi: the network and whether a password is stored (never
    the password)."""
    return {"ssid": door.cfg["network"]["ssid"], "password_set": bool(door.secrets and door.secrets.get("wifi_password"))}


async def get_wifi(api, request):
    return _wifi(api.door)


async def put_wifi(api, request):
    """{"ssid", "password"}: the network (config network.ssid) and its password (secrets.json,
    written atomically; never answered, never logged). A password left out is kept; "" is an
    open network. Both checked before either is stored; joined at the next start."""
    door = api.door
    doc = json_body(request, ("ssid", "password"))
    ssid = doc.get("ssid")
    if not isinstance(ssid, str):
        raise ApiError(400, "must be the network's name (text; \"\" = no Wi-Fi)", "ssid")
    pw = doc.get("password")
    if pw is not None:
        ok = isinstance(pw, str) and (pw == "" or 8 <= len(pw) <= 63)
        if ok:
            for c in pw.encode():  # (bytes: iterating the text would intern each character as a name)
                if c < 32 or c > 126:
                    ok = False
        if not ok:  # (the message never holds the value)
            raise ApiError(400, "must be 8-63 printable ASCII characters, or empty for an open network", "password")
    elif ssid and ssid != door.cfg["network"]["ssid"] and door.secrets and door.secrets.get("wifi_password"):
        raise ApiError(400, "a new network needs its password (empty for an open network)", "password")
    if ssid != door.cfg["network"]["ssid"]:
        try:
            door.apply_config({"network": {"ssid": ssid}})
        except ConfigError as e:
            raise ApiError(400, e.message, "ssid" if e.field == "network.ssid" else e.field)
    if pw is not None:
        door.set_secret("wifi_password", pw)
    return _wifi(door), 200, {"Restart-Required": "network"}

"""HTTP routes for the admin session: sign-in, password change, the vendor's "Open Relay Via
HTTP" account. Loaded on demand by doorapp.http.api (handlers take the shared Api first)."""
from compat import monotonic_s
from configerror import ConfigError
from doorapp.config import passwords
from doorapp.http.api import FIRST_BOOT_PASSWORD, MIN_PASSWORD, ApiError, client_of, json_body


async def login(api, request):
    """A locked client is refused before its body is even parsed, and a body that is not a
    sign-in counts as a wrong one: neither costs the device more than a wrong password."""
    who = client_of(request)
    api.locked(who)
    try:
        doc = json_body(request, ("username", "password"))
    except ApiError:
        api.lock.failure(who)
        raise
    user, pw = doc.get("username"), doc.get("password")
    if not isinstance(user, str) or not isinstance(pw, str):
        user = pw = ""
    if api.sign_in(user, pw) == "admin":
        api.lock.success(who)
        return {"token": api.tokens.issue(monotonic_s()), "password_change_required": not api.admin_hash()}
    api.failed(who)


async def change_password(api, request):
    doc = json_body(request, ("old", "new"))
    new = doc.get("new")
    if not isinstance(new, str) or len(new) < MIN_PASSWORD or len(new) > 64:
        raise ApiError(400, "new password must be %d-64 characters" % MIN_PASSWORD, "new")
    if new == FIRST_BOOT_PASSWORD:
        raise ApiError(400, "choose a password other than the first-boot one", "new")
    who = client_of(request)
    api.locked(who)
    if not isinstance(doc.get("old"), str) or not api.password_ok(doc["old"]):
        api.lock.failure(who)
        raise ApiError(401, "old password is wrong", "old")
    api.door.set_secret("admin_hash", passwords.hash_password(new))
    api.tokens.revoke_all()
    api.basic_cache.clear()
    return {"changed": True}


async def set_http_open(api, request):
    """Seed "Open Relay Via HTTP": enable/disable, its own user name and password."""
    door = api.door
    doc = json_body(request, ("enabled", "username", "password"))
    enabled = doc.get("enabled", False)
    user = doc.get("username", door.cfg["http"]["open_username"])
    pw = doc.get("password")
    if not isinstance(enabled, bool):
        raise ApiError(400, "must be true or false", "enabled")
    if not isinstance(user, str) or not 1 <= len(user) <= 32:
        raise ApiError(400, "must be 1-32 characters", "username")
    if pw is not None and (not isinstance(pw, str) or not MIN_PASSWORD <= len(pw) <= 64):
        raise ApiError(400, "must be %d-64 characters" % MIN_PASSWORD, "password")
    if enabled and pw is None and not door.secrets.get("http_open_hash"):
        raise ApiError(400, "a password is needed to enable it", "password")
    if pw is not None:
        door.set_secret("http_open_hash", passwords.hash_password(pw))
    try:
        door.apply_config({"http": {"open_relay_via_http": enabled, "open_username": user}})
    except ConfigError as e:
        raise ApiError(400, e.message, e.field)
    return {"enabled": enabled, "username": user}

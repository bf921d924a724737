"""The device HTTP API: REST under /api/v1/, the vendor-compatible unlock routes, and the
static web UI, on doorapp.httpd. Every /api and /fcgi route is authenticated (DESIGN §6: the
vendor had CVEs for unauthenticated routes); see docs/http-api.md and docs/openapi.json.
"""
import os
from binascii import a2b_base64

from micropython import const

from compat import monotonic_s
from configerror import ConfigError
from doorapp import auth
from doorapp.httpd import HTTPError as ApiError
from doorapp.httpd import Server, serve as _serve
from doorapp.lockout import Lockout
from keyedhash import Keyed, equal

FIRST_BOOT_PASSWORD = "admin"  # only good for changing itself (see docs/http-api.md)
MIN_PASSWORD = const(8)
MAX_BASIC = const(4)


def json_body(request, allowed):
    """The request's JSON object, refusing bodies too big, malformed or with unknown fields."""
    if request.content_length > len(request.body):
        raise ApiError(413, "body too large")
    doc = request.json()
    if not isinstance(doc, dict):
        raise ApiError(400, "body must be a JSON object")
    for key in doc:
        if key not in allowed:
            raise ApiError(400, "unknown field", key)
    return doc


def int_arg(request, name, default, lo, hi):
    v = request.args.get(name)
    if v is None:
        return default
    try:
        n = int(v)
    except ValueError:
        raise ApiError(400, "must be an integer", name)
    if not lo <= n <= hi:
        raise ApiError(400, "must be between %d and %d" % (lo, hi), name)
    return n


def client_of(request):
    return request.client


def create_app(door):
    """Build the API bound to a running Door."""
    app = Server()
    tokens = auth.Tokens()
    lock = Lockout()
    basic_cache = {}  # client -> keyed digest of its last good Basic header (no PBKDF per request)
    basic_key = Keyed(os.urandom(16))

    def admin_hash():
        return door.secrets.get("admin_hash") or ""

    def password_ok(password):
        h = admin_hash()
        if not h:
            return password == FIRST_BOOT_PASSWORD
        return auth.check_password(password, h)

    def authenticate(request):
        """'ok', 'change' (first-boot password: only /password allowed), or raises 401/429."""
        now = monotonic_s()
        who = client_of(request)
        hdr = request.headers.get("authorization", "")
        if hdr.startswith("Bearer "):  # 128-bit random tokens: nothing to guess, no lockout check
            if tokens.check(hdr[7:].strip(), now):
                return "ok" if admin_hash() else "change"
            raise ApiError(401, "token expired or unknown")
        if not hdr.startswith("Basic "):
            raise ApiError(401, "authentication required")
        # a Basic header already checked is remembered as a keyed digest (constant-time compare)
        digest = basic_key.digest(hdr.encode())
        cached = basic_cache.get(who)
        if cached is not None and admin_hash() and equal(cached, digest):
            return "ok"
        locked(who)
        try:
            user, _, pw = a2b_base64(hdr[6:].strip()).decode().partition(":")
        except Exception:
            user, pw = "", ""
        if user == "admin" and password_ok(pw):
            lock.success(who)
            if not admin_hash():
                return "change"
            if len(basic_cache) >= MAX_BASIC:
                basic_cache.clear()
            basic_cache[who] = digest
            return "ok"
        failed(who)

    def locked(who):
        wait = lock.check(who)
        if wait:
            raise ApiError(429, "too many failed logins: retry in %d s" % ((wait + 999) // 1000))

    def failed(who):
        _ms, alarm = lock.failure(who)
        door.auth_failed(who, alarm)
        raise ApiError(401, "wrong credentials")

    async def gate(request):
        path = request.path
        if path == "/api/v1/login" or not (path.startswith("/api/") or path.startswith("/fcgi/")):
            return None
        if path == "/fcgi/do":
            return None  # the vendor route checks its own credentials
        state = authenticate(request)
        if state == "change" and path != "/api/v1/password":
            raise ApiError(403, "the first-boot password must be changed first (POST /api/v1/password)")
        return None

    app.before = gate

    # --- session -------------------------------------------------------------------------------
    @app.route("POST", "/api/v1/login")
    async def login(request):
        doc = json_body(request, ("username", "password"))
        who = client_of(request)
        locked(who)
        if doc.get("username") == "admin" and isinstance(doc.get("password"), str) and password_ok(doc["password"]):
            lock.success(who)
            return {"token": tokens.issue(monotonic_s()), "password_change_required": not admin_hash()}
        failed(who)

    @app.route("POST", "/api/v1/password")
    async def change_password(request):
        doc = json_body(request, ("old", "new"))
        new = doc.get("new")
        if not isinstance(new, str) or len(new) < MIN_PASSWORD or len(new) > 64:
            raise ApiError(400, "new password must be %d-64 characters" % MIN_PASSWORD, "new")
        if new == FIRST_BOOT_PASSWORD:
            raise ApiError(400, "choose a password other than the first-boot one", "new")
        who = client_of(request)
        locked(who)
        if not isinstance(doc.get("old"), str) or not password_ok(doc["old"]):
            lock.failure(who)
            raise ApiError(401, "old password is wrong", "old")
        door.set_admin_password(auth.hash_password(new))
        tokens.revoke_all()
        basic_cache.clear()
        return {"changed": True}

    @app.route("POST", "/api/v1/http-open")
    async def set_http_open(request):
        """Seed "Open Relay Via HTTP": enable/disable, its own user name and password."""
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
            door.set_secret("http_open_hash", auth.hash_password(pw))
        try:
            door.update_config({"http": {"open_relay_via_http": enabled, "open_username": user}})
        except ConfigError as e:
            raise ApiError(400, e.message, e.field)
        return {"enabled": enabled, "username": user}

    # --- status, config --------------------------------------------------------------------------
    @app.route("GET", "/api/v1/status")
    async def status(request):
        return door.status()

    @app.route("GET", "/api/v1/config")
    async def get_config(request):
        return door.cfg

    @app.route("PATCH", "/api/v1/config")
    async def patch_config(request):
        doc = json_body(request, tuple(door.cfg.keys()))
        try:
            door.update_config(doc)
        except ConfigError as e:
            raise ApiError(400, e.message, e.field)
        return door.cfg

    # --- relays ----------------------------------------------------------------------------------
    @app.route("GET", "/api/v1/relays")
    async def relays(request):
        return door.state(0)["relays"]

    @app.route("POST", "/api/v1/relays/<int:num>/open")
    async def open_relay(request, num):
        doc = json_body(request, ("seconds",)) if request.content_length else {}
        secs = doc.get("seconds", 0)
        if isinstance(secs, bool) or not isinstance(secs, (int, float)) or not 0 <= secs <= 600:
            raise ApiError(400, "must be a number of seconds 0-600 (0 = the relay's hold time)", "seconds")
        if num not in door.relays:
            raise ApiError(404, "no relay %d" % num)
        door.open_relay(num, int(secs * 1000), "admin")
        return {"relay": num, "on": True}

    # --- events ----------------------------------------------------------------------------------
    @app.route("GET", "/api/v1/events")
    async def events(request):
        since = int_arg(request, "since", 0, 0, 0xFFFFFFFF)
        limit = int_arg(request, "limit", 50, 1, 200)
        return {"last_seq": door.log.last_seq, "events": door.events(since, limit)}

    # --- vendor-compatible unlock ------------------------------------------------------------------
    @app.route("GET", "/fcgi/do")
    async def fcgi_do(request):
        a = request.args
        if a.get("action") != "OpenDoor":
            raise ApiError(400, "unsupported action", "action")
        vcfg = door.cfg["http"]
        if not vcfg["open_relay_via_http"]:
            raise ApiError(403, "Open Relay Via HTTP is disabled")
        who = client_of(request)
        locked(who)
        h = door.secrets.get("http_open_hash") or ""
        user, pw = a.get("UserName", ""), a.get("Password", "")
        if not (h and vcfg["open_username"] and user == vcfg["open_username"] and auth.check_password(pw, h)):
            failed(who)
        lock.success(who)
        try:
            num = int(a.get("DoorNum", "1"))
        except ValueError:
            raise ApiError(400, "must be a relay number", "DoorNum")
        if num not in door.relays:
            raise ApiError(404, "no relay %d" % num, "DoorNum")
        door.open_relay(num, 0, user)
        return {"retcode": 0, "message": "OK"}

    @app.route("POST", "/api/relay/trig")
    async def relay_trig(request):
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

    from doorapp import webui
    webui.register(app)
    return app


async def serve(door, host, port):
    """Listen on host:port (raises OSError if it can't); returns the app."""
    app = create_app(door)
    app.listener = await _serve(app, host, port)
    return app

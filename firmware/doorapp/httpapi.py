"""The device HTTP API: REST under /api/v1/, the vendor-compatible unlock routes, and the
static web UI, on doorapp.httpd. Every /api and /fcgi route is authenticated (DESIGN §6: the
vendor had CVEs for unauthenticated routes); see docs/http-api.md and docs/openapi.json.

Only the server, the authentication and the route table stay loaded. The handlers live in
doorapp/api_*.py and doorapp/webui.py, imported on a route's first use and dropped again after
a request when free heap runs low (an ESP32 has ~110 KB for everything): the API's code costs
heap only while someone uses it.
"""
import gc
import os
from binascii import a2b_base64

from micropython import const

from compat import monotonic_s
from doorapp.tokens import Tokens
from doorapp.httpd import HTTPError as ApiError
from doorapp.httpd import Server, serve as _serve
from doorapp.lockout import Lockout
from keyedhash import Keyed, equal
from unload import forget

FIRST_BOOT_PASSWORD = "admin"  # only good for changing itself (see docs/http-api.md)
MIN_PASSWORD = const(8)
_MAX_BASIC = const(4)
LPR_PATH = "/api/v1/lpr"  # the one route the LPR camera account may use
KEEP_LOADED = const(16)  # routine route modules stay loaded while free heap > 1/KEEP_LOADED of it
# the routes used all day (status, relays, events, user pages, the UI's files): kept loaded while
# the heap has room, instead of being read from flash and dropped again for every request,
# which leaves the heap in holes; the others (sign-in, edits, config changes) go after each use
ROUTINE = ("api_admin", "api_users", "webui")

# (method, path, module in doorapp, handler); docs/openapi.json documents exactly these
ROUTES = (
    ("POST", "/api/v1/login", "api_session", "login"),
    ("POST", "/api/v1/password", "api_session", "change_password"),
    ("POST", "/api/v1/http-open", "api_session", "set_http_open"),
    ("GET", "/api/v1/status", "api_admin", "status"),
    ("GET", "/api/v1/config", "api_admin", "get_config"),
    ("PATCH", "/api/v1/config", "api_config", "patch_config"),
    ("GET", "/api/v1/relays", "api_admin", "relays"),
    ("POST", "/api/v1/relays/<int:num>/open", "api_admin", "open_relay"),
    ("GET", "/api/v1/events", "api_admin", "events"),
    ("GET", "/api/v1/users", "api_users", "list_users"),
    ("PUT", "/api/v1/users/table", "api_table", "put_table"),
    ("GET", "/api/v1/users/table", "api_table", "get_table"),
    ("GET", "/api/v1/users/export", "api_users", "export_users"),
    ("POST", "/api/v1/users", "api_user_edit", "add_user"),
    ("GET", "/api/v1/users/<int:uid>", "api_users", "get_user"),
    ("PUT", "/api/v1/users/<int:uid>", "api_user_edit", "put_user"),
    ("DELETE", "/api/v1/users/<int:uid>", "api_users", "delete_user"),
    ("GET", "/fcgi/do", "api_vendor", "fcgi_do", False),  # no HEAD: it opens the door
    ("POST", "/api/relay/trig", "api_vendor", "relay_trig"),
    ("POST", "/api/v1/lpr", "api_lpr", "post_plate"),
    ("POST", "/api/v1/lpr/camera", "api_lpr", "set_camera"),
    ("GET", "/", "webui", "ui_index"),
    ("GET", "/ui/<name>", "webui", "ui_file"),
)


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


class Api:
    """What the handlers share: the Door, sessions, the login lockout."""

    def __init__(self, door):
        self.door = door
        self.tokens = Tokens()
        self.lock = Lockout()
        self.basic_cache = {}  # client -> (user, keyed digest) of its last good Basic header (no PBKDF per request)
        self.basic_key = Keyed(os.urandom(16))
        self.www = None  # webui: (folder, allow-list), found on first use
        gc.collect()
        self.low = (gc.mem_free() + gc.mem_alloc()) // KEEP_LOADED
        self.loaded = set()

    def admin_hash(self):
        return self.door.secrets.get("admin_hash") or ""

    def password_ok(self, password, key="admin_hash"):
        """`password` against the admin's hash (or the secret `key`: the LPR camera's)."""
        h = self.door.secrets.get(key) or ""
        if not h:
            return key == "admin_hash" and password == FIRST_BOOT_PASSWORD
        from doorapp import auth  # PBKDF2: only to sign in (dropped with the route modules)

        self.loaded.add("auth")
        return auth.check_password(password, h)

    def authenticate(self, request):
        """'ok', 'change' (first-boot password: only /password allowed), 'lpr' (the LPR camera
        account: only POST /api/v1/lpr), or raises 401/429."""
        now = monotonic_s()
        who = client_of(request)
        hdr = request.headers.get("authorization", "")
        if hdr.startswith("Bearer "):  # 128-bit random tokens: nothing to guess, no lockout check
            if self.tokens.check(hdr[7:].strip(), now):
                return "ok" if self.admin_hash() else "change"
            raise ApiError(401, "token expired or unknown")
        if not hdr.startswith("Basic "):
            raise ApiError(401, "authentication required")
        # a Basic header already checked is remembered as a keyed digest (constant-time compare)
        digest = self.basic_key.digest(hdr.encode())
        cached = self.basic_cache.get(who)
        if cached is not None and equal(cached[1], digest):
            if cached[0] == "admin":
                if self.admin_hash():
                    return "ok"
            elif cached[0] == self.door.cfg["lpr"]["username"]:  # the camera, unless renamed since
                return "lpr"
        self.locked(who)
        try:
            user, _, pw = a2b_base64(hdr[6:].strip()).decode().partition(":")
        except Exception:
            user, pw = "", ""
        if user == "admin" and self.password_ok(pw):
            role = "ok" if self.admin_hash() else "change"
        elif user and user == self.door.cfg["lpr"]["username"] and self.password_ok(pw, "lpr_hash"):
            role = "lpr"
        else:
            self.failed(who)
        self.lock.success(who)
        if role != "change":
            if len(self.basic_cache) >= _MAX_BASIC:
                self.basic_cache.clear()
            self.basic_cache[who] = (user, digest)
        return role

    def locked(self, who):
        wait = self.lock.check(who)
        if wait:
            raise ApiError(429, "too many failed logins: retry in %d s" % ((wait + 999) // 1000))

    def failed(self, who):
        _ms, alarm = self.lock.failure(who)
        self.door.auth_failed(who, alarm)
        raise ApiError(401, "wrong credentials")

    async def gate(self, request):
        path = request.path
        if path == "/api/v1/login" or not (path.startswith("/api/") or path.startswith("/fcgi/")):
            return None
        if path == "/fcgi/do":
            return None  # the vendor route checks its own credentials
        state = request.role = self.authenticate(request)
        if state == "lpr" and path != LPR_PATH:
            raise ApiError(403, "the LPR camera account may only post plates (POST %s)" % LPR_PATH)
        if state == "change" and path != "/api/v1/password":
            raise ApiError(403, "the first-boot password must be changed first (POST /api/v1/password)")
        return None

    async def call(self, row, request, params):
        """Runs a ROUTES row: imports doorapp.<module> if needed, awaits `handler(api, request,
        **params)`, then drops the route modules unless the route is ROUTINE and free heap is
        above the mark (a handler still running keeps its own module alive until it returns)."""
        routine = row[2] in ROUTINE
        if not routine and self.loaded:
            self.unload()  # the rare routes (edits, sign-in, config) need the heap more
        try:
            mod = __import__("doorapp." + row[2], None, None, (row[3],))
            self.loaded.add(row[2])
            return await getattr(mod, row[3])(self, request, **params)
        except MemoryError:
            mod = None
            self.unload()  # (now, so the 503 and the next request find the heap)
            raise
        finally:
            mod = None
            if not routine or gc.mem_free() < self.low:
                self.unload()

    def unload(self):
        forget("doorapp.admin")  # shared by the route modules
        for name in self.loaded:
            forget("doorapp." + name)
        self.loaded.clear()
        from usertable.table import _COLD

        forget(*_COLD)  # a users page's code (api_users keeps it for the next page)
        gc.collect()


def create_app(door):
    """Build the API bound to a running Door."""
    app = Server()
    api = Api(door)
    app.before = api.gate
    app.call = api.call
    app.api = api
    app.routes = list(ROUTES)
    return app


async def serve(door, host, port):
    """Listen on host:port (raises OSError if it can't); returns the app."""
    app = create_app(door)
    app.listener = await _serve(app, host, port)
    return app

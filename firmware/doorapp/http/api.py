"""The device HTTP API: REST under /api/v1/, the vendor-compatible unlock routes, and the
static web UI, on doorapp.http.server; see docs/http-api.md, docs/openapi.json, docs/security.md.

Who may use a route is the route's own row in ROUTES (ADMIN unless it says otherwise), decided
on the one canonical path the router matched, never on a path prefix: the vendor had CVEs for
unauthenticated routes. Requests that act are refused when a browser sent them for another site.

The routes' handlers live in the other modules of doorapp/http/, imported on a route's first
use (on lean boards they go again after each request: doorapp/residency.py).
"""
import os
from binascii import a2b_base64

from micropython import const

from compat import monotonic_s, ticks_diff, ticks_ms
from doorapp import residency
from doorapp.http.tokens import Tokens
from doorapp.http.server import HTTPError as ApiError
from doorapp.http.server import Server, serve as _serve
from doorapp.access.lockout import Lockout
from keyedhash import Keyed, equal

# the event log's codes (lib/eventcodes.py names them)
_KIND_API = const(7)
_REASON_LOCKOUT = const(8)
_REASON_AUTH_FAILED = const(16)
_REASON_LOCKOUT_CLEARED = const(34)

FIRST_BOOT_PASSWORD = "admin"  # only good for changing itself (see docs/http-api.md)
MIN_PASSWORD = const(8)
_MAX_BASIC = const(4)
_FREE_TRIES = const(2)  # wrong passwords from one address before it waits (the 3rd locks)
_RECOVER_MS = const(10000)  # the exit button held this long clears the sign-in lockout
LPR_PATH = "/api/v1/lpr"  # the one route the LPR camera account may use

# who may use a route (a ROUTES row's fifth item); a row says so explicitly, else ADMIN
ADMIN = const(0)  # the admin, signed in, first-boot password changed
FIRST = const(1)  # the admin, also with the first-boot password (only to change it)
PUBLIC = const(2)  # anyone: sign-in and the web UI's static files (they hold no data)
OWN = const(3)  # the route checks credentials of its own (the vendor's /fcgi/do)
CAMERA = const(4)  # the admin or the LPR camera account; 401 asks for Basic credentials
VENDOR = const(5)  # the admin; 401 asks for Basic credentials (the vendor's clients expect it)

# (method, path, module in doorapp, handler, access[, False: a GET that acts, no HEAD]);
# docs/openapi.json documents exactly these
ROUTES = (
    ("POST", "/api/v1/login", "session", "login", PUBLIC),
    ("POST", "/api/v1/password", "session", "change_password", FIRST),
    ("POST", "/api/v1/http-open", "session", "set_http_open", ADMIN),
    ("GET", "/api/v1/status", "status", "status", ADMIN),
    ("GET", "/api/v1/config", "status", "get_config", ADMIN),
    ("PATCH", "/api/v1/config", "settings", "patch_config", ADMIN),
    ("GET", "/api/v1/relays", "status", "relays", ADMIN),
    ("POST", "/api/v1/relays/<int:num>/open", "status", "open_relay", ADMIN),
    ("GET", "/api/v1/events", "status", "events", ADMIN),
    ("GET", "/api/v1/alarms", "status", "alarms", ADMIN),
    ("POST", "/api/v1/alarms/clear", "status", "clear_alarms", ADMIN),
    ("GET", "/api/v1/users", "users", "list_users", ADMIN),
    ("PUT", "/api/v1/users/table", "table", "put_table", ADMIN),
    ("GET", "/api/v1/users/table", "table", "get_table", ADMIN),
    ("GET", "/api/v1/users/export", "users", "export_users", ADMIN),
    ("POST", "/api/v1/users", "useredit", "add_user", ADMIN),
    ("GET", "/api/v1/users/<int:uid>", "users", "get_user", ADMIN),
    ("PUT", "/api/v1/users/<int:uid>", "useredit", "put_user", ADMIN),
    ("DELETE", "/api/v1/users/<int:uid>", "users", "delete_user", ADMIN),
    ("POST", "/api/v1/users/<int:uid>/ble-code", "ble", "new_code", ADMIN),
    ("DELETE", "/api/v1/users/<int:uid>/phone", "ble", "unpair", ADMIN),
    ("GET", "/api/v1/schedules", "schedules", "get_schedules", ADMIN),
    ("PUT", "/api/v1/schedules", "schedules", "put_schedules", ADMIN),
    ("GET", "/api/v1/network/wifi", "settings", "get_wifi", ADMIN),
    ("PUT", "/api/v1/network/wifi", "settings", "put_wifi", ADMIN),
    ("GET", "/fcgi/do", "vendor", "fcgi_do", OWN, False),  # no HEAD: it opens the door
    ("POST", "/api/relay/trig", "vendor", "relay_trig", VENDOR),
    ("POST", "/api/v1/lpr", "lpr", "post_plate", CAMERA),
    ("POST", "/api/v1/lpr/camera", "lpr", "set_camera", ADMIN),
    ("GET", "/", "webui", "ui_index", PUBLIC),
    ("GET", "/ui/<name>", "webui", "ui_file", PUBLIC),
)


def json_body(request, allowed):
    """The request's JSON object, refusing bodies too big, not sent as application/json (an
    HTML form can't send that type to another site), malformed or with unknown fields."""
    if request.content_length > len(request.body):
        raise ApiError(413, "body too large")
    if request.content_length and not is_json(request.headers.get("content-type", "")):
        raise ApiError(415, "Content-Type must be application/json")
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


def is_json(ctype):
    return ctype.split(";")[0].strip().lower() == "application/json"


def client_of(request):
    return request.client


def same_origin(request):
    """False for a request a browser sent on behalf of another web site: Sec-Fetch-Site other
    than same-origin or none (typed by the user), or an Origin that is not this device's
    (`null` included). Clients that are not browsers send neither and pass."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin" and site != "none":
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    _scheme, sep, hostport = origin.partition("://")
    return bool(sep) and hostport == request.headers.get("host")


class Api:
    """What the handlers share: the Door, sessions, the login lockout."""

    def __init__(self, door):
        self.door = door
        self.tokens = Tokens()
        self.lock = Lockout(free=_FREE_TRIES)
        self.basic_cache = {}  # client -> (user, keyed digest) of its last good Basic header (no PBKDF per request)
        self.basic_key = Keyed(os.urandom(16))
        self.www = None  # webui: (folder, allow-list), found on first use
        self.held = None  # ticks_ms the exit button was pressed (see on_input)
        door.input_listeners.append(self.on_input)

    def admin_hash(self):
        return self.door.secrets.get("admin_hash") or ""

    def password_ok(self, password, key="admin_hash"):
        """`password` against the admin's hash (or the secret `key`: the LPR camera's). Always
        one PBKDF2 run, also with no hash stored (then the first-boot password, for the admin)."""
        from doorapp.config import passwords  # PBKDF2: only to sign in

        h = self.door.secrets.get(key) or ""
        if not h:
            passwords.check_password(password, passwords.NO_HASH)  # (always False: the same work)
            return key == "admin_hash" and password == FIRST_BOOT_PASSWORD
        return passwords.check_password(password, h)

    def sign_in(self, user, password):
        """'admin', 'lpr' (the LPR camera account) or None for a user name and password. The
        same hashing work whatever the name: a wrong name takes as long as a wrong password."""
        cam = self.door.cfg["lpr"]["username"]
        if cam and user == cam:
            return "lpr" if self.password_ok(password, "lpr_hash") else None
        ok = self.password_ok(password)
        return "admin" if ok and user == "admin" else None

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
        account = self.sign_in(user, pw)
        if account is None:
            self.failed(who)
        self.lock.success(who)
        if account == "lpr":
            role = "lpr"
        else:
            role = "ok" if self.admin_hash() else "change"
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
        # logged with the client, never the password; eventcodes.REASON_LOCKOUT: this failure locked it
        self.door.record(_KIND_API, False, _REASON_LOCKOUT if alarm else _REASON_AUTH_FAILED, who, 0, None, ())
        raise ApiError(401, "wrong credentials")

    def on_input(self, inp, active):
        """The exit button held for _RECOVER_MS clears the sign-in lockout: someone inside, at
        the door, lets an admin in that a lockout keeps out (e.g. behind the same NAT as the
        one who guessed). Logged."""
        if inp.kind != "exit_button":
            return
        if active:
            self.held = ticks_ms()
        elif self.held is not None:
            if ticks_diff(ticks_ms(), self.held) >= _RECOVER_MS:
                self.lock.clear()
                self.door.record(_KIND_API, None, _REASON_LOCKOUT_CLEARED, inp.name, 0, None, ())
            self.held = None

    async def gate(self, request, row):
        """Before every handler: a request that acts (any method but GET and HEAD, or a GET row
        marked as acting) must come from this device's own pages or from a client that is not a
        browser; then the route's access (ROUTES) decides: nobody gets past without the
        credentials the route names."""
        access = row[4]
        m = request.method
        if (m != "GET" and m != "HEAD" or row[-1] is False) and not same_origin(request):
            raise ApiError(403, "cross-site request refused")
        if access == PUBLIC or access == OWN:
            return None
        try:
            state = request.role = self.authenticate(request)
        except ApiError as e:
            e.challenge = access == CAMERA or access == VENDOR
            raise
        if state == "lpr" and access != CAMERA:
            raise ApiError(403, "the LPR camera account may only post plates (POST %s)" % LPR_PATH)
        if state == "change" and access != FIRST:
            raise ApiError(403, "the first-boot password must be changed first (POST /api/v1/password)")
        return None

    async def call(self, row, request, params):
        """Runs a ROUTES row: imports doorapp.http.<module>, awaits `handler(api, request,
        **params)`; on lean boards the route's code goes again after it (doorapp/residency.py)."""
        try:
            mod = __import__("doorapp.http." + row[2], None, None, (row[3],))
            return await getattr(mod, row[3])(self, request, **params)
        finally:
            mod = None
            residency.trim()


def create_app(door):
    """Build the API bound to a running Door."""
    app = Server()
    api = Api(door)
    app.before = api.gate
    app.call = api.call
    app.api = api
    app.routes = list(ROUTES)
    return app


async def serve(door, host, port, wrap=None):
    """Listen on host:port (raises OSError if it can't); returns the app. `wrap`: HTTPS
    (doorapp.http.tls)."""
    app = create_app(door)
    app.wrap = wrap
    app.listener = await _serve(app, host, port)
    return app

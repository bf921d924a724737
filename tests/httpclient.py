"""A tiny HTTP client for tests against the simulator's API (stdlib only)."""
import base64
import http.client
import json
import socket
import urllib.parse


def raw(hostport, data, read=True, timeout=8, source=None, half_close=False):
    """Send bytes exactly as given (no client normalisation) from address `source` if given;
    returns everything the device answers until it closes (or, read=False, the open socket).
    half_close: then say that is all (shutdown for writing), so a device that drains what a
    refused request still sends sees the end at once instead of waiting for more."""
    host, port = hostport.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout, source_address=(source, 0) if source else None)
    try:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        if not read:
            return s
        out = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
        return out
    finally:
        if read:
            s.close()


class Api:
    """`trust` (doorctl.tlstrust.Trust): talk HTTPS, accepting what it accepts."""

    def __init__(self, hostport, token=None, timeout=10, trust=None):
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)
        self.token = token
        self.timeout = timeout
        self.trust = trust
        self.basic = None
        self.last_headers = {}  # of the last answer

    def request(self, method, path, body=None, headers=None, raw=None):
        h = dict(headers or {})
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        elif self.basic:
            h["Authorization"] = "Basic " + base64.b64encode(self.basic.encode()).decode()
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if self.trust is not None:
            from doorctl.tlstrust import HTTPSConnection

            c = HTTPSConnection(self.host, self.port, self.timeout, self.trust)
        else:
            c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            payload = r.read()
            self.last_headers = dict(r.getheaders())
        finally:
            c.close()
        try:
            doc = json.loads(payload) if payload else None
        except ValueError:
            doc = payload
        return r.status, doc

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def login(self, password, username="admin"):
        self.token = None
        st, doc = self.post("/api/v1/login", {"username": username, "password": password})
        assert st == 200, (st, doc)
        self.token = doc["token"]
        return doc


def query(**kw):
    return urllib.parse.urlencode(kw)


def admin_session(hostport, password="s3cret-door"):
    """First boot: sign in with the first-boot password, change it, sign in again."""
    api = Api(hostport)
    api.login("admin")
    st, doc = api.post("/api/v1/password", {"old": "admin", "new": password})
    assert st == 200, (st, doc)
    api.login(password)
    return api

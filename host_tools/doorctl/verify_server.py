"""A reference third-party verification server (seed 004) for installers and tests.

It logs every request it receives (method, path, query decoded) and answers by rules, so an
installer can check what a door sends before the real platform is connected, and the test
suite can produce every answer a real server might (slow, huge, not JSON, redirect loops).

Rules (a JSON object; every key optional; docs/verify.md has the reference):

  form        "isvalid_bool" ({"isvalid": true}), "isvalid_int" ({"isvalid": 1}) or
              "validation_result" ({"validation_result": "1"}); default isvalid_bool
  allow       credentials granted: a request is granted if any query value, or any part of a
              query value split at "/" (the vendor's codeKey={QRCode}/{Card}/{Pin}), is listed
  deny        never granted, even if also allowed
  prompt_field  key carrying the prompt in answers (default "message"); prompts are sent
  prompts     {"granted": "...", "denied": "...", "<credential>": "..."} only when given
  delay_ms    wait this long before every answer; status: HTTP status of every answer
  delay_max_ms  with it, each answer waits a random time from delay_ms to delay_max_ms instead
              (a rule's own delay_ms still wins)
  no_answer   fraction 0..1 of requests never answered: the connection is held open, nothing
              sent, until the client gives up and closes it (at most 60 s)
  seed        seed of the random delays and unanswered requests (repeatable runs)
  rules       list, first match wins, checked before allow/deny. Match keys: "path" (glob with
              *), "query" ({param: glob}), "value" (glob matched against every part). Action
              keys: "grant" (true/false: answer in `form`), "answer" (JSON sent as is), "body"
              (raw text), "content_type", "status", "delay_ms", "redirect" (Location; status
              302 unless given), "body_size" (send that many bytes of filler JSON), "no_length"
              (no Content-Length: the body ends when the connection closes), "chunked"
"""
import fnmatch
import json
import random
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

FORMS = ("isvalid_bool", "isvalid_int", "validation_result")
RULE_MATCH = ("path", "query", "value")
RULE_ACTIONS = ("grant", "answer", "body", "content_type", "status", "delay_ms", "redirect",
                "body_size", "no_length", "chunked")
TOP_KEYS = ("form", "allow", "deny", "prompt_field", "prompts", "delay_ms", "delay_max_ms", "no_answer", "seed",
            "status", "rules")
NO_ANSWER_HOLD_S = 60  # an unanswered request's connection is closed after this at the latest


class RulesError(ValueError):
    pass


def check_rules(rules):
    """Validate a rules object; returns it with defaults, or raises RulesError naming the key."""
    if not isinstance(rules, dict):
        raise RulesError("rules must be a JSON object")
    for k in rules:
        if k not in TOP_KEYS:
            raise RulesError("unknown key %r (known: %s)" % (k, ", ".join(TOP_KEYS)))
    out = {"form": rules.get("form", "isvalid_bool"), "allow": rules.get("allow", []),
           "deny": rules.get("deny", []), "prompt_field": rules.get("prompt_field", "message"),
           "prompts": rules.get("prompts", {}), "delay_ms": rules.get("delay_ms", 0),
           "status": rules.get("status", 200), "rules": rules.get("rules", []),
           "delay_max_ms": rules.get("delay_max_ms"), "no_answer": rules.get("no_answer", 0),
           "seed": rules.get("seed")}
    if out["form"] not in FORMS:
        raise RulesError("form must be one of %s" % ", ".join(FORMS))
    for k in ("allow", "deny"):
        if not isinstance(out[k], list) or not all(isinstance(v, str) for v in out[k]):
            raise RulesError("%s must be a list of strings" % k)
    if not isinstance(out["prompts"], dict):
        raise RulesError("prompts must be an object")
    for k in ("delay_ms", "status"):
        if not isinstance(out[k], int) or isinstance(out[k], bool) or out[k] < 0:
            raise RulesError("%s must be a non-negative integer" % k)
    if out["delay_max_ms"] is not None:
        v = out["delay_max_ms"]
        if not isinstance(v, int) or isinstance(v, bool) or v < out["delay_ms"]:
            raise RulesError("delay_max_ms must be an integer not below delay_ms")
    v = out["no_answer"]
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 1:
        raise RulesError("no_answer must be a fraction from 0 to 1")
    if out["seed"] is not None and (not isinstance(out["seed"], int) or isinstance(out["seed"], bool)):
        raise RulesError("seed must be an integer")
    if not isinstance(out["rules"], list):
        raise RulesError("rules must be a list")
    for i, r in enumerate(out["rules"]):
        if not isinstance(r, dict):
            raise RulesError("rules[%d] must be an object" % i)
        for k in r:
            if k not in RULE_MATCH + RULE_ACTIONS:
                raise RulesError("rules[%d]: unknown key %r" % (i, k))
    return out


def load_rules(path):
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError as e:
        raise RulesError("%s: cannot be read (%s)" % (path, e.strerror))
    except ValueError as e:
        raise RulesError("%s: not valid JSON (%s)" % (path, e))
    try:
        return check_rules(doc)
    except RulesError as e:
        raise RulesError("%s: %s" % (path, e))


def parts_of(params):
    """Every query value and every "/"-separated part of it (empty parts dropped)."""
    out = []
    for _k, v in params:
        if v:
            out.append(v)
        if "/" in v:
            out += [p for p in v.split("/") if p]
    return out


def answer_doc(form, granted):
    if form == "isvalid_int":
        return {"isvalid": 1 if granted else 0}
    if form == "validation_result":
        return {"validation_result": "1" if granted else "0"}
    return {"isvalid": bool(granted)}


class Decision:
    """What the server will do with one request (computed before any delay)."""

    def __init__(self):
        self.status = 200
        self.delay_ms = 0
        self.body = b""
        self.content_type = "application/json"
        self.headers = []
        self.body_size = 0
        self.no_length = False
        self.chunked = False
        self.granted = None
        self.rule = None
        self.no_answer = False


def decide(rules, path, params, rnd=None):
    """rnd: a random.Random for delay_max_ms and no_answer (default: the module's)."""
    rnd = rnd or random
    d = Decision()
    d.status = rules["status"]
    d.delay_ms = rules["delay_ms"]
    if rules.get("delay_max_ms") is not None:
        d.delay_ms = rnd.randint(rules["delay_ms"], rules["delay_max_ms"])
    if rules.get("no_answer") and rnd.random() < rules["no_answer"]:
        d.no_answer = True
    parts = parts_of(params)
    qdict = dict(params)
    for i, r in enumerate(rules["rules"]):
        if "path" in r and not fnmatch.fnmatchcase(path, r["path"]):
            continue
        if "query" in r and not all(k in qdict and fnmatch.fnmatchcase(qdict[k], str(pat))
                                    for k, pat in r["query"].items()):
            continue
        if "value" in r and not any(fnmatch.fnmatchcase(p, str(r["value"])) for p in parts):
            continue
        d.rule = i
        d.delay_ms = r.get("delay_ms", d.delay_ms)
        d.status = r.get("status", d.status)
        d.no_length = bool(r.get("no_length"))
        d.chunked = bool(r.get("chunked"))
        if "redirect" in r:
            d.status = r.get("status", 302)
            d.headers.append(("Location", r["redirect"]))
            d.body = b""
            return d
        if "body_size" in r:
            d.body_size = int(r["body_size"])
            return d
        if "body" in r:
            d.body = r["body"].encode()
            d.content_type = r.get("content_type", "text/plain")
            return d
        if "answer" in r:
            d.body = json.dumps(r["answer"]).encode()
            d.content_type = r.get("content_type", d.content_type)
            return d
        if "grant" in r:
            d.granted = bool(r["grant"])
            d.body = _grant_body(rules, d.granted, parts)
            return d
        break  # a rule with only delay/status: fall through to allow/deny with them
    deny = set(rules["deny"])
    allow = set(rules["allow"])
    d.granted = any(p in allow for p in parts) and not any(p in deny for p in parts)
    d.body = _grant_body(rules, d.granted, parts)
    return d


def _grant_body(rules, granted, parts):
    doc = answer_doc(rules["form"], granted)
    prompts = rules["prompts"]
    text = None
    for p in parts:
        if p in prompts:
            text = prompts[p]
            break
    if text is None:
        text = prompts.get("granted" if granted else "denied")
    if text is not None:
        doc[rules["prompt_field"]] = text
    return json.dumps(doc).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "doorctl-verify-server"
    sys_version = ""

    def log_message(self, fmt, *args):  # the server logs its own way
        pass

    def _handle(self):
        srv = self.server
        split = urlsplit(self.path)
        params = parse_qsl(split.query, keep_blank_values=True)
        with srv._lock:  # one random sequence for the whole server (repeatable with a seed)
            d = decide(srv.rules, split.path, params, srv.random)
        entry = {"time": time.time(), "client": self.client_address[0], "method": self.command,
                 "path": split.path, "raw_query": split.query, "target": self.path,
                 "query": params, "headers": dict(self.headers.items()), "status": d.status,
                 "granted": d.granted, "rule": d.rule, "delay_ms": d.delay_ms, "no_answer": d.no_answer,
                 "body": d.body[:200].decode("utf-8", "replace") if not d.body_size else
                 "<%d bytes>" % d.body_size}
        srv.record(entry)
        if d.no_answer:
            self._hold()
            return
        if d.delay_ms:
            time.sleep(d.delay_ms / 1000)
        entry["answered"] = time.time()  # the answer starts now (before the client can see any of it)
        try:
            self.send_response(d.status)
            self.send_header("Content-Type", d.content_type)
            self.send_header("Connection", "close")
            for k, v in d.headers:
                self.send_header(k, v)
            if d.body_size:
                if not d.no_length:
                    self.send_header("Content-Length", str(d.body_size))
                self.end_headers()
                chunk = b'{"isvalid": true, "pad": "' + b"x" * 65000
                left = d.body_size
                while left > 0:
                    n = min(left, len(chunk))
                    self.wfile.write(chunk[:n])
                    left -= n
            elif d.chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                half = len(d.body) // 2
                for piece in (d.body[:half], d.body[half:]):
                    if piece:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")
            else:
                if not d.no_length:
                    self.send_header("Content-Length", str(len(d.body)))
                self.end_headers()
                self.wfile.write(d.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
            pass  # the client stopped listening (too-large bodies, timeouts): expected
        self.close_connection = True

    def _hold(self):
        """No answer: read (and drop) whatever comes until the client closes or NO_ANSWER_HOLD_S."""
        self.close_connection = True
        end = time.time() + NO_ANSWER_HOLD_S
        try:
            while time.time() < end:
                self.connection.settimeout(max(0.05, end - time.time()))
                if not self.connection.recv(512):
                    break
        except (OSError, ssl.SSLError):
            pass

    do_GET = _handle
    do_POST = _handle


class VerifyServer(ThreadingHTTPServer):
    """Serve in a background thread: `with VerifyServer(rules) as s: ... s.url, s.requests`."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, rules=None, host="127.0.0.1", port=0, tls_cert=None, tls_key=None,
                 log=None):
        self.rules = check_rules(rules or {})
        self.random = random.Random(self.rules["seed"])
        self.requests = []
        self.log = log
        self._lock = threading.Lock()
        self._thread = None
        self.ctx = None
        self.tls_errors = 0
        if tls_cert:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(tls_cert, tls_key)
        super().__init__((host, port), _Handler)
        self.host = host
        self.port = self.server_address[1]

    @property
    def url(self):
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return "%s://%s:%d" % ("https" if self.ctx else "http", host, self.port)

    def finish_request(self, request, client_address):
        if self.ctx is not None:
            try:
                request.settimeout(10)
                request = self.ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                self.tls_errors += 1
                self.record({"time": time.time(), "client": client_address[0], "method": "-",
                             "path": "-", "raw_query": "", "target": "-", "query": [],
                             "headers": {}, "status": 0, "granted": None, "rule": None,
                             "delay_ms": 0, "body": "TLS handshake failed: %s" % e})
                return
        super().finish_request(request, client_address)

    def record(self, entry):
        with self._lock:
            self.requests.append(entry)
        if self.log:
            self.log(entry)

    def start(self):
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def format_entry(e):
    """One log line: time, client, method, path, decoded query, outcome."""
    q = " ".join("%s=%s" % (k, json.dumps(v, ensure_ascii=False) if (not v or " " in v) else v)
                 for k, v in e["query"])
    when = time.strftime("%H:%M:%S", time.localtime(e["time"]))
    if e["method"] == "-":
        return "%s %s %s" % (when, e["client"], e["body"])
    if e.get("no_answer"):
        return "%s %s %s %s %s -> no answer" % (when, e["client"], e["method"], e["path"], q or "(no query)")
    outcome = "granted" if e["granted"] else ("denied" if e["granted"] is False else "-")
    delay = " (after %d ms)" % e["delay_ms"] if e.get("delay_ms") else ""
    return "%s %s %s %s %s -> %d %s %s%s" % (when, e["client"], e["method"], e["path"], q or "(no query)",
                                             e["status"], outcome, e["body"], delay)

"""docs/openapi.json describes exactly the routes the firmware serves (no undocumented routes)."""
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


DOORAPP = os.path.join(ROOT, "firmware", "doorapp", "http")


def route_table():
    """doorapp.http.api.ROUTES as (method, path, module, handler, access) tuples, read from the source (a
    row may end in False: a GET that does not answer HEAD)."""
    src = open(os.path.join(DOORAPP, "api.py")).read()
    return re.findall(r'\("([A-Z]+)", "(/[^"]*)", "(\w+)", "(\w+)", ([A-Z]+)(?:, False)?\)', src)


def served_routes():
    """The API routes (the web UI's static files are not part of the API document)."""
    out = set()
    for method, path, module, _, _access in route_table():
        if module != "webui":
            out.add((method.lower(), re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)))
    return out


def test_every_route_has_its_handler():
    """Each route names a module and an `async def handler(api, request, ...)` that exists,
    with the path's parameters as its own."""
    table = route_table()
    assert len(table) >= 12
    for method, path, module, name, _access in table:
        src = open(os.path.join(DOORAPP, module + ".py")).read()
        params = "".join(", " + p for p in re.findall(r"<(?:\w+:)?(\w+)>", path))
        assert "async def %s(api, request%s):" % (name, params) in src, (method, path, module, name)


def documented_routes():
    doc = json.load(open(os.path.join(ROOT, "docs", "openapi.json")))
    assert doc["openapi"].startswith("3.")
    return {(m, p) for p, item in doc["paths"].items() for m in item}


def test_openapi_matches_served_routes():
    served = served_routes()
    assert len(served) >= 10
    assert served == documented_routes()


def test_every_route_documents_its_auth_failures():
    doc = json.load(open(os.path.join(ROOT, "docs", "openapi.json")))
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if op.get("security") == []:
                continue  # login and the vendor route (own credentials)
            assert "401" in op["responses"], (method, path)


def test_routes_without_sign_in_are_exactly_the_documented_ones():
    """Deny by default: a route is open only if its ROUTES row says PUBLIC (or OWN: credentials
    of its own), and those are exactly the operations openapi.json documents with no security;
    the web UI's static files are the only other open routes."""
    doc = json.load(open(os.path.join(ROOT, "docs", "openapi.json")))
    documented_open = {(m, p) for p, item in doc["paths"].items() for m, op in item.items()
                       if op.get("security") == []}
    open_rows = {(m.lower(), re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", p)) for m, p, mod, _, access in route_table()
                 if access in ("PUBLIC", "OWN") and mod != "webui"}
    assert open_rows == documented_open == {("post", "/api/v1/login"), ("get", "/fcgi/do")}
    ui = {(m, p, access) for m, p, mod, _, access in route_table() if mod == "webui"}
    assert ui == {("GET", "/", "PUBLIC"), ("GET", "/ui/<name>", "PUBLIC")}
    for _m, _p, _mod, _h, access in route_table():
        assert access in ("ADMIN", "FIRST", "PUBLIC", "OWN", "CAMERA", "VENDOR"), access

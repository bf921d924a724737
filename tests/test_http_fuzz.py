"""Fuzzing the device HTTP API from its OpenAPI document (schemathesis + hypothesis) against the
real firmware in the simulator under the ESP32 heap: generated requests, valid and invalid,
never get a 5xx and never take the device down."""
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from httpclient import Api, admin_session
from simproc import FAST_CONFIG, Sim

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA = schemathesis.openapi.from_path(os.path.join(ROOT, "docs", "openapi.json"))
# changing the admin password or logging in wrongly would lock the fuzzer itself out
SKIP = {("POST", "/api/v1/password"), ("POST", "/api/v1/login"), ("POST", "/api/v1/http-open")}


def _param(op):
    return pytest.param(op, id="%s %s" % (op.method.upper(), op.path))


OPERATIONS = [_param(op.ok()) for op in SCHEMA.get_all_operations()
              if (op.ok().method.upper(), op.ok().path) not in SKIP]


@pytest.fixture(scope="module")
def device(tmp_path_factory):
    # LPR on, so POST /api/v1/lpr gets past "disabled" to its body checks and the decision
    s = Sim(tmp_path_factory.mktemp("fuzz"), config=dict(FAST_CONFIG, lpr={"enabled": True}), http=True)
    admin = admin_session(s.http)
    yield s, admin
    s.stop()


@pytest.mark.parametrize("op", OPERATIONS)
def test_generated_requests_never_get_a_server_error(device, op):
    sim, admin = device
    url = "http://" + sim.http

    @settings(max_examples=12, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(), auth=st.sampled_from(["token", "none", "junk"]))
    def run(case, auth):
        headers = {}
        if auth == "token":
            headers["Authorization"] = "Bearer " + admin.token
        elif auth == "junk":
            headers["Authorization"] = "Bearer 00"
        r = case.call(base_url=url, headers=headers, timeout=10)
        assert r.status_code < 500, (case.method, case.formatted_path, r.status_code, r.text[:200])

    run()
    # the device is still alive and its state readable
    assert sim.state(0)["reader"]["status"] in ("ok", "starting")
    st_, doc = Api(sim.http, token=admin.token).get("/api/v1/status")
    assert st_ == 200 and doc["version"]

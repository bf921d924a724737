"""Cross-site request forgery in a real browser (headless Debian chromium, Playwright): a page on
another origin makes the browser send forms and fetches to the device while the browser sends
the admin's password with every request (as one that once answered a Basic challenge does).
The device refuses them all (docs/security.md); nothing opens. The same requests from the
device's own origin do open: the test can tell the two apart."""
import base64
import http.server
import os
import threading

import pytest

from httpclient import admin_session
from simproc import Sim

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "csrf-s3cret-door"
CONFIG = {"relays": {"1": {"hold_ms": 400}, "2": {"hold_ms": 400}}}

if not os.path.exists(CHROMIUM):
    pytest.skip("no chromium: apt-get install chromium", allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402

ATTACK = """<!doctype html><html><body>
<iframe name="a"></iframe><iframe name="b"></iframe><iframe name="c"></iframe>
<form id="f1" method="POST" action="{dev}/api/v1/relays/1/open" enctype="text/plain" target="a">
<input name='{{"seconds": 1, "x": "' value='"}}'></form>
<form id="f2" method="POST" action="{dev}/api/relay/trig" enctype="text/plain" target="b">
<input name='{{"target": "relay", "action": "trig", "data": {{"num": 2}}, "x": "' value='"}}'></form>
<form id="f3" method="POST" action="{dev}/api/v1/relays/2/open" target="c"></form>
<script>
document.getElementById('f1').submit();
document.getElementById('f2').submit();
document.getElementById('f3').submit();
fetch('{dev}/api/relay/trig', {{method: 'POST', mode: 'no-cors', credentials: 'include',
  headers: {{'Content-Type': 'text/plain'}},
  body: JSON.stringify({{target: 'relay', action: 'trig', data: {{num: 1}}}})}});
fetch('{dev}/api/v1/relays/1/open', {{method: 'POST', mode: 'no-cors', credentials: 'include'}});
</script></body></html>"""


class Evil(http.server.BaseHTTPRequestHandler):
    page = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *a):
        pass


@pytest.fixture
def sim(tmp_path):
    s = Sim(tmp_path, config=CONFIG, http=True)
    admin_session(s.http, PASSWORD)
    yield s
    s.stop()


def test_forms_and_fetches_from_another_site_open_nothing(sim, tmp_path):
    dev = "http://" + sim.http  # 127.0.0.1:port; the attacker's page is on localhost: another site
    Evil.page = ATTACK.format(dev=dev).encode()
    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    before = sim.state(0)
    seen = []
    auth = "Basic " + base64.b64encode(("admin:" + PASSWORD).encode()).decode()
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=ARGS,
                extra_http_headers={"Authorization": auth})
            ctx.on("response", lambda r: seen.append((r.request.method, r.url, r.status)))
            page = ctx.new_page()
            page.goto("http://localhost:%d/" % evil.server_address[1])
            page.wait_for_timeout(2500)
            attacks = [x for x in seen if x[1].startswith(dev) and x[0] == "POST"]
            # every forged request reached the device and was refused there
            assert len(attacks) == 5, seen
            assert {x[2] for x in attacks} == {403}, attacks
            after = sim.state(0)
            for rid in ("1", "2"):
                assert after["relays"][rid]["pulses"] == before["relays"][rid]["pulses"], after["relays"]
            # the same browser on the device's own page: the API works (same origin)
            page.goto(dev + "/")
            st = page.evaluate("""async () => (await fetch('/api/relay/trig', {method: 'POST',
                headers: {'Content-Type': 'application/json'},
                body: JSON.stringify({target: 'relay', action: 'trig', data: {num: 2}})})).status""")
            assert st == 200
            sim.wait_for(lambda s: s["relays"]["2"]["pulses"] == before["relays"]["2"]["pulses"] + 1)
            ctx.close()
    finally:
        evil.shutdown()

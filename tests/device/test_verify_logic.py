"""Third-party verification without a network: URL templates and encoding, answer forms, the
`verify` config section, and the mode logic (General, Any Method, two-factor both orders, step
timeouts, fallback, pending policy) over a fake client."""
import asyncio

import eventcodes
import eventlog
import verifyclient as vc
import verifyurl
from configerror import ConfigError
from doorapp.verify import verifier
from doorapp.config import schema
from doorapp.verify.verifier import CARD, PIN, QR

NOW = 1795428000
VENDOR_ANY = "http://192.168.31.123:8090/api/visitor/scan?codeKey={QRCode}/{Card}/{Pin}&deviceId={DeviceID}"
VENDOR_2FA = "http://192.168.31.123:8090/api/visitor/scan?codeKey={Token}/{Type}&deviceId={DeviceID}"


def _raises(fn, *args):
    try:
        fn(*args)
    except (ValueError, ConfigError) as e:
        return e
    raise AssertionError("no error for %r" % (args,))


# --- templates --------------------------------------------------------------------------------
def test_template_compiles_vendor_examples():
    parts = verifyurl.compile_template("http://192.168.31.123:8090/api/visitor/scan?codeKey={QRCode}&deviceId={DeviceID}")
    assert parts == ("http://192.168.31.123:8090/api/visitor/scan?codeKey=", 0, "&deviceId=", 7)
    assert verifyurl.template_variables(verifyurl.compile_template(VENDOR_ANY)) == ["QRCode", "Card", "Pin", "DeviceID"]
    every = "https://h/x?" + "&".join("%s={%s}" % (v, v) for v in verifyurl.VARIABLES)
    assert verifyurl.template_variables(verifyurl.compile_template(every)) == list(verifyurl.VARIABLES)


def test_template_errors_name_the_variable():
    e = _raises(verifyurl.compile_template, "http://h/x?a={Qrcode}")
    assert e.variable == "Qrcode" and "{Qrcode}" in str(e) and "did you mean {QRCode}" in str(e)
    e = _raises(verifyurl.compile_template, "http://h/x?a={Foo}&b={QRCode}")
    assert e.variable == "Foo" and "unknown variable {Foo}" in str(e)
    e = _raises(verifyurl.compile_template, "http://h/x?c={Card}", ("QRCode", "DeviceID", "Time"))
    assert e.variable == "Card" and "not available" in str(e)
    for bad in ("ftp://h/x", "h/x?{QRCode}", "http:///x", "http://{DeviceID}/x", "http://h/x?a={QRCode",
                "http://h/x?a=QRCode}", "http://h/x?a=}{", "http://h/x y", "http://h:99999/x",
                "http://h:abc/", "http://u:p@h/x"):
        _raises(verifyurl.compile_template, bad)


def test_quote_and_expand():
    assert vc.quote("04A1B2C3") == "04A1B2C3"
    assert vc.quote("a-b.c_d~e") == "a-b.c_d~e"
    assert vc.quote("a b&c=d/é?#%+") == "a%20b%26c%3Dd%2F%C3%A9%3F%23%25%2B"
    assert vc.quote(1795428000) == "1795428000"
    parts = verifyurl.compile_template("http://h/x?q={QRCode}&c={Card}&d={DeviceID}")
    vals = [None] * vc.N_VARIABLES
    vals[vc.V_QRCODE] = "1 2"
    vals[vc.V_DEVICEID] = "door-1"
    assert vc.expand(parts, vals) == "http://h/x?q=1%202&c=&d=door-1"


def test_parse_url():
    assert vc.parse_url("http://h/x?a=1") == (False, "h", 80, "/x?a=1")
    assert vc.parse_url("https://h:8443") == (True, "h", 8443, "/")
    assert vc.parse_url("http://h?x=1#frag") == (False, "h", 80, "/?x=1")
    assert vc.parse_url("http://[fd00::5]:8090/v") == (False, "fd00::5", 8090, "/v")


# --- answers ----------------------------------------------------------------------------------
def test_answer_forms():
    ok = (True, vc.OK)
    no = (False, vc.DENIED)
    cases = [({"isvalid": True}, ok), ({"isvalid": 1}, ok), ({"validation_result": "1"}, ok),
             ({"isvalid": False}, no), ({"isvalid": 0}, no), ({"validation_result": "0"}, no),
             ({"isvalid": "true"}, (False, vc.BAD_VALUE)), ({"isvalid": 2}, (False, vc.BAD_VALUE)),
             ({"validation_result": 1}, (False, vc.BAD_VALUE)), ({"isvalid": None}, (False, vc.BAD_VALUE)),
             ({"valid": True}, (False, vc.NO_FIELD)), ({}, (False, vc.NO_FIELD)),
             ([{"isvalid": True}], (False, vc.NO_FIELD)), ("isvalid", (False, vc.NO_FIELD)),
             ({"isvalid": True, "validation_result": "0"}, no),  # any failure wins
             ({"isvalid": 1.0}, (False, vc.BAD_VALUE))]
    for doc, want in cases:
        g, r, _p = vc.interpret(doc)
        assert (g, r) == want, (doc, g, r)


def test_answer_prompt_field():
    assert vc.interpret({"isvalid": 1, "message": "Hello Ann"}) == (True, vc.OK, "Hello Ann")
    assert vc.interpret({"isvalid": 0, "msg": "No"}, "msg") == (False, vc.DENIED, "No")
    assert vc.interpret({"isvalid": 1, "message": 42}) == (True, vc.OK, "42")
    assert vc.interpret({"isvalid": 1, "message": {"x": 1}}) == (True, vc.OK, "")
    assert len(vc.interpret({"isvalid": 1, "message": "x" * 100})[2]) == 64


# --- config section ---------------------------------------------------------------------------
def test_config_defaults_and_full():
    d = schema.verify_defaults()
    assert d["mode"] == "off" and d["timeout_ms"] == 3000 and d["relays"] == [1]
    assert d["methods"] == {"qr": "local", "card": "local", "pin": "local", "ble": "local"}
    g = schema.validate_verify({"mode": "general", "url": "http://h/x?c={QRCode}&d={DeviceID}&t={Time}"})
    assert g["methods"] == {"qr": "remote", "card": "local", "pin": "local", "ble": "local"}
    c = schema.validate_verify({"mode": "customize", "url": VENDOR_ANY, "methods": {"pin": "local"},
                                "relays": [1, 2], "prompt": "return_value", "device_id": "A08-1"})
    assert c["methods"] == {"qr": "remote", "card": "remote", "pin": "local", "ble": "local"} and c["relays"] == [1, 2]


def test_config_errors_name_the_field():
    cases = [
        ({"mode": "on"}, "verify.mode"),
        ({"mode": "general"}, "verify.url"),
        ({"mode": "general", "url": "http://h/x?c={Card}"}, "verify.url"),
        ({"mode": "customize", "url": "http://h/x?c={Bogus}"}, "verify.url"),
        ({"mode": "customize", "url": "ftp://h/x"}, "verify.url"),
        ({"mode": "general", "url": "http://h/{QRCode}", "methods": {"card": "remote"}}, "verify.methods.card"),
        ({"mode": "general", "url": "http://h/{QRCode}", "methods": {"qr": "local"}}, "verify.methods.qr"),
        ({"mode": "general", "url": "http://h/{QRCode}", "methods": {"ble": "remote"}}, "verify.methods.ble"),
        ({"methods": {"ble": "cloud"}}, "verify.methods.ble"),
        ({"mode": "customize", "url": VENDOR_2FA, "auth_mode": "card_pin", "methods": {"pin": "local"}},
         "verify.methods.pin"),
        ({"mode": "customize", "url": VENDOR_2FA, "auth_mode": "pin_card",
          "methods": {"card": "remote", "pin": "remote_fallback"}}, "verify.methods.pin"),
        ({"methods": {"face": "remote"}}, "verify.methods.face"),
        ({"methods": {"qr": "cloud"}}, "verify.methods.qr"),
        ({"methods": []}, "verify.methods"),
        ({"timeout_ms": 100}, "verify.timeout_ms"),
        ({"timeout_ms": True}, "verify.timeout_ms"),
        ({"relays": []}, "verify.relays"),
        ({"relays": [1, 9]}, "verify.relays[1]"),
        ({"relays": [1, 1]}, "verify.relays[1]"),
        ({"urll": "x"}, "verify.urll"),
        ({"device_id": "x" * 64}, "verify.device_id"),
    ]
    for section, field in cases:
        e = _raises(schema.validate_verify, section, "/flash/config.json")
        assert e.field == field and e.file == "/flash/config.json", (section, e.field, str(e))
    e = _raises(schema.validate_verify, {"mode": "customize", "url": "http://h/x?c={Bogus}"})
    assert "{Bogus}" in str(e)


# --- mode logic -------------------------------------------------------------------------------
class Local:
    """The device's own decision, recorded (what the access engine would answer)."""

    class D:
        def __init__(self, granted, reason):
            self.granted = granted
            self.user = 1001 if granted else None
            self.relays = (2,) if granted else ()
            self.reason = reason
            self.prompt = "Local ok" if granted else "Local no"

    def __init__(self, good=("04A1B2C3", "4711", "12345678")):
        self.good = good
        self.calls = []

    def __call__(self, kind, value, pin=None):
        self.calls.append((kind, value, pin))
        ok = value in self.good and (pin is None or pin in self.good)
        return self.D(ok, eventcodes.REASON_OK if ok else eventcodes.REASON_UNKNOWN_CREDENTIAL)


class FakeClient:
    """Answers queued per request; `gate` holds answers back until set."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.urls = []
        self.gate = None
        self.status = 200
        self.returned = 0

    async def verify(self, url):
        self.urls.append(url)
        if self.gate is not None:
            await self.gate.wait()
        ans = self.answers.pop(0) if self.answers else (True, vc.OK, "")
        self.returned += 1
        return ans


class Ticks:
    def __init__(self):
        self.t = 0

    def __call__(self):
        return self.t


def _verifier(section, client, local=None, ticks=None):
    cfg = schema.validate_verify(section)
    results = []
    v = verifier.new(cfg, client, results.append, device_id="door-1", local=local,
                   clock=lambda: NOW, ticks=ticks or Ticks())
    return v, results


async def _settle():
    for _ in range(5):
        await asyncio.sleep(0)


def test_general_mode_sends_qr_only():
    async def main():
        c = FakeClient()
        loc = Local()
        v, res = _verifier({"mode": "general", "device_id": "A08 #1",
                            "url": "http://192.168.31.123:8090/api/visitor/scan?codeKey={QRCode}&deviceId={DeviceID}&t={Time}"},
                           c, loc)
        assert v.handles(QR) and not v.handles(CARD) and not v.handles(PIN)
        r = v.submit(QR, "12345678")
        assert r.pending and not r.final and r.prompt == "Verifying..."
        await _settle()
        assert c.urls == ["http://192.168.31.123:8090/api/visitor/scan?codeKey=12345678&deviceId=A08%20%231&t="
                          + str(NOW)]
        assert len(res) == 1 and res[0].final and res[0].granted and res[0].relays == (1,)
        assert res[0].reason == eventcodes.REASON_OK and res[0].detail == "ok" and res[0].status == 200
        r = v.submit(CARD, "04A1B2C3", b"\x04\xa1\xb2\xc3")  # cards stay local in General mode
        assert r.final and r.granted and r.relays == (2,) and loc.calls == [(CARD, "04A1B2C3", None)]
        assert len(c.urls) == 1

    asyncio.run(main())


def test_any_method_urls_for_each_credential():
    async def main():
        c = FakeClient()
        v, res = _verifier({"mode": "customize", "url": VENDOR_ANY, "device_id": "A08/x"}, c)
        for kind, value in ((QR, "12345678"), (CARD, "04A1B2C3"), (PIN, "4711"), (QR, "a b&c=d/é")):
            v.submit(kind, value)
            await _settle()
        base = "http://192.168.31.123:8090/api/visitor/scan?codeKey="
        assert c.urls == [base + "12345678//&deviceId=A08%2Fx", base + "/04A1B2C3/&deviceId=A08%2Fx",
                          base + "//4711&deviceId=A08%2Fx", base + "a%20b%26c%3Dd%2F%C3%A9//&deviceId=A08%2Fx"]
        assert [r.granted for r in res] == [True] * 4

    asyncio.run(main())


def test_documented_url_examples():
    # the tables in docs/verify.md
    async def main():
        c = FakeClient()
        v, _ = _verifier({"mode": "customize", "device_id": "A08 #1",
                          "url": "http://h/scan?codeKey={QRCode}/{Card}/{Pin}&deviceId={DeviceID}"}, c)
        for kind, value in ((QR, "12345678"), (CARD, "04A1B2C3"), (PIN, "4711"), (QR, "a b&c=d/é")):
            v.submit(kind, value)
            await _settle()
        assert c.urls == ["http://h/scan?codeKey=12345678//&deviceId=A08%20%231",
                          "http://h/scan?codeKey=/04A1B2C3/&deviceId=A08%20%231",
                          "http://h/scan?codeKey=//4711&deviceId=A08%20%231",
                          "http://h/scan?codeKey=a%20b%26c%3Dd%2F%C3%A9//&deviceId=A08%20%231"]

    asyncio.run(main())


def test_every_variable_meaning():
    async def main():
        url = "http://h/v?" + "&".join("%s={%s}" % (n, n) for n in verifyurl.VARIABLES)
        c = FakeClient()
        v, _ = _verifier({"mode": "customize", "url": url}, c)
        v.submit(CARD, "0077705923")
        await _settle()
        v.submit(PIN, "12 34")
        await _settle()
        assert c.urls[0] == "http://h/v?QRCode=&Card=0077705923&CardCode=0077705923&Pin=&PINCode=&Face=" \
                            "&FaceData=&DeviceID=door-1&Token=0077705923&Type=&Time=" + str(NOW)
        assert c.urls[1] == "http://h/v?QRCode=&Card=&CardCode=&Pin=12%2034&PINCode=12%2034&Face=" \
                            "&FaceData=&DeviceID=door-1&Token=12%2034&Type=&Time=" + str(NOW)

    asyncio.run(main())


def test_answers_map_to_reasons_and_prompts():
    async def main():
        answers = [(True, vc.OK, "Hi Ann"), (False, vc.DENIED, "Expired"), (False, vc.TIMEOUT, ""),
                   (False, vc.REFUSED, ""), (False, vc.NOT_JSON, ""), (False, vc.DENIED, "")]
        c = FakeClient(*answers)
        v, res = _verifier({"mode": "customize", "url": VENDOR_ANY, "prompt": "return_value"}, c)
        for _ in answers:
            v.submit(QR, "1")
            await _settle()
        assert [(r.granted, r.reason, r.prompt, r.detail) for r in res] == [
            (True, eventcodes.REASON_OK, "Hi Ann", "ok"),
            (False, eventcodes.REASON_REMOTE_DENIED, "Expired", "denied"),
            (False, eventcodes.REASON_REMOTE_TIMEOUT, "Server timeout", "timeout"),
            (False, eventcodes.REASON_REMOTE_ERROR, "Server unreachable", "refused"),
            (False, eventcodes.REASON_REMOTE_ERROR, "Server error", "not_json"),
            (False, eventcodes.REASON_REMOTE_DENIED, "Access denied", "denied"),
        ]
        assert all(r.final for r in res) and all(not r.relays for r in res[1:])
        c2 = FakeClient((True, vc.OK, "Hi Ann"))
        v2, res2 = _verifier({"mode": "customize", "url": VENDOR_ANY}, c2)  # prompt: default
        v2.submit(QR, "1")
        await _settle()
        assert res2[0].prompt == "Welcome"

    asyncio.run(main())


def test_fallback_policy():
    async def main():
        loc = Local()
        # default: remote only, fail closed
        c = FakeClient((False, vc.TIMEOUT, ""))
        v, res = _verifier({"mode": "customize", "url": VENDOR_ANY}, c, loc)
        v.submit(CARD, "04A1B2C3")
        await _settle()
        assert not res[0].granted and res[0].reason == eventcodes.REASON_REMOTE_TIMEOUT and not loc.calls
        # remote_fallback: unreachable -> local table decides
        fb = {"mode": "customize", "url": VENDOR_ANY, "methods": {"card": "remote_fallback"}}
        for reason in vc.UNREACHABLE:
            c = FakeClient((False, reason, ""))
            v, res = _verifier(fb, c, loc)
            v.submit(CARD, "04A1B2C3")
            await _settle()
            assert res[0].granted and res[0].relays == (2,) and res[0].detail == "fallback:" + reason
        # ...but a server that answers "no" (or answers garbage) is not overruled
        for reason in (vc.DENIED, vc.NOT_JSON, vc.HTTP_STATUS):
            c = FakeClient((False, reason, ""))
            v, res = _verifier(fb, c, loc)
            v.submit(CARD, "04A1B2C3")
            await _settle()
            assert not res[0].granted and res[0].detail == reason
        # fallback with no local table: the remote failure stands
        c = FakeClient((False, vc.REFUSED, ""))
        v, res = _verifier(fb, c, None)
        v.submit(CARD, "04A1B2C3")
        await _settle()
        assert not res[0].granted and res[0].reason == eventcodes.REASON_REMOTE_ERROR
        # local method: never sent
        c = FakeClient()
        v, res = _verifier({"mode": "customize", "url": VENDOR_ANY, "methods": {"pin": "local"}}, c, loc)
        r = v.submit(PIN, "4711")
        assert r.final and r.granted and not c.urls

    asyncio.run(main())


def test_pending_policy_queue_one_then_busy():
    async def main():
        c = FakeClient((True, vc.OK, ""), (False, vc.DENIED, ""))
        c.gate = asyncio.Event()
        v, res = _verifier({"mode": "customize", "url": VENDOR_ANY}, c)
        r1 = v.submit(QR, "1")
        r2 = v.submit(CARD, "04A1B2C3")
        r3 = v.submit(PIN, "4711")
        assert r1.pending and v.busy
        assert r2.pending and not r2.final and r2.prompt == "Please wait" and r2.detail == "queued"
        assert r3.final and not r3.granted and r3.prompt == "Busy, try again" and r3.detail == "busy"
        await _settle()
        assert len(c.urls) == 1  # only the first is in flight
        c.gate.set()
        await _settle()
        # first answer delivered, then the queued card sent and answered
        assert [(r.kind, r.granted, r.final) for r in res if r.final] == [(QR, True, True), (CARD, False, True)]
        assert len(c.urls) == 2 and "04A1B2C3" in c.urls[1] and not v.busy

    asyncio.run(main())


def test_result_delivered_in_the_same_loop_turn_as_the_answer():
    async def main():
        c = FakeClient()
        c.gate = asyncio.Event()
        v, res = _verifier({"mode": "customize", "url": VENDOR_ANY}, c)
        late = []

        async def spy():  # runs once per loop turn: sees any turn between answer and delivery
            while True:
                if c.returned and not res:
                    late.append(1)
                await asyncio.sleep(0)

        t = asyncio.create_task(spy())
        v.submit(QR, "1")
        await _settle()
        c.gate.set()
        await _settle()
        t.cancel()
        assert res and res[0].granted and not late

    asyncio.run(main())


def _two_factor(order, ticks, client, local=None, **extra):
    section = {"mode": "customize", "url": VENDOR_2FA + "&t={Time}", "auth_mode": order,
               "step_timeout_ms": 10000}
    section.update(extra)
    return _verifier(section, client, local, ticks)


def test_two_factor_card_then_pin():
    async def main():
        tk = Ticks()
        c = FakeClient()
        v, res = _two_factor("card_pin", tk, c)
        r = v.submit(PIN, "4711")  # wrong order: prompt, nothing sent
        assert not r.final and not r.pending and r.prompt == "Present card first" and not c.urls
        v.submit(CARD, "04A1B2C3", b"\x04\xa1\xb2\xc3")
        await _settle()
        assert res[-1].prompt == "Enter PIN" and not res[-1].final and v.waiting_for == PIN
        tk.t = 9000  # within the step timeout
        v.submit(PIN, "4711")
        await _settle()
        base = "http://192.168.31.123:8090/api/visitor/scan?codeKey="
        assert c.urls == [base + "04A1B2C3/1&deviceId=door-1&t=%d" % NOW, base + "4711/1&deviceId=door-1&t=%d" % NOW]
        last = res[-1]
        assert last.final and last.granted and last.relays == (1,)
        assert last.kind == CARD and last.value == "04A1B2C3" and last.raw == b"\x04\xa1\xb2\xc3"

    asyncio.run(main())


def test_two_factor_pin_then_card():
    async def main():
        tk = Ticks()
        c = FakeClient()
        v, res = _two_factor("pin_card", tk, c)
        r = v.submit(CARD, "04A1B2C3")
        assert r.prompt == "Enter PIN first" and not c.urls
        v.submit(PIN, "4711")
        await _settle()
        assert res[-1].prompt == "Present card" and not res[-1].final
        v.submit(CARD, "04A1B2C3", b"\x04\xa1\xb2\xc3")
        await _settle()
        assert ["codeKey=4711/2&" in c.urls[0], "codeKey=04A1B2C3/2&" in c.urls[1]] == [True, True]
        assert res[-1].final and res[-1].granted and res[-1].kind == CARD and res[-1].raw == b"\x04\xa1\xb2\xc3"

    asyncio.run(main())


def test_two_factor_step_timeout():
    async def main():
        tk = Ticks()
        c = FakeClient()
        v, res = _two_factor("card_pin", tk, c)
        v.submit(CARD, "04A1B2C3")
        await _settle()
        tk.t = 9999
        assert v.poll() is None
        tk.t = 10000
        r = v.poll()
        assert r.final and not r.granted and r.reason == eventcodes.REASON_FACTOR_TIMEOUT and r.kind == CARD
        assert v.poll() is None and v.waiting_for is None
        r = v.submit(PIN, "4711")  # too late: now it is the wrong order
        assert r.prompt == "Present card first" and len(c.urls) == 1
        # without poll(): the overdue step is reported when the next credential arrives
        v.submit(CARD, "04A1B2C3")
        await _settle()
        tk.t = 30000
        n = len(res)
        r = v.submit(PIN, "4711")
        assert res[n].reason == eventcodes.REASON_FACTOR_TIMEOUT and r.prompt == "Present card first"

    asyncio.run(main())


def test_two_factor_first_step_denied_and_second_step_denied():
    async def main():
        tk = Ticks()
        c = FakeClient((False, vc.DENIED, ""), (True, vc.OK, ""), (False, vc.DENIED, ""))
        v, res = _two_factor("card_pin", tk, c)
        v.submit(CARD, "FFFFFFFF")
        await _settle()
        assert res[-1].final and res[-1].reason == eventcodes.REASON_REMOTE_DENIED and v.waiting_for is None
        v.submit(CARD, "04A1B2C3")
        await _settle()
        v.submit(PIN, "0000")
        await _settle()
        assert res[-1].final and not res[-1].granted and res[-1].kind == CARD and res[-1].value == "04A1B2C3"

    asyncio.run(main())


def test_two_factor_new_card_restarts_and_qr_is_independent():
    async def main():
        tk = Ticks()
        c = FakeClient()
        v, res = _two_factor("card_pin", tk, c)
        v.submit(CARD, "AAAAAAAA")
        await _settle()
        v.submit(CARD, "04A1B2C3")  # another card: a new first step
        await _settle()
        v.submit(QR, "12345678")  # QR: single factor, leaves the waiting PIN step alone
        await _settle()
        assert res[-1].final and res[-1].kind == QR and "codeKey=12345678/&" in c.urls[-1]
        assert v.waiting_for == PIN
        v.submit(PIN, "4711")
        await _settle()
        assert res[-1].final and res[-1].granted and res[-1].value == "04A1B2C3"

    asyncio.run(main())


def test_two_factor_fallback_to_local_pair():
    async def main():
        tk = Ticks()
        loc = Local()
        c = FakeClient((False, vc.REFUSED, ""))
        v, res = _two_factor("card_pin", tk, c, loc,
                             methods={"card": "remote_fallback", "pin": "remote_fallback"})
        v.submit(CARD, "04A1B2C3")
        await _settle()
        assert res[-1].prompt == "Enter PIN" and not res[-1].final
        r = v.submit(PIN, "4711")  # server unreachable at step 1: the pair is decided locally, at once
        assert r.final and r.granted and loc.calls == [(CARD, "04A1B2C3", "4711")]
        assert len(c.urls) == 1 and r.detail == "fallback:refused" and r.relays == (2,)
        # step 1 reached the server, step 2 did not: local pair too (pin_card order)
        loc.calls.clear()
        c2 = FakeClient((True, vc.OK, ""), (False, vc.TIMEOUT, ""))
        v2, res2 = _two_factor("pin_card", tk, c2, loc,
                               methods={"card": "remote_fallback", "pin": "remote_fallback"})
        v2.submit(PIN, "4711")
        await _settle()
        v2.submit(CARD, "04A1B2C3")
        await _settle()
        assert res2[-1].granted and loc.calls == [(CARD, "04A1B2C3", "4711")]

    asyncio.run(main())


def test_mode_off_and_bad_kind():
    v, _ = _verifier({}, FakeClient(), Local())
    assert not v.handles(QR) and not v.handles(CARD)
    assert v.submit(QR, "12345678").granted
    _raises(v.submit, "face", "x")


def test_from_config_reads_ca_file():
    import os
    from binascii import b2a_base64

    from verifyclient import from_config

    d = "/tmp/doorctl-test-verify-ca"
    try:
        os.mkdir(d)
    except OSError:
        pass
    der = b"\x30\x82\x01\x00" + bytes(range(120))
    with open(d + "/ca.pem", "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\n" + b2a_base64(der).decode() + "-----END CERTIFICATE-----\n")
    with open(d + "/junk.pem", "w") as f:
        f.write("hello")
    try:
        cfg = schema.validate_verify({"mode": "general", "url": "https://h/{QRCode}", "ca_file": "ca.pem",
                                      "timeout_ms": 2500, "max_redirects": 1, "prompt_field": "msg"})
        c = from_config(cfg, d)
        assert c.ca == der and c.timeout_ms == 2500 and c.max_redirects == 1 and c.prompt_field == "msg"
        assert from_config(schema.validate_verify({})).ca is None
        for name in ("missing.pem", "junk.pem"):
            cfg["ca_file"] = name
            e = _raises(from_config, cfg, d)
            assert e.field == "verify.ca_file" and name in str(e)
    finally:
        for n in ("ca.pem", "junk.pem"):
            os.remove(d + "/" + n)
        os.rmdir(d)


def test_ble_fobs_and_phones_are_sent_when_their_method_says_so():
    """verify.methods.ble: a key fob goes as {Token} = its id with {Type} 3, a paired phone as
    {Token} = its user's id with {Type} 4; local by default; the fallback decides locally."""
    async def main():
        c = FakeClient()
        v, _ = _verifier({"mode": "customize", "url": VENDOR_ANY}, c)
        assert not v.handles(verifier.BLE)  # BLE stays local unless the site sends it
        url = "http://h/v?t={Token}&y={Type}&c={Card}&d={DeviceID}"
        v, res = _verifier({"mode": "customize", "url": url, "methods": {"ble": "remote"}}, c)
        assert v.handles(verifier.BLE)
        v.submit(verifier.BLE, "C0FFEE001001")
        await _settle()
        v.submit(verifier.BLE, 1001)
        await _settle()
        assert c.urls == ["http://h/v?t=C0FFEE001001&y=3&c=&d=door-1", "http://h/v?t=1001&y=4&c=&d=door-1"]
        assert [r.granted and r.final and r.kind == verifier.BLE for r in res] == [True, True]
        # unreachable with remote_fallback: the local table decides (the engine takes a phone's user id)
        loc = Local(good=("C0FFEE001001", 1001))
        c = FakeClient((False, vc.TIMEOUT, ""))
        v, res = _verifier({"mode": "customize", "url": url, "methods": {"ble": "remote_fallback"}}, c, loc)
        v.submit(verifier.BLE, 1001)
        await _settle()
        assert res[0].granted and res[0].detail == "fallback:timeout" and loc.calls == [(verifier.BLE, 1001, None)]
        # two-factor modes leave BLE single step
        c = FakeClient()
        v, res = _verifier({"mode": "customize", "url": VENDOR_2FA, "auth_mode": "card_pin",
                            "methods": {"ble": "remote"}}, c)
        r = v.submit(verifier.BLE, "C0FFEE001001")
        await _settle()
        assert r.pending and len(res) == 1 and res[0].final and res[0].granted and len(c.urls) == 1

    asyncio.run(main())

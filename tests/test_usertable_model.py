"""Property tests: lookups over a built table (plus journal edits, compactions and restarts)
agree with a plain in-memory model for random user lists."""
import os
import tempfile

import cardfmt
import pytest
from configerror import ConfigError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from usertable import build, validate, validate_list
from usertable.table import UserTable

KEY = bytes(range(100, 132))
SECRETS = ("pin", "qr", "ble")

uid_s = st.integers(1, 4294967294)
uidbytes_s = st.one_of(st.binary(min_size=4, max_size=4), st.binary(min_size=7, max_size=7),
                       st.binary(min_size=10, max_size=10))
pin_s = st.text("0123456789", min_size=2, max_size=8)
qr_s = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123456789-", min_size=4, max_size=32)
ble_s = st.one_of(st.text("0123456789ABCDEF", min_size=12, max_size=12), st.text("0123456789ABCDEF", min_size=40, max_size=40))
plate_s = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=10)
time_s = st.sampled_from(["2026-01-01", "2026-06-30T23:59", "2030-12-31T00:00", "1999-02-28T12:34"])


@st.composite
def user_s(draw, fmt_name, uid=None):
    u = {"id": uid if uid is not None else draw(uid_s)}
    if draw(st.booleans()):
        u["name"] = draw(st.text(max_size=20).filter(lambda s: len(s.encode()) <= 63))
    codes = draw(st.lists(uidbytes_s.map(lambda b: cardfmt.format_uid(b, fmt_name)), max_size=5, unique=True))
    u["cards"] = codes
    for k, s in (("pin", pin_s), ("qr", qr_s), ("ble", ble_s)):
        if draw(st.booleans()):
            u[k] = draw(s)
    plates = []
    for p in draw(st.lists(plate_s, max_size=3, unique=True)):
        if draw(st.booleans()):
            plates.append({"plate": p, "from": "2026-01-01", "to": draw(time_s.filter(lambda t: t > "2026"))})
        else:
            plates.append(p)
    u["plates"] = plates
    u["relays"] = sorted(draw(st.sets(st.integers(1, 8), min_size=1, max_size=3)))
    if draw(st.booleans()):
        u["floors"] = sorted(draw(st.sets(st.integers(1, 32), max_size=4)))
        u["web_relay"] = draw(st.integers(0, 255))
        u["role"] = draw(st.sampled_from(["user", "admin"]))
        u["relay_schedule_activation"] = draw(st.booleans())
        u["schedules"] = draw(st.lists(st.sampled_from(["Always", "Never", "Office", 9]), min_size=1, max_size=3))
    if draw(st.booleans()):
        u["valid_from"] = "2025-01-01T08:00"
        u["valid_to"] = draw(time_s.filter(lambda t: t > "2025"))
    return u


SCHED = [{"id": 2, "name": "Office", "weekly": [{"days": "mon-fri", "from": "08:00", "to": "18:00"}]},
         {"id": 9, "name": "Late", "weekly": [{"days": "sat", "from": "22:00", "to": "02:00"}]}]


class Model:
    """The obvious implementation: dicts of normalised users and credential -> owner."""

    def __init__(self, fmt_name):
        self.ctx = validate.Ctx(fmt_name, site_key=KEY)
        validate_list.schedules(SCHED, self.ctx)
        self.users = {}  # uid -> normalised dict

    def norm(self, u):
        return validate.user(u, self.ctx, "u")

    def creds(self, nu):
        out = [("card", c) for c in nu["cards"]] + [("plate", p[0]) for p in nu["plates"]]
        out += [(k, nu[k]) for k in SECRETS if nu[k] is not None]
        return out

    def owner(self, kind, value):
        if kind == "id":
            return value if value in self.users else None
        for uid, nu in self.users.items():
            if (kind, value) in self.creds(nu):
                return uid
        return None

    def put(self, u):
        """Apply add_or_replace semantics; returns False if the table must refuse it."""
        nu = self.norm(u)
        old = self.users.get(nu["id"])
        for k in SECRETS:
            if k not in u and old is not None:
                nu[k] = old[k]
        for kind, value in self.creds(nu):
            o = self.owner(kind, value)
            if o is not None and o != nu["id"]:
                return False
        self.users[nu["id"]] = nu
        return True

    def add_initial(self, u):
        nu = self.norm(u)
        if nu["id"] in self.users or any(self.owner(k, v) is not None for k, v in self.creds(nu)):
            return None
        self.users[nu["id"]] = nu
        return nu


def expected_dict(nu):
    return {
        "id": nu["id"], "name": nu["name"], "role": "admin" if nu["role"] else "user", "phone": nu["phone"],
        "cards": nu["cards"], "plates": [dict([("plate", p)] + ([("from", a)] if a else []) + ([("to", b)] if b else []))
                                         for p, a, b in nu["plates"]],
        "relays": [i + 1 for i in range(8) if nu["relays"] >> i & 1],
        "floors": [i + 1 for i in range(32) if nu["floors"] >> i & 1],
        "web_relay": nu["web_relay"], "relay_schedule_activation": nu["rsa"],
        "valid_from": nu["valid_from"], "valid_to": nu["valid_to"], "schedules": list(nu["schedules"]),
        "has_pin": nu["pin"] is not None, "has_qr": nu["qr"] is not None, "has_ble": nu["ble"] is not None,
    }


def check(t, model, probes):
    assert t.count == len(model.users)
    for uid, nu in model.users.items():
        r0 = t.reads
        r = t.by_id(uid)
        assert r is not None and r.to_dict() == expected_dict(nu)
        assert t.reads - r0 <= 2
        for kind, value in model.creds(nu):
            r0 = t.reads
            r = getattr(t, "by_" + kind)(value)
            assert r is not None and r.id == uid, (kind, value)
            assert t.reads - r0 <= 2
            if kind == "plate":
                p = [x for x in nu["plates"] if x[0] == value][0]
                assert (r.plate_from, r.plate_to) == (p[1], p[2])
    for kind, value in probes:
        o = model.owner(kind, value)
        r = getattr(t, "by_" + kind)(value)
        assert (r.id if r else None) == o, (kind, value)
    assert t.users(0, 10 ** 6) == [expected_dict(model.users[u]) for u in sorted(model.users)]


def probe_s(fmt_name):
    return st.lists(st.one_of(
        st.tuples(st.just("card"), uidbytes_s.map(lambda b: cardfmt.format_uid(b, fmt_name))),
        st.tuples(st.just("pin"), pin_s), st.tuples(st.just("plate"), plate_s),
        st.tuples(st.just("qr"), qr_s), st.tuples(st.just("ble"), ble_s),
        st.tuples(st.just("id"), uid_s)), max_size=8)


def _build(d, model, fmt_name):
    build.build_file(os.path.join(d, "users.tbl"), validate_list.schedules(SCHED, validate.Ctx()),
                     list(model.users.values()), cardfmt.format_id(fmt_name), 1, model.ctx.keyed)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_built_table_matches_model(data):
    fmt_name = data.draw(st.sampled_from(cardfmt.FORMATS))
    model = Model(fmt_name)
    for u in data.draw(st.lists(user_s(fmt_name), max_size=30)):
        model.add_initial(u)
    probes = data.draw(probe_s(fmt_name))
    with tempfile.TemporaryDirectory(prefix="doorctl-test-usertable-") as d:
        _build(d, model, fmt_name)
        t = UserTable.open(d, site_key=KEY, card_format=fmt_name, verify=True)
        check(t, model, probes)
        t.close()


op_s = st.one_of(st.tuples(st.just("put"), st.integers(0, 10 ** 6)),
                 st.tuples(st.just("delete"), st.integers(0, 10 ** 6)),
                 st.tuples(st.just("compact"), st.just(0)), st.tuples(st.just("reopen"), st.just(0)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_edits_and_compactions_match_model(data):
    fmt_name = data.draw(st.sampled_from(("8HN", "FULLH", "10D")))
    model = Model(fmt_name)
    for u in data.draw(st.lists(user_s(fmt_name), max_size=15)):
        model.add_initial(u)
    ops = data.draw(st.lists(op_s, max_size=12))
    with tempfile.TemporaryDirectory(prefix="doorctl-test-usertable-") as d:
        _build(d, model, fmt_name)
        compact_at = data.draw(st.sampled_from((3, 64)))
        t = UserTable.open(d, site_key=KEY, card_format=fmt_name, compact_at=compact_at)
        for op, n in ops:
            ids = sorted(model.users)
            if op == "put":
                uid = ids[n % len(ids)] if ids and n % 3 else data.draw(uid_s)
                u = data.draw(user_s(fmt_name, uid))
                if data.draw(st.booleans()):  # omitted secrets are kept
                    for k in SECRETS:
                        u.pop(k, None)
                snapshot = dict(model.users)
                expect = model.put(u)
                if expect:
                    t.add_or_replace(u)
                else:
                    with pytest.raises(ConfigError):
                        t.add_or_replace(u)
                    assert model.users == snapshot
            elif op == "delete":
                uid = ids[n % len(ids)] if ids and n % 4 else n + 1
                assert t.delete(uid) == (uid in model.users)
                model.users.pop(uid, None)
            elif op == "compact":
                t.compact()
                assert t.journal_entries == 0
            else:
                t.close()
                t = UserTable.open(d, site_key=KEY, card_format=fmt_name, compact_at=compact_at)
        check(t, model, data.draw(probe_s(fmt_name)))
        t.compact()
        t._base.verify()
        check(t, model, [])
        t.close()

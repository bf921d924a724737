"""Independent checks of the BLE formats (issue 16, docs/ble.md):

- the door's adverts, built by lib/bleadv.py under MicroPython, are read by bumble's advertising
  data parser (the PyPI `bumble` package);
- adverts built with bumble (iBeacons, manufacturer data, names, several structures in any
  order) are read by lib/bleadv.py under MicroPython;
- phone messages built by doorctl.phoneproto (`cryptography`'s HMAC) are verified by
  lib/bleproto.py under MicroPython (hashlib), and both agree on the fixed vector below;
- malformed and fuzzed adverts never make lib/bleadv.py raise (CPython with hypothesis, and a
  batch under MicroPython that must answer exactly as CPython does).
"""
import json
import os
import random
import subprocess
import sys

from bumble import data_types as dt
from bumble.core import AdvertisingData as AD
from bumble.hci import Address
from hypothesis import given, settings
from hypothesis import strategies as st

import bleadv
import bleproto
from doorctl import phoneproto
from mpy import ROOT, run_micropython

# --- the fixed test vector (docs/ble.md; also asserted by tests/device/test_bleproto.py) --------
KEY = bytes(range(16))  # 000102...0F
CHALLENGE = bytes.fromhex("a0a1a2a3a4a5a6a7")
VECTOR = bytes.fromhex("01000012340102030403006c0e0ffef1225d8d")  # phone 0x1234, ctr 0x01020304, moved+wave
VECTOR_MAC = "6c0e0ffef1225d8d7a5b102218b47a1767ff6b10f0958cdbafde63ff68e2dd58"
VECTOR_RSSI = bytes.fromhex("01000012340102030504c39028e33fcedb68d7")  # ctr 0x01020305, rssi -61
VECTOR_ADV = bytes.fromhex("02010618ffffff6470") + VECTOR

ADV_READ = r'''
import sys, json
from binascii import unhexlify, hexlify
import bleadv
out = bytearray(40)
while True:
    line = sys.stdin.readline()
    if not line:
        break
    a, h = line.split()
    addr = unhexlify(a)
    adv = b"" if h == "-" else unhexlify(h)
    mv = memoryview(adv)
    n = len(adv)
    k = bleadv.fob_id(addr, mv, n, out)
    u = bleadv.find_ibeacon(mv, n)
    ib = None
    if u >= 0:
        ib = [hexlify(adv[u:u + 16]).decode(), bleadv.ibeacon_major(mv, u), bleadv.ibeacon_minor(mv, u),
              bleadv.ibeacon_power(mv, u)]
    p = bleadv.find_phone(mv, n)
    nm = bleadv.find_ad(mv, n, bleadv.AD_NAME)
    m = bleadv.find_mfr(mv, n, 0x1234)
    print(json.dumps([bytes(out[:k]).decode(), ib, None if p < 0 else hexlify(adv[p:p + 19]).decode(),
                      None if nm < 0 else hexlify(adv[nm:nm + bleadv.ad_len(mv, nm)]).decode(),
                      None if m < 0 else hexlify(adv[m:m + bleadv.mfr_len(mv, m)]).decode(),
                      bleadv.tx_power(mv, n), bleadv.valid(mv, n), bleadv.find_ad(mv, n, 1)]))
'''

DOOR_BUILD = r'''
import sys, json
from binascii import unhexlify, hexlify
import bleadv
while True:
    line = sys.stdin.readline()
    if not line:
        break
    did, ch, pairing, name = json.loads(line)
    a = bleadv.door_adv(did, unhexlify(ch), pairing)
    r = bleadv.door_scan_resp(name)
    print(json.dumps([hexlify(a).decode(), hexlify(r).decode()]))
'''

MSG_CHECK = r'''
import sys, json
from binascii import unhexlify, hexlify
import bleproto
c = bleproto.Checker()
while True:
    line = sys.stdin.readline()
    if not line:
        break
    k, ch, m = [unhexlify(x) for x in line.split()]
    mv = memoryview(m)
    ok = c.check(k, ch, mv, 0)
    print(json.dumps([ok, hexlify(c.digest(k, ch, mv, 0)).decode(), bleproto.phone_id(mv, 0),
                      bleproto.counter_hi(mv, 0) * 65536 + bleproto.counter_lo(mv, 0),
                      bleproto.moved(mv, 0), bleproto.wave(mv, 0), bleproto.rssi_valid(mv, 0),
                      bleproto.rssi(mv, 0)]))
'''

# The door's challenge over three rotations; the phone MACs with each generation in turn, and
# every message is tried after every rotation: current and previous verify, older ones don't.
ROTATE = r'''
import sys, json
from binascii import unhexlify
import bleproto
gens = [unhexlify(x) for x in sys.stdin.readline().split()]
msgs = [unhexlify(x) for x in sys.stdin.readline().split()]
feed = list(gens)
ch = bleproto.Challenge(0, urandom=lambda n: feed.pop(0))
c = bleproto.Checker()
key = unhexlify(sys.argv[1])
rows = []
for step in range(len(gens)):
    if step:
        ch.tick(step * 10000)
    rows.append([ch.verify(c, key, m, 0) for m in msgs])
print(json.dumps(rows))
'''


def _script(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def _mpy_lines(tmp_path, name, text, lines, args=()):
    r = run_micropython([_script(tmp_path, name, text)] + list(args), input="".join(x + "\n" for x in lines))
    assert r.returncode == 0, r.stdout + r.stderr
    return [json.loads(x) for x in r.stdout.splitlines()]


def _cpython_lines(tmp_path, name, text, lines):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "host_tools", "doorctl", "_shims"),
                                         os.path.join(ROOT, "lib")])
    r = subprocess.run([sys.executable, _script(tmp_path, name, text)], capture_output=True, text=True,
                       env=env, input="".join(x + "\n" for x in lines), timeout=120)
    assert r.returncode == 0, r.stderr
    return [json.loads(x) for x in r.stdout.splitlines()]


# --- 1. the door's adverts, read by bumble -------------------------------------------------------
DOOR_CASES = [
    ("1", "0001020304050607", True, "Front door"),
    ("DOOR-12", "ffffffffffffffff", False, "x" * 29),
    ("abcdefghijkl", "0000000000000000", True, "y" * 30),
    ("Lab 3/B", "8899aabbccddeeff", False, "T\u00fcr im Erdgeschoss, Eingang S\u00fcd"),
    ("~!", "0102030405060708", True, "\u20ac" * 12),
    ("Z", "1122334455667788", False, "a" * 26 + "\U0001F6AA" + "b"),  # a 4-byte character at the cut
    ("Q", "1122334455667788", False, "a" * 27 + "\U0001F6AA"),  # 31 bytes: the door emoji goes whole
    ("R", "1122334455667788", False, "\u00e9"),
]


def test_door_adverts_parse_with_bumble(tmp_path):
    got = _mpy_lines(tmp_path, "door.py", DOOR_BUILD, [json.dumps(list(c), ensure_ascii=False) for c in DOOR_CASES])
    assert len(got) == len(DOOR_CASES)
    for (did, ch, pairing, name), (adv_hex, resp_hex) in zip(DOOR_CASES, got):
        adv, resp = bytes.fromhex(adv_hex), bytes.fromhex(resp_hex)
        assert len(adv) <= 31 and len(resp) <= 31
        ad = AD.from_bytes(adv)
        assert bytes(ad) == adv  # every byte belongs to a structure bumble understood
        assert ad.get(AD.Type.FLAGS) == int(AD.Flags.LE_GENERAL_DISCOVERABLE_MODE | AD.Flags.BR_EDR_NOT_SUPPORTED)
        mfr = dt.ManufacturerSpecificData.all_from_advertising_data(ad)
        assert len(mfr) == 1 and mfr[0].company_identifier == 0xFFFF
        assert mfr[0].data == b"dc\x01" + bytes([1 if pairing else 0]) + bytes.fromhex(ch) + did.encode()
        sr = AD.from_bytes(resp)
        assert bytes(sr) == resp and len(sr.ad_structures) == 1
        raw = name.encode()
        if len(raw) <= 29:
            assert sr.get(AD.Type.COMPLETE_LOCAL_NAME) == name
            assert dt.CompleteLocalName.from_advertising_data(sr) == name
        else:
            short = sr.get(AD.Type.SHORTENED_LOCAL_NAME)  # bumble decodes it: a whole UTF-8 string
            assert sr.get(AD.Type.COMPLETE_LOCAL_NAME) is None
            assert name.startswith(short) and len(short.encode()) <= 29
            assert len((short + name[len(short)]).encode()) > 29  # the longest prefix that fits
        # the host's own reader (the reference phone) sees the same door
        door = phoneproto.parse_door_adv(adv, resp)
        assert door.device_id == did and door.challenge == bytes.fromhex(ch) and door.pairing_open == pairing
        assert door.name_complete == (len(raw) <= 29) and name.startswith(door.name)


def test_door_adverts_of_the_host_module_are_the_same_bytes():
    """bleadv under CPython builds what MicroPython built (the device module is one source)."""
    for did, ch, pairing, name in DOOR_CASES:
        adv = bleadv.door_adv(did, bytes.fromhex(ch), pairing)
        assert phoneproto.parse_door_payload(AD.from_bytes(adv).get(AD.Type.MANUFACTURER_SPECIFIC_DATA)[1]) \
            == phoneproto.parse_door_adv(adv)


# --- 2. adverts built with bumble, read by lib/bleadv.py under MicroPython -------------------------
def _random_advert(rnd):
    """A bumble AdvertisingData of up to 31 bytes with structures in random order, and what the
    door must read from it."""
    items = []
    expect = {"ibeacon": None, "phone": None, "name": None, "mfr1234": None, "tx": bleadv.NO_TX}
    kinds = ["flags", "name", "short", "tx", "mfr", "uuid16", "svcdata", "ibeacon", "phone", "apple"]
    for kind in rnd.sample(kinds, rnd.randint(0, 5)):
        if kind == "flags":
            items.append(dt.Flags(AD.Flags(rnd.choice([0x04, 0x06, 0x05, 0x1A]))))
        elif kind == "name":
            items.append(dt.CompleteLocalName(rnd.choice(["Tile", "Fob 7", "T\u00fcr", "\u20ac", "x" * 10])))
        elif kind == "short":
            items.append(dt.ShortenedLocalName(rnd.choice(["ab", "Q"])))
        elif kind == "tx":
            items.append(dt.TxPowerLevel(rnd.randint(-40, 20)))
        elif kind == "mfr":
            items.append(dt.ManufacturerSpecificData(0x1234, bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 6)))))
        elif kind == "uuid16":
            items.append(AD([(AD.Type.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, b"\x0d\x18\x0f\x18")]).ad_structures[0])
        elif kind == "svcdata":
            items.append((AD.Type.SERVICE_DATA_16_BIT_UUID, bytes([0xAA, 0xFE, rnd.randrange(256)])))
        elif kind == "ibeacon":
            uuid = bytes(rnd.randrange(256) for _ in range(16))
            major, minor, power = rnd.randrange(65536), rnd.randrange(65536), rnd.randint(-100, -30)
            body = b"\x02\x15" + uuid + major.to_bytes(2, "big") + minor.to_bytes(2, "big") + (power & 0xFF).to_bytes(1, "big")
            items.append(dt.ManufacturerSpecificData(0x004C, body))
        elif kind == "phone":
            items.append(dt.ManufacturerSpecificData(0xFFFF, b"dp" + bytes(rnd.randrange(256) for _ in range(19))))
        elif kind == "apple":  # Apple data that is not an iBeacon: must not be taken for one
            items.append(dt.ManufacturerSpecificData(0x004C, rnd.choice([b"\x10\x05\x01\x18\x00\x00\x00",
                                                                          b"\x02\x15\x00\x01", b"\x02\x16" + bytes(21)])))
    ad = AD(items)
    while len(bytes(ad)) > 31:
        ad.ad_structures.pop(rnd.randrange(len(ad.ad_structures)))
    for t, d in ad.ad_structures:  # first match wins, in advert order
        if t == AD.Type.MANUFACTURER_SPECIFIC_DATA:
            company = int.from_bytes(d[:2], "little")
            if company == 0x004C and len(d) == 25 and d[2:4] == b"\x02\x15" and expect["ibeacon"] is None:
                expect["ibeacon"] = [d[4:20].hex(), int.from_bytes(d[20:22], "big"), int.from_bytes(d[22:24], "big"),
                                     int.from_bytes(d[24:25], "big", signed=True)]
            if company == 0xFFFF and d[2:4] == b"dp" and len(d) == 23 and expect["phone"] is None:
                expect["phone"] = d[4:].hex()
            if company == 0x1234 and expect["mfr1234"] is None:
                expect["mfr1234"] = d[2:].hex()
        elif t == AD.Type.COMPLETE_LOCAL_NAME and expect["name"] is None:
            expect["name"] = d.hex()
        elif t == AD.Type.TX_POWER_LEVEL and expect["tx"] == bleadv.NO_TX:
            expect["tx"] = dt.TxPowerLevel.from_bytes(d)
    return ad, expect


def test_bumble_adverts_read_by_the_device_code(tmp_path):
    rnd = random.Random(16)
    cases = []
    for i in range(400):
        ad, expect = _random_advert(rnd)
        addr = Address(":".join("%02X" % rnd.randrange(256) for _ in range(6)))
        # MicroPython hands the scan IRQ the address in display order; bumble keeps HCI order
        # (least significant byte first): reversed, they are the same six bytes.
        mp_addr = bytes(reversed(bytes(addr)))
        raw = bytes(ad)
        assert AD.from_bytes(raw).ad_structures == ad.ad_structures
        cases.append((addr, mp_addr, raw, expect))
    lines = ["%s %s" % (c[1].hex(), c[2].hex() or "-") for c in cases]
    got = _mpy_lines(tmp_path, "read.py", ADV_READ, lines)
    assert len(got) == len(cases)
    seen = {"ibeacon": 0, "phone": 0, "name": 0, "address": 0}
    for (addr, _mp, raw, expect), (fid, ib, phone, name, m1234, tx, ok, _fl) in zip(cases, got):
        assert ok, raw.hex()
        if expect["ibeacon"]:
            assert ib == expect["ibeacon"], raw.hex()
            assert fid == (expect["ibeacon"][0] + "%04x%04x" % tuple(expect["ibeacon"][1:3])).upper()
            seen["ibeacon"] += 1
        else:
            assert ib is None and fid == addr.to_string(False).replace(":", ""), raw.hex()
            seen["address"] += 1
        assert phone == expect["phone"] and name == expect["name"] and m1234 == expect["mfr1234"], raw.hex()
        assert tx == expect["tx"], raw.hex()
        seen["phone"] += phone is not None
        seen["name"] += name is not None
    assert min(seen.values()) >= 20, seen  # every kind really came up


def test_demo_fob_address_and_phone_advert_of_phoneproto(tmp_path):
    addr = Address("C0:FF:EE:00:10:01")
    beacon = phoneproto.ibeacon_adv(bytes.fromhex("e2c56db5dffb48d2b060d0f5a71096e0"), 258, 41137, -59)
    assert dt.ManufacturerSpecificData.from_advertising_data(AD.from_bytes(beacon)).company_identifier == 0x004C
    lines = ["%s -" % bytes(reversed(bytes(addr))).hex(), "%s %s" % ("c0ffee001001", beacon.hex()),
             "%s %s" % ("c0ffee001001", VECTOR_ADV.hex())]
    got = _mpy_lines(tmp_path, "read.py", ADV_READ, lines)
    assert got[0][0] == "C0FFEE001001"
    assert got[1][0] == "E2C56DB5DFFB48D2B060D0F5A71096E00102A0B1" and got[1][1][1:] == [258, 41137, -59]
    assert got[1][0] == phoneproto.fob_id(bytes.fromhex("c0ffee001001"), beacon)
    assert got[2][0] == "C0FFEE001001" and got[2][2] == VECTOR.hex()
    assert phoneproto.phone_adv(VECTOR) == VECTOR_ADV and len(VECTOR_ADV) == 28


# --- 3. phone messages: cryptography on the host, hashlib on the door ------------------------------
def test_fixed_vector_on_both_sides(tmp_path):
    assert phoneproto.build_message(KEY, CHALLENGE, 0x1234, 0x01020304, moved=True, wave=True) == VECTOR
    assert phoneproto.build_message(KEY, CHALLENGE, 0x1234, 0x01020305, rssi=-61) == VECTOR_RSSI
    assert phoneproto.verify_message(KEY, CHALLENGE, VECTOR)
    got = _mpy_lines(tmp_path, "msg.py", MSG_CHECK,
                     ["%s %s %s" % (KEY.hex(), CHALLENGE.hex(), m.hex()) for m in (VECTOR, VECTOR_RSSI)])
    assert got[0] == [True, VECTOR_MAC, 0x1234, 0x01020304, True, True, False, 0]
    assert got[1][0] is True and got[1][2:] == [0x1234, 0x01020305, False, False, True, -61]
    with open(os.path.join(ROOT, "docs", "ble.md")) as f:
        doc = f.read()
    for h in (VECTOR.hex(" ").upper(), VECTOR_MAC, VECTOR_RSSI.hex(" ").upper()):
        assert h in doc, h  # the protocol document shows the same vector


def test_messages_of_phoneproto_verified_by_the_device(tmp_path):
    rnd = random.Random(7)
    lines, expect = [], []
    for i in range(150):
        key = bytes(rnd.randrange(256) for _ in range(16))
        ch = bytes(rnd.randrange(256) for _ in range(8))
        pid = rnd.choice([1, 0x3FFFFFFF, rnd.randint(1, 0x3FFFFFFF)])
        ctr = rnd.choice([0, 1, 0xFFFFFFFF, 0x80000000, rnd.randrange(1 << 32)])
        moved, wave = rnd.random() < 0.5, rnd.random() < 0.5
        r = rnd.choice([None, -128, 127, rnd.randint(-100, -20)])
        m = phoneproto.build_message(key, ch, pid, ctr, moved, wave, r)
        full = phoneproto._hmac.HMAC(key, phoneproto.hashes.SHA256())
        full.update(b"DCP1" + ch + m[:11])
        mac = full.finalize().hex()
        lines.append("%s %s %s" % (key.hex(), ch.hex(), m.hex()))
        expect.append([True, mac, pid, ctr, moved, wave, r is not None, 0 if r is None else r])
        # refusals: one changed byte (anywhere), a wrong key, another challenge
        bad = bytearray(m)
        bad[rnd.randrange(19)] ^= 1 << rnd.randrange(8)
        for k2, c2, m2 in ((key, ch, bytes(bad)), (bytes(b ^ 0x80 for b in key), ch, m),
                           (key, bytes(b ^ 1 for b in ch), m)):
            lines.append("%s %s %s" % (k2.hex(), c2.hex(), m2.hex()))
            expect.append(None)
    got = _mpy_lines(tmp_path, "msg.py", MSG_CHECK, lines)
    assert len(got) == len(expect)
    for line, e, g in zip(lines, expect, got):
        if e is None:
            assert g[0] is False, line
            assert not phoneproto.verify_message(*[bytes.fromhex(x) for x in line.split()])
        else:
            assert g == e, line


def test_stale_challenge_refused_on_the_device(tmp_path):
    gens = [bytes([0x10 + i]) * 8 for i in range(4)]
    phone = phoneproto.Phone(42, KEY)
    msgs = [phone.message(g, moved=True) for g in gens]
    got = _mpy_lines(tmp_path, "rot.py", ROTATE, [" ".join(g.hex() for g in gens), " ".join(m.hex() for m in msgs)],
                     args=[KEY.hex()])[0]
    # row = after `step` rotations; column = message MAC'ed with generation j
    C, P, N = bleproto.CURRENT, bleproto.PREVIOUS, bleproto.NONE
    assert got == [[C, N, N, N],
                   [P, C, N, N],
                   [N, P, C, N],
                   [N, N, P, C]]
    assert [phoneproto.parse_message(m).counter for m in msgs] == [1, 2, 3, 4]


# --- 4. malformed and fuzzed adverts ---------------------------------------------------------------
def _all_readers(buf, n):
    out = bytearray(40)
    return (bleadv.valid(buf, n), bleadv.find_ad(buf, n, 0xFF), bleadv.find_ad(buf, n, 1),
            bleadv.find_mfr(buf, n, 0x4C), bleadv.find_ibeacon(buf, n), bleadv.find_phone(buf, n),
            bleadv.tx_power(buf, n), bleadv.fob_id(b"\xc0\xff\xee\x00\x10\x01", buf, n, out), bytes(out))


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=64), st.integers(-3, 70))
def test_fuzz_never_raises(data, n):
    mv = memoryview(data)
    r = _all_readers(mv, n)
    if not 0 <= n <= len(data):
        assert r[:8] == (False, -1, -1, -1, -1, -1, bleadv.NO_TX, 0)
    for off in r[1:6]:  # an offset found lies inside the first n bytes
        assert off == -1 or 2 <= off <= n


_structure = st.tuples(st.integers(1, 0xFF), st.binary(max_size=30))


@settings(max_examples=1500, deadline=None)
@given(st.lists(_structure, max_size=8))
def test_well_formed_adverts_agree_with_bumble(structs):
    raw = b"".join(bytes([len(d) + 1, t]) + d for t, d in structs)
    bumble_ad = AD.from_bytes(raw)
    assert bleadv.valid(raw, len(raw))
    for t in {t for t, _ in structs} | {0x01, 0x09}:
        want = bumble_ad.get(t, raw=True)
        off = bleadv.find_ad(raw, len(raw), t)
        assert (off < 0) == (want is None)
        if want is not None:
            assert raw[off:off + bleadv.ad_len(raw, off)] == want
    mfr = [d for t, d in bumble_ad.ad_structures if t == 0xFF and len(d) >= 2]
    for company in {int.from_bytes(d[:2], "little") for d in mfr}:
        first = next(d for d in mfr if int.from_bytes(d[:2], "little") == company)
        off = bleadv.find_mfr(raw, len(raw), company)
        assert raw[off:off + bleadv.mfr_len(raw, off)] == first[2:]
    # cut anywhere inside the last structure: malformed, nothing found
    if structs:
        cut = raw[:-1]
        assert not bleadv.valid(cut, len(cut))
        assert bleadv.find_ad(cut, len(cut), structs[0][0]) == -1


def test_fuzz_batch_under_micropython_answers_as_cpython(tmp_path):
    rnd = random.Random(99)
    lines = []
    for i in range(300):
        if i % 3 == 0:  # garbage
            data = bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 40)))
        else:  # a real advert, then damaged: truncated, a length byte changed, zeros inserted
            data = bytearray(bytes(_random_advert(rnd)[0]))
            if data:
                j = rnd.randrange(len(data))
                how = i % 3
                if how == 1:
                    data[j] = rnd.choice([0, 1, 0xFF, data[j] + 1 & 0xFF])
                else:
                    data = data[:j]
        lines.append("c0ffee001001 %s" % (bytes(data).hex() or "-"))
    mp = _mpy_lines(tmp_path, "read.py", ADV_READ, lines)
    cp = _cpython_lines(tmp_path, "read.py", ADV_READ, lines)
    assert len(mp) == len(cp) == len(lines)
    assert mp == cp
    assert sum(1 for r in mp if not r[6]) > 50  # many of them really were malformed

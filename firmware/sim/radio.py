"""The simulator's radio: MicroPython's `bluetooth.BLE` over a virtual air (simulator only).

The door's BLE code is written against the real `bluetooth` module; this emulation lets the same
code run in the simulator and in tests. `Air` holds the devices on the air (emitters: fobs, phones,
background noise) and the radio model:
    RSSI = round(A - 10 n log10(max(d, 0.1)) + N(0, sigma)), clamped to -127..20
and an advert is heard with probability window/interval of the running scan (duty cycle).
`BLE` is the door's stack: scanning, advertising, and (sim/radiogatt.py, loaded on first use) a
GATT server that a central driven from outside (sim/blectl.py: the host's simulated phone)
connects to, writes, reads and pairs with.

It runs in the firmware's heap (unix port, asyncio, no threads; also under CPython for tests), so
the scan path allocates nothing per advert but the IRQ's data tuple: integer noise from a
precomputed Gaussian table, payloads copied into reused buffers behind preallocated memoryviews.
Those buffers are overwritten (0xEE) once the handler returns, so firmware that keeps a
reference breaks here as it would on a board. A handler that raises is switched off for good
(printed once), as on the ESP32.

Not emulated: the door as a central or GATT client (gap_connect, gattc_*), gap_pair (the phone
starts pairing), bonding's _IRQ_GET_SECRET/_IRQ_SET_SECRET (the `bonded` bit is reported, no keys
are stored), L2CAP, extended adverts; the real stack hands the handler a stack-allocated tuple,
this one allocates a 5-tuple per delivered advert.
"""
import errno
import math
from array import array

from micropython import const

from compat import print_exception, sleep_ms, ticks_add, ticks_diff, ticks_ms

_IRQ_SCAN_RESULT = const(5)
_IRQ_SCAN_DONE = const(6)

# errno values as MicroPython's NimBLE binding raises them (OSError(n))
ENODEV = errno.ENODEV  # the radio is not active
EINVAL = errno.EINVAL
EALREADY = errno.EALREADY

_GAUSS = const(512)  # entries of the noise table (a power of 2)
_CATCHUP_MS = const(1000)  # a loop later than this drops the adverts it missed (the host had no time)
_PAIR_TIMEOUT_MS = const(30000)  # SMP timeout
_IDLE_MS = const(50)
_POOL = const(48)  # background devices


class Rng:
    """xorshift32: the same sequence for a seed under MicroPython and CPython; small ints only."""

    def __init__(self, seed=1):
        self.seed(seed)

    def seed(self, s):
        self.x = ((int(s) * 2654435761) ^ 0x5DEECE66) & 0xFFFFFFFF or 1

    def next(self):
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.x = x
        return x

    def below(self, n):
        return self.next() % n

    def unit(self):
        return (self.next() + 0.5) / 4294967296.0


def mean_centi(rssi_1m, exponent, d):
    """Mean RSSI at distance d in centi-dBm (computed when a distance changes, not per advert)."""
    return int(round((rssi_1m - 10.0 * exponent * math.log10(max(d, 0.1))) * 100))


class Emitter:
    """A device on the air. payloads: adverts cycled one per advertising event."""

    def __init__(self, key, addr_type, addr, payloads, interval_ms=100, distance=None, rssi_1m=-59, exponent=2.0,
                 adv_type=0, resp=None):
        if len(addr) != 6:
            raise ValueError("addr must be 6 bytes")
        for p in payloads:
            if len(p) > 31:
                raise ValueError("an advert holds at most 31 bytes, got %d" % len(p))
        if not payloads:
            raise ValueError("give at least one advert payload")
        if resp is not None and len(resp) > 31:
            raise ValueError("a scan response holds at most 31 bytes, got %d" % len(resp))
        self.key = key
        self.addr_type = addr_type
        self.addr = bytes(addr)
        self.payloads = [bytes(p) for p in payloads]
        self.i = 0
        self.interval_ms = max(20, int(interval_ms))
        self.a = rssi_1m
        self.n = exponent
        self.adv_type = adv_type
        self.resp = None if resp is None else bytes(resp)
        self.walk = None  # (t0 ms, d0, d1, v m/s)
        self.d = None
        self.mean_c = 0
        self.next = 0
        self.sent = self.heard = self.delivered = 0
        self.place(distance)

    def place(self, d, walk=None):
        """Stand at d metres (None: silent), or walk (t0, d0, d1, v) from now."""
        self.walk = walk
        if walk is not None:
            d = walk[1]
        self.d = None if d is None else float(d)
        if d is not None:
            self.mean_c = mean_centi(self.a, self.n, self.d)

    def moved(self, now):
        """Where a walk has got to at `now` (floats: once per radio step, not per advert)."""
        w = self.walk
        t = ticks_diff(now, w[0]) / 1000.0
        d0, d1, v = w[1], w[2], w[3]
        step = v * t
        if abs(d1 - d0) <= step:
            d = d1
            self.walk = None
        else:
            d = d0 + step if d1 > d0 else d0 - step
        self.d = d
        self.mean_c = mean_centi(self.a, self.n, d)


class Air:
    """Devices on the air and the radio model. clock: a ms clock for tests that step time by hand
    (step()); without one the air runs itself as an asyncio task once the door's radio is active."""

    def __init__(self, seed=1, noise_db=4.0, background=0, clock=None):
        self.rng = Rng(seed)
        self.seed = seed
        self.noise_c = int(round(noise_db * 100))
        self.clock = clock or ticks_ms
        self.manual = clock is not None
        self.emitters = []
        self.ble = None
        self.task = None
        self.gauss = array("h", bytes(2 * _GAUSS))
        self._fill_gauss()
        self.bg_rate = 0
        self.bg_base = 0
        self.bg_pool = None
        self.bg_acc = 0
        self.bg_last = 0
        self.bg_sent = self.bg_heard = self.bg_delivered = 0
        self.errors = 0  # steps that failed (run())
        self.set_background(background)

    # --- set-up (control channel, tests) --------------------------------------------------
    def _fill_gauss(self):
        """Standard normal samples (Box-Muller), standardised to mean 0 and sd 1, in 1/1000
        (written straight into the table: no list of floats in a small heap)."""
        g = self.gauss
        s1 = s2 = 0.0
        for i in range(0, _GAUSS, 2):
            u1, u2 = self.rng.unit(), self.rng.unit()
            r = math.sqrt(-2.0 * math.log(u1))
            a = r * math.cos(2 * math.pi * u2)
            b = r * math.sin(2 * math.pi * u2)
            g[i] = int(round(a * 1000))
            g[i + 1] = int(round(b * 1000))
            s1 += a + b
            s2 += a * a + b * b
        m = s1 / _GAUSS
        sd = math.sqrt(s2 / _GAUSS - m * m)
        for i in range(_GAUSS):
            g[i] = int(round((g[i] / 1000 - m) / sd * 1000))

    def reseed(self, seed):
        self.seed = seed
        self.rng.seed(seed)
        self._fill_gauss()
        self.set_background(self.bg_rate)

    def set_noise(self, sigma_db):
        self.noise_c = int(round(sigma_db * 100))

    def set_background(self, per_s):
        """Unrelated devices' adverts per second on the air: a pool of 48 devices at 1-15 m with
        random static addresses (iBeacons of other UUIDs, random manufacturer data, named gadgets).
        Nothing is stored per device but its mean RSSI: each advert is rebuilt from the device's
        number straight into the radio's buffer (the pool costs the heap ~100 bytes)."""
        self.bg_rate = int(per_s)
        self.bg_acc = 0
        self.bg_last = self.clock()
        self.bg_base = self.rng.next()
        self.bg_pool = array("h", bytes(2 * _POOL))
        for i in range(_POOL):
            self.bg_pool[i] = mean_centi(-59, 2.0, 1 + self.rng.below(14))

    def emitter(self, key):
        for e in self.emitters:
            if e.key == key:
                return e
        return None

    def add(self, e):
        """Put an emitter on the air (replacing one with the same key)."""
        self.remove(e.key)
        e.next = ticks_add(self.clock(), self.rng.below(e.interval_ms))
        self.emitters.append(e)
        return e

    def remove(self, key):
        e = self.emitter(key)
        if e is not None:
            self.emitters.remove(e)
        return e is not None

    def walk(self, e, d1, speed):
        e.place(None, (self.clock(), e.d if e.d is not None else d1, float(d1), float(speed)))

    def update_walks(self, now=None):
        """Walks go on whether or not anyone scans (step() does this while a scan runs)."""
        now = self.clock() if now is None else now
        for e in self.emitters:
            if e.walk is not None:
                e.moved(now)

    def rssi(self, mean_c):
        """One RSSI sample around a mean (centi-dBm): integers only."""
        g = self.gauss[self.rng.next() & (_GAUSS - 1)]
        r = (mean_c + self.noise_c * g // 1000 + 50) // 100
        if r < -127:
            return -127
        if r > 20:
            return 20
        return r

    def door_rssi(self, distance, rssi_1m=-59, exponent=2.0):
        """What a phone at `distance` measures of the door's advert (one sample)."""
        return self.rssi(mean_centi(rssi_1m, exponent, distance))

    # --- running ------------------------------------------------------------------------------
    def start(self):
        """The air's task (once): nothing to do for a hand-stepped clock; under CPython only
        inside a running event loop."""
        if self.manual or self.task is not None:
            return
        import asyncio

        coro = self.run()
        try:
            self.task = asyncio.create_task(coro)
        except RuntimeError:  # CPython outside a loop: started by the next call inside one
            coro.close()
            self.task = None

    async def run(self):
        """The air's task: it must outlive anything (a full heap here is the emulation's problem,
        not the firmware's: the adverts due meanwhile are missed, as a busy host misses them)."""
        while True:
            try:
                wait = self.step()
            except MemoryError:
                self.errors += 1
                wait = 10
            except Exception as e:  # a bug in the emulation: say so, keep the air running
                self.errors += 1
                print("sim radio: step failed")
                print_exception(e)
                wait = 50
            await sleep_ms(wait)

    def scan_started(self, now):
        """Emitters advertise all the time; a new scan meets each at a random phase."""
        for e in self.emitters:
            e.next = ticks_add(now, self.rng.below(e.interval_ms))
        self.bg_last = now
        self.bg_acc = 0

    def step(self, now=None):
        """Do what is due by `now`: queued IRQs, pairing timeouts, adverts heard by a running scan,
        the scan's end. Returns ms until the next thing is due (for the task's sleep)."""
        ble = self.ble
        if now is None:
            now = self.clock()
        if ble is None or not ble._active:
            return _IDLE_MS
        if ble._pending or ble._pairing:
            ble._flush(now)
        if not ble._scanning:
            return _IDLE_MS
        wait = _IDLE_MS
        for e in self.emitters:
            if e.walk is not None:
                e.moved(now)
            late = ticks_diff(now, e.next)
            if late > _CATCHUP_MS:
                e.next = now
            while ticks_diff(now, e.next) >= 0 and ble._scanning:
                if e.d is not None:
                    self._advert(ble, e)
                e.next = ticks_add(e.next, e.interval_ms + self.rng.below(11))  # advDelay 0-10 ms
            w = ticks_diff(e.next, now)
            if w < wait:
                wait = w
        if self.bg_rate and ble._scanning:
            self._background(ble, now)
            wait = min(wait, 1000 // self.bg_rate + 1)
        end = ble._scan_end
        if end is not None and ble._scanning:
            if ticks_diff(now, end) >= 0:
                ble._scan_stop()
            else:
                wait = min(wait, ticks_diff(end, now))
        return max(1, wait)

    def _advert(self, ble, e):
        e.sent += 1
        if self.rng.next() % ble._interval_us >= ble._window_us:
            return
        e.heard += 1
        p = e.payloads[e.i]
        if len(e.payloads) > 1:
            e.i = (e.i + 1) % len(e.payloads)
        if ble._scan_result(e.addr_type, e.addr, e.adv_type, self.rssi(e.mean_c), p):
            e.delivered += 1
        r = e.resp
        if r is not None and ble._active_scan and (e.adv_type == 0 or e.adv_type == 2):
            ble._scan_result(e.addr_type, e.addr, 4, self.rssi(e.mean_c), r)

    def _background(self, ble, now):
        dt = ticks_diff(now, self.bg_last)
        self.bg_last = now
        if dt <= 0:
            return
        if dt > _CATCHUP_MS:
            dt = _CATCHUP_MS
        self.bg_acc += dt * self.bg_rate
        n = self.bg_acc // 1000
        self.bg_acc -= n * 1000
        for _ in range(n):
            i = self.rng.below(_POOL)
            self.bg_sent += 1
            if self.rng.next() % ble._interval_us >= ble._window_us:
                continue
            self.bg_heard += 1
            size = _bg_advert(self.bg_base + i * 7919, i, ble._addr_buf, ble._adv_buf)
            if ble._scan_result(1, None, 3 if i % 3 == 0 else 0, self.rssi(self.bg_pool[i]), None, size):
                self.bg_delivered += 1


def _bg_advert(x, i, addr, adv):
    """Background device i's address and advert, from its number x (the same every time)."""
    x = (x & 0xFFFFFFFF) or 1
    for k in range(6):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        addr[k] = x & 0xFF
    addr[0] |= 0xC0  # random static
    adv[0], adv[1], adv[2] = 2, 1, 6
    kind = i % 3
    if kind == 0:  # an iBeacon of another UUID
        n, head = 30, b"\x1a\xff\x4c\x00\x02\x15"
    elif kind == 1:  # some company's manufacturer data
        n = 9 + x % 20
        head = b"\xff"
    else:  # a named gadget
        n, head = 13, b"\x09\x09gadget"
    if kind == 1:
        adv[3] = n - 4
    for k in range(len(head)):
        adv[3 + (kind == 1) + k] = head[k]
    for k in range(3 + (kind == 1) + len(head), n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        adv[k] = x & 0xFF
    if kind == 0:
        adv[29] = 0xC5  # measured power -59
    return n


class BLE:
    """bluetooth.BLE on the virtual air (one per Air)."""

    def __init__(self, air, mac=b"\x24\x0a\xc4\x5d\x00\x01"):
        self.air = air
        air.ble = self
        self._active = False
        self._handler = None
        self.irq_errors = 0
        self.dropped = 0  # scan results lost to a full heap (the emulation's tuple)
        self._name = b"ESP32"
        self._mac = bytes(mac)
        self._addr_mode = 0
        self._rxbuf = 128
        self._mtu = 23
        self._io = 3
        self._mitm = self._le_secure = self._bond = False
        # advertising: what gap_advertise set (kept for the outside to read)
        self.adv_data = b""
        self.resp_data = b""
        self.adv_interval_us = 0
        self.connectable = True
        self.advertising = False
        # scanning
        self._scanning = False
        self._interval_us = 1280000
        self._window_us = 11250
        self._active_scan = False
        self._scan_end = None
        self.scans = 0
        # GATT server, connections
        self._db = {}
        self._cccd = {}  # CCCD handle -> value handle
        self.conns = {}
        self._conn_next = 0
        self._pending = []  # IRQs the stack raises later (after the call that caused them)
        self._pairing = []  # (conn handle, action, central's passkey, bond, started ms)
        # reused IRQ buffers (valid only during the handler, overwritten after it)
        self._addr_buf = bytearray(6)
        self._adv_buf = bytearray(31)
        self._addr_mv = self._ro(memoryview(self._addr_buf))
        mv = memoryview(self._adv_buf)
        self._adv_mv = [self._ro(mv[:n]) for n in range(32)]
        self._caddr_buf = bytearray(6)
        self._caddr_mv = self._ro(memoryview(self._caddr_buf))

    @staticmethod
    def _ro(mv):
        ro = getattr(mv, "toreadonly", None)  # CPython: read-only like the real ones
        return ro() if ro else mv

    def _need_active(self):
        if not self._active:
            raise OSError(ENODEV)

    # --- configuration ------------------------------------------------------------------------
    def active(self, *args):
        if len(args) > 1:
            raise TypeError("function takes at most 1 positional argument")
        if args:
            if args[0]:
                if not self._active:
                    self._active = True
                    self.air.start()
            elif self._active:
                # the stack shuts down: scan and advertising stop, links drop, the GATT
                # database is gone (register services again), all without IRQs
                self._active = False
                self._scanning = False
                self._scan_end = None
                self.advertising = False
                self.conns = {}
                self._db = {}
                self._cccd = {}
                self._pending = []
                self._pairing = []
        return self._active

    def config(self, *args, **kw):
        if not kw:
            if len(args) != 1:
                raise TypeError("must query one param")
            p = args[0]
            if p == "mac":
                self._need_active()
                return (self._addr_mode and 1 or 0, self._address())
            if p == "gap_name":
                return self._name
            if p == "mtu":
                return self._mtu
            if p == "rxbuf":
                return self._rxbuf
            raise ValueError("unknown config param")
        if args:
            raise TypeError("can't specify pos and kw args")
        for k in kw:
            v = kw[k]
            if k == "gap_name":
                v = v.encode() if isinstance(v, str) else bytes(v)
                if len(v) > 31:
                    raise OSError(EINVAL)
                self._name = v
            elif k == "mtu":
                v = int(v)
                if v < 23 or v > 517:
                    raise OSError(EINVAL)
                self._mtu = v
            elif k == "rxbuf":
                v = int(v)
                if v < 16 or v > 0xFFFF:
                    raise ValueError()
                self._rxbuf = v
            elif k == "addr_mode":
                self._addr_mode = int(v)
            elif k == "io":
                self._io = int(v)
            elif k == "mitm":
                self._mitm = bool(v)
            elif k == "le_secure":
                self._le_secure = bool(v)
            elif k == "bond":
                self._bond = bool(v)
            else:
                raise ValueError("unknown config param")

    def _address(self):
        if self._addr_mode == 0:
            return self._mac
        a = bytearray(self._mac)
        a[0] = (a[0] & 0x3F) | (0xC0 if self._addr_mode == 1 else 0x40 if self._addr_mode == 2 else 0)
        return bytes(a)

    def irq(self, handler):
        if handler is not None and not callable(handler):
            raise ValueError("invalid handler")
        self._handler = handler

    def _call(self, event, data):
        """The handler, as the stack calls it: an exception switches it off for good."""
        h = self._handler
        if h is None:
            return None
        try:
            return h(event, data)
        except Exception as e:
            print("Unhandled exception in IRQ callback handler")
            print_exception(e)
            self._handler = None
            self.irq_errors += 1
        return None

    # --- advertising ------------------------------------------------------------------------
    def gap_advertise(self, interval_us, adv_data=None, *, resp_data=None, connectable=True):
        if interval_us is None:
            self.advertising = False
            return
        self._need_active()
        if adv_data is not None:
            adv_data = _buf(adv_data)
            if len(adv_data) > 31:
                raise OSError(EINVAL)
            self.adv_data = adv_data
        if resp_data is not None:
            resp_data = _buf(resp_data)
            if len(resp_data) > 31:
                raise OSError(EINVAL)
            self.resp_data = resp_data
        self.adv_interval_us = int(interval_us) // 625 * 625
        self.connectable = bool(connectable)
        self.advertising = True

    # --- scanning -----------------------------------------------------------------------------
    def gap_scan(self, duration_ms=0, interval_us=1280000, window_us=11250, active=False):
        self._need_active()
        if duration_ms is None:
            self._scan_stop()
            return
        duration_ms = _int(duration_ms)
        if self._scanning:
            raise OSError(EALREADY)
        iv = min(0x4000, max(4, _int(interval_us) // 625))  # 625 us units, 2.5 ms - 10.24 s
        wv = min(0x4000, max(4, _int(window_us) // 625))
        if wv > iv:
            raise OSError(EINVAL)
        self._interval_us = iv * 625
        self._window_us = wv * 625
        self._active_scan = bool(active)
        now = self.air.clock()
        self._scan_end = ticks_add(now, duration_ms) if duration_ms > 0 else None
        self._scanning = True
        self.scans += 1
        self.air.scan_started(now)
        self.air.start()

    def _scan_stop(self):
        if self._scanning:
            self._scanning = False
            self._scan_end = None
            self._call(_IRQ_SCAN_DONE, ())

    def _scan_result(self, addr_type, addr, adv_type, rssi, data, n=0):
        """One advert to the handler through the reused buffers (addr and data None: already
        in them, n bytes of advert); False if nobody listens."""
        if self._handler is None:
            return False
        a = self._addr_buf
        b = self._adv_buf
        if addr is not None:
            for i in range(6):
                a[i] = addr[i]
        if data is not None:
            n = len(data)
            for i in range(n):
                b[i] = data[i]
        ok = True
        try:
            data = (addr_type, self._addr_mv, adv_type, rssi, self._adv_mv[n])
        except MemoryError:  # (the one allocation: on a board the tuple is on the C stack)
            data = None
            ok = False
            self.dropped += 1
        if ok:
            self._call(_IRQ_SCAN_RESULT, data)
            data = None
        for i in range(6):
            a[i] = 0xEE
        for i in range(n):
            b[i] = 0xEE
        return ok

    # --- GATT server, connections, pairing: sim/radiogatt.py, loaded on first use --------------
    def gatts_register_services(self, services):
        return _gatt().gatts_register_services(self, services)

    def gatts_read(self, value_handle):
        return _gatt().gatts_read(self, value_handle)

    def gatts_write(self, value_handle, data, send_update=False):
        return _gatt().gatts_write(self, value_handle, data, send_update)

    def gatts_notify(self, conn_handle, value_handle, data=None):
        return _gatt().gatts_notify(self, conn_handle, value_handle, data)

    def gatts_indicate(self, conn_handle, value_handle):
        return _gatt().gatts_indicate(self, conn_handle, value_handle)

    def gatts_set_buffer(self, value_handle, length, append=False):
        return _gatt().gatts_set_buffer(self, value_handle, length, append)

    def gap_disconnect(self, conn_handle):
        return _gatt().gap_disconnect(self, conn_handle)

    def gap_passkey(self, conn_handle, action, passkey):
        return _gatt().gap_passkey(self, conn_handle, action, passkey)

    # the central's side (a phone driven from outside: sim/blectl.py, tests)
    def central_connect(self, addr_type, addr):
        return _gatt().central_connect(self, addr_type, addr)

    def central_disconnect(self, conn_handle):
        return _gatt().central_disconnect(self, conn_handle)

    def central_write(self, conn_handle, handle, data):
        return _gatt().central_write(self, conn_handle, handle, data)

    def central_read(self, conn_handle, handle):
        return _gatt().central_read(self, conn_handle, handle)

    def central_mtu(self, conn_handle, mtu):
        return _gatt().central_mtu(self, conn_handle, mtu)

    def central_pair(self, conn_handle, passkey, bond=True):
        return _gatt().central_pair(self, conn_handle, passkey, bond)

    def _flush(self, now):
        """IRQs the stack raises after the call that caused them; pairings that timed out."""
        for p in self._pairing:
            if ticks_diff(now, p[4]) >= _PAIR_TIMEOUT_MS:
                self._pairing.remove(p)
                _gatt()._pair_done(self, p[0], False, False, "timeout")
                break
        while self._pending:
            ev, data = self._pending.pop(0)
            if ev == 2:  # _IRQ_CENTRAL_DISCONNECT: its addr is a memoryview too
                self._addr_irq(ev, data[0], data[1], data[2])
            else:
                self._call(ev, data)

    def _addr_irq(self, event, conn_handle, addr_type, addr):
        b = self._caddr_buf
        for i in range(6):
            b[i] = addr[i]
        r = self._call(event, (conn_handle, addr_type, self._caddr_mv))
        for i in range(6):
            b[i] = 0xEE
        return r


def _gatt():
    from sim import radiogatt

    return radiogatt


def _buf(data):
    if isinstance(data, str):
        return data.encode()
    return bytes(data)


def _int(v):
    if not isinstance(v, int):
        raise TypeError("can't convert %s to int" % type(v).__name__)
    return v

"""The door's BLE: scans for key fobs and phones, advertises the door, and decides like a card tap.

Radio access only through `board.ble()` (MicroPython's `bluetooth.BLE` on the ESP32, its
emulation in the simulator). The scan IRQ copies each advert into a preallocated ring and
returns (it allocates nothing and never raises: an exception there disables the handler for
good); the task drains the ring every 20 ms:
    advert -> fob id (bleadv: address or iBeacon) -> known device?      (RAM: tracked slots,
           -> proximity filter (bleprox)   -> approach                    then a cache of
           -> Door.decide(KIND_BLE, fob id) -> relays, event               ids known unknown)
Phones (docs/ble.md) advertise a 19-byte message tagged with their key and the door's current
challenge (rotated every 10 s, advertised by the door); a tag that is wrong, a challenge older
than the previous one, or a counter not newer than the one that last opened refuses it: a
message captured from the air opens nothing. Paired phones' keys are in lib/phonekeys.py.
A device not seen before costs one user-table lookup (keyed hash, at most 2 flash reads, none
when its index bucket is empty), at most LOOKUPS_PER_S of them; unknown devices are remembered
by a 30-bit hash of their id so their next adverts are dropped without a lookup. Unknown devices
are never logged: only a known fob's decision is an event.
Scan: interval 320 ms, window 240 ms (75%: Wi-Fi keeps a quarter of the radio's time, the
phones' and fobs' adverts are heard often enough to decide within ~1.5 s; docs/ble.md).
"""
from array import array
from binascii import unhexlify

from micropython import const

import bleadv
import bleprox
import bleproto
from compat import sleep_ms, ticks_diff, ticks_ms
from phonekeys import PhoneKeys


_IRQ_SCAN_RESULT = const(5)
_IRQ_SCAN_DONE = const(6)
_KIND_BLE = const(4)  # eventcodes.KIND_BLE
_READER_ERROR = const(9)  # eventcodes.REASON_READER_ERROR
_NOT_MOVED = const(35)  # eventcodes.REASON_NOT_MOVED
SCAN_INTERVAL_US = const(320000)
SCAN_WINDOW_US = const(240000)
ADV_INTERVAL_US = const(250000)
_RING = const(32)  # adverts buffered between two drains (20 ms)
_REC = const(40)  # addr_type 1, addr 6, rssi 1, length 1, data 31
_SLOTS = const(8)  # known devices tracked at once
_UNKNOWN = const(64)  # remembered unknown ids (hash table)
_ID = const(40)  # longest fob id (hex digits)
LOOKUPS_PER_S = const(8)
CHECKS_PER_S = const(40)  # phone message tags checked (HMAC-SHA256) per second at most
_DRAIN_MS = const(20)
_EVENTS = const(8)  # connection events queued between two drains
_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_ENCRYPTION_UPDATE = const(28)
_IRQ_PASSKEY_ACTION = const(31)
# counters in BleReader.c
_HEAD = const(0)
_TAIL = const(1)
_DROPS = const(2)
_ERRORS = const(3)
_ADVERTS = const(4)
_LOOKUPS = const(5)
_IGNORED = const(6)
_BAD_TAG = const(7)  # phone messages whose tag is wrong (or for a challenge too old)
_REPLAYED = const(8)  # phone messages older than the phone's last, or the one that last opened
_NCOUNT = const(9)
SOURCE_ADDRESS = const(1)  # event fmt of a BLE event: what identified the device
SOURCE_IBEACON = const(2)
SOURCE_PHONE = const(3)
BKEY_RANGES = {"1-3": 3, "4-6": 6, "7-9": 9}  # config ble.bkey_range_m -> fob trigger distance


def follow(door):
    """Door.start_ble: the reader made on first use, its task started or stopped with
    config ble.enabled, its settings taken over. The task runs beside the door's (not one it
    stops with: BLE can be turned off)."""
    import asyncio

    on = door.cfg["ble"]["enabled"]
    r = door.ble
    if r is None:
        r = door.ble = BleReader(door, door.board)
    else:
        r.configure(door.cfg)
    if on and r.task is None:
        r.task = asyncio.create_task(r.run())
    elif not on and r.task is not None:
        r.task.cancel()
        r.task = None
        r.stop()


def id_hash(buf, n):
    """30-bit hash of buf[0:n] (FNV-style, small ints only)."""
    h = 0x2345
    for i in range(n):
        h = ((h ^ buf[i]) * 0x193) & 0x3FFFFFFF
    return h


class BleReader:
    def __init__(self, door, board, phones_path=None):
        self.door = door
        self.board = board
        self.ble = board.ble()
        self.gatt = None  # doorapp.readers.blegatt.Gatt once the radio is on
        self.task = None  # run(), while config ble.enabled
        self.q = array("i", bytes(4 * 4 * _EVENTS))  # connection events: event, conn, a, b
        self.qpos = array("i", bytes(8))  # head, tail
        self.ring = bytearray(_RING * _REC)
        mv = memoryview(self.ring)
        self.addrs = [mv[i * _REC + 1:i * _REC + 7] for i in range(_RING)]
        self.advs = [mv[i * _REC + 9:(i + 1) * _REC] for i in range(_RING)]
        self.times = array("i", bytes(4 * _RING))
        self.c = array("i", bytes(4 * _NCOUNT))  # counters (_HEAD ...)
        self.idbuf = bytearray(_ID)
        self.ids = bytearray(_SLOTS * _ID)  # tracked devices' ids
        self.id_len = bytearray(_SLOTS)  # 0 = free slot
        self.id_h = array("i", bytes(4 * _SLOTS))
        self.src = bytearray(_SLOTS)
        self.ref = array("b", bytes(_SLOTS))  # per-device RSSI correction (an iBeacon's own 1 m power)
        self.seen = array("i", bytes(4 * _SLOTS))
        self.unknown = array("i", bytes(4 * _UNKNOWN))  # hashes of unknown ids (0 = empty)
        self.fobs = bleprox.Proximity(slots=_SLOTS)
        # paired phones near the door: id (0 = free slot), user, record index, key, counters
        if phones_path is None:
            from doorapp import fileio

            phones_path = fileio.data_path(board, fileio.PHONES_FILE)
        self.keys = PhoneKeys(phones_path)
        self.ph_id = array("i", bytes(4 * _SLOTS))
        self.ph_user = [0] * _SLOTS
        self.ph_index = array("i", bytes(4 * _SLOTS))
        self.ph_seen = array("i", bytes(4 * _SLOTS))
        kb = memoryview(bytearray(16 * _SLOTS))
        self.ph_key = [kb[i * 16:(i + 1) * 16] for i in range(_SLOTS)]
        cb = memoryview(bytearray(4 * _SLOTS))
        self.ph_last = [cb[i * 4:i * 4 + 4] for i in range(_SLOTS)]  # newest counter accepted
        mb = memoryview(bytearray(bleproto.MSG_LEN * _SLOTS))
        self.ph_msg = [mb[i * 19:(i + 1) * 19] for i in range(_SLOTS)]  # the message verified last
        self.checks = CHECKS_PER_S
        self.phones = bleprox.Proximity(slots=_SLOTS)
        self.pending = bytearray(_SLOTS)  # came near on a repeated advert: decide on its next message
        self.ph_wave = bytearray(_SLOTS)  # the app's button: 0 not pressed, 2 pressed, 1 press used
        self.checker = bleproto.Checker()
        self.challenge = bleproto.Challenge(ticks_ms())
        self.budget = LOOKUPS_PER_S
        self.budget_t = ticks_ms()
        self.shown = bytearray(10)
        self.scanning = False
        self.configure(door.cfg)

    # --- settings ---------------------------------------------------------------------------
    def configure(self, cfg):
        """Thresholds and advertising from config `ble` (and `device` for the advert)."""
        b = cfg["ble"]
        self.a = b["rssi_1m"]
        n = b["path_loss_x10"] / 10
        self.fobs.configure(BKEY_RANGES[b["bkey_range_m"]], self.a, n, True, window_ms=3000)
        self.phones.configure(b["trigger_m"], self.a, n, b["hands_free"])
        self.movement = b["movement_detection"]
        self.name = cfg["device"]["name"]
        self.device_id = cfg["device"]["id"]
        self.forget()
        if self.scanning:  # a new name or ID is advertised now, not at the next challenge
            self.advertise()

    def forget(self):
        """The user table or the settings changed: every device is looked up again."""
        for i in range(_UNKNOWN):
            self.unknown[i] = 0
        for s in range(_SLOTS):
            self.id_len[s] = 0
            self.ph_id[s] = 0

    # --- radio ------------------------------------------------------------------------------
    def start(self):
        ble = self.ble
        ble.active(True)
        ble.irq(self._irq)
        if self.gatt is None:
            from doorapp.readers.blegatt import Gatt

            self.gatt = Gatt(self, self.board)
        self.advertise()
        ble.gap_scan(0, SCAN_INTERVAL_US, SCAN_WINDOW_US, False)
        self.scanning = True

    def stop(self):
        ble = self.ble
        try:
            ble.gap_scan(None)
            ble.gap_advertise(None)
        except OSError:
            pass
        self.scanning = False

    def advertise(self):
        """The door's advert (device ID, challenge, pairing open?) and scan response (its name);
        the challenge characteristic follows (docs/ble.md)."""
        g = self.gatt
        adv = bleadv.door_adv(self.device_id, self.challenge.current, g is not None and g.pairing_open())
        self.ble.gap_advertise(ADV_INTERVAL_US, adv, resp_data=bleadv.door_scan_resp(self.name))
        if g is not None:
            g.show_challenge(adv[7:])

    def _irq(self, event, data):
        """The radio's callback: copy the advert into the ring, nothing else (no allocation)."""
        try:
            if event == _IRQ_SCAN_RESULT:
                addr_type, addr, _adv_type, rssi, adv = data
                c = self.c
                h = c[_HEAD]
                nxt = h + 1 if h + 1 < _RING else 0
                n = len(adv)
                if nxt == c[_TAIL] or n > 31 or len(addr) != 6:
                    c[_DROPS] += 1
                    return
                o = h * _REC
                r = self.ring
                r[o] = addr_type
                r[o + 1:o + 7] = addr
                r[o + 7] = rssi & 0xFF
                r[o + 8] = n
                r[o + 9:o + 9 + n] = adv
                self.times[h] = ticks_ms()
                c[_HEAD] = nxt
            elif event == _IRQ_SCAN_DONE:
                self.scanning = False
            elif event == _IRQ_CENTRAL_CONNECT or event == _IRQ_CENTRAL_DISCONNECT or event == _IRQ_GATTS_WRITE:
                self._queue(event, data[0], data[1] if event == _IRQ_GATTS_WRITE else 0, 0)
            elif event == _IRQ_PASSKEY_ACTION:
                self._queue(event, data[0], data[1], 0)
            elif event == _IRQ_ENCRYPTION_UPDATE:
                self._queue(event, data[0], (1 if data[1] else 0) | (2 if data[2] else 0), data[4])
        except Exception:
            self.c[_ERRORS] += 1

    def _queue(self, ev, conn, a, b):
        p = self.qpos
        h = p[0]
        nxt = h + 1 if h + 1 < _EVENTS else 0
        if nxt == p[1]:
            self.c[_DROPS] += 1
            return
        q = self.q
        o = h * 4
        q[o] = ev
        q[o + 1] = conn
        q[o + 2] = a
        q[o + 3] = b
        p[0] = nxt

    # --- the task ---------------------------------------------------------------------------
    async def run(self):
        """Scan and decide until cancelled; a radio error is logged and the radio restarted 5 s
        later (the card reader and everything else go on meanwhile)."""
        while True:
            try:
                self.start()
                while True:
                    if self.drain(ticks_ms()) == 0:
                        await sleep_ms(_DRAIN_MS)
                    else:
                        await sleep_ms(0)
            except Exception as e:
                self.c[_ERRORS] += 1
                self.scanning = False
                try:
                    self.door.record(_KIND_BLE, False, _READER_ERROR, type(e).__name__, 0, None, ())
                except Exception:
                    pass
            await sleep_ms(5000)

    def drain(self, now):
        """Handle the adverts in the ring; returns how many."""
        c = self.c
        done = 0
        while c[_TAIL] != c[_HEAD] and done < _RING:
            t = c[_TAIL]
            self.handle(t)
            c[_TAIL] = t + 1 if t + 1 < _RING else 0
            done += 1
        p = self.qpos
        while p[1] != p[0]:
            o = p[1] * 4
            q = self.q
            p[1] = p[1] + 1 if p[1] + 1 < _EVENTS else 0
            self.gatt.event(q[o], q[o + 1], q[o + 2], q[o + 3])
        if self.challenge.tick(now):
            self.advertise()
        if ticks_diff(now, self.budget_t) >= 1000:
            self.budget_t = now
            self.budget = LOOKUPS_PER_S
            self.checks = CHECKS_PER_S
            for s in range(_SLOTS):
                if self.id_len[s]:
                    self.fobs.gone(s, now)
                if self.ph_id[s]:
                    self.phones.gone(s, now)
        return done

    def handle(self, i):
        """One advert from ring slot i."""
        c = self.c
        c[_ADVERTS] += 1
        o = i * _REC
        r = self.ring
        adv = self.advs[i]
        n = r[o + 8]
        rssi = r[o + 7]
        if rssi > 127:
            rssi -= 256
        p = bleadv.find_phone(adv, n)
        if p >= 0:
            self.message(adv, p, rssi, self.times[i])
            return
        idb = self.idbuf
        k = bleadv.fob_id(self.addrs[i], adv, n, idb)
        if not k:
            c[_IGNORED] += 1
            return
        h = id_hash(idb, k)
        slot = self._tracked(h, k)
        if slot < 0:
            slot = self._lookup(h, k, adv, n)
            if slot < 0:
                c[_IGNORED] += 1
                return
        t = self.times[i]
        self.seen[slot] = t
        got = self.fobs.feed(slot, rssi + self.ref[slot], t)
        if got:
            self.decide(slot, rssi)

    def _tracked(self, h, k):
        idh = self.id_h
        ln = self.id_len
        for s in range(_SLOTS):
            if ln[s] == k and idh[s] == h and self._same(s, k):
                return s
        return -1

    def _same(self, s, k):
        ids = self.ids
        idb = self.idbuf
        o = s * _ID
        for j in range(k):
            if ids[o + j] != idb[j]:
                return False
        return True

    def _may_look_up(self, h):
        """False if `h` (an id's hash, a phone id) is remembered as unknown or no lookup is left
        this second; else one lookup is taken."""
        u = self.unknown
        p = h & (_UNKNOWN - 1)
        for _ in range(4):
            if u[p] == h:
                return False
            p = (p + 1) & (_UNKNOWN - 1)
        if self.budget <= 0:
            return False
        self.budget -= 1
        self.c[_LOOKUPS] += 1
        return True

    def _unknown(self, h):
        """Remember `h` as unknown (4 probes; all taken: the last one probed is replaced)."""
        u = self.unknown
        p = h & (_UNKNOWN - 1)
        for _ in range(4):
            if u[p] == 0:
                break
            p = (p + 1) & (_UNKNOWN - 1)
        u[p] = h

    def _lookup(self, h, k, adv, n):
        """A device not tracked: known to the user table? (-1: unknown, or no lookup left this
        second; else its new slot)."""
        if not self._may_look_up(h):
            return -1
        rec = self.door.table.by_ble(bytes(self.idbuf[:k]).decode())
        if rec is None:
            self._unknown(h)
            return -1
        s = self._free_slot()
        o = s * _ID
        self.ids[o:o + k] = self.idbuf[:k]
        self.id_len[s] = k
        self.id_h[s] = h
        self.fobs.reset(s)
        self.ref[s] = 0
        self.src[s] = SOURCE_ADDRESS
        if k == 40:
            self.src[s] = SOURCE_IBEACON
            b = bleadv.find_ibeacon(adv, n)
            if b >= 0:  # its RSSI scaled to the site's 1 m reference by its own measured power
                p1 = bleadv.ibeacon_power(adv, b)
                if -100 <= p1 <= -20:
                    self.ref[s] = self.a - p1
        return s

    def _free_slot(self):
        oldest = 0
        for s in range(_SLOTS):
            if not self.id_len[s]:
                return s
            if ticks_diff(self.seen[oldest], self.seen[s]) > 0:
                oldest = s
        return oldest

    def decide(self, slot, rssi):
        """An approach: the engine decides on the fob id like on a card (schedules, validity,
        intervals, relays); the event shows RSSI and the id's last bytes."""
        k = self.id_len[slot]
        o = slot * _ID
        text = bytes(self.ids[o:o + k]).decode()
        sh = self.shown
        sh[0] = rssi & 0xFF
        raw = unhexlify(text)[-9:]
        sh[1:1 + len(raw)] = raw
        self.door.decide(_KIND_BLE, text, bytes(sh[:1 + len(raw)]), self.src[slot])

    # --- phones ----------------------------------------------------------------------------------
    def message(self, buf, off, rssi, t):
        """A phone's message heard in an advert (`rssi`: the door's measurement) or written over
        GATT (rssi None: the phone's own measurement in the message counts, if it sent one)."""
        c = self.c
        pid = bleproto.phone_id(buf, off)
        if pid < 0:
            c[_IGNORED] += 1
            return
        s = self._phone_slot(pid)
        if s < 0:
            c[_IGNORED] += 1
            return
        # the counter first: an advert heard again is compared byte for byte with the message
        # verified last (no HMAC); only a newer counter costs a tag check, a few per second
        last = self.ph_last[s]
        new = bleproto.counter_cmp(buf, off, last)
        if new < 0 or (new == 0 and rssi is None):  # older, or a GATT write sent again
            c[_REPLAYED] += 1
            return
        if new == 0:
            if not bleproto.is_repeat(buf, off, self.ph_msg[s]):
                c[_BAD_TAG] += 1  # the counter of the last message with other bytes: forged
                return
        else:
            if self.checks <= 0:
                c[_DROPS] += 1
                return
            self.checks -= 1
            if not self.challenge.verify(self.checker, self.ph_key[s], buf, off):
                c[_BAD_TAG] += 1
                return
            bleproto.store_counter(buf, off, last)
            bleproto.save_message(buf, off, self.ph_msg[s])
        if rssi is None:
            if not bleproto.rssi_valid(buf, off):
                return
            rssi = bleproto.rssi(buf, off)
        self.ph_seen[s] = t
        prox = self.phones
        got = prox.feed(s, rssi, t)
        # the app's button: a press (the flag turning on) opens once the phone is within the
        # trigger distance; the flag must go off before another press counts
        if not bleproto.wave(buf, off):
            self.ph_wave[s] = 0
        elif not self.ph_wave[s]:
            self.ph_wave[s] = 2  # pressed, not used yet
        if self.ph_wave[s] == 2 and not got and not prox.hands_free and prox.mean[s] >= prox.enter \
                and prox.count[s] >= 2:
            got = bleprox.WAVE
            prox.state[s] = 1
            self.ph_wave[s] = 1
        # An advert repeats the same message until the phone changes it: a repeat is where the
        # phone is, never what opens (else a recorded advert replayed near the door would open).
        if got:
            self.pending[s] = 1
        if new and self.pending[s]:
            self.pending[s] = 0
            if prox.state[s]:  # still near
                self.decide_phone(s, buf, off, rssi)

    def forget_phone(self, uid):
        """User `uid` paired a new phone: the old one's slot goes (its record was replaced)."""
        for s in range(_SLOTS):
            if self.ph_id[s] and self.ph_user[s] == uid:
                self.ph_id[s] = 0

    def _phone_slot(self, pid):
        """The tracked slot of paired phone `pid` (loaded from flash on first sight), or -1."""
        ids = self.ph_id
        for s in range(_SLOTS):
            if ids[s] == pid:
                return s
        if not self._may_look_up(pid):
            return -1
        index = self.keys.find(pid)
        if index < 0:
            self._unknown(pid)
            return -1
        s = 0
        for k in range(_SLOTS):
            if not ids[k]:
                s = k
                break
            if ticks_diff(self.ph_seen[s], self.ph_seen[k]) > 0:
                s = k
        self.ph_user[s] = self.keys.read(index, self.ph_key[s], self.ph_last[s])
        m = self.ph_msg[s]
        for j in range(bleproto.MSG_LEN):
            m[j] = 0
        self.ph_index[s] = index
        ids[s] = pid
        self.pending[s] = 0
        self.phones.reset(s)
        return s

    def decide_phone(self, s, buf, off, rssi):
        """An approach or a wave: the message's counter is stored (no message up to it opens
        again, even after a restart), then the engine decides on the phone's user."""
        self.keys.store_counter(self.ph_index[s], self.ph_last[s])
        sh = self.shown
        sh[0] = rssi & 0xFF
        pid = self.ph_id[s]
        for i in range(4):
            sh[1 + i] = (pid >> (24 - 8 * i)) & 0xFF
        if self.movement and not bleproto.moved(buf, off):
            door = self.door
            door.deny()
            door.record(_KIND_BLE, False, _NOT_MOVED, bytes(sh[:5]), SOURCE_PHONE, door.table.by_id(self.ph_user[s]), ())
            return
        self.door.decide(_KIND_BLE, self.ph_user[s], bytes(sh[:5]), SOURCE_PHONE)

    def state(self):
        c = self.c
        return {"enabled": self.task is not None, "scanning": self.scanning, "adverts": c[_ADVERTS], "dropped": c[_DROPS], "errors": c[_ERRORS],
                "lookups": c[_LOOKUPS], "ignored": c[_IGNORED], "bad_tag": c[_BAD_TAG], "replayed": c[_REPLAYED], "tracked": sum(1 for s in range(_SLOTS) if self.id_len[s] or self.ph_id[s])}

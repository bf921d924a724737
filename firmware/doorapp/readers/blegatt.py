"""The door's GATT service: the challenge to read, phone messages written (iOS), and pairing
a phone with the admin's 6-digit code as the LE Secure Connections passkey (docs/ble.md).

Connection events arrive in the radio's IRQ; BleReader._irq queues them (no allocation) and its
task calls `event()` here. Pairing:
  phone writes 01 + user id -> the user has a live code? (else disconnected)
  passkey action (the door "displays") -> gap_passkey(code): the code is spent now, whatever
      happens next (a failed passkey entry leaks bits of it to an active attacker)
  encryption update, authenticated -> new phone id + key (lib/phonekeys.py), written to the
      pairing characteristic, readable only on that authenticated link; cleared at disconnect.
Failed pairings count in a Lockout (3 free, then locked with a doubling delay); every pairing,
failed or not, is an event. Codes are never logged.
"""
import os

from micropython import const

from compat import ticks_diff, ticks_ms


_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_ENCRYPTION_UPDATE = const(28)
_IRQ_PASSKEY_ACTION = const(31)
_PASSKEY_ACTION_DISPLAY = const(3)
_IO_DISPLAY_ONLY = const(0)
_FLAG_READ = const(0x0002)
_FLAG_WRITE = const(0x0008)
_FLAG_READ_ENCRYPTED = const(0x0200)
_FLAG_READ_AUTHENTICATED = const(0x0400)
_KIND_BLE = const(4)  # eventcodes.KIND_BLE
_PAIRED = const(36)  # eventcodes.REASON_PAIRED
_PAIRING_FAILED = const(37)  # eventcodes.REASON_PAIRING_FAILED
_LOCKOUT = const(8)  # eventcodes.REASON_LOCKOUT
_SOURCE_PHONE = const(3)
MAX_CODES = const(8)  # live pairing codes at once
MIN_VALID_S = const(30)
MAX_VALID_S = const(86400)
_CONNS = const(4)  # connections followed at once


class Gatt:
    def __init__(self, reader, board):
        import bleproto

        self.reader = reader
        self.door = reader.door
        ble = reader.ble
        uuid = board.ble_uuid
        ble.config(io=_IO_DISPLAY_ONLY, mitm=True, le_secure=True, bond=False)
        ((self.h_challenge, self.h_unlock, self.h_pair),) = ble.gatts_register_services((
            (uuid(bleproto.SERVICE_UUID), (
                (uuid(bleproto.CHALLENGE_UUID), _FLAG_READ),
                (uuid(bleproto.UNLOCK_UUID), _FLAG_WRITE),
                (uuid(bleproto.PAIR_UUID), _FLAG_WRITE | _FLAG_READ | _FLAG_READ_ENCRYPTED | _FLAG_READ_AUTHENTICATED),
            )),
        ))
        self.ble = ble
        self.codes = []  # [user id, code, expiry ticks_ms]
        # per connection: handle, user asking to pair, 1 = passkey given (code spent), 2 = paired
        self.conn = [-1] * _CONNS
        self.user = [0] * _CONNS
        self.stage = bytearray(_CONNS)
        from doorapp.access.lockout import Lockout

        self.lockout = Lockout(slots=1)

    # --- the admin's codes --------------------------------------------------------------------
    def new_code(self, uid, valid_s):
        """A 6-digit code for user `uid` valid for `valid_s` seconds (replacing the user's live
        one); ValueError naming the field."""
        if not isinstance(valid_s, int) or isinstance(valid_s, bool) or not MIN_VALID_S <= valid_s <= MAX_VALID_S:
            raise ValueError("valid_s: must be %d-%d seconds" % (MIN_VALID_S, MAX_VALID_S))
        if self.door.table.by_id(uid) is None:
            raise ValueError("user: no user %d" % uid)
        self.expire()
        self.codes = [c for c in self.codes if c[0] != uid]
        if len(self.codes) >= MAX_CODES:
            raise ValueError("user: %d pairing codes are live already (the most at once)" % MAX_CODES)
        r = os.urandom(4)
        code = "%06d" % ((r[0] << 24 | r[1] << 16 | r[2] << 8 | r[3]) % 1000000)
        self.codes.append([uid, code, ticks_ms() + valid_s * 1000])
        self.reader.advertise()  # pairing open
        return code

    def expire(self, now=None):
        now = ticks_ms() if now is None else now
        live = [c for c in self.codes if ticks_diff(c[2], now) > 0]
        if len(live) != len(self.codes):
            self.codes = live
            self.reader.advertise()  # (pairing closed when none is left)

    def pairing_open(self):
        return bool(self.codes)

    def _take_code(self, uid):
        """The user's live code, spent (removed); None if there is none."""
        self.expire()
        for c in self.codes:
            if c[0] == uid:
                self.codes.remove(c)
                self.reader.advertise()
                return c[1]
        return None

    def _has_code(self, uid):
        self.expire()
        for c in self.codes:
            if c[0] == uid:
                return True
        return False

    # --- the door's challenge --------------------------------------------------------------------
    def show_challenge(self, payload):
        self.ble.gatts_write(self.h_challenge, payload)

    # --- connection events (from the reader's task) --------------------------------------------------
    def _slot(self, conn):
        for i in range(_CONNS):
            if self.conn[i] == conn:
                return i
        return -1

    def event(self, ev, conn, a, b):
        if ev == _IRQ_CENTRAL_CONNECT:
            i = self._slot(-1)
            if i < 0:  # every slot taken: no room to follow another phone
                self.ble.gap_disconnect(conn)
                return
            self.conn[i] = conn
            self.user[i] = 0
            self.stage[i] = 0
            self.reader.advertise()  # a connection stops advertising: the door stays visible
            return
        i = self._slot(conn)
        if i < 0:
            return
        if ev == _IRQ_CENTRAL_DISCONNECT:
            if self.stage[i] == 1:  # the code was given for a pairing that never completed
                self._failed(i)
            if self.stage[i] == 2:
                self.ble.gatts_write(self.h_pair, b"")  # the key leaves the attribute
            self.conn[i] = -1
            self.reader.advertise()
        elif ev == _IRQ_GATTS_WRITE:
            if a == self.h_unlock:
                v = self.ble.gatts_read(self.h_unlock)
                if len(v) == 19:
                    self.reader.message(v, 0, None, ticks_ms())
            elif a == self.h_pair:
                self._pair_request(i, self.ble.gatts_read(self.h_pair))
        elif ev == _IRQ_PASSKEY_ACTION:
            self._passkey(i, a)
        elif ev == _IRQ_ENCRYPTION_UPDATE:
            if self.stage[i] == 1:
                if a & 2 and b >= 16:  # encrypted and authenticated, with a full-size key
                    self._paired(i)
                else:
                    self._failed(i)

    def _pair_request(self, i, v):
        self.ble.gatts_write(self.h_pair, b"")  # the attribute holds the door's answer only
        if len(v) != 5 or v[0] != 1 or self.stage[i]:
            self.ble.gap_disconnect(self.conn[i])
            return
        uid = v[1] << 24 | v[2] << 16 | v[3] << 8 | v[4]
        busy = False  # one pairing at a time: the key sits in the one pairing attribute
        for k in range(_CONNS):
            if k != i and self.conn[k] >= 0 and self.stage[k] in (1, 2):
                busy = True
        if busy or self.lockout.check("pair") or not self._has_code(uid):
            self.ble.gap_disconnect(self.conn[i])
            return
        self.user[i] = uid

    def _passkey(self, i, action):
        uid = self.user[i]
        code = self._take_code(uid) if uid and action == _PASSKEY_ACTION_DISPLAY and not self.stage[i] else None
        if code is None:  # nobody asked first, or no code left: a passkey nobody knows
            r = os.urandom(3)
            self.ble.gap_passkey(self.conn[i], action, (r[0] << 16 | r[1] << 8 | r[2]) % 1000000)
            return
        self.stage[i] = 1
        self.ble.gap_passkey(self.conn[i], action, int(code))

    def _paired(self, i):
        uid = self.user[i]
        pid, key = self.reader.keys.pair(uid)
        self.ble.gatts_write(self.h_pair, bytes((1, pid >> 24 & 255, pid >> 16 & 255, pid >> 8 & 255, pid & 255)) + key)
        self.stage[i] = 2
        self.lockout.success("pair")
        self.reader.forget_phone(uid)
        door = self.door
        door.record(_KIND_BLE, None, _PAIRED, bytes((0, pid >> 24 & 255, pid >> 16 & 255, pid >> 8 & 255, pid & 255)),
                    _SOURCE_PHONE, door.table.by_id(uid), ())

    def _failed(self, i):
        self.stage[i] = 3
        _ms, alarm = self.lockout.failure("pair")
        door = self.door
        door.record(_KIND_BLE, False, _LOCKOUT if alarm else _PAIRING_FAILED, b"", _SOURCE_PHONE,
                    door.table.by_id(self.user[i]) if self.user[i] else None, ())
        door.deny()

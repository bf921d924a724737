"""The simulated radio's GATT server, connections and pairing (sim/radio.py's BLE methods
gatts_*, gap_disconnect, gap_passkey and the central's side), loaded on first use: a door that only
scans carries none of it in its heap. Functions take the BLE object."""
import errno

from micropython import const


_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_GATTS_READ_REQUEST = const(4)
_IRQ_GATTS_INDICATE_DONE = const(20)
_IRQ_MTU_EXCHANGED = const(21)
_IRQ_ENCRYPTION_UPDATE = const(28)
_IRQ_PASSKEY_ACTION = const(31)

_PASSKEY_ACTION_INPUT = const(2)
_PASSKEY_ACTION_DISPLAY = const(3)

FLAG_READ = const(0x0002)
FLAG_WRITE_NO_RESPONSE = const(0x0004)
FLAG_WRITE = const(0x0008)
FLAG_NOTIFY = const(0x0010)
FLAG_INDICATE = const(0x0020)
FLAG_READ_ENCRYPTED = const(0x0200)
FLAG_READ_AUTHENTICATED = const(0x0400)
FLAG_WRITE_ENCRYPTED = const(0x1000)
FLAG_WRITE_AUTHENTICATED = const(0x2000)

# ATT errors a central gets back (the door's firmware sees nothing of a refused write)
ATT_INVALID_HANDLE = const(0x01)
ATT_READ_NOT_PERMITTED = const(0x02)
ATT_WRITE_NOT_PERMITTED = const(0x03)
ATT_INSUFFICIENT_AUTHENTICATION = const(0x05)
ATT_INSUFFICIENT_ENCRYPTION = const(0x0F)

EINVAL = errno.EINVAL
ENOENT = errno.ENOENT
ENOTCONN = errno.ENOTCONN
EBUSY = const(16)  # (not in MicroPython's errno module)

_MAX_CONNS = const(4)
_FIRST_HANDLE = const(9)  # NimBLE's GAP and GATT services come first
_NOTES = const(32)  # notifications kept per connection for the central


class UUID:
    """bluetooth.UUID: a 16-bit int, 2/4/16 raw bytes (little-endian) or a 128-bit string."""

    def __init__(self, value):
        if isinstance(value, UUID):
            self._b = value._b
        elif isinstance(value, int):
            if value < 0 or value > 0xFFFF:
                raise ValueError("invalid UUID")
            self._b = bytes((value & 0xFF, value >> 8))
        elif not isinstance(value, str) and len(value) in (2, 4, 16):
            self._b = bytes(value)
        else:
            h = str(value, "ascii") if not isinstance(value, str) else value
            h = h.replace("-", "")
            for c in h:
                if c not in "0123456789abcdefABCDEF":
                    raise ValueError("invalid char in UUID")
            if len(h) > 32:
                raise ValueError("UUID too long")
            if len(h) < 32:
                raise ValueError("UUID too short")
            self._b = bytes(reversed(bytes.fromhex(h)))

    def __eq__(self, other):
        return isinstance(other, UUID) and other._b == self._b

    def __hash__(self):
        return hash(self._b)

    def __repr__(self):
        b = bytes(reversed(self._b))
        if len(b) <= 4:
            return "UUID(0x%s)" % b.hex()
        h = b.hex()
        return "UUID('%s-%s-%s-%s-%s')" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


class Attr:
    """A characteristic's or descriptor's value in the GATT database."""

    def __init__(self, flags, uuid):
        self.flags = flags
        self.uuid = uuid
        self.value = b""
        self.cap = 20  # what a client's write is cut to (gatts_set_buffer / a longer gatts_write)
        self.append = False
        self.cccd = 0  # handle of its client configuration descriptor (notify/indicate), 0 if none


class Conn:
    """A central connected to the door."""

    def __init__(self, addr_type, addr):
        self.addr_type = addr_type
        self.addr = bytes(addr)
        self.encrypted = self.authenticated = self.bonded = self.key_size = 0
        self.notes = []  # [(kind 'notify'/'indicate', value handle, bytes)] for the central to read
        self.dropped = 0
        self.subs = {}  # value handle -> CCCD bits (1 notify, 2 indicate)
        self.mtu = 23
        self.pair = ""  # "", "pending", "ok", "failed", "timeout"
        self.method = ""  # "le_secure passkey", "legacy passkey", "just works"




# --- GATT server ----------------------------------------------------------------------------
def gatts_register_services(self, services):
    self._need_active()
    if self.advertising or self.conns:
        raise OSError(EBUSY)
    db = {}
    cccd = {}
    h = _FIRST_HANDLE
    out = []
    for svc in services:
        if len(svc) != 2:
            raise ValueError("tuple/list has wrong length")
        if not isinstance(svc[0], UUID):
            raise ValueError("invalid service UUID")
        h += 1  # service declaration
        handles = []
        for ch in svc[1]:
            if len(ch) < 2 or len(ch) > 3:
                raise ValueError("invalid characteristic tuple")
            if not isinstance(ch[0], UUID):
                raise ValueError("invalid characteristic UUID")
            h += 2  # declaration, value
            a = db[h] = Attr(int(ch[1]), ch[0])
            handles.append(h)
            vh = h
            if a.flags & (FLAG_NOTIFY | FLAG_INDICATE):
                h += 1
                a.cccd = h
                cccd[h] = vh
            if len(ch) == 3:
                for d in ch[2]:
                    if len(d) != 2:
                        raise ValueError("tuple/list has wrong length")
                    if not isinstance(d[0], UUID):
                        raise ValueError("invalid descriptor UUID")
                    h += 1
                    db[h] = Attr(int(d[1]), d[0])
                    handles.append(h)
        out.append(tuple(handles))
    self._db = db
    self._cccd = cccd
    return tuple(out)

def _attr(self, handle):
    self._need_active()
    a = self._db.get(handle)
    if a is None:
        raise OSError(EINVAL)
    return a

def gatts_read(self, value_handle):
    a = _attr(self, value_handle)
    v = a.value
    if a.append:
        a.value = b""
    return bytes(v)

def gatts_write(self, value_handle, data, send_update=False):
    a = _attr(self, value_handle)
    a.value = _buf(data)
    if len(a.value) > a.cap:
        a.cap = len(a.value)
    if send_update:
        for h in self.conns:
            bits = self.conns[h].subs.get(value_handle, 0)
            if bits & 1:
                _note(self, h, "notify", value_handle, a.value)
            elif bits & 2:
                _note(self, h, "indicate", value_handle, a.value)
                self._pending.append((_IRQ_GATTS_INDICATE_DONE, (h, value_handle, 0)))

def gatts_notify(self, conn_handle, value_handle, data=None):
    a = _attr(self, value_handle)
    if conn_handle not in self.conns:
        raise OSError(ENOTCONN)
    _note(self, conn_handle, "notify", value_handle, a.value if data is None else _buf(data))

def gatts_indicate(self, conn_handle, value_handle):
    a = _attr(self, value_handle)
    if conn_handle not in self.conns:
        raise OSError(ENOTCONN)
    _note(self, conn_handle, "indicate", value_handle, a.value)
    self._pending.append((_IRQ_GATTS_INDICATE_DONE, (conn_handle, value_handle, 0)))

def gatts_set_buffer(self, value_handle, length, append=False):
    a = _attr(self, value_handle)
    a.cap = int(length)
    a.append = bool(append)

def _note(self, conn_handle, kind, handle, value):
    c = self.conns[conn_handle]
    if len(c.notes) >= _NOTES:
        c.notes.pop(0)
        c.dropped += 1
    c.notes.append((kind, handle, bytes(value)))

# --- connections, pairing ---------------------------------------------------------------
def gap_disconnect(self, conn_handle):
    self._need_active()
    c = self.conns.pop(conn_handle, None)
    if c is None:
        return False
    _drop_pairing(self, conn_handle)
    self._pending.append((_IRQ_CENTRAL_DISCONNECT, (conn_handle, c.addr_type, c.addr)))
    return True

def gap_passkey(self, conn_handle, action, passkey):
    """The door's answer to _IRQ_PASSKEY_ACTION: the passkey it displays (DISPLAY) or was
    told (INPUT). Pairing succeeds only if the central entered the same one."""
    self._need_active()
    for p in self._pairing:
        if p[0] == conn_handle:
            if action != p[1]:
                raise OSError(EINVAL)
            self._pairing.remove(p)
            _pair_done(self, conn_handle, int(passkey) == p[2] and 0 <= int(passkey) <= 999999, p[3])
            return
    raise OSError(ENOENT)

def _pair_done(self, conn_handle, ok, bond, how="failed"):
    c = self.conns.get(conn_handle)
    if c is None:
        return
    if ok:
        c.encrypted = 1
        c.authenticated = 0 if c.method == "just works" else 1
        c.bonded = 1 if bond and self._bond else 0
        c.key_size = 16
        c.pair = "ok"
    else:
        c.pair = how
    # NimBLE reports a failed pairing as an encryption change with an error status, which
    # MicroPython passes on with the link's unchanged state: not encrypted
    self._pending.append((_IRQ_ENCRYPTION_UPDATE, (conn_handle, c.encrypted, c.authenticated, c.bonded,
                                                  c.key_size)))

def _drop_pairing(self, conn_handle):
    for p in self._pairing:
        if p[0] == conn_handle:
            self._pairing.remove(p)
            return

# --- the central's side (a phone driven from outside: sim/blectl.py, tests) ---------------
def central_connect(self, addr_type, addr):
    """A central connects to the door's connectable advert; returns the conn handle. As
    with NimBLE, the door stops advertising once connected (the firmware restarts it)."""
    if not self._active:
        raise ValueError("the door's radio is off")
    if not (self.advertising and self.connectable):
        raise ValueError("the door is not advertising connectably")
    if len(self.conns) >= _MAX_CONNS:
        raise ValueError("the door has no free connection (%d in use)" % _MAX_CONNS)
    self._conn_next += 1
    h = self._conn_next
    self.conns[h] = Conn(addr_type, addr)
    self.advertising = False
    self._addr_irq(_IRQ_CENTRAL_CONNECT, h, addr_type, addr)
    return h

def _conn(self, conn_handle):
    c = self.conns.get(conn_handle)
    if c is None:
        raise ValueError("no connection %r" % (conn_handle,))
    return c

def central_disconnect(self, conn_handle):
    c = _conn(self, conn_handle)
    del self.conns[conn_handle]
    _drop_pairing(self, conn_handle)
    self._addr_irq(_IRQ_CENTRAL_DISCONNECT, conn_handle, c.addr_type, c.addr)

def central_write(self, conn_handle, handle, data):
    """A write request; returns 0 or the ATT error the stack answers (no IRQ then)."""
    c = _conn(self, conn_handle)
    vh = self._cccd.get(handle)
    if vh is not None:  # subscribing (CCCD): the stack handles it
        c.subs[vh] = data[0] & 3 if data else 0
        return 0
    a = self._db.get(handle)
    if a is None:
        return ATT_INVALID_HANDLE
    f = a.flags
    if not f & (FLAG_WRITE | FLAG_WRITE_NO_RESPONSE):
        return ATT_WRITE_NOT_PERMITTED
    if f & (FLAG_WRITE_ENCRYPTED | FLAG_WRITE_AUTHENTICATED) and not c.encrypted:
        return ATT_INSUFFICIENT_ENCRYPTION
    if f & FLAG_WRITE_AUTHENTICATED and not c.authenticated:
        return ATT_INSUFFICIENT_AUTHENTICATION
    data = bytes(data)
    a.value = (a.value + data)[:a.cap] if a.append else data[:a.cap]
    self._call(_IRQ_GATTS_WRITE, (conn_handle, handle))
    return 0

def central_read(self, conn_handle, handle):
    """A read request: (0, value) or (ATT error, b'')."""
    c = _conn(self, conn_handle)
    a = self._db.get(handle)
    if a is None:
        return ATT_INVALID_HANDLE, b""
    f = a.flags
    if not f & FLAG_READ:
        return ATT_READ_NOT_PERMITTED, b""
    if f & (FLAG_READ_ENCRYPTED | FLAG_READ_AUTHENTICATED) and not c.encrypted:
        return ATT_INSUFFICIENT_ENCRYPTION, b""
    if f & FLAG_READ_AUTHENTICATED and not c.authenticated:
        return ATT_INSUFFICIENT_AUTHENTICATION, b""
    r = self._call(_IRQ_GATTS_READ_REQUEST, (conn_handle, handle))
    if r:
        return int(r), b""
    return 0, bytes(a.value)

def central_mtu(self, conn_handle, mtu):
    c = _conn(self, conn_handle)
    c.mtu = max(23, min(int(mtu), self._mtu))
    self._call(_IRQ_MTU_EXCHANGED, (conn_handle, c.mtu))
    return c.mtu

def central_pair(self, conn_handle, passkey, bond=True):
    """The central (a phone that can type a passkey) starts pairing. With a door that can
    display (io DISPLAY_ONLY, DISPLAY_YESNO, KEYBOARD_DISPLAY) the door gets
    _IRQ_PASSKEY_ACTION DISPLAY and must answer gap_passkey; KEYBOARD_ONLY: INPUT; no IO:
    Just Works (encrypted, not authenticated). Returns the connection's pairing state."""
    c = _conn(self, conn_handle)
    for p in self._pairing:
        if p[0] == conn_handle:
            raise ValueError("conn %d: pairing already in progress" % conn_handle)
    if self._io == 3:
        c.method = "just works"
        c.pair = "pending"
        _pair_done(self, conn_handle, True, bond)
        return c.pair
    c.method = "le_secure passkey" if self._le_secure else "legacy passkey"
    c.pair = "pending"
    action = _PASSKEY_ACTION_INPUT if self._io == 2 else _PASSKEY_ACTION_DISPLAY
    self._pairing.append((conn_handle, action, int(passkey), bool(bond), self.air.clock()))
    self._call(_IRQ_PASSKEY_ACTION, (conn_handle, action, 0))
    return c.pair



def _buf(data):
    if isinstance(data, str):
        return data.encode()
    return bytes(data)

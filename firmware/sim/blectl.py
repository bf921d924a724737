"""Control-channel commands for the simulated radio (sim/radio.py): the air's model (`radio`), key
fobs (`fob`), any other emitter such as a phone's adverts (`emit`), what the door advertises
(`ble`) and a central (a phone) connected to the door's GATT server (`central`).
Loaded by sim/control.py with the first of these commands; the radio itself is built on first
use (board.ble()), so a door without BLE carries none of it until a test asks. Each command
takes the Control and the request and returns the answer's fields; a bad field is a ValueError
naming it."""
_OFF = "off"


def _radio(ctl):
    ble = ctl.board.ble()
    ble.air.update_walks()
    return ble, ble.air


def _num(req, field, lo, hi, default=None):
    v = req.get(field, default)
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise ValueError("%s: must be a number from %s to %s, got %r" % (field, lo, hi, v))
    return v


def _int(req, field, lo, hi, default=None):
    v = _num(req, field, lo, hi, default)
    if v != int(v):
        raise ValueError("%s: must be a whole number, got %r" % (field, v))
    return int(v)


def _hex(text, field, most=31):
    if not isinstance(text, str):
        raise ValueError("%s: must be hex, got %r" % (field, text))
    h = text.replace(":", "").replace("-", "").replace(" ", "")
    try:
        b = bytes.fromhex(h)
    except ValueError:
        raise ValueError("%s: must be hex, got %r" % (field, text))
    if len(b) > most:
        raise ValueError("%s: at most %d bytes, got %d" % (field, most, len(b)))
    return b


def _addr(text, field):
    b = _hex(text, field, 6) if text is not None else b""
    if len(b) != 6:
        raise ValueError("%s: must be a 6-byte address such as C0:FF:EE:00:10:01, got %r" % (field, text))
    return b


def _text(b):
    try:
        return str(b, "utf-8")
    except UnicodeError:
        return b.hex()


def _show(addr):
    return ":".join("%02X" % x for x in addr)


def _distance(req, field="distance"):
    """A distance in metres, or None for "off"."""
    v = req.get(field)
    if v == _OFF:
        return None
    return _num(req, field, 0, 10000)


def _place(air, e, req, d):
    """Stand at d, or walk from d (or where it is) to `to` at `speed` m/s."""
    if "to" in req or "speed" in req:
        to = _num(req, "to", 0, 10000)
        speed = _num(req, "speed", 0.01, 100)
        e.place(d)
        air.walk(e, to, speed)
    else:
        e.place(d)


def _put(air, key, addr_type, addr, payloads, req, rssi_1m, adv_type, resp=None):
    """Add or update an emitter; an update keeps its counts and its advertising phase."""
    from sim.radio import Emitter

    d = _distance(req)
    e = air.emitter(key)
    interval = _int(req, "interval_ms", 20, 10240, 200 if e is None else e.interval_ms)
    exponent = _num(req, "exponent", 1, 6, 2.0 if e is None else e.n)
    if e is None:
        e = air.add(Emitter(key, addr_type, addr, payloads, interval, None, rssi_1m, exponent, adv_type, resp))
    else:
        e.addr_type, e.addr, e.payloads, e.i = addr_type, addr, payloads, 0
        e.interval_ms, e.a, e.n, e.adv_type, e.resp = interval, rssi_1m, exponent, adv_type, resp
    _place(air, e, req, d)
    return _emitter(e)


def _emitter(e):
    return {"key": e.key, "address": _show(e.addr), "addr_type": e.addr_type, "distance": e.d,
            "walking": e.walk is not None, "interval_ms": e.interval_ms, "rssi_1m": e.a, "exponent": e.n,
            "sent": e.sent, "heard": e.heard, "delivered": e.delivered}


def _ibeacon(ib):
    if not isinstance(ib, dict):
        raise ValueError("ibeacon: must be {uuid, major, minor, power}")
    uuid = _hex(ib.get("uuid"), "ibeacon.uuid", 16)
    if len(uuid) != 16:
        raise ValueError("ibeacon.uuid: must be 16 bytes (32 hex digits), got %d" % len(uuid))
    major = _int(ib, "major", 0, 65535, 0)
    minor = _int(ib, "minor", 0, 65535, 0)
    power = _int(ib, "power", -127, 20, -59)
    return (b"\x02\x01\x06\x1a\xff\x4c\x00\x02\x15" + uuid + bytes((major >> 8, major & 0xFF, minor >> 8, minor & 0xFF))
            + bytes((power & 0xFF,))), power


def cmd_fob(ctl, req):
    """A key fob at `address`: `distance` metres or "off" (removed), `interval_ms` (default 200),
    `rssi_1m` (default -59, or the iBeacon's power), `ibeacon` {uuid, major, minor, power}
    (its adverts are then an Apple iBeacon), or a walk: `to` metres at `speed` m/s."""
    addr = _addr(req.get("address"), "address")
    key = "fob:" + _show(addr)
    if "distance" not in req:
        raise ValueError("distance: give metres or \"off\"")
    ble, air = _radio(ctl)
    if _distance(req) is None:
        return {"key": key, "removed": air.remove(key)}
    ib = req.get("ibeacon")
    e = air.emitter(key)
    if ib is not None:
        payload, power = _ibeacon(ib)
        adv_type = 3  # beacons don't take connections
    elif e is not None:  # moved: it keeps what it advertises
        payload, power, adv_type = e.payloads[0], e.a, e.adv_type
    else:
        payload, power = b"\x02\x01\x06\x04\x09Fob", -59
        adv_type = 0
    rssi_1m = _int(req, "rssi_1m", -127, 20, power)
    addr_type = _int(req, "addr_type", 0, 1, 1 if addr[0] & 0xC0 == 0xC0 else 0)
    return _put(air, key, addr_type, addr, [payload], req, rssi_1m, adv_type)


def cmd_emit(ctl, req):
    """Any emitter (a phone's adverts): `key`, `addr`, `adv` (a list of hex payloads, cycled one
    per advert), `resp` (scan response hex), `interval_ms`, `distance` or "off", `rssi_1m`,
    `exponent`, `adv_type` (0-3), `addr_type`, a walk (`to`, `speed`)."""
    key = req.get("key")
    if not isinstance(key, str) or not key:
        raise ValueError("key: give the emitter a name")
    if "distance" not in req:
        raise ValueError("distance: give metres or \"off\"")
    ble, air = _radio(ctl)
    if _distance(req) is None:
        return {"key": key, "removed": air.remove(key)}
    addr = _addr(req.get("addr"), "addr")
    adv = req.get("adv")
    if isinstance(adv, str):
        adv = [adv]
    if not isinstance(adv, list) or not adv:
        raise ValueError("adv: give a list of advert payloads in hex")
    payloads = [_hex(a, "adv[%d]" % i) for i, a in enumerate(adv)]
    resp = _hex(req["resp"], "resp") if req.get("resp") is not None else None
    rssi_1m = _int(req, "rssi_1m", -127, 20, -59)
    adv_type = _int(req, "adv_type", 0, 3, 0)
    addr_type = _int(req, "addr_type", 0, 1, 1 if addr[0] & 0xC0 == 0xC0 else 0)
    return _put(air, key, addr_type, addr, payloads, req, rssi_1m, adv_type, resp)


def cmd_radio(ctl, req):
    """The air: set `noise_db` (sigma), `background` (other devices' adverts/s), `seed`, `reset`
    (zero the counts); answers them with the scan state and per-emitter counts."""
    ble, air = _radio(ctl)
    if "seed" in req:
        air.reseed(_int(req, "seed", 0, 2 ** 31 - 1))
    if "noise_db" in req:
        air.set_noise(_num(req, "noise_db", 0, 30))
    if "background" in req:
        air.set_background(_int(req, "background", 0, 2000))
    if req.get("reset"):
        for e in air.emitters:
            e.sent = e.heard = e.delivered = 0
        air.bg_sent = air.bg_heard = air.bg_delivered = 0
    return {"noise_db": air.noise_c / 100, "background": air.bg_rate, "seed": air.seed, "active": ble._active,
            "scanning": ble._scanning, "interval_us": ble._interval_us, "window_us": ble._window_us,
            "active_scan": ble._active_scan, "scans": ble.scans, "handler": ble._handler is not None,
            "irq_errors": ble.irq_errors, "dropped": ble.dropped, "errors": air.errors,
            "emitters": [_emitter(e) for e in air.emitters],
            "background_counts": {"sent": air.bg_sent, "heard": air.bg_heard, "delivered": air.bg_delivered}}


def _conn_info(h, c):
    return {"conn": h, "address": _show(c.addr), "addr_type": c.addr_type, "encrypted": c.encrypted,
            "authenticated": c.authenticated, "bonded": c.bonded, "key_size": c.key_size, "pairing": c.pair,
            "method": c.method, "mtu": c.mtu, "notifications": len(c.notes)}


def cmd_ble(ctl, req):
    """What the door's radio does: its advert and scan response (hex), scanning, connections;
    with `distance` also the RSSI a phone there measures of its advert (`rssi_1m`, default -59)."""
    ble, air = _radio(ctl)
    out = {"active": ble._active, "advertising": ble.advertising, "connectable": ble.connectable,
           "interval_us": ble.adv_interval_us, "adv": ble.adv_data.hex(), "resp": ble.resp_data.hex(),
           "gap_name": _text(ble._name),
           "address": _show(ble._address()), "scanning": ble._scanning,
           "connections": [_conn_info(h, ble.conns[h]) for h in sorted(ble.conns)]}
    if "distance" in req:
        d = _num(req, "distance", 0, 10000)
        rssi_1m = _int(req, "rssi_1m", -127, 20, -59)
        out["rssi"] = air.door_rssi(d, rssi_1m) if ble._active and ble.advertising else None
    return out


_OPS = ("connect", "write", "read", "subscribe", "pair", "status", "notifications", "mtu", "disconnect", "services")


def cmd_central(ctl, req):
    """A central (phone) on the door's GATT server: `op` connect (`addr`, `addr_type`) -> conn;
    write (`conn`, `handle`, `hex`) -> ATT `error` (0: accepted); read -> `hex`; subscribe
    (`handle`: a value handle; writes its CCCD, `indicate` for indications); pair (`passkey`,
    `bond`) -> `pairing` (pending / ok / failed / timeout); status; notifications (taken);
    mtu (`mtu`); disconnect; services (no connection needed: every characteristic's value handle,
    UUID and flags, as a phone's discovery finds them)."""
    op = req.get("op")
    if op not in _OPS:
        raise ValueError("op: must be one of %s, got %r" % (", ".join(_OPS), op))
    ble, air = _radio(ctl)
    if op == "connect":
        if req.get("addr") is None:
            addr = bytes([0xC0 | air.rng.below(64)] + [air.rng.below(256) for _ in range(5)])
        else:
            addr = _addr(req.get("addr"), "addr")
        addr_type = _int(req, "addr_type", 0, 1, 1 if addr[0] & 0xC0 == 0xC0 else 0)
        try:
            h = ble.central_connect(addr_type, addr)
        except ValueError as e:
            raise ValueError("connect: %s" % e)
        return {"conn": h, "address": _show(addr)}
    if op == "services":  # GATT discovery: the door's characteristics by UUID
        out = []
        for vh in sorted(ble._db):
            b = bytes(reversed(ble._db[vh].uuid._b)).hex()
            if len(b) == 32:
                b = "%s-%s-%s-%s-%s" % (b[:8], b[8:12], b[12:16], b[16:20], b[20:])
            out.append({"handle": vh, "uuid": b, "flags": ble._db[vh].flags})
        return {"characteristics": out}
    h = _int(req, "conn", 0, 0xFFFF)
    c = ble.conns.get(h)
    if c is None:
        raise ValueError("conn: no connection %d (open: %s)" % (h, ", ".join(str(k) for k in sorted(ble.conns)) or
                                                                "none"))
    if op == "write":
        err = ble.central_write(h, _int(req, "handle", 1, 0xFFFF), _hex(req.get("hex", ""), "hex", 512))
        return {"error": err, "accepted": err == 0}
    if op == "read":
        err, value = ble.central_read(h, _int(req, "handle", 1, 0xFFFF))
        return {"error": err, "hex": value.hex()}
    if op == "subscribe":
        vh = _int(req, "handle", 1, 0xFFFF)
        a = ble._db.get(vh)
        if a is None or not a.cccd:
            raise ValueError("handle: %d is not a characteristic that notifies or indicates" % vh)
        err = ble.central_write(h, a.cccd, b"\x02\x00" if req.get("indicate") else b"\x01\x00")
        return {"error": err}
    if op == "pair":
        pk = req.get("passkey")
        if isinstance(pk, str) and len(pk) == 6 and pk.isdigit():
            pk = int(pk)
        if isinstance(pk, bool) or not isinstance(pk, int) or not 0 <= pk <= 999999:
            raise ValueError("passkey: must be 6 digits, got %r" % (pk,))
        try:
            state = ble.central_pair(h, pk, bool(req.get("bond", True)))
        except ValueError as e:
            raise ValueError("pair: %s" % e)
        return {"pairing": state, "method": c.method}
    if op == "status":
        return _conn_info(h, c)
    if op == "notifications":
        notes = [{"kind": n[0], "handle": n[1], "hex": n[2].hex()} for n in c.notes]
        c.notes = []
        return {"notifications": notes, "dropped": c.dropped}
    if op == "mtu":
        return {"mtu": ble.central_mtu(h, _int(req, "mtu", 23, 517))}
    ble.central_disconnect(h)
    return {}

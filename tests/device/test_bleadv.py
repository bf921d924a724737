"""Advert reading (lib/bleadv.py) on memoryviews, with the heap locked under MicroPython: the
readers run on every scan result and must not allocate; malformed adverts answer "not found"."""
import bleadv

try:
    from micropython import heap_lock, heap_unlock
except ImportError:  # CPython: no heap to lock
    heap_lock = heap_unlock = None

UUID = bytes.fromhex("E2C56DB5DFFB48D2B060D0F5A71096E0")
ADDR = bytes.fromhex("C0FFEE001001")
# Flags, then an iBeacon (major 0x0102, minor 0xA0B1, power -59)
IBEACON = bytes.fromhex("020106" "1AFF4C000215") + UUID + bytes.fromhex("0102A0B1C5")
# Name, TX power -4, an unrelated manufacturer record, then our phone message
MSG = bytes(range(1, 20))
PHONE = (bytes.fromhex("050941626364") + bytes.fromhex("020AFC") + bytes.fromhex("05FF3412AABB")
         + bytes.fromhex("18FFFFFF6470") + MSG)


class _Locked:
    """Locks the heap (MicroPython) around the calls in the with-block."""

    def __enter__(self):
        if heap_lock is not None:
            heap_lock()

    def __exit__(self, a, b, c):
        if heap_unlock is not None:
            heap_unlock()
        return False


def test_ibeacon_fields_and_fob_id_without_allocating():
    mv = memoryview(bytearray(IBEACON))
    am = memoryview(bytearray(ADDR))
    out = bytearray(40)
    with _Locked():
        u = bleadv.find_ibeacon(mv, len(mv))
        major = bleadv.ibeacon_major(mv, u)
        minor = bleadv.ibeacon_minor(mv, u)
        power = bleadv.ibeacon_power(mv, u)
        k = bleadv.fob_id(am, mv, len(mv), out)
        fl = bleadv.find_ad(mv, len(mv), bleadv.AD_FLAGS)
        flv = mv[fl]
        m = bleadv.find_mfr(mv, len(mv), bleadv.COMPANY_APPLE)
        ml = bleadv.mfr_len(mv, m)
        ph = bleadv.find_phone(mv, len(mv))
        ok = bleadv.valid(mv, len(mv))
    assert u == 9 and major == 0x0102 and minor == 0xA0B1 and power == -59
    assert k == 40 and bytes(out) == (UUID.hex() + "0102A0B1").upper().encode()
    assert flv == 6 and ml == 23 and ph == -1 and ok


def test_address_fob_id_phone_message_name_tx_power_without_allocating():
    mv = memoryview(bytearray(PHONE))
    am = memoryview(bytearray(ADDR))
    out = bytearray(40)
    with _Locked():
        k = bleadv.fob_id(am, mv, len(mv), out)
        ph = bleadv.find_phone(mv, len(mv))
        first = mv[ph]
        last = mv[ph + 18]
        nm = bleadv.find_ad(mv, len(mv), bleadv.AD_NAME)
        nl = bleadv.ad_len(mv, nm)
        tx = bleadv.tx_power(mv, len(mv))
        other = bleadv.find_mfr(mv, len(mv), 0x1234)
        ib = bleadv.find_ibeacon(mv, len(mv))
    assert k == 12 and bytes(out[:12]) == b"C0FFEE001001"
    assert first == 1 and last == 19 and bytes(mv[ph:ph + 19]) == MSG
    assert bytes(mv[nm:nm + nl]) == b"Abcd" and tx == -4
    assert other >= 0 and bytes(mv[other:other + bleadv.mfr_len(mv, other)]) == b"\xaa\xbb"
    assert ib == -1


def test_length_n_shorter_than_the_buffer():
    buf = bytearray(64)  # a reused scan buffer: only n bytes are this advert
    buf[:len(IBEACON)] = IBEACON
    for i in range(len(IBEACON), 64):
        buf[i] = 0x55
    mv = memoryview(buf)
    assert bleadv.find_ibeacon(mv, len(IBEACON)) == 9
    assert bleadv.find_ibeacon(mv, len(IBEACON) - 1) == -1  # the structure now runs past n
    assert bleadv.find_ibeacon(mv, 65) == -1  # n past the buffer


def test_malformed_adverts_answer_not_found():
    out = bytearray(40)
    addr = memoryview(bytearray(b"\x01" * 6))
    bad = [b"\x05", b"\x05\xff\x4c", b"\x1aFF", IBEACON[:-1], IBEACON + b"\x03\x09a",
           b"\xff" * 31, b"\x02\x01", b"\x01\xff\x02", PHONE[:-1]]
    views = [memoryview(bytearray(b)) for b in bad]
    got = [0] * len(views)
    with _Locked():
        for i in range(len(views)):
            mv = views[i]
            n = len(mv)
            r = 0
            r += bleadv.find_ibeacon(mv, n) + bleadv.find_phone(mv, n) + bleadv.find_ad(mv, n, 1)
            r += bleadv.find_mfr(mv, n, 0x4C) + bleadv.find_ad(mv, n, 0xFF)
            r += bleadv.fob_id(addr, mv, n, out) * 100 + (bleadv.tx_power(mv, n) == bleadv.NO_TX)
            r += 1000 * bleadv.valid(mv, n)
            got[i] = r
    assert got == [-4] * len(views), got  # five -1, fob id 0, no TX power, not valid


def test_empty_advert_gives_the_address():
    out = bytearray(40)
    for adv in (b"", bytes(31), b"\x00\x02\x01\x06"):
        assert bleadv.valid(adv, len(adv))
        assert bleadv.find_ad(adv, len(adv), 1) == -1
        assert bleadv.fob_id(ADDR, adv, len(adv), out) == 12 and out[:12] == b"C0FFEE001001"
    assert bleadv.fob_id(b"\x01\x02", b"", 0, out) == 0  # not a 6-byte address


def test_zero_length_ends_the_significant_part():
    adv = bytearray(31)
    adv[:len(IBEACON)] = IBEACON  # zero padding to 31 bytes, as many beacons send
    mv = memoryview(adv)
    assert bleadv.valid(mv, 31) and bleadv.find_ibeacon(mv, 31) == 9
    hidden = bytearray(b"\x02\x01\x06\x00") + IBEACON[3:]  # after the terminator: not parsed
    assert bleadv.find_ibeacon(hidden, len(hidden)) == -1


def test_ibeacon_needs_exact_shape():
    wrong_len = bytearray(IBEACON)
    wrong_len[3] = 0x1B
    wrong_len.append(0)
    assert bleadv.valid(wrong_len, len(wrong_len)) and bleadv.find_ibeacon(wrong_len, len(wrong_len)) == -1
    wrong_type = bytearray(IBEACON)
    wrong_type[7] = 0x03
    assert bleadv.find_ibeacon(wrong_type, len(wrong_type)) == -1
    other_company = bytearray(IBEACON)
    other_company[5] = 0x4D
    assert bleadv.find_ibeacon(other_company, len(other_company)) == -1
    out = bytearray(40)
    assert bleadv.fob_id(ADDR, other_company, len(other_company), out) == 12


def test_second_manufacturer_record_is_found():
    adv = bytes.fromhex("05FFFFFF0102") + IBEACON[3:]
    assert bleadv.find_ibeacon(adv, len(adv)) == 9 + 3
    assert bleadv.find_mfr(adv, len(adv), 0xFFFF) == 4


def test_door_adv_layout():
    ch = bytes.fromhex("0102030405060708")
    a = bleadv.door_adv("DOOR-1", ch, True)
    assert a == bytes.fromhex("020106" "15FFFFFF6463" "0101") + ch + b"DOOR-1"
    assert len(bleadv.door_adv("x" * 12, ch, False)) == 31
    assert bleadv.door_adv(b"A", ch, False)[10] == 0
    for bad in (("", ch), ("x" * 13, ch), ("a\x01", ch), ("ok", ch[:7]), ("\u00e9", ch)):
        try:
            bleadv.door_adv(bad[0], bad[1], False)
        except ValueError:
            continue
        raise AssertionError("accepted %r" % (bad,))


def test_door_scan_resp_names():
    assert bleadv.door_scan_resp("Front door") == b"\x0b\x09Front door"
    assert bleadv.door_scan_resp("x" * 29) == b"\x1e\x09" + b"x" * 29
    long = "x" * 28 + "\u00e9\u00e9"  # 28 + 4 bytes: the 2-byte character may not be split
    r = bleadv.door_scan_resp(long)
    assert r == b"\x1d\x08" + b"x" * 28
    r = bleadv.door_scan_resp("x" * 27 + "\u00e9\u00e9")  # 27 + 2 fits exactly
    assert r[1] == 0x08 and r[2:] == ("x" * 27 + "\u00e9").encode()
    r = bleadv.door_scan_resp("\u20ac" * 20)  # 3-byte characters: 9 of them (27 bytes)
    assert r[1] == 0x08 and r[2:].decode() == "\u20ac" * 9
    try:
        bleadv.door_scan_resp("")
    except ValueError:
        pass
    else:
        raise AssertionError("empty name accepted")


def test_norm_fob_id():
    assert bleadv.norm_fob_id("c0:ff:ee:00:10:01") == "C0FFEE001001"
    assert bleadv.norm_fob_id(" C0-FF-EE-00-10-01 ") == "C0FFEE001001"
    u = "e2c56db5-dffb-48d2-b060-d0f5a71096e0" + "0102a0b1"
    assert bleadv.norm_fob_id(u) == "E2C56DB5DFFB48D2B060D0F5A71096E00102A0B1"
    for bad in ("", "C0FFEE00100", "C0FFEE00100G", 12, None, "ABCD"):
        assert bleadv.norm_fob_id(bad) is None


def test_the_heap_lock_catches_an_allocation():
    """The checks above mean something: under MicroPython an allocation in the block fails."""
    if heap_lock is None:
        return  # CPython: nothing to lock (the MicroPython run of this suite does the check)
    caught = False
    try:
        with _Locked():
            bytearray(8)
    except MemoryError:
        caught = True
    assert caught

"""The phone message on the door (lib/bleproto.py): the fixed test vector of docs/ble.md, refusals,
field readers without allocation (MicroPython heap locked), the rotating challenge."""
import bleproto
import keyedhash

try:
    from micropython import heap_lock, heap_unlock
except ImportError:  # CPython
    heap_lock = heap_unlock = None

KEY = bytes(range(16))
CHALLENGE = bytes.fromhex("A0A1A2A3A4A5A6A7")
# phone 0x1234, counter 0x01020304, moved + wave, no RSSI (the vector in docs/ble.md)
VECTOR = bytes.fromhex("01000012340102030403006C0E0FFEF1225D8D")
FULL_MAC = "6c0e0ffef1225d8d7a5b102218b47a1767ff6b10f0958cdbafde63ff68e2dd58"
# counter 0x01020305, rssi -61 valid
VECTOR_RSSI = bytes.fromhex("01000012340102030504C39028E33FCEDB68D7")


def test_vector_digest_and_check():
    c = bleproto.Checker()
    assert c.digest(KEY, CHALLENGE, VECTOR, 0).hex() == FULL_MAC
    # keyedhash (the table's HMAC) agrees: a second implementation on the device side
    assert keyedhash.hmac_sha256(KEY, b"DCP1" + CHALLENGE + VECTOR[:11]).hex() == FULL_MAC
    assert c.check(KEY, CHALLENGE, VECTOR, 0)
    assert c.check(KEY, CHALLENGE, VECTOR_RSSI, 0)


def test_check_at_an_offset_in_an_advert():
    adv = memoryview(bytearray(bytes.fromhex("02010618FFFFFF6470") + VECTOR))
    assert bleproto.Checker().check(KEY, CHALLENGE, adv, 9)


def test_every_changed_byte_and_wrong_key_or_challenge_refused():
    c = bleproto.Checker()
    for i in range(19):
        for bit in (0x01, 0x80):
            m = bytearray(VECTOR)
            m[i] ^= bit
            assert not c.check(KEY, CHALLENGE, m, 0), (i, bit)
    assert not c.check(bytes(16), CHALLENGE, VECTOR, 0)
    assert not c.check(KEY, bytes(8), VECTOR, 0)
    assert not c.check(KEY[:15], CHALLENGE, VECTOR, 0)  # keys are 16 bytes
    assert not c.check(KEY, CHALLENGE, VECTOR[:18], 0)  # short
    assert not c.check(KEY, CHALLENGE, VECTOR, 1)  # runs past the end


def test_phone_id_zero_or_beyond_issued_refused_even_with_a_right_tag():
    for pid in (b"\x00\x00\x00\x00", b"\x40\x00\x00\x01", b"\xff\xff\xff\xff"):
        signed = b"\x01" + pid + VECTOR[5:11]
        tag = keyedhash.hmac_sha256(KEY, b"DCP1" + CHALLENGE + signed)[:8]
        assert not bleproto.Checker().check(KEY, CHALLENGE, signed + tag, 0)
        assert bleproto.phone_id(signed, 0) == -1
    top = b"\x01\x3f\xff\xff\xff" + VECTOR[5:11]
    tag = keyedhash.hmac_sha256(KEY, b"DCP1" + CHALLENGE + top)[:8]
    assert bleproto.Checker().check(KEY, CHALLENGE, top + tag, 0)
    assert bleproto.phone_id(top, 0) == 0x3FFFFFFF


def test_field_readers_without_allocating():
    mv = memoryview(bytearray(b"\x00\x00" + VECTOR_RSSI))
    last = bytearray(b"\x01\x02\x03\x04")
    res = [0] * 12
    if heap_lock is not None:
        heap_lock()
    try:
        res[0] = bleproto.version(mv, 2)
        res[1] = bleproto.phone_id(mv, 2)
        res[2] = bleproto.counter_hi(mv, 2)
        res[3] = bleproto.counter_lo(mv, 2)
        res[4] = bleproto.flags(mv, 2)
        res[5] = bleproto.rssi(mv, 2)
        res[6] = bleproto.rssi_valid(mv, 2)
        res[7] = bleproto.moved(mv, 2)
        res[8] = bleproto.wave(mv, 2)
        res[9] = bleproto.counter_cmp(mv, 2, last)
        bleproto.store_counter(mv, 2, last)
        res[10] = bleproto.counter_cmp(mv, 2, last)
        last[3] = 0x06
        res[11] = bleproto.counter_cmp(mv, 2, last)
    finally:
        if heap_unlock is not None:
            heap_unlock()
    assert res == [1, 0x1234, 0x0102, 0x0305, 4, -61, True, False, False, 1, 0, -1], res
    assert bytes(last) == b"\x01\x02\x03\x06"


def test_counter_compare_is_unsigned_big_endian():
    m = bytearray(VECTOR)
    m[5:9] = b"\xff\x00\x00\x00"
    assert bleproto.counter_cmp(m, 0, b"\x7f\xff\xff\xff") == 1
    assert bleproto.counter_cmp(m, 0, b"\xff\x00\x00\x01") == -1
    assert bleproto.counter_hi(m, 0) == 0xFF00 and bleproto.counter_lo(m, 0) == 0


def _rand_seq():
    n = [0]

    def urandom(k):
        n[0] += 1
        return bytes([n[0]]) * k

    return urandom


def test_challenge_rotation_current_previous_stale():
    ch = bleproto.Challenge(1000, urandom=_rand_seq())
    c = bleproto.Checker()
    assert bytes(ch.current) == b"\x01" * 8 and not ch.has_previous
    first = bytes(ch.current)
    sig = b"\x01\x00\x00\x00\x07\x00\x00\x00\x01\x00\x00"

    def msg(challenge):
        return sig + keyedhash.hmac_sha256(KEY, b"DCP1" + challenge + sig)[:8]

    m1 = msg(first)
    assert ch.verify(c, KEY, m1, 0) == bleproto.CURRENT
    assert not ch.tick(10999)
    assert ch.tick(11000)  # 10 s: rotated
    assert bytes(ch.current) == b"\x02" * 8 and bytes(ch.previous) == first
    assert ch.verify(c, KEY, m1, 0) == bleproto.PREVIOUS
    assert ch.verify(c, KEY, msg(bytes(ch.current)), 0) == bleproto.CURRENT
    assert ch.tick(21000)
    assert ch.verify(c, KEY, m1, 0) == bleproto.NONE  # older than previous: stale
    assert ch.verify(c, bytes(16), msg(bytes(ch.current)), 0) == bleproto.NONE


def test_challenge_after_a_stall_has_no_previous():
    ch = bleproto.Challenge(0, urandom=_rand_seq())
    shown = bytes(ch.current)
    assert ch.tick(25000)
    assert not ch.has_previous and bytes(ch.current) != shown
    assert ch.tick(35000) and ch.has_previous


def test_challenge_from_urandom_by_default():
    a = bleproto.Challenge(0)
    b = bleproto.Challenge(0)
    assert len(a.current) == 8 and bytes(a.current) != bytes(b.current)


def test_repeat_recognised_without_allocating():
    saved = bytearray(19)
    mv = memoryview(bytearray(b"\x00" * 9 + VECTOR))
    other = memoryview(bytearray(VECTOR_RSSI))
    res = [None] * 3
    if heap_lock is not None:
        heap_lock()
    try:
        res[0] = bleproto.is_repeat(mv, 9, saved)
        bleproto.save_message(mv, 9, saved)
        res[1] = bleproto.is_repeat(mv, 9, saved)
        res[2] = bleproto.is_repeat(other, 0, saved)
    finally:
        if heap_unlock is not None:
            heap_unlock()
    assert res == [False, True, False] and bytes(saved) == VECTOR

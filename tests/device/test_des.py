"""lib/des.py: DES and Triple DES (FIPS 46-3) under MicroPython and CPython; the cross-check
against `cryptography` on random keys and blocks is tests/test_des_cryptography.py."""
import des


def _h(s):
    return bytes(int(s[i:i + 2], 16) for i in range(0, len(s), 2))


def test_fips_vector_and_back():
    k = des.Key(_h("133457799BBCDFF1"))
    out = bytearray(8)
    k.encrypt(_h("0123456789ABCDEF"), out)
    assert bytes(out) == _h("85E813540F0AB405"), out
    k.decrypt(out, out)  # in place
    assert bytes(out) == _h("0123456789ABCDEF"), out


def test_known_vectors():
    # NBS SP 500-20 variable-plaintext and variable-key tests (key 0101..01 is the zero key with parity)
    out = bytearray(8)
    des.Key(_h("0101010101010101")).encrypt(_h("8000000000000000"), out)
    assert bytes(out) == _h("95F8A5E5DD31D900"), out
    des.Key(_h("8001010101010101")).encrypt(bytes(8), out)
    assert bytes(out) == _h("95A8D72813DAA94D"), out
    # the parity bits (the last of each byte) are not key bits
    des.Key(_h("0000000000000000")).encrypt(_h("8000000000000000"), out)
    assert bytes(out) == _h("95F8A5E5DD31D900"), out


def test_triple_des_keys_reduce_as_ede_does():
    a, b, c = _h("0123456789ABCDEF"), _h("23456789ABCDEF01"), _h("456789ABCDEF0123")
    blk = _h("5468652071756663")
    single = bytearray(8)
    des.Key(a).encrypt(blk, single)
    out = bytearray(8)
    des.Key(a + a).encrypt(blk, out)  # 2K3DES with equal halves: DES
    assert out == single
    des.Key(a + a + a).encrypt(blk, out)
    assert out == single
    # EDE by hand from single DES
    x = bytearray(8)
    des.Key(a).encrypt(blk, x)
    des.Key(b).decrypt(x, x)
    des.Key(c).encrypt(x, x)
    des.Key(a + b + c).encrypt(blk, out)
    assert out == x
    des.Key(a + b + c).decrypt(out, out)
    assert bytes(out) == blk
    x = bytearray(8)
    des.Key(a).encrypt(blk, x)
    des.Key(b).decrypt(x, x)
    des.Key(a).encrypt(x, x)
    des.Key(a + b).encrypt(blk, out)  # 2K3DES: K1 K2 K1
    assert out == x
    des.Key(b + a + a).encrypt(blk, out)  # K2 = K3: E(K1)
    des.Key(b).encrypt(blk, x)
    assert out == x


def test_cbc_round_trip_and_chaining():
    k = des.Key(_h("0123456789ABCDEF23456789ABCDEF01"))
    iv = _h("1122334455667788")
    data = bytes(range(24))
    c = des.cbc_encrypt(k, iv, data)
    assert len(c) == 24 and c != data
    assert bytes(des.cbc_decrypt(k, iv, c)) == data
    # block 2 is E(P2 ^ C1)
    x = bytearray(8)
    for j in range(8):
        x[j] = data[8 + j] ^ c[j]
    k.encrypt(x, x)
    assert x == c[8:16]
    assert iv == _h("1122334455667788")  # the IV is not changed


def test_bad_key_length():
    try:
        des.Key(bytes(12))
    except ValueError:
        pass
    else:
        raise AssertionError("a 12-byte key was taken")

"""lib/des.py (written from FIPS 46-3) against `cryptography`'s TripleDES on random keys and
blocks: DES (a key of 8 bytes, as TripleDES with K1 = K2 = K3), 2K3DES and 3K3DES, ECB and CBC."""
import os

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

import des


def _ref(key):
    return TripleDES(key * 3 if len(key) == 8 else key)


@pytest.mark.parametrize("n", [8, 16, 24])
def test_blocks_against_cryptography(n):
    for _ in range(200):
        key, blk = os.urandom(n), os.urandom(8)
        want = Cipher(_ref(key), modes.ECB()).encryptor().update(blk)
        k = des.Key(key)
        out = bytearray(8)
        k.encrypt(blk, out)
        assert bytes(out) == want, (key.hex(), blk.hex())
        k.decrypt(want, out)
        assert bytes(out) == blk
        k.decrypt(blk, out)
        assert bytes(out) == Cipher(_ref(key), modes.ECB()).decryptor().update(blk)


@pytest.mark.parametrize("n", [8, 16, 24])
def test_cbc_against_cryptography(n):
    for size in (8, 16, 40):
        key, iv, data = os.urandom(n), os.urandom(8), os.urandom(size)
        want = Cipher(_ref(key), modes.CBC(iv)).encryptor().update(data)
        assert bytes(des.cbc_encrypt(des.Key(key), iv, data)) == want
        assert bytes(des.cbc_decrypt(des.Key(key), iv, want)) == data


def test_equal_halves_are_single_des():
    a, b = os.urandom(8), os.urandom(8)
    for key in (a + a, a + a + b, b + a + a):
        blk = os.urandom(8)
        out = bytearray(8)
        des.Key(key).encrypt(blk, out)
        assert bytes(out) == Cipher(_ref(key if len(key) == 24 else key + key[:8]), modes.ECB()).encryptor().update(blk)


def test_bench_des_runs_under_micropython(capsys):
    """`python -m doorctl.bench_des` (the figures in docs/cards-desfire.md) runs the door's 2K3DES
    and 3K3DES reads under the unix port to the end (figures only: no time is asserted)."""
    import json

    from doorctl import bench_des

    assert bench_des.main([]) == 0
    r = json.loads(capsys.readouterr().out)
    for k in ("des_block_us", "2k3des_block_us", "3k3des_block_us", "2k3des_read_door_ms", "3k3des_read_door_ms"):
        assert r[k] > 0, k

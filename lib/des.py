"""DES and Triple DES (EDE, 2-key and 3-key) from FIPS 46-3, for MicroPython and CPython:
MicroPython's cryptolib has AES only, and the ESP32 has no DES hardware. Used by the DESFire
reader (firmware/doorapp/desfire.py) for 2K3DES/3K3DES/DES application keys; imported only when
card.desfire.crypto is "3des" or "des" (a psram board: lean boards refuse DESFire).

Every value a round handles stays below 2**16 (the ESP32's small ints are 31-bit: a 32-bit
half-block would be a heap object): each 32-bit half of the block is kept as two 16-bit halves,
rotated left by one bit (so the E expansion's eight 6-bit groups are plain shifts and masks), and
the S-boxes with the P permutation after them are two tables (high and low 16 bits) of 8 x 64
entries, built at import from the standard's tables. The key schedule (PC-1, shifts, PC-2) runs
once per key: Key(key) holds the 16 subkeys as 6-bit groups (with the table offset of their
S-box folded in), for both directions. IP and FP run once per block even for 3DES (FP then IP
between the stages of EDE cancel out).

  k = Key(key)                      key: 8 bytes (DES), 16 (2K3DES: K1 K2 K1), 24 (3K3DES)
  k.encrypt(src, dst)               one 8-byte block (src and dst may be the same bytearray)
  k.decrypt(src, dst)
  cbc_encrypt(k, iv, data)          CBC over whole blocks -> bytearray (iv: 8 bytes, not changed)
  cbc_decrypt(k, iv, data)

A 2K3DES or 3K3DES key whose consecutive halves are equal is single DES (EDE with K1 = K2 is
E(K3)), and is run as one DES (a third of the work), as DESFire's "DES" keys are.
"""
from array import array

# FIPS 46-3, numbering bits 1.. from the most significant bit of the first byte.
_PC1 = (57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36,
        63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4)
_PC2 = (14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
        41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32)
_SHIFTS = b"\x01\x01\x02\x02\x02\x02\x02\x02\x01\x02\x02\x02\x02\x02\x02\x01"
_P = (16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11,
      4, 25)
# S1..S8, each 4 rows of 16 hex digits (row = outer bits b1 b6, column = b2..b5)
_S = ("e4d12fb83a6c5907" "0f74e2d1a6cb9538" "41e8d62bfc973a50" "fc8249175b3ea06d"
      "f18e6b34972dc05a" "3d47f28ec01a69b5" "0e7ba4d158c6932f" "d8a13f42b67c05e9"
      "a09e63f51dc7b428" "d709346a285ecbf1" "d6498f30b12c5ae7" "1ad069874fe3b52c"
      "7de3069a1285bc4f" "d8b56f03472c1ae9" "a690cb7df13e5284" "3f06a1d8945bc72e"
      "2c417ab6853fd0e9" "eb2c47d150fa3986" "421bad78f9c5630e" "b8c71e2d6f09a453"
      "c1af92680d34e75b" "af427c9561de0b38" "9ef528c3704a1db6" "432c95fabe17608d"
      "4b2ef08d3c975a61" "d0b7491ae35c2f86" "14bdc37eaf680592" "6bd814a7950fe23c"
      "d2846fb1a93e50c7" "1fd8a374c56b0e92" "7b419ce206adf358" "21e74a8dfc90356b")


def _sp():
    """The S-boxes followed by P, and the result rotated left one bit: (high, low) 16-bit
    tables indexed by S-box (0-7) * 64 + its 6 input bits."""
    hi = array("H", bytes(1024))
    lo = array("H", bytes(1024))
    for k in range(8):
        # the output bits of P fed from S-box k: (bit of its 4-bit output, P output bit 1..32)
        taps = [(4 * k + 4 - src, n + 1) for n, src in enumerate(_P) if 4 * k < src <= 4 * k + 4]
        for x in range(64):
            s = int(_S[k * 64 + ((x >> 4) & 2 | x & 1) * 16 + ((x >> 1) & 15)], 16)
            h = l = 0
            for b, n in taps:
                if (s >> b) & 1:
                    i = (33 - n) & 31  # bit n (from the top) is 32 - n from the bottom, +1: rotated
                    if i >= 16:
                        h |= 1 << (i - 16)
                    else:
                        l |= 1 << i
            hi[k * 64 + x] = h
            lo[k * 64 + x] = l
    return hi, lo


def _pc2():
    """PC-2 by nibbles: 7 x 16 entries for C (the 24 bits of groups 1-4), 7 x 16 for D."""
    t = array("I", bytes(4 * 224))  # (I: 32-bit on the ESP32, the unix port and CPython)
    for half in range(2):
        for p in range(7):
            for v in range(16):
                out = 0
                for m in range(24):
                    s = 28 - (_PC2[24 * half + m] - 28 * half)  # its bit from the bottom of C or D
                    if s >> 2 == 6 - p and (v >> (s & 3)) & 1:
                        out |= 1 << (23 - m)
                t[112 * half + 16 * p + v] = out
    return t


_SPH, _SPL = _sp()
_T2 = _pc2()
del _sp, _pc2, _S, _P, _PC2  # (needed only to build the tables: their heap back)


def _schedule(key, o):
    """The 16 subkeys of the DES key key[o:o+8]: 128 values, group g (0-7) of round r at
    8r + g, holding its 6 bits + 64 g (its place in the S-box tables)."""
    c = d = 0
    for j in range(28):
        q = _PC1[j] - 1
        c = (c << 1) | ((key[o + (q >> 3)] >> (7 - (q & 7))) & 1)
        q = _PC1[28 + j] - 1
        d = (d << 1) | ((key[o + (q >> 3)] >> (7 - (q & 7))) & 1)
    ks = array("H", bytes(256))
    t = _T2
    j = 0
    for s in _SHIFTS:
        c = ((c << s) | (c >> (28 - s))) & 0xFFFFFFF
        d = ((d << s) | (d >> (28 - s))) & 0xFFFFFFF
        u = w = 0
        for p in range(7):
            u |= t[16 * p + ((c >> (24 - 4 * p)) & 15)]
            w |= t[112 + 16 * p + ((d >> (24 - 4 * p)) & 15)]
        ks[j] = u >> 18
        ks[j + 1] = 64 | ((u >> 12) & 63)
        ks[j + 2] = 128 | ((u >> 6) & 63)
        ks[j + 3] = 192 | (u & 63)
        ks[j + 4] = 256 | (w >> 18)
        ks[j + 5] = 320 | ((w >> 12) & 63)
        ks[j + 6] = 384 | ((w >> 6) & 63)
        ks[j + 7] = 448 | (w & 63)
        j += 8
    return ks


def _reverse(ks):
    """The schedule of the other direction: the rounds in reverse order."""
    r = array("H", bytes(256))
    for i in range(128):
        r[i] = ks[120 - (i & 0xF8) + (i & 7)]
    return r


def _crypt(src, dst, s):
    """IP, the rounds of schedule s (16 per DES stage, halves swapped after each), FP."""
    lh = ll = rh = rl = 0
    for i in range(8):
        b = src[i]
        n = b >> 4
        m = b & 15
        lh |= (((n & 4) << 6) | (n & 1)) << i
        ll |= (((m & 4) << 6) | (m & 1)) << i
        rh |= (((n & 8) << 5) | ((n >> 1) & 1)) << i
        rl |= (((m & 8) << 5) | ((m >> 1) & 1)) << i
    # rotated left one bit
    lh, ll = ((lh << 1) | (ll >> 15)) & 0xFFFF, ((ll << 1) | (lh >> 15)) & 0xFFFF
    rh, rl = ((rh << 1) | (rl >> 15)) & 0xFFFF, ((rl << 1) | (rh >> 15)) & 0xFFFF
    H = _SPH
    L = _SPL
    j = 0
    n = len(s)
    while j < n:
        e = j + 128
        while j < e:
            i = (((rl & 3) << 4) | (rh >> 12)) ^ s[j]
            fh = H[i]
            fl = L[i]
            i = ((rh >> 8) & 63) ^ s[j + 1]
            fh |= H[i]
            fl |= L[i]
            i = ((rh >> 4) & 63) ^ s[j + 2]
            fh |= H[i]
            fl |= L[i]
            i = (rh & 63) ^ s[j + 3]
            fh |= H[i]
            fl |= L[i]
            i = (((rh & 3) << 4) | (rl >> 12)) ^ s[j + 4]
            fh |= H[i]
            fl |= L[i]
            i = ((rl >> 8) & 63) ^ s[j + 5]
            fh |= H[i]
            fl |= L[i]
            i = ((rl >> 4) & 63) ^ s[j + 6]
            fh |= H[i]
            fl |= L[i]
            i = (rl & 63) ^ s[j + 7]
            lh ^= fh | H[i]
            ll ^= fl | L[i]
            i = (((ll & 3) << 4) | (lh >> 12)) ^ s[j + 8]
            fh = H[i]
            fl = L[i]
            i = ((lh >> 8) & 63) ^ s[j + 9]
            fh |= H[i]
            fl |= L[i]
            i = ((lh >> 4) & 63) ^ s[j + 10]
            fh |= H[i]
            fl |= L[i]
            i = (lh & 63) ^ s[j + 11]
            fh |= H[i]
            fl |= L[i]
            i = (((lh & 3) << 4) | (ll >> 12)) ^ s[j + 12]
            fh |= H[i]
            fl |= L[i]
            i = ((ll >> 8) & 63) ^ s[j + 13]
            fh |= H[i]
            fl |= L[i]
            i = ((ll >> 4) & 63) ^ s[j + 14]
            fh |= H[i]
            fl |= L[i]
            i = (ll & 63) ^ s[j + 15]
            rh ^= fh | H[i]
            rl ^= fl | L[i]
            j += 16
        lh, ll, rh, rl = rh, rl, lh, ll
    # rotated back, FP
    lh, ll = ((lh >> 1) | (ll << 15)) & 0xFFFF, ((ll >> 1) | (lh << 15)) & 0xFFFF
    rh, rl = ((rh >> 1) | (rl << 15)) & 0xFFFF, ((rl >> 1) | (rh << 15)) & 0xFFFF
    for i in range(8):
        a = lh >> i
        b = ll >> i
        c = rh >> i
        d = rl >> i
        dst[i] = ((c >> 1) & 0x80) | ((a >> 2) & 0x40) | ((c << 5) & 0x20) | ((a << 4) & 0x10) \
            | ((d >> 5) & 8) | ((b >> 6) & 4) | ((d << 1) & 2) | (b & 1)


class Key:
    """A DES (8 bytes), 2K3DES (16) or 3K3DES (24) key with its schedules computed."""

    def __init__(self, key):
        n = len(key)
        if n not in (8, 16, 24):
            raise ValueError("DES key of 8, 16 or 24 bytes")
        k3 = 16 if n == 24 else 0
        if n == 8 or key[0:8] == key[8:16]:  # EDE with K1 = K2: E(K3)
            e = _schedule(key, k3)
            self.e, self.d = e, _reverse(e)
        elif n == 24 and key[8:16] == key[16:24]:  # K2 = K3: E(K1)
            e = _schedule(key, 0)
            self.e, self.d = e, _reverse(e)
        else:
            e1 = _schedule(key, 0)
            e2 = _schedule(key, 8)
            e3 = _schedule(key, k3) if k3 else e1
            d1 = _reverse(e1)
            d3 = _reverse(e3) if k3 else d1
            self.e = e1 + _reverse(e2) + e3
            self.d = d3 + e2 + d1

    def encrypt(self, src, dst):
        _crypt(src, dst, self.e)

    def decrypt(self, src, dst):
        _crypt(src, dst, self.d)


def cbc_encrypt(k, iv, data):
    """CBC encryption of whole 8-byte blocks from `iv` -> bytearray."""
    out = bytearray(data)
    x = bytearray(iv)
    for i in range(0, len(out), 8):
        for j in range(8):
            x[j] ^= out[i + j]
        _crypt(x, x, k.e)
        out[i:i + 8] = x
    return out


def cbc_decrypt(k, iv, data):
    """CBC decryption of whole 8-byte blocks from `iv` -> bytearray."""
    out = bytearray(len(data))
    x = bytearray(8)
    prev = iv
    for i in range(0, len(data), 8):
        blk = data[i:i + 8]
        _crypt(blk, x, k.d)
        for j in range(8):
            out[i + j] = x[j] ^ prev[j]
        prev = blk
    return out

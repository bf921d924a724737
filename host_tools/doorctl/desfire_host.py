"""MIFARE DESFire EV1 on the host, built on `cryptography` (AES, 3DES, CBC and CMAC from it):
`doorctl cards encode --desfire` and the tests' reference for the emulator
(lib/pn532emu/desfire.py) and the door (firmware/doorapp/desfire.py) - each written apart.

A Session talks to one card through `transceive(native command bytes) -> answer bytes`
(status first), e.g. Adafruit's PN532 driver's InDataExchange. Secure messaging as the NXP
data sheet gives it (EV1): session IV zero after authentication, every command CMACed into the
IV, answers CMACed (8 bytes appended) or enciphered (CRC32 + zero padding, CBC from the IV).
"""
import os
import zlib

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

try:
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # older cryptography
    TripleDES = algorithms.TripleDES

OK, MORE, AUTH_ERROR, NO_APP, DENIED, INTEGRITY, NO_FILE, DUPLICATE = 0x00, 0xAF, 0xAE, 0xA0, 0x9D, 0x1E, 0xF0, 0xDE
STATUS = {0x00: "ok", 0xAF: "additional frame", 0xAE: "authentication error", 0xA0: "application not found",
          0x9D: "permission denied", 0x1E: "integrity error", 0xF0: "file not found", 0x40: "no such key",
          0x1C: "illegal command", 0x7E: "length error", 0xBE: "boundary error", 0xDE: "duplicate",
          0xCA: "command aborted"}
COMM = {"plain": 0, "mac": 1, "enc": 3}
SYSTEM_ID = b"doorctl"  # AN10922 system identifier of doorctl's diversified keys


class DESFireError(Exception):
    def __init__(self, status, what):
        self.status = status
        Exception.__init__(self, "%s: %s (status %02X)" % (what, STATUS.get(status, "?"), status))


def _alg(kind, key):
    if kind == "aes":
        return algorithms.AES(bytes(key))
    key = bytes(key)
    return TripleDES(key + key[:8] if len(key) == 16 else key)  # 2K3DES as K1 K2 K1


def cbc(kind, key, iv, data, decrypt=False):
    c = Cipher(_alg(kind, key), modes.CBC(bytes(iv)))
    op = c.decryptor() if decrypt else c.encryptor()
    return op.update(bytes(data)) + op.finalize()


def subkeys(kind, key):
    """NIST SP 800-38B K1, K2."""
    bs = 16 if kind == "aes" else 8
    e = Cipher(_alg(kind, key), modes.ECB()).encryptor()
    l = int.from_bytes(e.update(bytes(bs)), "big")
    mask = (1 << (8 * bs)) - 1
    rb = 0x87 if bs == 16 else 0x1B
    k1 = ((l << 1) & mask) ^ (rb if l >> (8 * bs - 1) else 0)
    k2 = ((k1 << 1) & mask) ^ (rb if k1 >> (8 * bs - 1) else 0)
    return k1.to_bytes(bs, "big"), k2.to_bytes(bs, "big")


def cmac_iv(kind, key, iv, msg):
    """CMAC whose CBC starts from `iv` (DESFire's session IV); with a zero IV it is the standard
    CMAC, the same as cryptography's own (tests/test_desfire_crypto.py checks it)."""
    bs = 16 if kind == "aes" else 8
    k1, k2 = subkeys(kind, key)
    msg = bytes(msg)
    if msg and len(msg) % bs == 0:
        last = bytes(a ^ b for a, b in zip(msg[-bs:], k1))
        body = msg[:-bs]
    else:
        n = len(msg) - len(msg) % bs
        tail = msg[n:] + b"\x80" + bytes(bs - 1 - len(msg) + n)
        last = bytes(a ^ b for a, b in zip(tail, k2))
        body = msg[:n]
    return cbc(kind, key, iv, body + last)[-bs:]


def crc32(data):
    """DESFire CRC32: zlib's CRC32 without its final inversion, little-endian."""
    return (zlib.crc32(bytes(data)) ^ 0xFFFFFFFF).to_bytes(4, "little")


def crc16(data):
    """ISO 14443-3 CRC_A (CRC-16/ISO-IEC-14443-3-A: reflected 1021, preset 6363), little-endian."""
    c = 0x6363
    for b in bytes(data):
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
    return c.to_bytes(2, "little")


def session_key(kind, key, rnda, rndb):
    if kind == "aes":
        return rnda[0:4] + rndb[0:4] + rnda[12:16] + rndb[12:16]
    if len(key) == 24:
        return rnda[0:4] + rndb[0:4] + rnda[6:10] + rndb[6:10] + rnda[12:16] + rndb[12:16]
    if len(key) == 8 or key[:8] == key[8:16]:
        return (rnda[0:4] + rndb[0:4]) * 2
    return rnda[0:4] + rndb[0:4] + rnda[4:8] + rndb[4:8]


def diversify_aes(key, uid, aid, system_id=SYSTEM_ID):
    """NXP AN10922 section 2.2.1, AES-128: CMAC(K, 01 || M || padding) with M = UID || AID
    (3 bytes, least significant first, as sent) || system identifier (1-31 bytes of M): padded
    to 32 bytes (80 00..) and K2 when shorter, K1 when exactly 32. (cryptography's CMAC pads to
    16 bytes, not 32: the two blocks go through its AES-CBC here.)"""
    m = bytes(uid) + bytes(aid) + bytes(system_id)
    if not 1 <= len(m) <= 31:
        raise ValueError("AN10922: M must be 1-31 bytes")
    d = b"\x01" + m
    k1, k2 = subkeys("aes", key)
    if len(d) < 32:
        d = d + b"\x80" + bytes(31 - len(d))
        k = k2
    else:
        k = k1
    d = d[:16] + bytes(a ^ b for a, b in zip(d[16:], k))
    return cbc("aes", key, bytes(16), d)[-16:]


def aid_bytes(text):
    """'F51230' (as written, most significant first) -> the 3 bytes sent (30 12 F5)."""
    b = bytes.fromhex(text)
    if len(b) != 3:
        raise ValueError("an application ID is 6 hex digits")
    return b[::-1]


class Session:
    def __init__(self, transceive):
        self.tx = transceive
        self.kind = None
        self.skey = None
        self.iv = None
        self.key_no = None
        self.frames = 0

    @property
    def bs(self):
        return 16 if self.kind == "aes" else 8

    def _x(self, cmd):
        self.frames += 1
        r = bytes(self.tx(bytes(cmd)))
        if not r:
            raise DESFireError(0xFF, "no answer")
        return r[0], r[1:]

    def _mac_cmd(self, cmd):
        if self.skey is not None and self.kind != "legacy":
            self.iv = cmac_iv(self.kind, self.skey, self.iv, cmd)

    def _check_mac(self, data, what):
        """data || CMAC8 of (data || 00)."""
        if self.skey is None or self.kind == "legacy":
            return data
        body, mac = data[:-8], data[-8:]
        self.iv = cmac_iv(self.kind, self.skey, self.iv, body + b"\x00")
        if len(data) < 8 or self.iv[:8] != mac:
            self._end()
            raise DESFireError(INTEGRITY, what + ": the answer's CMAC is wrong")
        return body

    def _end(self):
        self.skey = self.iv = self.key_no = None

    def command(self, cmd, what, mac=True):
        """A plain command (CMACed into the IV when authenticated); returns its data."""
        self._mac_cmd(cmd)
        st, data = self._x(cmd)
        out = bytearray()
        while st == MORE:
            out.extend(data)
            st, data = self._x(b"\xaf")
        if st != OK:
            self._end()
            raise DESFireError(st, what)
        out.extend(data)
        return self._check_mac(bytes(out), what) if mac else bytes(out)

    def select(self, aid):
        self._end()
        st, _ = self._x(b"\x5a" + bytes(aid))
        if st != OK:
            raise DESFireError(st, "select application %s" % bytes(aid)[::-1].hex().upper())

    def authenticate(self, key_no, key, kind="aes"):
        key = bytes(key)
        if kind == "des" and len(key) == 8:
            key = key * 2
        bs = 16 if kind == "aes" else 8
        n = 16 if kind == "aes" or len(key) == 24 else 8
        self._end()
        st, c = self._x(bytes((0xAA if kind == "aes" else 0x1A, key_no)))
        if st != MORE or len(c) != n:
            raise DESFireError(st, "authenticate key %d" % key_no)
        rndb = cbc(kind, key, bytes(bs), c, True)
        rnda = os.urandom(n)
        msg = cbc(kind, key, c[-bs:], rnda + rndb[1:] + rndb[:1])
        st, c2 = self._x(b"\xaf" + msg)
        if st != OK:
            raise DESFireError(st, "authenticate key %d" % key_no)
        if cbc(kind, key, msg[-bs:], c2, True) != rnda[1:] + rnda[:1]:
            raise DESFireError(AUTH_ERROR, "authenticate key %d: the card's answer is wrong" % key_no)
        self.kind = kind
        self.skey = session_key(kind, key, rnda, rndb)
        self.iv = bytes(bs)
        self.key_no = key_no

    def authenticate_legacy(self, key_no, key, kind="des"):
        """0A (DESFire D40): the reader deciphers to send (CBC 'send mode'), IV zero each time."""
        key = bytes(key)
        if len(key) == 8:
            key = key * 2
        self._end()
        st, c = self._x(bytes((0x0A, key_no)))
        if st != MORE or len(c) != 8:
            raise DESFireError(st, "authenticate key %d" % key_no)
        dec = Cipher(_alg("3des", key), modes.ECB()).decryptor()
        rndb = dec.update(c)
        rnda = os.urandom(8)
        t1 = dec.update(rnda)
        t2 = dec.update(bytes(a ^ b for a, b in zip(rndb[1:] + rndb[:1], t1)))
        st, c2 = self._x(b"\xaf" + t1 + t2)
        if st != OK:
            raise DESFireError(st, "authenticate key %d" % key_no)
        if dec.update(c2) != rnda[1:] + rnda[:1]:
            raise DESFireError(AUTH_ERROR, "authenticate key %d: the card's answer is wrong" % key_no)
        self.kind = "legacy"
        self.skey = session_key("3des", key, rnda, rndb)
        self.iv = bytes(8)
        self.key_no = key_no

    def read(self, fid, offset, length, comm):
        """ReadData: the `length` bytes at `offset` of file `fid` (comm: plain, mac, enc)."""
        cmd = bytes((0xBD, fid)) + offset.to_bytes(3, "little") + length.to_bytes(3, "little")
        if self.kind == "legacy":
            data = self.command(cmd, "read file %d" % fid, mac=False)
            if comm == "mac":
                body, mac = data[:length], data[length:]
                want = cbc("3des", self.skey, bytes(8), body + bytes(-len(body) % 8))[-8:][:4]
                if mac != want:
                    raise DESFireError(INTEGRITY, "read file %d: the answer's MAC is wrong" % fid)
                return body
            if comm == "enc":
                plain = cbc("3des", self.skey, bytes(8), data, True)
                body = plain[:length]
                if plain[length:length + 2] != crc16(body) or any(plain[length + 2:]):
                    raise DESFireError(INTEGRITY, "read file %d: the CRC is wrong" % fid)
                return body
            return data
        if comm != "enc" or self.skey is None:
            return self.command(cmd, "read file %d" % fid, mac=True)
        data = self.command(cmd, "read file %d" % fid, mac=False)
        if not data or len(data) % self.bs:
            self._end()
            raise DESFireError(INTEGRITY, "read file %d: enciphered answer of %d bytes" % (fid, len(data)))
        plain = cbc(self.kind, self.skey, self.iv, data, True)
        self.iv = data[-self.bs:]
        body, crc = plain[:length], plain[length:length + 4]
        if crc != crc32(body + b"\x00") or any(plain[length + 4:]):
            self._end()
            raise DESFireError(INTEGRITY, "read file %d: the CRC is wrong" % fid)
        return body

    def version(self):
        return self.command(b"\x60", "get version")

    def application_ids(self):
        d = self.command(b"\x6a", "get application IDs")
        return [d[i:i + 3][::-1].hex().upper() for i in range(0, len(d), 3)]

    # -- encoding ------------------------------------------------------------------------------
    def create_application(self, aid, nkeys, kind="aes", settings=0x09):
        """settings 09: the master key changes keys; directory listing needs it; files are made
        and deleted only with it; the master key itself may be changed."""
        flag = {"aes": 0x80, "3des": 0x40, "des": 0x00}[kind]
        self.command(b"\xca" + bytes(aid) + bytes((settings, flag | nkeys)), "create application")

    def change_key(self, key_no, new, old, version=0):
        """ChangeKey (EV1 form): the new key enciphered with the session key (XORed with the
        old one when it is not the session's own key), CRC32 over the command and the key."""
        new = bytes(new)
        head = bytes((0xC4, key_no))
        kd = new if key_no == self.key_no else bytes(a ^ b for a, b in zip(new, old))
        if self.kind == "aes":
            kd = kd + bytes((version,))
        p = kd + crc32(head + kd)
        if key_no != self.key_no:
            p += crc32(new)
        p += bytes(-len(p) % self.bs)
        c = cbc(self.kind, self.skey, self.iv, p)
        self.iv = c[-self.bs:]
        st, data = self._x(head + c)
        if st != OK:
            self._end()
            raise DESFireError(st, "change key %d" % key_no)
        if key_no == self.key_no:
            self._end()  # the session's key changed: authenticate again
            return
        self._check_mac(data, "change key %d" % key_no)

    def create_file(self, fid, size, comm, read_key, write_key=0, rw_key=0, change_key=0):
        ar = (read_key << 12) | (write_key << 8) | (rw_key << 4) | change_key
        self.command(bytes((0xCD, fid, COMM[comm])) + ar.to_bytes(2, "little") + size.to_bytes(3, "little"),
                     "create file %d" % fid)

    def write(self, fid, offset, data, comm):
        head = bytes((0x3D, fid)) + offset.to_bytes(3, "little") + len(data).to_bytes(3, "little")
        data = bytes(data)
        if self.skey is None or comm == "plain":
            return self.command(head + data, "write file %d" % fid)
        if comm == "mac":
            mac = cmac_iv(self.kind, self.skey, self.iv, head + data)
            self.iv = mac
            body = data + mac[:8]
        else:
            p = data + crc32(head + data)
            p += bytes(-len(p) % self.bs)
            body = cbc(self.kind, self.skey, self.iv, p)
            self.iv = body[-self.bs:]
        st, r = self._x(head + body)
        if st != OK:
            self._end()
            raise DESFireError(st, "write file %d" % fid)
        self._check_mac(r, "write file %d" % fid)

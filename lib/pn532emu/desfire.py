"""MIFARE DESFire EV1/EV2 in the PN532 emulator: the card's side of InDataExchange.

Written from the NXP data sheet's behaviour, apart from the door's reader code
(firmware/doorapp/desfire.py): the two meet only on the card's bytes, and the tests check both
against host code built on `cryptography` (tests/test_desfire_crypto.py).

Framing. The PN532 does ISO 14443-4 (ISO-DEP) itself: what InDataExchange carries is the
card's command and answer. The card takes both forms a DESFire takes:
  native         CMD DATA..                      -> STATUS DATA..
  ISO 7816 APDU  90 CMD 00 00 [Lc DATA..] 00     -> DATA.. 91 STATUS
(Adafruit's driver sends either through call_function(InDataExchange); the door sends native
commands: 5 bytes fewer per command, 1 fewer per answer.)

Commands: GetVersion (60, three frames), GetApplicationIDs (6A), SelectApplication (5A),
AuthenticateAES (AA), AuthenticateISO (1A: 2K3DES/3K3DES, and DES as 2K3DES with K1 = K2), legacy Authenticate (0A:
DES/2K3DES, DESFire D40 secure messaging: 4-byte CBC-MAC, CRC16, IV zero),
AdditionalFrame (AF), ReadData (BD), and for encoding a blank card: CreateApplication (CA),
ChangeKey (C4), CreateStdDataFile (CD), WriteData (3D), GetFileIDs (6F), DeleteApplication (DA),
FormatPICC (FC) (the encoding commands in the EV1 form only).

Secure messaging after AA / 1A (EV1): IV zero after authentication; every command is CMACed
with the session key (the CMAC is the new IV; a plain or MACed command carries no CMAC); every
answer with status 00 carries the 8 leading bytes of CMAC(DATA || STATUS) (the CMAC is the IV
again), except enciphered data: E(DATA || CRC32(DATA || STATUS) || 00-padding) in CBC from the
IV, whose last block is then the IV. CRC32 is the IEEE 802.3 polynomial, preset FFFFFFFF, not
inverted, little-endian. Any error status ends the authentication.

Statuses: 00 OK, AF additional frame, AE authentication error, A0 application not found,
9D permission denied, 1E integrity error, F0 file not found, 40 no such key, 1C illegal
command, 7E length error, BE boundary error, DE duplicate, CA command aborted.

Faults for tests: `tamper` ("mac": the CMAC of ReadData's answer is wrong; "enc": a byte of
its ciphertext is flipped, so the CRC fails) and `leave_after` (the card leaves the field
after that many exchanges: the PN532 reports a timeout from then on).

Crypto: `cryptography` under CPython; MicroPython's `cryptolib` (AES only: a 3DES card is
refused there) when the emulator runs inside the simulator.
"""
import os

from .hexdesc import hex_bytes

_OK = 0x00
_MORE = 0xAF
_AUTH_ERR = 0xAE
_NO_APP = 0xA0
_DENIED = 0x9D
_INTEGRITY = 0x1E
_NO_FILE = 0xF0
_NO_KEY = 0x40
_ILLEGAL = 0x1C
_LENGTH = 0x7E
_BOUNDARY = 0xBE
_DUPLICATE = 0xDE
_ABORTED = 0xCA

_FRAME = 59  # data bytes in one answer frame before AF

COMM = {"plain": 0, "mac": 1, "enc": 3}
KEY_LEN = {"aes": (16,), "3des": (16, 24), "des": (8,)}
# GetVersion: hardware, software (EV1, 8 KB), then UID + batch + week/year follow
VERSION_HW = b"\x04\x01\x01\x01\x00\x1a\x05"
VERSION_SW = b"\x04\x01\x01\x01\x04\x1a\x05"
ATS = b"\x06\x75\x77\x81\x02\x80"  # TL T0 TA TB TC, historical byte 80 (a DESFire EV1)


# -- the block cipher (ECB of one block): the only thing taken from a library ---------------
class Block:
    """One key of `kind` ('aes', '3des', 'des'): enc(block) / dec(block), `bs` bytes."""

    def __init__(self, kind, key):
        key = bytes(key)
        self.kind = kind
        self.bs = 16 if kind == "aes" else 8
        try:
            from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        except ImportError:
            Cipher = None
        if Cipher is not None:
            if kind == "aes":
                alg = algorithms.AES(key)
            else:
                try:
                    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
                except ImportError:
                    TripleDES = algorithms.TripleDES
                if len(key) == 16:  # 2K3DES (DES when K1 = K2) as the 3-key form K1 K2 K1
                    key = key + key[:8]
                elif len(key) == 8:  # DES as 3DES K K K
                    key = key * 3
                alg = TripleDES(key)
            c = Cipher(alg, modes.ECB())
            self._e = c.encryptor()
            self._d = c.decryptor()
            self.enc = self._e.update
            self.dec = self._d.update
        else:
            if kind != "aes":
                raise ValueError("a %s DESFire needs the emulator under CPython (cryptolib has AES only)" % kind)
            import cryptolib

            self._e = cryptolib.aes(key, 1)
            self._d = cryptolib.aes(key, 1)

            def enc(b, e=self._e):
                return e.encrypt(bytes(b))

            def dec(b, d=self._d):
                return d.decrypt(bytes(b))

            self.enc = enc
            self.dec = dec


def _xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def _shl(b):
    """b shifted left one bit (as a big-endian number), and the bit shifted out."""
    out = bytearray(len(b))
    carry = 0
    for i in range(len(b) - 1, -1, -1):
        out[i] = ((b[i] << 1) | carry) & 0xFF
        carry = b[i] >> 7
    return bytes(out), carry


def cbc_enc(blk, iv, data):
    out = bytearray()
    for i in range(0, len(data), blk.bs):
        iv = blk.enc(_xor(iv, data[i:i + blk.bs]))
        out.extend(iv)
    return bytes(out)


def cbc_dec(blk, iv, data):
    out = bytearray()
    for i in range(0, len(data), blk.bs):
        c = data[i:i + blk.bs]
        out.extend(_xor(iv, blk.dec(c)))
        iv = c
    return bytes(out)


def cmac(blk, iv, msg):
    """NIST SP 800-38B CMAC of `msg`, its CBC started from `iv` (DESFire chains the session IV
    through it; iv zero gives the standard CMAC). All `bs` bytes."""
    bs = blk.bs
    l, c = _shl(blk.enc(bytes(bs)))
    rb = 0x87 if bs == 16 else 0x1B
    k1 = l[:-1] + bytes((l[-1] ^ (rb if c else 0),))
    k2, c = _shl(k1)
    k2 = k2[:-1] + bytes((k2[-1] ^ (rb if c else 0),))
    msg = bytes(msg)
    if msg and len(msg) % bs == 0:
        last = _xor(msg[-bs:], k1)
    else:
        tail = msg[len(msg) - len(msg) % bs:] + b"\x80"
        last = _xor(tail + bytes(bs - len(tail)), k2)
    body = msg[:len(msg) - bs] if msg and len(msg) % bs == 0 else msg[:len(msg) - len(msg) % bs]
    for i in range(0, len(body), bs):
        iv = blk.enc(_xor(iv, body[i:i + bs]))
    return blk.enc(_xor(iv, last))


def crc32(data):
    """DESFire's CRC32: IEEE 802.3 polynomial (reflected EDB88320), preset FFFFFFFF, no final
    inversion; 4 bytes little-endian."""
    c = 0xFFFFFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
    return bytes((c & 0xFF, (c >> 8) & 0xFF, (c >> 16) & 0xFF, c >> 24))


def crc16(data):
    """ISO 14443-3 CRC_A (legacy DESFire enciphered data): preset 6363, little-endian."""
    c = 0x6363
    for b in data:
        b ^= c & 0xFF
        b = (b ^ (b << 4)) & 0xFF
        c = (c >> 8) ^ (b << 8) ^ (b << 3) ^ (b >> 4)
    return bytes((c & 0xFF, c >> 8))


def session_key(kind, key, rnda, rndb):
    """The session key after authentication (NXP data sheet): AES RndA[0:4] RndB[0:4]
    RndA[12:16] RndB[12:16]; 3K3DES A0-3 B0-3 A6-9 B6-9 A12-15 B12-15; 2K3DES A0-3 B0-3 A4-7
    B4-7; DES (K1 = K2) A0-3 B0-3, twice."""
    if kind == "aes":
        return rnda[0:4] + rndb[0:4] + rnda[12:16] + rndb[12:16]
    if len(key) == 24:
        return rnda[0:4] + rndb[0:4] + rnda[6:10] + rndb[6:10] + rnda[12:16] + rndb[12:16]
    if kind == "des" or key[:8] == key[8:16]:
        return (rnda[0:4] + rndb[0:4]) * 2
    return rnda[0:4] + rndb[0:4] + rnda[4:8] + rndb[4:8]


# -- the card ---------------------------------------------------------------------------------
class File:
    def __init__(self, data=b"", comm=3, read=1, write=0, rw=0, change=0):
        self.data = bytearray(data)
        self.comm = comm  # 0 plain, 1 MACed, 3 enciphered
        self.read = read  # key numbers; 14 = free, 15 = never
        self.write = write
        self.rw = rw
        self.change = change


class App:
    def __init__(self, crypto="aes", nkeys=2, keys=None, settings=0x0B):
        self.crypto = crypto
        zero = bytes(16 if crypto != "des" else 8)
        self.keys = [zero] * nkeys
        self.versions = [0] * nkeys
        for k in (keys or {}):
            self.keys[k] = bytes(keys[k])
        self.settings = settings
        self.files = {}


class DESFire:
    """A DESFire's applications and session state. apps: {aid int: App}; the PICC level is AID 0
    (its master key: picc_key, DES zero by default as on a blank card)."""

    def __init__(self, uid, apps=None, picc_key=None, picc_crypto="des", tamper=None, leave_after=0):
        self.uid = bytes(uid)
        self.picc = App(picc_crypto, 1, {0: picc_key} if picc_key else None, 0x0F)
        self.apps = apps if apps is not None else {}
        self.tamper = tamper
        self.leave_after = leave_after
        self.exchanges = 0
        self.reset()

    def reset(self):
        """A fresh selection (the card was activated again): PICC level, not authenticated."""
        self.aid = 0
        self._deauth()
        self._more = None  # (function, state) while an AF continuation is expected (another
        # command in between drops it: an authentication half done is then over)

    def _deauth(self):
        self.key_no = -1
        self.session = None  # Block of the session key
        self.iv = None
        self.legacy = False  # authenticated with 0A (DESFire D40 secure messaging)

    def _app(self):
        return self.picc if self.aid == 0 else self.apps[self.aid]

    # -- secure messaging ---------------------------------------------------------------------
    def _cmd_mac(self, cmd):
        """Every command after authentication goes through the CMAC (the IV follows)."""
        if self.session is not None and not self.legacy:
            self.iv = cmac(self.session, self.iv, cmd)

    def _ok(self, data=b"", tamper=False):
        """Status 00 with `data`, CMACed when authenticated (EV1; legacy: as it is)."""
        if self.session is None or self.legacy:
            return _OK, bytes(data)
        self.iv = cmac(self.session, self.iv, bytes(data) + b"\x00")
        mac = self.iv[:8]
        if tamper:
            mac = bytes((mac[0] ^ 0x01,)) + mac[1:]
        return _OK, bytes(data) + mac

    def _enc(self, data, tamper=False):
        """Status 00 with `data` enciphered: E(data || CRC32(data || 00) || 00..)."""
        bs = self.session.bs
        p = bytes(data) + crc32(bytes(data) + b"\x00")
        p += bytes(-len(p) % bs)
        c = cbc_enc(self.session, self.iv, p)
        self.iv = c[-bs:]
        if tamper:
            c = c[:-1] + bytes((c[-1] ^ 0x01,))
        return _OK, c

    def _fail(self, status):
        self._deauth()
        self._more = None
        return status, b""

    # -- dispatch ----------------------------------------------------------------------------
    def command(self, cmd):
        """One native command -> (status, data)."""
        if not cmd:
            return self._fail(_LENGTH)
        op = cmd[0]
        more = self._more
        self._more = None
        if op == _MORE:
            if more is None:
                return self._fail(_ILLEGAL)
            return more[0](more[1], cmd[1:])
        fn = _COMMANDS.get(op)
        if fn is None:
            return self._fail(_ILLEGAL)
        return fn(self, cmd)

    def _chunked(self, data):
        """Answers longer than a frame: AF with 59 bytes, the rest after each AF."""
        if len(data) <= _FRAME:
            return _OK, data
        self._more = (self._more_frames, data[_FRAME:])
        return _MORE, data[:_FRAME]

    def _more_frames(self, rest, cmd):
        return self._chunked(rest)

    # -- commands ----------------------------------------------------------------------------
    def get_version(self, cmd):
        self._cmd_mac(cmd)
        self._more = (self._version2, None)
        return _MORE, VERSION_HW

    def _version2(self, _, cmd):
        self._more = (self._version3, None)
        return _MORE, VERSION_SW

    def _version3(self, _, cmd):
        return self._ok(self.uid[:7] + bytes(7 - len(self.uid[:7])) + b"\xba\x7c\x40\x00\x10\x26\x21")

    def get_application_ids(self, cmd):
        if self.aid != 0:
            return self._fail(_ILLEGAL)
        self._cmd_mac(cmd)
        out = bytearray()
        for aid in sorted(self.apps):
            out.extend(bytes((aid & 0xFF, (aid >> 8) & 0xFF, aid >> 16)))
        return self._ok(out)

    def select_application(self, cmd):
        if len(cmd) != 4:
            return self._fail(_LENGTH)
        aid = cmd[1] | (cmd[2] << 8) | (cmd[3] << 16)
        self._deauth()
        if aid != 0 and aid not in self.apps:
            self.aid = 0
            return _NO_APP, b""
        self.aid = aid
        return _OK, b""

    def _authenticate(self, cmd, kinds):
        if len(cmd) != 2:
            return self._fail(_LENGTH)
        app = self._app()
        self._deauth()
        if app.crypto not in kinds:
            return _AUTH_ERR, b""
        if cmd[1] >= len(app.keys):
            return _NO_KEY, b""
        key = app.keys[cmd[1]]
        blk = Block(app.crypto, key)
        n = 16 if app.crypto == "aes" or len(key) == 24 else 8
        rndb = os.urandom(n)
        iv = bytes(blk.bs)
        c = cbc_enc(blk, iv, rndb)
        self._more = (self._auth2, (cmd[1], blk, key, rndb, c[-blk.bs:]))
        return _MORE, c

    def authenticate_aes(self, cmd):
        return self._authenticate(cmd, ("aes",))

    def authenticate_iso(self, cmd):
        return self._authenticate(cmd, ("3des", "des"))

    def authenticate_legacy(self, cmd):
        """0A (DESFire D40, DES and 2K3DES keys): the card enciphers RndB, the reader sends
        D(RndA) D(RndB' ^ D(RndA)) (it deciphers to send), the card answers E(RndA'); IV zero
        every time."""
        if len(cmd) != 2:
            return self._fail(_LENGTH)
        app = self._app()
        self._deauth()
        if app.crypto not in ("des", "3des") or cmd[1] < len(app.keys) and len(app.keys[cmd[1]]) == 24:
            return _AUTH_ERR, b""
        if cmd[1] >= len(app.keys):
            return _NO_KEY, b""
        key = app.keys[cmd[1]]
        blk = Block(app.crypto, key)
        rndb = os.urandom(8)
        self._more = (self._legacy2, (cmd[1], blk, key, rndb))
        return _MORE, blk.enc(rndb)

    def _legacy2(self, st, data):
        key_no, blk, key, rndb = st
        if len(data) != 16:
            return self._fail(_LENGTH)
        rnda = blk.enc(data[:8])
        if _xor(blk.enc(data[8:16]), data[:8]) != rndb[1:] + rndb[:1]:
            return self._fail(_AUTH_ERR)
        self.key_no = key_no
        self.session = Block(self._app().crypto, session_key(self._app().crypto, key, rnda, rndb))
        self.iv = bytes(8)
        self.legacy = True
        return _OK, blk.enc(rnda[1:] + rnda[:1])

    def _auth2(self, st, data):
        key_no, blk, key, rndb, iv = st
        n = len(rndb)
        if len(data) != 2 * n:
            return self._fail(_LENGTH)
        plain = cbc_dec(blk, iv, data)
        rnda = plain[:n]
        if plain[n:] != rndb[1:] + rndb[:1]:
            return self._fail(_AUTH_ERR)
        c = cbc_enc(blk, data[-blk.bs:], rnda[1:] + rnda[:1])
        self.key_no = key_no
        self.session = Block(self._app().crypto, session_key(self._app().crypto, key, rnda, rndb))
        self.iv = bytes(blk.bs)
        return _OK, c

    def _file(self, fid):
        if self.aid == 0:
            return None
        return self._app().files.get(fid)

    def _may(self, f, write):
        """None when allowed (and how: 'free' or 'key'), else the status."""
        keys = (f.write, f.rw) if write else (f.read, f.rw)
        if 14 in keys:
            return "free"
        if self.session is not None and self.key_no in keys:
            return "key"
        return _DENIED

    def read_data(self, cmd):
        if len(cmd) != 8:
            return self._fail(_LENGTH)
        f = self._file(cmd[1])
        if f is None:
            return self._fail(_NO_FILE)
        how = self._may(f, False)
        if how == _DENIED:
            return self._fail(_DENIED)
        self._cmd_mac(cmd)
        off = cmd[2] | (cmd[3] << 8) | (cmd[4] << 16)
        n = cmd[5] | (cmd[6] << 8) | (cmd[7] << 16)
        if n == 0:
            n = len(f.data) - off
        if off + n > len(f.data) or n < 0:
            return self._fail(_BOUNDARY)
        data = bytes(f.data[off:off + n])
        if how == "free" or self.session is None:
            return self._chunked(data)
        if self.legacy:  # D40: a 4-byte CBC-MAC, or CRC16 inside the ciphertext, IV zero
            if f.comm == 1:
                mac = cbc_enc(self.session, bytes(8), data + bytes(-len(data) % 8))[-8:][:4]
                if self.tamper == "mac":
                    mac = bytes((mac[0] ^ 1,)) + mac[1:]
                return self._chunked(data + mac)
            if f.comm == 3:
                p = data + crc16(data)
                c = cbc_enc(self.session, bytes(8), p + bytes(-len(p) % 8))
                if self.tamper == "enc":
                    c = c[:-1] + bytes((c[-1] ^ 1,))
                return self._chunked(c)
            return self._chunked(data)
        if f.comm == 3:
            st, out = self._enc(data, self.tamper == "enc")
        else:
            st, out = self._ok(data, self.tamper == "mac")
        return self._chunked(out)

    # -- encoding a card (what `doorctl cards encode --desfire` sends) --------------------------
    def _master(self):
        """Changing the card's structure needs its level's master key (key 0) when the key
        settings ask it (bit 2 for create/delete at the PICC level; we always ask)."""
        return self.session is not None and self.key_no == 0

    def create_application(self, cmd):
        if len(cmd) != 6 or self.aid != 0:
            return self._fail(_LENGTH if len(cmd) != 6 else _ILLEGAL)
        if not self._master() and self.picc.settings & 0x04 == 0:
            return self._fail(_DENIED)
        self._cmd_mac(cmd)
        aid = cmd[1] | (cmd[2] << 8) | (cmd[3] << 16)
        if aid in self.apps:
            return self._fail(_DUPLICATE)
        nk = cmd[5] & 0x0F
        crypto = "aes" if cmd[5] & 0x80 else ("3des" if cmd[5] & 0x40 else "des")
        if not 1 <= nk <= 14:
            return self._fail(_LENGTH)
        self.apps[aid] = App(crypto, nk, settings=cmd[4])
        return self._ok()

    def delete_application(self, cmd):
        if len(cmd) != 4:
            return self._fail(_LENGTH)
        if not self._master():
            return self._fail(_DENIED)
        self._cmd_mac(cmd)
        aid = cmd[1] | (cmd[2] << 8) | (cmd[3] << 16)
        if aid not in self.apps:
            return self._fail(_NO_APP)
        del self.apps[aid]
        return self._ok()

    def format_picc(self, cmd):
        if self.aid != 0 or not self._master():
            return self._fail(_DENIED)
        self._cmd_mac(cmd)
        self.apps = {}
        return self._ok()

    def change_key(self, cmd):
        """C4 KeyNo E(newkey [^ oldkey] || [version] || CRC32(...) [|| CRC32(newkey)] || pad):
        the EV1 form for AES/3DES sessions (CRC over C4 KeyNo and the key data)."""
        if self.session is None or len(cmd) < 2:
            return self._fail(_DENIED if self.session is None else _LENGTH)
        app = self._app()
        kn = cmd[1] & 0x3F
        if kn >= len(app.keys):
            return self._fail(_NO_KEY)
        if self.key_no != 0:
            return self._fail(_DENIED)
        bs = self.session.bs
        ct = bytes(cmd[2:])
        if not ct or len(ct) % bs:
            return self._fail(_LENGTH)
        plain = cbc_dec(self.session, self.iv, ct)
        self.iv = ct[-bs:]
        klen = 16 if app.crypto == "aes" else (8 if app.crypto == "des" else len(app.keys[kn]))
        if app.crypto == "aes":
            body = plain[:17]  # key + version
        else:
            body = plain[:klen]
        crc = plain[len(body):len(body) + 4]
        if crc != crc32(bytes(cmd[:2]) + body):
            return self._fail(_INTEGRITY)
        new = body[:klen]
        if kn != self.key_no:  # another key: XORed with the old one, and its own CRC
            new = _xor(new, app.keys[kn][:klen])
            if plain[len(body) + 4:len(body) + 8] != crc32(new):
                return self._fail(_INTEGRITY)
        app.keys[kn] = bytes(new)
        if app.crypto == "aes":
            app.versions[kn] = body[16]
        if kn == self.key_no:  # the session's own key changed: the authentication ends
            self._deauth()
            return _OK, b""
        return self._ok()

    def create_std_file(self, cmd):
        if len(cmd) != 8 or self.aid == 0:
            return self._fail(_LENGTH if len(cmd) != 8 else _ILLEGAL)
        if not self._master() and self._app().settings & 0x04 == 0:
            return self._fail(_DENIED)
        self._cmd_mac(cmd)
        fid = cmd[1]
        if fid > 31:
            return self._fail(_BOUNDARY)
        if fid in self._app().files:
            return self._fail(_DUPLICATE)
        ar = cmd[3] | (cmd[4] << 8)
        size = cmd[5] | (cmd[6] << 8) | (cmd[7] << 16)
        self._app().files[fid] = File(bytes(size), cmd[2] & 3, ar >> 12, (ar >> 8) & 15, (ar >> 4) & 15, ar & 15)
        return self._ok()

    def get_file_ids(self, cmd):
        if self.aid == 0:
            return self._fail(_ILLEGAL)
        self._cmd_mac(cmd)
        return self._ok(bytes(sorted(self._app().files)))

    def write_data(self, cmd):
        """3D FileNo Off(3) Len(3) DATA (plain), DATA CMAC8 (MACed), E(DATA CRC32 pad) (enc);
        only the first frame is modelled (up to 52 bytes of data)."""
        if len(cmd) < 8:
            return self._fail(_LENGTH)
        f = self._file(cmd[1])
        if f is None:
            return self._fail(_NO_FILE)
        how = self._may(f, True)
        if how == _DENIED:
            return self._fail(_DENIED)
        off = cmd[2] | (cmd[3] << 8) | (cmd[4] << 16)
        n = cmd[5] | (cmd[6] << 8) | (cmd[7] << 16)
        head = bytes(cmd[:8])
        body = bytes(cmd[8:])
        if off + n > len(f.data):
            return self._fail(_BOUNDARY)
        if how == "free" or self.session is None or f.comm == 0:
            if self.session is not None:
                self._cmd_mac(bytes(cmd))
            data = body[:n]
        elif f.comm == 1:
            data = body[:n]
            mac = cmac(self.session, self.iv, head + data)
            if body[n:n + 8] != mac[:8]:
                return self._fail(_INTEGRITY)
            self.iv = mac
        else:
            bs = self.session.bs
            if not body or len(body) % bs:
                return self._fail(_LENGTH)
            plain = cbc_dec(self.session, self.iv, body)
            self.iv = body[-bs:]
            data = plain[:n]
            if plain[n:n + 4] != crc32(head + data):
                return self._fail(_INTEGRITY)
        if len(data) != n:
            return self._fail(_LENGTH)
        f.data[off:off + n] = data
        return self._ok()


_COMMANDS = {
    0x60: DESFire.get_version, 0x6A: DESFire.get_application_ids, 0x5A: DESFire.select_application,
    0xAA: DESFire.authenticate_aes, 0x1A: DESFire.authenticate_iso, 0x0A: DESFire.authenticate_legacy,
    0xBD: DESFire.read_data,
    0xCA: DESFire.create_application, 0xDA: DESFire.delete_application, 0xFC: DESFire.format_picc,
    0xC4: DESFire.change_key, 0xCD: DESFire.create_std_file, 0x6F: DESFire.get_file_ids,
    0x3D: DESFire.write_data,
}


def _answer(self, data):
    """One InDataExchange payload -> the answer bytes (the emulator calls this)."""
    return exchange(self, data)


DESFire.answer = _answer


def exchange(card, data):
    """InDataExchange's payload for DESFire `card` -> the card's answer bytes (native or APDU,
    answered in the form asked)."""
    data = bytes(data)
    apdu = len(data) >= 5 and data[0] == 0x90 and data[2] == 0 and data[3] == 0
    if apdu:
        lc = data[4] if len(data) > 5 else 0
        if len(data) == 5:
            cmd = data[1:2]
        elif len(data) == 6 + lc:
            cmd = data[1:2] + data[5:5 + lc]
        else:
            return b"\x67\x00"  # ISO: wrong length
        st, out = card.command(cmd)
        return out + bytes((0x91, st))
    st, out = card.command(data)
    return bytes((st,)) + out


# -- a card described in JSON terms (the simulator's `tap` with "desfire") --------------------
def aid_int(text):
    """'F51230' (6 hex digits, most significant first, as written) -> the AID as a number."""
    b = hex_bytes(text, "desfire aid", (3,))
    return (b[0] << 16) | (b[1] << 8) | b[2]


def card_from(uid, desc):
    """A DESFire from its description:
        {"aid": "F51230", "file": 1, "data": "00003039", "key": "<hex>", "crypto": "aes",
         "key_index": 1, "comm": "enc", "tamper": "mac"|"enc", "leave_after": N}
    (one application with that key at key_index, the others zero, and one file readable with
    it), or {} for a blank card (PICC master key DES zero). ValueError names what is wrong."""
    if not isinstance(desc, dict):
        raise ValueError("desfire must be an object (aid, file, data, key, crypto, key_index, comm, tamper)")
    known = ("aid", "file", "data", "key", "crypto", "key_index", "comm", "tamper", "leave_after")
    for k in desc:
        if k not in known:
            raise ValueError("desfire: unknown field %r (known: %s)" % (k, ", ".join(known)))
    tamper = desc.get("tamper")
    if tamper not in (None, False, "mac", "enc"):
        raise ValueError("desfire tamper must be \"mac\" or \"enc\", got %r" % (tamper,))
    leave = int(desc.get("leave_after", 0))
    card = DESFire(uid, tamper=tamper or None, leave_after=leave)
    if "aid" not in desc:
        return card
    crypto = desc.get("crypto", "aes")
    if crypto not in KEY_LEN:
        raise ValueError("desfire crypto must be aes, 3des or des, got %r" % (crypto,))
    comm = desc.get("comm", "enc")
    if comm not in COMM:
        raise ValueError("desfire comm must be plain, mac or enc, got %r" % (comm,))
    aid = aid_int(desc["aid"])
    if aid == 0:
        raise ValueError("desfire aid 000000 is the card level, not an application")
    ki = int(desc.get("key_index", 1))
    if not 0 <= ki <= 13:
        raise ValueError("desfire key_index must be 0-13, got %r" % ki)
    fid = int(desc.get("file", 1))
    if not 0 <= fid <= 31:
        raise ValueError("desfire file must be 0-31, got %r" % fid)
    key = hex_bytes(desc.get("key", "00" * KEY_LEN[crypto][0]), "desfire key", KEY_LEN[crypto])
    app = App(crypto, max(2, ki + 1), {ki: key})
    app.files[fid] = File(hex_bytes(desc.get("data", ""), "desfire data"), COMM[comm], read=ki, write=0, rw=0, change=0)
    card.apps[aid] = app
    return card

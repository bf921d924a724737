"""CPython stand-in for MicroPython's `cryptolib` (AES only, as on the ESP32), on `cryptography`,
so device code (doorapp/desfire.py) runs on the host: aes(key, 1) is ECB, aes(key, 2, iv) CBC
whose chaining carries over from call to call; encrypt/decrypt(in_buf[, out_buf])."""
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MODE_ECB = 1
MODE_CBC = 2


class aes:
    def __init__(self, key, mode, iv=None):
        if len(key) not in (16, 24, 32):
            raise ValueError("key")
        if mode == MODE_ECB:
            m = modes.ECB()
        elif mode == MODE_CBC:
            m = modes.CBC(bytes(iv if iv is not None else bytes(16)))
        else:
            raise ValueError("mode")
        self._c = Cipher(algorithms.AES(bytes(key)), m)
        self._op = None
        self._enc = None

    def _run(self, enc, data, out):
        if len(data) % 16:
            raise ValueError("blksize")
        if self._op is None:
            self._op = self._c.encryptor() if enc else self._c.decryptor()
            self._enc = enc
        elif self._enc != enc:  # (MicroPython refuses it too)
            raise ValueError("can't encrypt & decrypt")
        r = self._op.update(bytes(data))
        if out is None:
            return r
        out[:] = r
        return out

    def encrypt(self, data, out=None):
        return self._run(True, data, out)

    def decrypt(self, data, out=None):
        return self._run(False, data, out)

"""Bearer tokens of the HTTP API's admin sessions: random, in RAM only, a handful at a time,
dropped after an idle timeout (docs/http-api.md). Resident with the API: every request is checked
against them; password hashing (doorapp/config/passwords.py) is loaded only to sign in."""
import os

from micropython import const

from keyedhash import equal

MAX_TOKENS = const(4)
TOKEN_IDLE_S = const(1800)


class Tokens:
    """Bearer tokens in RAM: at most MAX_TOKENS live (the oldest is dropped), idle timeout."""

    def __init__(self):
        self._tokens = []  # [token_bytes, last_used_s]

    def issue(self, now):
        tok = os.urandom(16)
        if len(self._tokens) >= MAX_TOKENS:
            self._tokens.pop(0)
        self._tokens.append([tok, now])
        return tok.hex()

    def check(self, token_hex, now):
        try:
            tok = bytes.fromhex(token_hex)
        except ValueError:
            return False
        hit = None
        for t in self._tokens:  # compare with every entry, constant time each
            if equal(t[0], tok) and now - t[1] <= TOKEN_IDLE_S:
                hit = t
        if hit is not None:
            hit[1] = now
            return True
        return False

    def revoke_all(self):
        self._tokens = []

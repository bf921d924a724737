"""Deterministic synthetic users for the user-table benchmarks (CPython and MicroPython).

User i (0-based): id 100000+i, a realistic-length name, cards card(i, j) (8HN, distinct for all
i, j: an odd multiplier mod 2**32 is a bijection), PIN pin(i) (8 digits, distinct), plate
plate(i). Profile "2cred": one card + one PIN (a 4 MiB board); "5card": five cards,
a PIN and a plate (16 MiB board).
"""

SITE_KEY = bytes(range(0x40, 0x60))
FIRST = ("Alexandra", "Ben", "Chiara", "Dmitri", "Elif", "Farid", "Greta", "Hiroshi", "Ines", "Jonas",
         "Katarzyna", "Liam", "Mei", "Noah", "Olga", "Pedro", "Quentin", "Rosa", "Sanjay", "Tove")
LAST = ("Johnson", "Kowalski", "Nguyen", "Okafor", "Schmidt", "Rossi", "Tanaka", "Garcia", "Novak",
        "Andersson", "Dubois", "Silva", "Yilmaz", "Brown", "Ivanova", "Haddad", "Moreau")


def uid(i):
    return 100000 + i


def card(i, j=0):
    return "%08X" % (((i * 5 + j) * 2654435761 + 0x9E3779B9) & 0xFFFFFFFF)


def missing_card(k):
    """A code no generated user has (cards use (i*5+j); these use index >= 5*10**7)."""
    return card(10 ** 7 + k, 0)


def pin(i):
    return "%08d" % ((i * 9973 + 12345) % 100000000)


def plate(i):
    return "PL%06d" % i


def name(i):
    return "%s %s" % (FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)])


def user(i, profile):
    u = {"id": uid(i), "name": name(i), "pin": pin(i)}
    if profile == "5card":
        u["cards"] = [card(i, j) for j in range(5)]
        u["plates"] = [plate(i)]
    else:
        u["cards"] = [card(i)]
    return u


def peer_json(i):
    """esp-rfid style file content for user i (it keeps the PIN in clear)."""
    return ('{"uid":"%s","user":"%s","acctype":1,"validsince":0,"validuntil":0,"pincode":"%s"}'
            % (card(i), name(i), pin(i)))


def sample(n, count, seed):
    """`count` pseudo-random user indices below n (LCG; same on both interpreters)."""
    out = [0] * count  # one allocation (a fragmented heap may not grow a list by doubling)
    x = seed
    for k in range(count):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out[k] = x % n
    return out

"""Hex fields of a card described in JSON terms (the simulator's `tap`/`place` with "mifare",
"desfire", "plus" or "hce"): one parser, its errors naming the field."""


def hex_bytes(text, field, sizes=()):
    """`text` ("A0A1A2", colons and spaces allowed) as bytes. `sizes`: the lengths allowed, a
    tuple (16, 24) or a range (range(1, 17): 1-16); empty: any. ValueError naming `field`."""
    h = str(text).replace(":", "").replace(" ", "")
    try:
        b = bytes(int(h[i:i + 2], 16) for i in range(0, len(h), 2))
    except ValueError:
        b = None
    if b is None or len(h) % 2 or (len(sizes) and len(b) not in sizes):
        raise ValueError("%s must be %s bytes of hex, got %r" % (field, _sizes(sizes), text))
    return b


def _sizes(sizes):
    if not len(sizes):
        return "some"
    if isinstance(sizes, range):
        lo, hi = sizes[0], sizes[-1]
        return "%d" % lo if lo == hi else "%d-%d" % (lo, hi)
    return "/".join([str(n) for n in sizes])

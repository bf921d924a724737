"""QR codes from a scanner (doorapp/readers/credentials.py): a signed visitor pass (lib/visitorqr.py,
checked offline with the site's qr_key) opens the relays it names while valid; any other code
is looked up as a user's QR id. The scanned text is never logged.

Its own module, resident only on boards with a QR scanner (startup.reader_modules): other
reader boards don't hold this code.
"""
from micropython import const


_KIND_QR = const(3)  # eventcodes.KIND_QR
_OK = const(0)  # eventcodes.REASON_OK
_UNKNOWN = const(1)  # eventcodes.REASON_UNKNOWN_CREDENTIAL
_EXPIRED = const(4)
_NOT_YET_VALID = const(5)
_DISABLED = const(6)
_CLOCK_NOT_SET = const(7)


def on_qr(door, text):
    """Decide one scanned code; returns the pass (granted), the Decision (user QR id) or None."""
    if not text.startswith("V1."):  # visitorqr.PREFIX: other codes are users' QR ids
        return door.decide(_KIND_QR, text)
    import visitorqr  # resident on boards with a QR scanner (startup.reader_modules)

    key = door.secrets.get("qr_key") if door.secrets else None
    if not key:
        reason = _DISABLED
    else:
        from doorapp import clock

        try:
            p = visitorqr.check(text, key, clock.now())
        except visitorqr.VisitorQRError as e:
            r = e.reason  # visitorqr's reason -> the event's
            reason = _EXPIRED if r == "expired" else _NOT_YET_VALID if r == "not_yet_valid" else \
                _CLOCK_NOT_SET if r == "clock_not_set" else _UNKNOWN
        else:
            relays = [r for r in p.relay_list() if r in door.relays]
            door.open_for(relays)
            door.record(_KIND_QR, True, _OK, "V%d" % p.id, 0, None, relays)
            return p
    door.deny()
    door.record(_KIND_QR, False, reason, "V", 0, None, ())
    return None

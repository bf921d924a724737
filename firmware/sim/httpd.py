"""The simulator's device HTTP: the API on --http, or with config http.tls "on" the API over
HTTPS on --https and the plain --http port redirecting to it (http.redirect_http) or off, as
doorapp/station.py does on a board (ports 443 and 80 there)."""
import sys


def fingerprint(data_dir):
    """SHA-256 of the device certificate (public), as `doorctl push --pin-cert` compares it."""
    import hashlib
    from binascii import hexlify

    from doorapp.http import tls

    try:
        with open(data_dir + "/" + tls.CERT_FILE, "rb") as f:
            return hexlify(hashlib.sha256(f.read()).digest(), ":").decode().upper()
    except OSError:
        return "?"


async def start(opts, door, board, host_port):
    """Serve; returns the two lines for the start-up banner (HTTP, HTTPS)."""
    if door.cfg["http"]["tls"] != "on":
        if opts["https"] not in ("auto", "off"):
            print("doorctl sim: --https needs config http.tls \"on\" (and the key and certificate: --tls DIR)")
            sys.exit(2)
        if opts["http"] == "off":
            return "off", None
        from doorapp.http import api

        host, port = host_port(opts["http"], "http")
        await _listen(api.serve(door, host, port), host, port, "the HTTP API")
        return "http://%s:%d/" % (host, port), None
    if opts["https"] == "off":
        return "off (http.tls on, --https off)", "off"
    from doorapp.http import tls

    host, port = host_port("127.0.0.1:8443" if opts["https"] == "auto" else opts["https"], "https")
    redirect = door.cfg["http"]["redirect_http"] and opts["http"] != "off"
    phost, pport = host_port(opts["http"], "http") if redirect else (host, 0)
    if redirect and phost != host:
        print("doorctl sim: --http and --https must name the same host when HTTP redirects to HTTPS")
        sys.exit(2)
    try:
        await _listen(tls.serve(door, board.data_dir, host, port, pport, redirect), host, port, "HTTPS")
    except ValueError as e:  # no key or certificate: no HTTP API at all (never plain text instead)
        print("doorctl: HTTPS off: %s" % e)
        return "off (http.tls on)", "off"
    plain = "http://%s:%d/ (redirects to https)" % (phost, pport) if redirect else "off (http.tls on)"
    return plain, "https://%s:%d/ (certificate SHA-256 %s)" % (host, port, fingerprint(board.data_dir))


async def _listen(aw, host, port, what):
    try:
        return await aw
    except OSError as e:
        print("doorctl sim: cannot listen on %s:%d for %s (%s)" % (host, port, what, e))
        sys.exit(2)

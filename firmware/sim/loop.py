"""The running simulator (firmware/sim/run.py): control channel, device HTTP API, live display,
then the Door's own tasks."""
import gc
import sys


def host_port(text, field):
    host, _, port = text.rpartition(":")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError:
        raise ValueError("--%s must be HOST:PORT, got %r" % (field, text))


async def amain(opts, board, door):
    from sim import control

    host, port = host_port(opts["control"], "control")
    try:
        await control.serve(door, board, host, port)
    except OSError as e:
        print("doorctl sim: cannot listen on %s:%d for the control channel (%s)" % (host, port, e))
        sys.exit(2)
    http, https = "off", None
    if opts["http"] != "off" or door.cfg["http"]["tls"] == "on" or opts["https"] not in ("auto", "off"):
        from sim import httpd  # (HTTP, or HTTPS: sim/httpd.py)

        http, https = await httpd.start(opts, door, board, host_port)
    if not opts["quiet"]:
        from sim.display import Display

        disp = Display(door, board)
    gc.collect()
    print("doorctl simulator: board %s (%s profile), flash %s, %d users, card format %s" % (
        board.name, board.spec["profile"], opts["flash"], door.table.count, door.card_format))
    print("control channel: %s:%d (JSON lines; try `doorctl sim state`)" % (host, port))
    print("device HTTP: %s" % http)
    if https:
        print("device HTTPS: %s" % https)
    print("PN532: %s" % board.transport)
    if not opts["quiet"]:
        print(disp.stamp(), "|", disp.status())
    await door.run()

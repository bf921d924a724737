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
    http = "off"
    if opts["http"] != "off":
        from doorapp.http import api

        hhost, hport = host_port(opts["http"], "http")
        try:
            await api.serve(door, hhost, hport)
        except OSError as e:
            print("doorctl sim: cannot listen on %s:%d for the HTTP API (%s)" % (hhost, hport, e))
            sys.exit(2)
        http = "http://%s:%d/" % (hhost, hport)
    if not opts["quiet"]:
        from sim.display import Display

        disp = Display(door, board)
    gc.collect()
    print("doorctl simulator: board %s (%s profile), flash %s, %d users, card format %s" % (
        board.name, board.spec["profile"], opts["flash"], door.table.count, door.card_format))
    print("control channel: %s:%d (JSON lines; try `doorctl sim state`)" % (host, port))
    print("device HTTP: %s" % http)
    print("PN532: %s" % board.transport)
    if not opts["quiet"]:
        print(disp.stamp(), "|", disp.status())
    await door.run()

"""Simulator entry point: `micropython -X heapsize=112000w firmware/sim/run.py [options]`.

Usually started by `doorctl sim run` (or `make sim`), which sets MICROPYPATH to the checkout.
Options:
  --board PATH        board file (default boards/sim.json)
  --flash PATH        LittleFS image file standing in for the ESP32's flash (created if missing)
  --flash-size BYTES  size of a new image (default 0x200000, the 4 MiB board's vfs partition)
  --control HOST:PORT control channel (default 127.0.0.1:7700)
  --http HOST:PORT    device HTTP API and web UI ("off" = none; default 127.0.0.1:8080 on psram
                      boards, off on lean ones: it does not fit their heap)
  --https HOST:PORT   device API over HTTPS when config http.tls is "on" (default 127.0.0.1:8443;
                      --http then redirects to it, or is off: http.redirect_http)
  --tls DIR           put DIR's tls_key.der and tls_cert.der (`doorctl provision --tls`) on the flash
  --pn532 T           emulator | tcp:HOST:PORT | serial:/dev/ttyX (overrides the board file)
  --config PATH       validate this config.json and install it on the flash before start
  --secrets PATH      validate this secrets.json and install it on the flash before start
  --users PATH        a user table built by `doorctl users build` (.tbl): checked and swapped in
                      before start (`doorctl sim run --users users.json` builds it on the host)
  --phones PATH       phones paired beforehand, from a host wallet (`doorctl sim phone`'s; the demo's)
  --quiet             no live display
  --reset-cause NAME  what board.reset_cause() says (power_on, watchdog, ...; the runner passes
                      watchdog when it restarts the firmware after a watchdog reset)
  --watchdog FD[:MS]  write end of the runner's watchdog pipe (doorctl.simwatch; hal/sim.py),
                      and a timeout instead of the firmware's own (tests)
  @FILE               the options above from FILE, one per line (how `doorctl` passes them:
                      command-line arguments stay in the heap as interned names)
  --app-from-flash    import the app and libraries from the flash image's .mpy files (a built
                      image, `doorctl sim-image`), board file /flash/board.json unless --board;
                      only simulator-only modules (sim/, hal/sim.py, pn532emu) come from here
"""
import asyncio
import sys


def main(argv):
    if len(argv) == 1 and argv[0][:1] == "@":
        with open(argv[0][1:]) as f:
            argv = f.read().split("\n")[:-1]
    from sim import start  # options, flash, table, boot order: dropped once the door runs

    opts, board, door = start.start(argv)
    start = None
    from doorapp import residency  # (after start: --app-from-flash chose where doorapp comes from)

    residency.forget("sim.start", "sim.startopt")
    residency.trim()
    from sim import loop

    try:
        asyncio.run(loop.amain(opts, board, door))
    except KeyboardInterrupt:
        print("doorctl simulator stopped")


main(sys.argv[1:])

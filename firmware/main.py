"""Device entry point: the board file on flash says which pins exist. The start-up code is
dropped before the door runs (doorapp/startup.py): its heap is the door's. If the door's tasks
end with an error, the board logs it and restarts (relays drop out on reset: fail secure)
instead of sitting at the prompt with the door unattended."""
import asyncio

from doorapp import residency, startup

run = startup.start("/board.json")
startup = None
residency.trim()
if run is not None:
    try:
        asyncio.run(run)
    except Exception as e:  # not KeyboardInterrupt: Ctrl-C at the USB console still stops it
        import sys
        import time

        from hal import esp32

        sys.print_exception(e)
        time.sleep(2)
        esp32.restart()

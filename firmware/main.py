"""Device entry point: the board file on flash says which pins exist. The start-up code is
dropped before the door runs (doorapp/startup.py): its heap is the door's."""
import asyncio

from doorapp import startup
from unload import forget

run = startup.start("/board.json")
startup = None
forget("doorapp.startup")
if run is not None:
    asyncio.run(run)

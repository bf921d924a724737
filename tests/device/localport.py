"""A listening server on a free local port, under MicroPython (no port 0 to ask for: tries a
few from a time-based start) and CPython (port 0). Shared by the device tests that talk TCP."""
import sys

from compat import ticks_ms


async def listen(start):
    """await start(host, port) on a free port -> (server, port). `start` is asyncio.start_server
    with its handler bound, or doorapp.http.server.serve with its app bound."""
    if sys.implementation.name != "micropython":
        srv = await start("127.0.0.1", 0)
        return srv, srv.sockets[0].getsockname()[1]
    port = 20000 + ticks_ms() % 20000
    for k in range(50):
        try:
            return await start("127.0.0.1", port + k), port + k
        except OSError:
            pass
    raise OSError("no free port")

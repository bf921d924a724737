"""deadline.Deadline: timeouts without asyncio.wait_for (MicroPython and CPython)."""
import asyncio
import gc

from compat import sleep_ms, ticks_diff, ticks_ms
from deadline import Deadline
from localport import listen


async def _slow(ms, out="done"):
    await sleep_ms(ms)
    return out


def test_result_in_time_and_timeout_late():
    async def main():
        d = Deadline()
        assert await d.run(_slow(10, "x"), 500) == "x"
        t0 = ticks_ms()
        try:
            await d.run(_slow(2000), 60)
        except asyncio.TimeoutError:
            took = ticks_diff(ticks_ms(), t0)
            assert 55 <= took < 600, took
        else:
            raise AssertionError("no timeout")
        assert await _slow(30, "after") == "after"  # the task is not cancelled again later

    asyncio.run(main())


def test_cancel_from_outside_stays_a_cancel():
    async def main():
        d = Deadline()
        seen = []

        async def victim():
            try:
                await d.run(_slow(2000), 1500)
            except asyncio.CancelledError:
                seen.append("cancelled")
                raise
            except asyncio.TimeoutError:
                seen.append("timeout")

        t = asyncio.create_task(victim())
        await sleep_ms(30)
        t.cancel()
        try:
            await t
        except asyncio.CancelledError:
            pass
        assert seen == ["cancelled"]

    asyncio.run(main())


def test_nested_deadlines_each_fire_for_their_own():
    async def main():
        outer, inner = Deadline(), Deadline()

        async def step(ms):
            return await inner.run(_slow(ms), 1000)

        try:  # the outer one runs out first: the inner one does not mistake it for its own
            await outer.run(step(2000), 50)
        except asyncio.TimeoutError:
            assert outer.fired and not inner.fired
        else:
            raise AssertionError("no timeout")

        async def step2():
            try:
                await inner.run(_slow(2000), 40)
            except asyncio.TimeoutError:
                return "inner"

        assert await outer.run(step2(), 1000) == "inner"

    asyncio.run(main())


def test_a_read_that_times_out_leaves_the_data_for_the_next_read():
    """What asyncio.wait_for got wrong on a full heap: its helper task could go on reading the
    stream alone and take the next answer. Here the read is cancelled where it waits."""
    async def main():
        got = []

        async def serve(reader, writer):
            await sleep_ms(150)
            writer.write(b"late answer")
            await writer.drain()
            await sleep_ms(200)
            writer.close()

        srv, port = await listen(lambda host, port: asyncio.start_server(serve, host, port))
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            d = Deadline()
            try:
                await d.run(r.read(64), 50)
            except asyncio.TimeoutError:
                got.append("timeout")
            got.append(await d.run(r.read(64), 2000))
            w.close()
        finally:
            srv.close()
        assert got == ["timeout", b"late answer"], got

    asyncio.run(main())


def test_arming_allocates_nothing():
    try:
        gc.mem_alloc
    except AttributeError:  # CPython: no heap to count
        return

    async def main():
        d = Deadline()
        d.arm(100)  # (the watchdog task and its list exist from here on)
        d.disarm()
        gc.collect()
        a = gc.mem_alloc()
        for _ in range(50):
            d.arm(100)
            d.disarm()
        assert gc.mem_alloc() - a == 0

    asyncio.run(main())

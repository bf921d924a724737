"""Relays (hold time, re-trigger extends, active level) and debounced inputs, on the sim pins."""
import asyncio

from compat import sleep_ms, ticks_diff, ticks_ms
from doorapp.inputs import Input
from doorapp.relays import Relay
from hal.sim import InputPin, OutputPin, PinBank


def test_active_low_relay_idles_high():
    bank = PinBank()
    out = OutputPin(bank, 5, active_high=False)
    assert bank.get(5) == 1 and not out.is_on()
    out.on()
    assert bank.get(5) == 0 and out.is_on()


def test_pulse_holds_then_releases_and_retrigger_extends():
    bank = PinBank()
    relay = Relay(1, OutputPin(bank, 26), 150)
    changes = []
    bank.listeners.append(lambda num, level, t: changes.append((level, ticks_ms())))

    async def main():
        task = asyncio.create_task(relay.run())
        t0 = ticks_ms()
        relay.pulse()
        assert bank.get(26) == 1  # energised in the same loop turn
        await sleep_ms(100)
        assert relay.is_on()
        relay.pulse()  # re-trigger at 100 ms: now held until ~250 ms
        await sleep_ms(100)
        assert relay.is_on() and bank.get(26) == 1
        while relay.is_on():
            await sleep_ms(5)
        held = ticks_diff(ticks_ms(), t0)
        task.cancel()
        return held

    held = asyncio.run(main())
    assert 240 <= held < 600, held
    assert [c[0] for c in changes] == [1, 0]  # one on, one off: the re-trigger did not blink it


def test_the_relay_state_already_matches_the_pin_when_its_listeners_hear_it():
    """A pin listener (the simulator's live view) reads the relay's state: at the switch-off it
    must say off, at the switch-on on, whether the hold ran out or release() ended it."""
    bank = PinBank()
    relay = Relay(1, OutputPin(bank, 26), 30)
    seen = []
    bank.listeners.append(lambda num, level, t: seen.append((level, relay.is_on())))

    async def main():
        task = asyncio.create_task(relay.run())
        relay.pulse()
        while relay.is_on():
            await sleep_ms(5)
        relay.pulse()
        relay.release()
        task.cancel()

    asyncio.run(main())
    assert seen == [(1, True), (0, False), (1, True), (0, False)], seen


def test_short_pulse_does_not_shorten_a_long_one():
    bank = PinBank()
    relay = Relay(1, OutputPin(bank, 26), 300)

    async def main():
        task = asyncio.create_task(relay.run())
        relay.pulse()
        await sleep_ms(20)
        relay.pulse(50)
        await sleep_ms(150)
        on = relay.is_on()
        task.cancel()
        return on

    assert asyncio.run(main())


def test_input_debounce_ignores_bounce():
    bank = PinBank()
    pin = InputPin(bank, 32, "up")
    seen = []
    inp = Input("exit", "exit_button", pin, "low", 30, 1, lambda i, active: seen.append(active))
    assert not inp.active
    t = ticks_ms()
    for k in range(5):  # contact bounce: 5 flips 2 ms apart
        bank.set(32, k % 2)
        inp.sample(t + 2 * k)
    assert seen == []
    bank.set(32, 0)
    inp.sample(t + 12)
    inp.sample(t + 30)
    assert seen == []  # low for only 18 ms
    inp.sample(t + 45)
    assert seen == [True]
    bank.set(32, 1)
    inp.sample(t + 50)
    inp.sample(t + 90)
    assert seen == [True, False]


def test_input_active_at_boot_gives_no_event():
    bank = PinBank()
    bank.set(33, 1)
    seen = []
    inp = Input("door", "door_sensor", InputPin(bank, 33, "up"), "high", 0, 0, lambda i, a: seen.append(a))
    inp.sample(ticks_ms())
    assert inp.active and seen == []


def test_indicator_plays_the_latest_pattern_with_one_task():
    from doorapp.indicators import Indicator

    bank = PinBank()
    ind = Indicator(OutputPin(bank, 2))
    levels = []
    bank.listeners.append(lambda num, level, t: levels.append((level, ticks_ms())))

    async def main():
        t0 = ticks_ms()
        ind.play((60, 40, 60))  # on 60, off 40, on 60, then off
        task = ind._task
        await sleep_ms(5)
        assert ind.is_on()
        while ticks_diff(ticks_ms(), t0) < 250:
            await sleep_ms(5)
        assert not ind.is_on()
        ons = [t for level, t in levels if level == 1]
        assert len(ons) == 2 and 80 <= ticks_diff(ons[1], ons[0]) <= 150, levels
        # a burst of new patterns: each replaces the last, all on the one task
        for _ in range(30):
            ind.play((1000,))
            await sleep_ms(1)
        assert ind._task is task and ind.is_on()
        ind.play((30,))  # takes over within a step, then ends off
        await sleep_ms(90)
        assert not ind.is_on()
        task.cancel()

    asyncio.run(main())

"""Wiegand D0/D1 pin interrupts -> a WiegandAssembler (lib/wiegand.py).

Runs once while an ESP32 board starts its readers (hal/esp32.py): only the two small handlers
it installs are needed afterwards (the firmware drops this module again: doorapp/app.py).
"""
from compat import ticks_us


def attach_irq(assembler, d0, d1):
    """Wire two machine.Pin inputs (D0, D1, idle high) to an assembler: falling-edge IRQs.

    ESP32 pin IRQs are soft (run by the scheduler, queue of 8): a 26-bit frame at 2 ms per
    bit is fine; a reader sending bits 200 us apart can outrun the queue - those frames then
    fail their parity check instead of decoding wrong.
    """
    def on_d0(_pin):
        assembler.pulse(0, ticks_us())

    def on_d1(_pin):
        assembler.pulse(1, ticks_us())

    d0.irq(handler=on_d0, trigger=getattr(d0, "IRQ_FALLING", 2))
    d1.irq(handler=on_d1, trigger=getattr(d1, "IRQ_FALLING", 2))
    return on_d0, on_d1

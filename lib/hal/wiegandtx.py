"""Wiegand output on an ESP32 (hal/esp32.py builds it on boards whose board file declares
`wiegand_out`; docs/wiegand-out.md). D0/D1 idle high; a bit is a low pulse on D0 (a 0) or D1
(a 1), `pulse_us` wide, one every `interval_us`.

A timed loop, chosen over machine.bitstream and RMT: bitstream drives one pin (a frame needs two,
interleaved), and two RMT channels can't be started together from MicroPython, whose RMT API
also changed between releases. Each pulse runs with interrupts off (machine.disable_irq: a
critical section on the core MicroPython runs on; Wi-Fi and Bluetooth run on the other core of
the ESP32 and ESP32-S3) and its width is busy-waited on ticks_us, so nothing can stretch it;
between pulses time.sleep_us busy-waits too (scheduled pin IRQs may run there). Each pulse
starts interval_us after the one before started, or later if the task was held up (FreeRTOS
may run a higher-priority task on this core): never sooner, so a late bit makes a longer gap,
never two bits too close together. The event loop waits for the whole
frame: n x interval_us (W26 at 2 ms: 52 ms), after the relays and the event (Door.conclude).

Not measured on hardware: that 50 us pulses hold with Wi-Fi on is the design's claim, to be
checked with a logic analyser (docs/wiegand-out.md). The machine module is passed in (only
hal/esp32.py imports it), so the loop also runs on the unix port with pin doubles (tests).
"""
from compat import ticks_add, ticks_diff, ticks_us

try:
    from time import sleep_us
except ImportError:  # CPython (tests)
    from time import sleep

    def sleep_us(us):
        sleep(us / 1000000)


class WiegandTx:
    def __init__(self, d0, d1, disable_irq, enable_irq):
        self._d0 = d0  # machine.Pin outputs, already high
        self._d1 = d1
        self._off = disable_irq
        self._on = enable_irq

    def send(self, bits, n, pulse_us, interval_us):
        """Send bits[0:n] (one 0/1 per byte); returns ticks_us when the frame has ended."""
        d0 = self._d0
        d1 = self._d1
        for i in range(n):
            p = d1 if bits[i] else d0
            s = self._off()
            p(0)
            t = ticks_us()
            while ticks_diff(ticks_us(), t) < pulse_us:
                pass
            p(1)
            self._on(s)
            if i + 1 < n:
                w = ticks_diff(ticks_add(t, interval_us), ticks_us())
                if w > 0:
                    sleep_us(w)
        return ticks_us()

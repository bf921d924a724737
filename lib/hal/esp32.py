"""ESP32 backend of the board layer: machine.Pin / UART / I2C, network (Wi-Fi) and ntptime.
Only this file imports `machine`."""
import asyncio

import machine

from hal.streams import AsyncioByteStream

_PULL = {"none": None, "up": machine.Pin.PULL_UP, "down": machine.Pin.PULL_DOWN}
wdt = None  # machine.WDT once the door runs (Board.watchdog)


class OutputPin:
    """A driven output with its active level folded in: on() means 'energised'."""

    def __init__(self, num, active_high=True):
        self._on = 1 if active_high else 0
        self._pin = machine.Pin(num, machine.Pin.OUT, value=1 - self._on)
        self.num = num

    def on(self):
        self._pin(self._on)

    def off(self):
        self._pin(1 - self._on)

    def is_on(self):
        return self._pin() == self._on


class InputPin:
    """A raw input level (0/1); trigger levels and debounce are the app's business."""

    def __init__(self, num, pull="none"):
        self._pin = machine.Pin(num, machine.Pin.IN, _PULL[pull])
        self.num = num

    def value(self):
        return self._pin()


class Board:
    backend = "esp32"

    def __init__(self, spec, data_dir="", **options):
        self.spec = spec
        self.name = spec["name"]
        self.data_dir = data_dir  # "": LittleFS is mounted at / by MicroPython's _boot.py

    def output(self, num, active_high=True):
        return OutputPin(num, active_high)

    def input(self, num, pull="none"):
        return InputPin(num, pull)

    async def pn532_transport(self):
        """('uart', ByteStream) or ('i2c', (i2c, addr)) for the PN532 driver."""
        pn = self.spec["pn532"]
        if pn["bus"] == "uart":
            uart = machine.UART(pn["uart"], baudrate=pn["baudrate"], tx=pn["tx"], rx=pn["rx"],
                                timeout=0, rxbuf=512)
            s = asyncio.StreamReader(uart)
            return "uart", AsyncioByteStream(s, asyncio.StreamWriter(uart, {}))
        i2c = machine.I2C(pn["i2c"], sda=machine.Pin(pn["sda"]), scl=machine.Pin(pn["scl"]),
                          freq=pn["freq"], timeout=50000)
        return "i2c", (i2c, pn["addr"])

    def unique_id(self):
        return machine.unique_id()

    def watchdog(self, timeout_ms):
        """machine.WDT: resets the chip unless fed within timeout_ms; once started it can't be
        stopped (kept in `wdt` here: doorctl deploy/doctor feed it while they hold the REPL).
        None if it can't be armed (e.g. still armed from before a soft reboot: it then resets
        the chip, which boots clean and arms it)."""
        global wdt
        try:
            wdt = machine.WDT(timeout=timeout_ms)
        except OSError as e:
            print("doorctl: watchdog not armed:", e)
            return None
        return wdt

    def reset_cause(self):
        """Why the chip started: power_on, hard_reset, watchdog, deep_sleep, soft_reset or
        brownout (where the port reports it; the ESP32 port counts a brown-out as power-on);
        "" if unknown."""
        c = machine.reset_cause()
        for name, attr in (("power_on", "PWRON_RESET"), ("hard_reset", "HARD_RESET"), ("watchdog", "WDT_RESET"),
                           ("deep_sleep", "DEEPSLEEP_RESET"), ("soft_reset", "SOFT_RESET"),
                           ("brownout", "BROWNOUT_RESET")):
            if getattr(machine, attr, None) == c:
                return name
        return ""

    def wiegand_input(self, assembler):
        """D0/D1 falling edges (pin IRQs) feed the assembler (lib/wiegand.py)."""
        from wiegandirq import attach_irq

        w = self.spec["wiegand"]
        attach_irq(assembler, machine.Pin(w["d0"], machine.Pin.IN), machine.Pin(w["d1"], machine.Pin.IN))

    def wiegand_output(self, d0, d1):
        """Wiegand output to a panel on GPIOs d0/d1 (hal/wiegandtx.py: loaded on boards with one)."""
        from hal.wiegandtx import WiegandTx

        out = machine.Pin.OUT
        return WiegandTx(machine.Pin(d0, out, value=1), machine.Pin(d1, out, value=1), machine.disable_irq,
                         machine.enable_irq)

    def qr_stream(self):
        """The QR scanner module's UART as a ByteStream."""
        q = self.spec["qr_scanner"]
        uart = machine.UART(q["uart"], baudrate=q["baudrate"], tx=q["tx"], rx=q["rx"], timeout=0, rxbuf=256)
        return AsyncioByteStream(asyncio.StreamReader(uart), asyncio.StreamWriter(uart, {}))

    def ble(self):
        """bluetooth.BLE(): the module's one radio object (the only place that imports bluetooth)."""
        b = getattr(self, "_ble", None)
        if b is None:
            import bluetooth

            b = self._ble = bluetooth.BLE()
        return b

    def ble_uuid(self, value):
        """bluetooth.UUID(value), for gatts_register_services."""
        import bluetooth

        return bluetooth.UUID(value)

    def station(self, ssid, password, hostname):
        """Start joining Wi-Fi as a station (the driver connects in the background); returns the
        WLAN (isconnected()), or None when no SSID is configured (the radio stays off)."""
        if not ssid:
            return None
        import network

        try:
            network.hostname(hostname)
        except (AttributeError, ValueError, OSError):  # older firmware: no global hostname
            pass
        wlan = network.WLAN(network.STA_IF)
        wlan.active(True)
        wlan.connect(ssid, password)
        return wlan

    def ntp(self):
        """The stock `ntptime` module: settime() sets the RTC (UTC) from an NTP server."""
        import ntptime

        return ntptime


def restart():
    """Reset the chip (main.py, after the door's tasks ended with an error): the GPIOs return
    to inputs, which releases the relays, and the board boots the door again."""
    machine.reset()

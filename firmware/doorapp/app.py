"""Wires board, configuration, users, reader and relays into a running door controller.

Flow of a card tap (DESIGN §2): card watcher -> on_card -> engine.decide (user table) -> relays pulse in
the same loop turn -> LED/buzzer -> event log append -> listeners (simulator display).
"""
import asyncio
import gc
import sys

import cardfmt
import eventlog
from doorapp import VERSION, clock
from doorapp.indicators import DENIED_BEEP, GRANTED_BEEP, GRANTED_LED, Indicator
from doorapp.inputs import Input
from doorapp.inputs import poll as poll_inputs
from doorapp.relays import Relay
from compat import sleep_ms, ticks_diff, ticks_ms

CONFIG_FILE = "config.json"
SECRETS_FILE = "secrets.json"
# validators: loaded while a file is read or changed, then dropped from the heap
_VALIDATORS = ("doorapp.config", "doorapp.cfgvalue", "doorapp.secrets", "doorapp.verify_config", "verifyurl", "urlsplit", "doorapp.auth")
TABLE_FILE = "users.tbl"  # built by `doorctl users build` (or from a users.json document)
STAGED_FILE = TABLE_FILE + ".new"  # a table being received or installed, beside the live one
EVENTS_FILE = "events.log"


def data_path(board, name):
    return board.data_dir + "/" + name


def make_engine(table, cfg):
    """The access engine over the table; the schedules come from the table file (their code and
    the TZ rule are loaded only if the site uses custom schedules or relay holds)."""
    from doorapp.engine import AccessEngine

    return AccessEngine(table, table.schedules, cfg, cfg["time"]["tz"], clock, CONFIG_FILE)


READERS = ("wiegand", "keypad", "qr_scanner")  # optional board-file readers (doorapp/readers.py)


def has_readers(spec):
    for name in READERS:
        if name in spec:
            return True
    return False


class Door:
    """The running controller; `state()` is what the simulator and (later) the API show."""

    def __init__(self, board, cfg, table, log, secrets=None):
        self.board = board
        self.cfg = cfg
        self.table = table
        self.engine = make_engine(table, cfg)
        self.secrets = secrets
        self.started = ticks_ms()
        self.log = log
        self.card_format = cfg["card"]["format"]
        self._fmt_id = cardfmt.format_id(self.card_format)
        self.relays = {}  # id -> Relay, in board order
        for r in board.spec["relays"]:
            hold = cfg["relays"][str(r["id"])]["hold_ms"]
            self.relays[r["id"]] = Relay(r["id"], board.output(r["pin"], r["active"] == "high"), hold)
        self._pins = {}
        self.inputs = []
        self._build_inputs()
        self.led = Indicator(self._opt_output("led"))
        self.buzzer = Indicator(self._opt_output("buzzer"))
        self.watcher = None
        self.timesync = None  # doorapp.timesync.TimeSync on a board syncing by NTP
        self.readers = None  # keypad / Wiegand / QR scanner, on boards that have one
        if has_readers(board.spec):
            from doorapp.readers import Readers

            self.readers = Readers(self, board)
        self.listeners = []  # callables(event_dict), e.g. the simulator's live display
        self.input_listeners = []  # callables(input, active) after debounce
        self.prompt = ""  # what a display would show now (last decision or verification step)
        self.prompt_at = 0
        self.on_prompt = None  # callable(text), e.g. the simulator's live display
        self.remote = None  # doorapp.verify_door.RemoteCheck while config verify.mode is not off
        self.set_remote()

    def set_remote(self, remote=None, buf=None):
        """Third-party verification from config `verify`: `remote`, one built already for a
        config change (doorapp/admin.py), or one built here (`buf`: the answer buffer of the
        one before, reused: a busy heap may lack the block)."""
        if self.remote is not None:
            self.remote.close()
            self.remote = None
        if remote is None and self.cfg["verify"]["mode"] != "off":
            from doorapp.verify_door import RemoteCheck

            remote = RemoteCheck(self, buf=buf)
        self.remote = remote
        vd = sys.modules.get("doorapp.verify_door")
        if remote is None and vd is not None:
            vd.unload()  # verification off: its code needn't stay

    def _build_inputs(self):
        """(Re)create the enabled inputs from config; the task samples whatever list is current."""
        inputs = []
        for spec in self.board.spec["inputs"]:
            c = self.cfg["inputs"][spec["id"]]
            if c["enabled"]:
                pin = self._pins.get(spec["id"])
                if pin is None:
                    pin = self._pins[spec["id"]] = self.board.input(spec["pin"], spec["pull"])
                inputs.append(Input(spec["id"], spec["kind"], pin, c["trigger"], c["debounce_ms"],
                                    c["relay"], self.on_input))
        self.inputs[:] = inputs

    def _opt_output(self, name):
        o = self.board.spec.get(name)
        return self.board.output(o["pin"], o["active"] == "high") if o else None

    # --- credentials and inputs -------------------------------------------------------------
    def on_card(self, uid, atqa=None, sak=None):
        code = cardfmt.format_uid(uid, self.card_format)
        return self.decide(eventlog.KIND_CARD, code, uid, self._fmt_id)

    def decide(self, kind, value, shown=b"", fmt=0):
        """Credential -> engine decision -> relays in this loop turn -> event (`shown` is what
        the log keeps: never a PIN). Kinds the verification server decides go to it instead:
        the answer is acted on when it comes (doorapp/verify_door.py)."""
        rc = self.remote
        if rc is not None and rc.handles(kind):
            return rc.submit(kind, value, shown, fmt)
        d = self.engine.decide(kind, value)
        self.show(d.prompt)
        self.act(d)
        self.record(kind, d.granted, d.reason, shown, fmt, d.user, d.relays)
        return d

    def on_input(self, inp, active):
        if inp.kind == "exit_button":
            if active and inp.relay:
                self.relays[inp.relay].pulse()
                self.record(eventlog.KIND_EXIT, True, eventlog.REASON_OK, b"", 0, None, (inp.relay,))
        elif inp.kind == "door_sensor":
            reason = eventlog.REASON_DOOR_OPENED if active else eventlog.REASON_DOOR_CLOSED
            self.record(eventlog.KIND_DOOR, None, reason, b"", 0, None, ())
        for cb in self.input_listeners:
            cb(inp, active)

    def act(self, d):
        if d.granted:
            self.open_for(d.relays)
        else:
            self.deny()

    def open_for(self, relays):
        """A grant: pulse the relays (those on the board), LED and beep."""
        for r in relays:
            relay = self.relays.get(r)  # floors may map to I/O-expander relays (9-40)
            if relay is not None:
                relay.pulse()
        self.led.play(GRANTED_LED)
        self.buzzer.play(GRANTED_BEEP)

    def deny(self):
        self.buzzer.play(DENIED_BEEP)

    def show(self, text):
        """The prompt a display would show (state, simulator display)."""
        if text:
            self.prompt = text
            self.prompt_at = ticks_ms()
            if self.on_prompt is not None:
                self.on_prompt(text)

    def record(self, kind, granted, reason, value, fmt, user, relays):
        """One event (`value`: what the log shows of the credential; never a PIN's digits)."""
        if kind == eventlog.KIND_PIN:
            value = b""
        result = eventlog.RESULT_INFO if granted is None else (
            eventlog.RESULT_GRANTED if granted else eventlog.RESULT_DENIED)
        mask = 0
        for r in relays:
            if r <= 8:
                mask |= 1 << (r - 1)
        seq = self.log.append(clock.now(), kind, result, reason, value, fmt, user.id if user else 0, mask)
        if self.listeners:
            ev = self.log.read(seq - 1, 1)
            if ev:
                d = eventlog.to_dict(ev[0])
                for cb in self.listeners:
                    cb(d)
        return seq

    # --- remote commands (HTTP API) -----------------------------------------------------------
    def open_relay(self, num, ms, who):
        """Open a relay on an authenticated remote command; logged with who asked."""
        self.relays[num].pulse(ms)
        self.record(eventlog.KIND_API, True, eventlog.REASON_OK, who, 0, None, (num,))

    def auth_failed(self, who, alarm=False):
        """A wrong password: logged (with the client, never the password); alarm = lockout hit."""
        reason = eventlog.REASON_LOCKOUT if alarm else eventlog.REASON_AUTH_FAILED
        self.record(eventlog.KIND_API, False, reason, who, 0, None, ())

    # --- observation ------------------------------------------------------------------------
    def reader_status(self):
        w = self.watcher
        return w.state() if w else {"status": "starting"}

    def state(self, events=10):
        relays = {}
        for rid in self.relays:
            r = self.relays[rid]
            relays[str(rid)] = {"on": r.is_on(), "remaining_ms": r.remaining_ms(), "pulses": r.pulses}
        inputs = {}
        for i in self.inputs:
            inputs[i.name] = {"kind": i.kind, "active": i.active, "level": i.level()}
        last = self.log.last_seq
        evs = [eventlog.to_dict(e) for e in self.log.read(max(0, last - events), events)]
        return {
            "version": VERSION,
            "board": self.board.name,
            "profile": self.board.spec["profile"],
            "relays": relays,
            "inputs": inputs,
            "led": self.led.is_on(),
            "buzzer": self.buzzer.is_on(),
            "reader": self.reader_status(),
            "clock": clock.now(),
            "users": self.table.count,
            "table": {"serial": self.table.serial, "journal": self.table.journal_entries},
            "card_format": self.card_format,
            "prompt": self.prompt,
            "prompt_age_ms": ticks_diff(ticks_ms(), self.prompt_at) if self.prompt else None,
            "last_seq": last,
            "heap_free": gc.mem_free(),
            "heap_used": gc.mem_alloc(),
            "events": evs,
        }

    # --- tasks ------------------------------------------------------------------------------
    async def run_reader(self):
        from pn532.watch import CardWatcher

        kind, t = await self.board.pn532_transport()
        if kind == "uart":
            from pn532.hsu import PN532_HSU

            chip = PN532_HSU(t)
        else:
            from pn532.i2c import PN532_I2C

            chip = PN532_I2C(t[0], t[1])
        rc = self.cfg["reader"]
        self.watcher = CardWatcher(chip, self.on_card, interval_ms=rc["poll_ms"], miss_polls=2,
                                   miss_ms=rc["removal_ms"])
        await self.watcher.run()

    async def run_holds(self):
        """Relays held open by a schedule (office hours), re-checked every second."""
        while True:
            mask = self.engine.held_relays()
            for rid in self.relays:
                if mask & (1 << (rid - 1)):
                    self.relays[rid].pulse(1500)
            await sleep_ms(1000)

    async def run(self, extra=()):
        tasks = [asyncio.create_task(r.run()) for r in self.relays.values()]
        tasks.append(asyncio.create_task(self.run_holds()))
        tasks.append(asyncio.create_task(poll_inputs(self.inputs)))
        tasks.append(asyncio.create_task(self.run_reader()))
        if self.readers is not None:
            from doorapp import readertasks
            from unload import forget

            extra = readertasks.tasks(self.readers) + list(extra)
            forget("doorapp.readertasks", "wiegandirq")  # (wiegandirq: the ESP32's pin wiring, done)
        if self.remote is not None:
            self.remote.start()
        for coro in extra:
            tasks.append(asyncio.create_task(coro))
        from doorapp import watchdog

        coro = watchdog.run(self)  # reset-cause event, then armed: from here on the door must show progress
        if coro is not None:
            tasks.append(asyncio.create_task(coro))
        await asyncio.gather(*tasks)

"""Wires board, configuration, users, reader and relays into a running door controller.

Flow of a card tap: card watcher -> on_card -> engine.decide (user table) -> relays pulse in
the same loop turn -> LED/buzzer -> event log append -> listeners (simulator display).
"""
import asyncio
import gc

from micropython import const

import cardfmt
import eventlog
from doorapp import VERSION, clock, fileio
from doorapp.indicators import DENIED_BEEP, GRANTED_BEEP, GRANTED_LED, Indicator
from doorapp.inputs import Input
from doorapp.inputs import poll as poll_inputs
from doorapp.relays import Relay
from compat import sleep_ms, ticks_diff, ticks_ms
from doorapp import residency

# the event log's codes (lib/eventcodes.py names them)
_KIND_CARD = const(1)
_KIND_PIN = const(2)
_KIND_EXIT = const(6)
_KIND_API = const(7)
_KIND_DOOR = const(9)
_REASON_OK = const(0)
_REASON_DOOR_OPENED = const(21)
_REASON_DOOR_CLOSED = const(22)
_RESULT_INFO = const(0)
_RESULT_GRANTED = const(1)
_RESULT_DENIED = const(2)



def make_engine(table, cfg):
    """The access engine over the table; the schedules come from the table file (their code and
    the TZ rule are loaded only if the site uses custom schedules or relay holds)."""
    from doorapp.access.engine import AccessEngine

    return AccessEngine(table, table.schedules, cfg, cfg["time"]["tz"], clock, fileio.CONFIG_FILE)


_SPARE = const(512)  # heap an event's write may need when none is left (a file, an ESP32 long int)
READERS = ("wiegand", "keypad", "qr_scanner")  # optional board-file readers (doorapp/readers/credentials.py)


def has_readers(spec):
    for name in READERS:
        if name in spec:
            return True
    return False


class Door:
    """The running controller; `state()` is what the simulator and (later) the API show."""

    wgout = None  # lib/wiegandout.py's sender, on boards that declare `wiegand_out` (Door.__init__)

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
        # what record() needs: the inputs' alarms may record an event already (a latched alarm
        # cleared by the config the door starts with)
        self._spare = bytearray(_SPARE)  # freed for an event's write when the heap is exhausted
        self.now = clock.now()  # unix time as of the last second (run_holds): events' time on a full heap
        self.listeners = []  # callables(event_dict), e.g. the simulator's live display
        self.input_listeners = []  # callables(input, active) after debounce
        self._pins = {}
        self.inputs = []
        self.alarms = None  # doorapp.alarms.Alarms on a board with a door sensor raising alarms
        self.actions = None  # doorapp.actions.Actions while inputs or web relays have actions
        self._running = False  # Door.run() started: new alarm/action tasks start at once
        self._build_inputs()
        self.led = Indicator(self._opt_output("led"))
        self.buzzer = Indicator(self._opt_output("buzzer"))
        self.watcher = None
        self.timesync = None  # doorapp.timesync.TimeSync on a board syncing by NTP
        self.readers = None  # keypad / Wiegand / QR scanner, on boards that have one
        if has_readers(board.spec):
            from doorapp.readers.credentials import Readers

            self.readers = Readers(self, board)
        if "wiegand_out" in board.spec:  # Wiegand output to a panel (lib/wiegandout.py)
            from wiegandout import WiegandOut

            self.wgout = WiegandOut(self)
        self.prompt = ""  # what a display would show now (last decision or verification step)
        self.prompt_at = 0
        self.on_prompt = None  # callable(text), e.g. the simulator's live display
        self.remote = None  # doorapp.verify.door.RemoteCheck while config verify.mode is not off
        if cfg["verify"]["mode"] != "off":
            from doorapp.verify.door import RemoteCheck

            self.remote = RemoteCheck(self)
        self.ble = None  # doorapp.readers.ble.BleReader once BLE is on (config ble.enabled)

    # --- changes an administrator makes (HTTP API) ----------------------------------------------
    def apply_config(self, partial):
        """A config change: the whole config checked with `partial` merged in, stored atomically,
        then applied to the running door. ConfigError names the field, and then nothing is
        stored or changed. Returns True if part of it waits for a restart (card format)."""
        from doorapp.config import changes

        path = fileio.data_path(self.board, fileio.CONFIG_FILE)
        try:
            new = changes.check(self.cfg, partial, self.board.spec, path)
        finally:
            residency.trim()
        old = self.cfg
        d = new["card"]["desfire"]
        if d["enabled"] and self.secrets.get("desfire_key"):  # the key provisioned must fit the crypto
            from doorapp.config.desfirecfg import key_error

            err = key_error(d["crypto"], self.secrets["desfire_key"])
            if err:
                from configerror import ConfigError

                raise ConfigError(path, "card.desfire.crypto", "secrets.json desfire_key " + err)
        engine = make_engine(self.table, new)  # (a relay schedule the table lacks: refused before anything is stored)
        verify_changed = new["verify"] != old["verify"] or new["device"]["id"] != old["device"]["id"]
        remote = None
        if verify_changed and new["verify"]["mode"] != "off":
            # built (its CA file read) before anything is stored: no heap or a bad CA file
            # leaves the old config, stored and running
            from doorapp.verify.door import RemoteCheck

            remote = RemoteCheck(self, cfg=new)
        try:
            fileio.write_json_atomic(path, new)
        except BaseException:
            if remote is not None:
                remote.close()
            raise
        self.cfg = new
        self.engine = engine
        for rid in self.relays:
            self.relays[rid].hold_ms = new["relays"][str(rid)]["hold_ms"]
        self._build_inputs()
        if verify_changed:
            if self.remote is not None:
                self.remote.close()
            self.remote = remote
            if remote is not None:
                remote.start()
        if new["ble"] != old["ble"] or new["device"] != old["device"]:
            self.start_ble()
        if self.watcher:
            self.watcher.interval_ms = new["reader"]["poll_ms"]
            self.watcher.miss_ms = new["reader"]["removal_ms"]
            self.follow_cards()
        if new["lpr"]["username"] != old["lpr"]["username"] and self.secrets.get("lpr_hash"):
            self.set_secret("lpr_hash", "")  # a renamed camera account signs in only once given a password
        return new["card"]["format"] != old["card"]["format"]

    def set_secret(self, key, value):
        """Store one secret (a password hash, a key): validated, written atomically, then live."""
        from doorapp.config import secrets

        new = dict(self.secrets)
        new[key] = value
        try:
            fileio.write_json_atomic(fileio.data_path(self.board, fileio.SECRETS_FILE), secrets.to_file(new))
        finally:
            residency.trim()
        self.secrets = new

    def follow_cards(self):
        """Card codes read from the card instead of its UID (card.mifare, card.desfire, ...) and
        FeliCa polls (card.felica): doorapp/cardkinds.py routes each card to the reader of its
        kind; loaded only once a kind is on (or to turn the last one off)."""
        w = self.watcher
        if w is None:
            return
        on = w.read_card is not None or w.felica
        for v in self.cfg["card"].values():  # (card.<kind>: the only objects in card)
            if isinstance(v, dict) and v["enabled"]:
                on = True
        if on:
            from doorapp import cardkinds

            cardkinds.follow(self, w)

    def use_table(self, table):
        """Decide on `table` from now on (a table pushed or its edits merged)."""
        self.table = table
        self.engine = make_engine(table, self.cfg)
        if self.ble is not None:
            self.ble.forget()

    def start_ble(self):
        """BLE on, off or its settings changed (config `ble`): doorapp/readers/ble.py follows;
        a door that never turns BLE on never loads it."""
        if self.ble is not None or self.cfg["ble"]["enabled"]:
            from doorapp.readers import ble

            ble.follow(self)

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
        self._follow_inputs()

    def _follow_inputs(self):
        """Alarms and input actions: their code loads only once the config uses them (docs/inputs.md)."""
        acts = self.cfg["web_relays"]
        alarms = False
        for c in self.cfg["inputs"].values():
            alarms = alarms or c.get("break_in") or c.get("alarm_door_opened")  # (door sensors')
            acts = acts or c["http_url"] or c["action_delay_s"]
        if alarms and not self.alarms:
            from doorapp.alarms import Alarms

            self.alarms = Alarms(self)
            self._running and asyncio.create_task(self.alarms.run())
        if acts and not self.actions:
            from doorapp.actions import Actions

            self.actions = Actions(self)
            self._running and asyncio.create_task(self.actions.run())
        for part in (self.alarms, self.actions):
            if part:
                part.configure()

    def _opt_output(self, name):
        o = self.board.spec.get(name)
        return self.board.output(o["pin"], o["active"] == "high") if o else None

    # --- credentials and inputs -------------------------------------------------------------
    def on_card(self, uid, atqa=None, sak=None):
        code = cardfmt.format_uid(uid, self.card_format)
        return self.decide(_KIND_CARD, code, uid, self._fmt_id)

    def decide(self, kind, value, shown=b"", fmt=0):
        """Credential -> engine decision -> relays in this loop turn -> event (`shown` is what
        the log keeps: never a PIN). Kinds the verification server decides go to it instead:
        the answer is acted on when it comes (doorapp/verify/door.py)."""
        rc = self.remote
        if rc is not None and rc.handles(kind):
            return rc.submit(kind, value, shown, fmt)
        d = self.engine.decide(kind, value)
        self.conclude(kind, d, shown, fmt)
        return d

    def conclude(self, kind, d, shown=b"", fmt=0):
        """A decision made: relays in this loop turn, then its event on flash, then what a display
        shows. Nothing on the way from the decision to the flash allocates (the indicators' tasks,
        the log's record buffer and segment files are made beforehand): the event is written
        even if the heap is exhausted at that instant."""
        self.act(d)
        self.record(kind, d.granted, d.reason, shown, fmt, d.user, d.relays)
        self.show(d.prompt)
        if self.wgout is not None and kind == _KIND_CARD:
            self.wgout.card(shown, d.granted)  # queued: its task sends the frame

    def on_input(self, inp, active):
        if inp.kind == "door_sensor":
            reason = _REASON_DOOR_OPENED if active else _REASON_DOOR_CLOSED
            self.record(_KIND_DOOR, None, reason, b"", 0, None, ())
            if self.alarms is not None:
                self.alarms.door_changed(inp, active)
        elif active and inp.kind == "exit_button" and self.alarms is not None:
            self.alarms.let_in()  # a request to exit: the door may open
        if self.actions is not None:
            self.actions.input_changed(inp, active)
        elif active and inp.relay:
            self.input_relay(inp)
        for cb in self.input_listeners:
            cb(inp, active)

    def input_relay(self, inp):
        """An input's Execute Relay: logged as an exit (with the input's name unless an exit button)."""
        self.relays[inp.relay].pulse()
        if self.alarms is not None:
            self.alarms.let_in((inp.relay,))
        who = b"" if inp.kind == "exit_button" else inp.name.encode()
        self.record(_KIND_EXIT, True, _REASON_OK, who, 0, None, (inp.relay,))

    def act(self, d):
        if d.granted:
            self.open_for(d.relays)
            if self.actions is not None and d.user is not None and d.user.web_relay:
                self.actions.web_relay(d.user)
        else:
            self.deny()

    def open_for(self, relays):
        """A grant: pulse the relays (those on the board), LED and beep."""
        for r in relays:
            relay = self.relays.get(r)  # floors may map to I/O-expander relays (9-40)
            if relay is not None:
                relay.pulse()
        if self.alarms is not None:
            self.alarms.let_in(relays)
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
        if kind == _KIND_PIN:
            value = b""
        result = _RESULT_INFO if granted is None else (
            _RESULT_GRANTED if granted else _RESULT_DENIED)
        mask = 0
        for r in relays:
            if r <= 8:
                mask |= 1 << (r - 1)
        try:
            now = clock.now()
        except MemoryError:  # (a float, an ESP32 long int: none to be had) the second last seen
            now = self.now
        uid = user.id if user else 0
        try:
            seq = self.log.append(now, kind, result, reason, value, fmt, uid, mask)
        except MemoryError:  # the heap kept for this moment goes first: the event must reach flash
            self._spare = None
            gc.collect()
            seq = self.log.append(now, kind, result, reason, value, fmt, uid, mask)
        if self._spare is None:
            try:
                self._spare = bytearray(_SPARE)
            except MemoryError:
                pass
        if self.listeners:  # (the event is on flash: a listener short of heap loses only its copy)
            try:
                ev = self.log.read(seq - 1, 1)
                if ev:
                    d = eventlog.to_dict(ev[0])
                    for cb in self.listeners:
                        cb(d)
            except MemoryError:
                pass
        return seq

    # --- remote commands (HTTP API) -----------------------------------------------------------
    def open_relay(self, num, ms, who):
        """Open a relay on an authenticated remote command; logged with who asked."""
        self.relays[num].pulse(ms)
        if self.alarms is not None:
            self.alarms.let_in((num,))
        self.record(_KIND_API, True, _REASON_OK, who, 0, None, (num,))

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
            "ble": self.ble.state() if self.ble else {"enabled": False},
            "alarms": self.alarms.state() if self.alarms else {},
            "actions": self.actions.state() if self.actions else None,
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
        self.follow_cards()
        await self.watcher.run()

    async def run_holds(self):
        """Relays held open by a schedule (office hours), re-checked every second; the clock and
        the event log made ready for an event on a full heap (record)."""
        while True:
            self.now = clock.now()
            self.log.prepare()  # the log's next segment files open: appends need no heap
            mask = self.engine.held_relays()
            for rid in self.relays:
                if mask & (1 << (rid - 1)):
                    self.relays[rid].pulse(1500)
            await sleep_ms(1000)

    async def run(self, extra=()):
        self.led.start()
        self.buzzer.start()
        self._running = True
        tasks = [asyncio.create_task(r.run()) for r in self.relays.values()]
        for part in (self.alarms, self.actions):
            if part is not None:
                asyncio.create_task(part.run())  # (not gathered: config changes may replace them)
        tasks.append(asyncio.create_task(self.run_holds()))
        tasks.append(asyncio.create_task(poll_inputs(self.inputs)))
        tasks.append(asyncio.create_task(self.run_reader()))
        if self.wgout is not None:
            tasks.append(asyncio.create_task(self.wgout.run()))
        if self.readers is not None:
            from doorapp.readers import tasks as reader_tasks

            extra = reader_tasks.tasks(self.readers) + list(extra)
            reader_tasks = None
            residency.trim()
        if self.remote is not None:
            self.remote.start()
        self.start_ble()  # its own task (BLE can be turned off): not one the door stops with
        for coro in extra:
            tasks.append(asyncio.create_task(coro))
        from doorapp import watchdog

        coro = watchdog.run(self)  # reset-cause event, then armed: from here on the door must show progress
        if coro is not None:
            tasks.append(asyncio.create_task(coro))
        await asyncio.gather(*tasks)

"""Changes to a running Door that only an administrator makes (HTTP API): config and secrets
updates. Cold code: the API's route modules that change things import it, and it is dropped
with them, so a door that is only used for opening, or an API only read, doesn't hold it."""
import gc

import eventlog
from configerror import read_json
from doorapp import fileio
from doorapp.app import _VALIDATORS, CONFIG_FILE, SECRETS_FILE, data_path, make_engine
from unload import forget


def set_secret(door, key, value):
    """Store one secret (a password hash, a key): validated, written atomically, then live."""
    new = dict(door.secrets)
    new[key] = value
    from doorapp import secrets

    try:
        fileio.write_json_atomic(data_path(door.board, SECRETS_FILE), secrets.to_file(new))
    finally:
        forget(*_VALIDATORS)
    door.secrets = new


def update_config(door, partial):
    """Validate current+partial as a whole, persist atomically, apply what can be applied live.
    Returns True if a restart is needed for all of it (card format).

    Raises ConfigError naming the field; nothing is written or applied then."""
    merged = {}
    for sec in door.cfg:
        merged[sec] = dict(door.cfg[sec])
    for sec in partial:
        val = partial[sec]
        if sec in ("relays", "inputs") and isinstance(val, dict) and isinstance(merged.get(sec), dict):
            for key in val:
                item = dict(merged[sec].get(key, {}))
                if isinstance(val[key], dict):
                    item.update(val[key])
                    merged[sec][key] = item
                else:
                    merged[sec][key] = val[key]
        elif isinstance(val, dict) and isinstance(merged.get(sec), dict):
            merged[sec].update(val)
        else:
            merged[sec] = val
    path = data_path(door.board, CONFIG_FILE)
    paused = None
    if door.remote is not None and ("verify" in partial or "device" in partial):
        # the running verifier's code and the validators' don't fit at once on a busy board:
        # it goes while the change is checked; a stand-in refuses its credentials meanwhile
        paused = _Paused(door)
    gc.collect()  # the validator's code then loads into free heap in one piece
    try:
        try:
            if list(partial) == ["verify"]:  # the rest is the running config: checked already
                from doorapp import verify_config

                checked = dict(door.cfg)
                checked["verify"] = verify_config.validate(
                    merged["verify"], path, [r["id"] for r in door.board.spec["relays"]])
            else:
                from doorapp import config

                checked = config.validate(merged, door.board.spec, path, door.cfg["time"]["tz"],
                                          door.cfg["verify"])
        finally:
            forget(*_VALIDATORS)  # before the verification code loads: both at once may not fit
        merged = None
        v = checked["verify"]
        verify_changed = v != door.cfg["verify"] or checked["device"]["id"] != door.cfg["device"]["id"]
        remote = None
        if (verify_changed or paused) and v["mode"] != "off":
            # built (and its CA file read) before anything is stored: no heap or a bad CA file
            # leaves the old config, stored and running
            gc.collect()
            from doorapp.verify_door import RemoteCheck

            remote = RemoteCheck(door, cfg=checked, buf=paused and paused.buf)
        try:
            fileio.write_json_atomic(path, checked)
        except BaseException:
            if remote is not None:
                remote.close()
            raise
    except BaseException:
        remote = checked = v = None
        if paused is not None:
            paused.resume()
        elif door.remote is None:
            door.set_remote()  # (off: drops the verification code that did load)
        raise
    checked = v = None
    gc.collect()
    # the live copy is read back now that the code is gone, so it doesn't sit between the
    # code's blocks and leave the heap in small holes when they are freed
    new = read_json(path)
    restart = new["card"]["format"] != door.cfg["card"]["format"]
    renamed = new["lpr"]["username"] != door.cfg["lpr"]["username"]
    door.cfg = new
    door.engine = make_engine(door.table, new)
    for rid in door.relays:
        door.relays[rid].hold_ms = new["relays"][str(rid)]["hold_ms"]
    door._build_inputs()
    if verify_changed or paused:
        door.set_remote(remote=remote)
        if remote is not None:
            remote.start()
    if door.watcher:
        door.watcher.interval_ms = new["reader"]["poll_ms"]
        door.watcher.miss_ms = new["reader"]["removal_ms"]
    if renamed and door.secrets.get("lpr_hash"):
        set_secret(door, "lpr_hash", "")  # a renamed camera account signs in only once given a password
    return restart


class _Paused:
    """Stands in for the door's verification while a change of it is checked (its code is out
    of the heap meanwhile): the kinds the server decided are refused as when it is busy, nothing
    is sent. `resume()` brings the stored setting back after a refused change; if even that
    finds no heap the stand-in stays (those credentials are refused, fail-secure) until a
    change is accepted or the door restarts."""

    def __init__(self, door):
        self.door = door
        old = door.remote
        door.remote = self
        if isinstance(old, _Paused):  # a change refused earlier left it: its code is gone already
            self.kinds, self.buf = old.kinds, old.buf
            return
        self.kinds = [k for k in (eventlog.KIND_CARD, eventlog.KIND_PIN, eventlog.KIND_QR) if old.handles(k)]
        self.buf = old.buffer()  # the answer buffer goes on to the next verifier
        old.close()
        old = None
        from doorapp.verify_door import unload

        unload()

    def handles(self, kind):
        return kind in self.kinds

    def submit(self, kind, value, shown, fmt):
        from doorapp.access import Decision

        d = Decision(False, None, (), eventlog.REASON_BUSY, "Busy, try again")
        door = self.door
        door.show(d.prompt)
        door.deny()
        door.record(kind, False, d.reason, shown, fmt, None, ())
        return d

    def start(self):
        pass

    def close(self):
        pass

    def resume(self):
        gc.collect()
        try:
            self.door.set_remote(buf=self.buf)
        except Exception as e:
            self.door.remote = self
            print("verification paused:", repr(e))
        else:
            if self.door.remote is not None:
                self.door.remote.start()

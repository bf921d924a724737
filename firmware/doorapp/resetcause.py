"""The reset-cause event at start (docs/watchdog.md): loaded by startup.open_door for the call,
then dropped."""
import eventlog

# board.reset_cause() names, in the order of their event reasons (eventlog.REASON_POWER_ON ...)
RESET_CAUSES = ("power_on", "hard_reset", "watchdog", "deep_sleep", "soft_reset", "brownout")


def log_reset_cause(door, cause):
    """One system event for why the device started (reason power_on, watchdog, ...; boot when
    the board can't tell). A log that can't be written is reported and the door starts anyway
    (the watchdog's supervisor then leaves the log out of its checks)."""
    reason = eventlog.REASON_BOOT
    if cause in RESET_CAUSES:
        reason = eventlog.REASON_POWER_ON + RESET_CAUSES.index(cause)
    try:
        door.record(eventlog.KIND_SYSTEM, None, reason, b"", 0, None, ())
    except OSError as e:
        print("doorctl: the event log can't be written:", e)

"""The event log's codes by name (lib/eventlog.py), for host tools and tests.

Device code doesn't import this: a public name costs a board's heap (an interned name and a
module attribute each), so device modules keep private const() copies (`_REASON_DOOR_FORCED =
const(24)`: compiled in, nothing stored), which tests/test_device_heap.py checks against these.
New codes get new numbers; numbers are never reused.
"""
from micropython import const

# Credential kinds (u8). New kinds get new numbers; numbers are never reused.
KIND_SYSTEM = const(0)  # device events: boot, clock set, config/users changed
KIND_CARD = const(1)  # RF card or Wiegand card: value = UID, fmt = cardfmt id
KIND_PIN = const(2)  # keypad PIN: the PIN is never stored
KIND_QR = const(3)  # QR code: value = a non-secret QR id, never the scanned secret
KIND_BLE = const(4)  # BLE key fob or phone: value = RSSI byte + the id's last bytes, fmt = bleadv.SOURCES
KIND_PLATE = const(5)  # licence plate (ASCII)
KIND_EXIT = const(6)  # exit / request-to-exit button
KIND_API = const(7)  # HTTP API, web UI or vendor /fcgi OpenDoor: value = user name
KIND_REMOTE = const(8)  # remote open by an intercom call, cloud or server command
KIND_DOOR = const(9)  # door sensor: relays = door number
RESULT_INFO = const(0)
RESULT_GRANTED = const(1)
RESULT_DENIED = const(2)
# Reason codes (u8). New reasons get new numbers; numbers are never reused.
REASON_OK = const(0)
REASON_UNKNOWN_CREDENTIAL = const(1)  # no user has this card/PIN/plate/key
REASON_NO_RELAY_RIGHTS = const(2)  # user exists but may not open this relay/door
REASON_SCHEDULE = const(3)  # outside the user's schedule
REASON_EXPIRED = const(4)  # user validity ended
REASON_NOT_YET_VALID = const(5)  # user validity not started
REASON_DISABLED = const(6)  # user or credential disabled
REASON_CLOCK_NOT_SET = const(7)  # a time rule applies but the clock is not set
REASON_LOCKOUT = const(8)  # too many failures: temporarily locked
REASON_READER_ERROR = const(9)  # reader/transport failure
REASON_REMOTE_DENIED = const(10)  # third-party verify server said no
REASON_REMOTE_TIMEOUT = const(11)  # third-party verify server did not answer in time
REASON_REMOTE_ERROR = const(12)  # verify server unreachable or answer malformed
REASON_INTERVAL = const(13)  # unlock interval for the same/different user not elapsed
REASON_WRONG_PIN = const(14)  # second factor (card+PIN / PIN+card) did not match
REASON_FACTOR_TIMEOUT = const(15)  # second factor not presented in time
REASON_AUTH_FAILED = const(16)  # HTTP API credentials wrong
REASON_BOOT = const(17)  # info: device started (the board can't tell why)
REASON_CLOCK_SET = const(18)  # info: clock set or stepped
REASON_CONFIG_CHANGED = const(19)  # info
REASON_USERS_CHANGED = const(20)  # info: user table replaced or edited
REASON_DOOR_OPENED = const(21)  # info (kind door)
REASON_DOOR_CLOSED = const(22)  # info (kind door)
REASON_DOOR_HELD_OPEN = const(23)  # alarm (kind door)
REASON_DOOR_FORCED = const(24)  # alarm (kind door): opened without a grant
REASON_FAILURES_ALARM = const(25)  # alarm (kind pin): wrong PINs reached the lockout's alarm count
REASON_BUSY = const(26)  # a verification request was pending and one more was queued: refused
REASON_WRONG_METHOD = const(27)  # two-factor: the wrong method first (a prompt; not logged today)
# 28-33: why the device started (kind system, result info, one event at each start, in the
# order of doorapp/watchdog.py RESET_CAUSES)
REASON_POWER_ON = const(28)
REASON_HARD_RESET = const(29)
REASON_WATCHDOG = const(30)
REASON_DEEP_SLEEP = const(31)
REASON_SOFT_RESET = const(32)
REASON_BROWNOUT = const(33)
REASON_LOCKOUT_CLEARED = const(34)  # info (kind api): the sign-in lockout cleared at the door (exit button held)
REASON_NOT_MOVED = const(35)  # BLE movement detection on: the phone's message says it did not move
REASON_PAIRED = const(36)  # info (kind ble): a phone paired for the user (value: its phone id)
REASON_PAIRING_FAILED = const(37)  # kind ble: a pairing attempt failed (its code is spent)
REASON_ALARM_CLEARED = const(38)  # info (kind door): a held-open door closed, or a forced door's alarm cleared
REASON_ACTION_FAILED = const(39)  # kind system: an input's or web relay's HTTP action failed (value: which)
REASON_CARD_KEY_WRONG = const(40)  # card.mifare / .desfire / .plus on: the card refused the key (value: the UID, fmt 0)
REASON_CARD_BLOCK_EMPTY = const(41)  # card.mifare / .desfire / .plus on: the code block or file holds no card number (value: the UID)
REASON_CARD_NOT_MIFARE = const(42)  # card.mifare on: not a MIFARE Classic, and no UID fallback (value: the UID)
REASON_CARD_INTEGRITY = const(43)  # card.desfire / .plus on: the card's answer failed its CMAC, MAC or CRC (value: the UID)
REASON_CARD_APP_MISSING = const(44)  # card.desfire on: no such application or file on the card (value: the UID)
REASON_CARD_NOT_DESFIRE = const(45)  # card.desfire on: not a DESFire, and no UID fallback (value: the UID)
REASON_CARD_NOT_PLUS = const(46)  # card.plus on: not a MIFARE Plus SL3, and no UID fallback (value: the UID)
REASON_NFC_APP_MISSING = const(47)  # card.nfc on: no app of the site's AID (6A 82), and no UID fallback (value: the UID)
REASON_NFC_NO_CODE = const(48)  # card.nfc on: the phone app answered no code of 4-10 bytes, or refused (value: the UID)

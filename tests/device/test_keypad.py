"""3x4 matrix keypad over sim pins (debounce, ghosting) and the PIN entry state machine."""
import keypad
import wiegandbits
from hal.sim import InputPin, OutputPin, PinBank

ROWS = (12, 13, 14, 15)
COLS = (21, 22, 23)


class Matrix:
    """The physical keypad: pressed keys connect a row wire to a column wire. Rows are driven
    low when selected (active-low outputs), columns are pulled up."""

    def __init__(self, bank):
        self.bank = bank
        self.down = set()
        bank.listeners.append(self._update)
        self._update(None, None, None)

    def _update(self, num, level, t):
        for ci, c in enumerate(COLS):
            low = any(self.bank.get(ROWS[ri]) == 0 for (ri, cj) in self.down if cj == ci)
            self.bank.levels[c] = 0 if low else 1

    def press(self, key):
        i = keypad.LAYOUT.index(key)
        self.down.add((i // 3, i % 3))
        self._update(None, None, None)

    def release(self, key=None):
        if key is None:
            self.down.clear()
        else:
            i = keypad.LAYOUT.index(key)
            self.down.discard((i // 3, i % 3))
        self._update(None, None, None)


def _keypad(debounce_ms=30):
    bank = PinBank()
    rows = [OutputPin(bank, n, active_high=False) for n in ROWS]
    cols = [InputPin(bank, n, "up") for n in COLS]
    m = Matrix(bank)
    return keypad.MatrixKeypad(rows, cols, debounce_ms=debounce_ms), m


def _type(kp, m, key, t, hold_ms=60, step=5):
    """Press for hold_ms then release, polling every `step` ms; returns (keys seen, new t)."""
    seen = []
    m.press(key)
    for _ in range(hold_ms // step):
        k = kp.poll(t)
        if k is not None:
            seen.append(k)
        t += step
    m.release(key)
    for _ in range(10):
        k = kp.poll(t)
        if k is not None:
            seen.append(k)
        t += step
    return seen, t


def test_every_key_scans_to_its_label():
    kp, m = _keypad()
    for key in keypad.LAYOUT:
        m.press(key)
        assert kp.keys[kp.scan()] == key
        m.release()
        assert kp.scan() == -1


def test_one_report_per_press_after_debounce():
    kp, m = _keypad(debounce_ms=30)
    t = 0
    out = []
    for key in "1590#*":
        seen, t = _type(kp, m, key, t)
        out += seen
    assert "".join(out) == "1590#*"


def test_bounce_shorter_than_debounce_is_ignored():
    kp, m = _keypad(debounce_ms=30)
    t = 0
    for _ in range(4):  # contact chatter: 10 ms on, 10 ms off
        m.press("7")
        assert kp.poll(t) is None
        t += 10
        m.release()
        assert kp.poll(t) is None
        t += 10
    seen, t = _type(kp, m, "7", t)
    assert seen == ["7"]


def test_two_keys_at_once_are_ignored():
    kp, m = _keypad()
    m.press("1")
    m.press("5")
    assert kp.scan() == -2
    t = 0
    for _ in range(20):
        assert kp.poll(t) is None
        t += 5
    m.release()


def test_rows_released_after_scan():
    kp, m = _keypad()
    kp.scan()
    assert all(kp.rows[i].is_on() is False for i in range(4))


def test_pin_entry_submit_clear_timeout():
    t = [0]
    pe = keypad.PinEntry(min_len=4, max_len=8, timeout_ms=5000, clock=lambda: t[0])
    for k in "4711":
        assert pe.key(k) is None
    assert pe.key("#") == "4711"
    for k in "12*":  # * clears
        pe.key(k)
    for k in "9999":
        pe.key(k)
    assert pe.key("#") == "9999"
    pe.key("1")
    t[0] = 4999
    pe.key("2")  # 4.999 s after the last key: still the same entry
    t[0] = 4999 + 5000
    assert pe.poll() is True and pe.n == 0 and pe.timeouts == 1
    for k in "3456":
        pe.key(k)
    t[0] += 6000  # no poll in between: the next key starts a fresh entry
    for k in "1234":
        pe.key(k)
    assert pe.key("#") == "1234"


def test_pin_entry_invalid_submits():
    pe = keypad.PinEntry(min_len=4, max_len=8, clock=lambda: 0)
    assert pe.key("#") == ""  # nothing typed
    for k in "123":
        pe.key(k)
    assert pe.key("#") == ""  # too short
    for k in "123456789":
        pe.key(k)
    assert pe.key("#") == ""  # 9 digits: too long, not truncated to 8
    for k in "12345678":
        pe.key(k)
    assert pe.key("#") == "12345678"
    assert pe.key("A") is None and pe.n == 0


def test_wiegand_keypad_into_pin_entry():
    pe = keypad.PinEntry(clock=lambda: 0)
    pins = []
    for k in "2580#":
        f = wiegandbits.decode_str(wiegandbits.encode_key(k, 8))
        r = pe.key(f.key)
        if r is not None:
            pins.append(r)
    assert pins == ["2580"]

"""When is a BLE device near enough to open? RSSI samples per tracked device -> approach / wave.

RSSI from one advert is noisy (±4-8 dB indoors), so a decision is made on the mean of the
samples heard in the last `window_ms` (at least `min_samples` of them), compared with RSSI
thresholds worked out once from distances by the path-loss model (docs/ble.md):
    RSSI(d) = A - 10 * n * log10(d)        A = RSSI at 1 m, n = path-loss exponent
- approach (hands-free, key fobs): the mean reaches the trigger distance's RSSI. Once per
  approach: the device must then leave — its mean below the leave threshold (the trigger
  distance times LEAVE_FACTOR) for `leave_ms`, or not heard for `absent_ms` — before it can open
  again.
- wave (hands-free off): a close, rising peak: the mean of the last WAVE_MS reaches the wave
  distance's RSSI and is at least WAVE_RISE_DB above the mean of the samples before it.
Slots are numbered by the caller (readers/ble.py maps device ids to slots). Feeding a sample
allocates nothing: times and RSSIs live in preallocated arrays.
"""
from array import array
import math

from micropython import const

from compat import ticks_diff

NONE = const(0)
APPROACH = const(1)
WAVE = const(2)

_ARMED = const(0)  # may open when it comes near
_IN = const(1)  # opened (or came near while disarmed): waits to leave
_LEAVING = const(2)  # beyond the leave threshold since out_t
LEAVE_FACTOR = 1.5  # leave beyond 1.5 x the trigger distance (3.5 dB below it at n = 2)
WAVE_M = 0.3  # a wave brings the phone this close to the reader
WAVE_MS = const(600)
WAVE_RISE_DB = const(6)


def rssi_at(distance_m, a, n):
    """RSSI (dBm, rounded down) expected at `distance_m` by the path-loss model."""
    return int(math.floor(a - 10 * n * math.log10(distance_m)))


def distance(rssi, a, n):
    """Distance (m) the path-loss model gives for an RSSI (for events and status)."""
    return 10 ** ((a - rssi) / (10 * n))


class Proximity:
    def __init__(self, slots=8, depth=16):
        self.slots = slots
        self.depth = depth
        self.t = array("i", bytes(4 * slots * depth))  # sample times (ticks_ms)
        self.r = array("b", bytes(slots * depth))  # sample RSSIs (dBm)
        self.head = bytearray(slots)  # next sample index per slot
        self.count = bytearray(slots)  # samples held per slot
        self.state = bytearray(slots)
        self.out_t = array("i", bytes(4 * slots))  # when it went beyond the leave threshold
        self.last = array("i", bytes(4 * slots))  # when it was last heard
        self.mean = array("b", bytes(slots))  # the last window mean (for events)
        self._m = array("i", bytes(16))  # _means' results: samples, recent mean, recent samples, older mean
        self.enter = -59
        self.leave = -63
        self.wave = -49
        self.window_ms = 1500
        self.min_samples = 4
        self.leave_ms = 3000
        self.absent_ms = 5000
        self.hands_free = True

    def configure(self, trigger_m, a=-59, n=2.0, hands_free=True, window_ms=1500, min_samples=4,
                  leave_ms=3000, absent_ms=5000):
        """Thresholds for a trigger distance (m) under the path-loss model A (dBm at 1 m), n."""
        self.enter = rssi_at(trigger_m, a, n)
        self.leave = rssi_at(trigger_m * LEAVE_FACTOR, a, n)
        self.wave = rssi_at(WAVE_M, a, n)
        self.hands_free = hands_free
        self.window_ms = window_ms
        self.min_samples = min_samples
        self.leave_ms = leave_ms
        self.absent_ms = absent_ms

    def reset(self, slot):
        """A new device in `slot`: no samples, armed."""
        self.count[slot] = 0
        self.head[slot] = 0
        self.state[slot] = _ARMED

    def _means(self, slot, now, recent_ms):
        """The mean over the window; into self._m: the samples in it, the mean over the last
        recent_ms, its samples, the mean before that (a mean is -128 without samples)."""
        d = self.depth
        base = slot * d
        t = self.t
        r = self.r
        total = 0
        n = 0
        rtotal = 0
        rn = 0
        i = self.head[slot]
        for _ in range(self.count[slot]):
            i = i - 1 if i else d - 1
            age = ticks_diff(now, t[base + i])
            if age > self.window_ms or age < 0:
                break
            total += r[base + i]
            n += 1
            if age <= recent_ms:
                rtotal += r[base + i]
                rn += 1
        m = self._m
        m[0] = n
        m[1] = rtotal // rn if rn else -128
        m[2] = rn
        m[3] = (total - rtotal) // (n - rn) if n > rn else -128
        return total // n if n else -128

    def feed(self, slot, rssi, now):
        """One advert's RSSI heard at ticks_ms `now`: APPROACH, WAVE or NONE."""
        d = self.depth
        h = self.head[slot]
        self.t[slot * d + h] = now
        self.r[slot * d + h] = rssi if rssi > -128 else -127
        self.head[slot] = (h + 1) % d
        if self.count[slot] < d:
            self.count[slot] += 1
        self.last[slot] = now
        mean = self._means(slot, now, WAVE_MS)
        self.mean[slot] = mean
        m = self._m
        n = m[0]
        st = self.state[slot]
        if st != _ARMED:
            if n >= self.min_samples and mean < self.leave:
                if st == _IN:
                    self.state[slot] = _LEAVING
                    self.out_t[slot] = now
                elif ticks_diff(now, self.out_t[slot]) >= self.leave_ms:
                    self.state[slot] = _ARMED
            elif st == _LEAVING:
                self.state[slot] = _IN
            return NONE
        if self.hands_free:
            if n >= self.min_samples and mean >= self.enter:
                self.state[slot] = _IN
                return APPROACH
        elif m[2] >= 2 and m[1] >= self.wave and m[3] != -128 and m[1] - m[3] >= WAVE_RISE_DB:
            self.state[slot] = _IN
            return WAVE
        return NONE

    def gone(self, slot, now):
        """True once `slot` has not been heard for absent_ms (its device left: re-armed)."""
        if ticks_diff(now, self.last[slot]) >= self.absent_ms:
            self.count[slot] = 0
            self.state[slot] = _ARMED
            return True
        return False

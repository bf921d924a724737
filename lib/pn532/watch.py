"""Card watcher: polls a PN532 and reports each card once when it enters the field.

A card held on the reader is one event; it counts as removed only after it has been missed
`miss_polls` consecutive polls and for at least `miss_ms`; a different UID is a new event at once.
Failed polls do not count as misses. After `fail_limit` consecutive failures the reader is
re-initialised, with a doubling backoff while that fails. The watcher never blocks the loop:
every reader wait is bounded by the driver's timeouts.

No heap (MemoryError) is a failed poll, never the end of the task: on a busy device (HTTP
requests loading code) a poll can find the heap full for a moment. If on_card runs out of heap
the card is forgotten, so the next poll presents it again: a tap is delayed, not lost.
"""
import gc

from micropython import const

from compat import ticks_ms, ticks_diff, sleep_ms, print_exception
from . import PN532Error

# status values
INIT = "init"  # first initialisation in progress
OK = "ok"  # polling
ERROR = "error"  # last operation failed (waiting to retry / re-init)
REINIT = "reinit"  # re-initialising after failures
STOPPED = "stopped"

_MSG_MAX = const(60)
_NO_HEAP = "MemoryError: no heap for the poll"


class CardWatcher:
    """Run `await watcher.run()` as a task (or `watcher.start()`); `stop()` ends it.

    on_card(uid, atqa, sak) is a plain callable, called from the watcher task: keep it short
    (hand the UID to the app). on_remove(uid), optional, when a card has left the field.
    read_card, when set, is awaited instead of on_card: a coroutine function
    (reader, uid, atqa, sak) that talks to the card still selected (MIFARE sectors: the door's
    doorapp/mifare.py). If it raises PN532Error (the card left mid-read, the link failed)
    the card is forgotten, so the next poll presents it again.
    """

    read_card = None  # (a class default: set on the instance only when used)
    # FeliCa polls (the door's card.felica): 0 off (type A polls only, nothing else sent), else the
    # kind of the next poll: 1 type A, 2 FeliCa; they alternate while no card is in the field, and
    # stay on the kind that found the card while it is there (its removal counts on that kind)
    felica = 0
    felica_brty = 1  # the FeliCa polls' rate: 1 = 212 kbit/s, 2 = 424 kbit/s (card.felica.kbps)

    def __init__(self, reader, on_card, on_remove=None, interval_ms=100, miss_polls=3,
                 miss_ms=0, fail_limit=3, backoff_ms=250, max_backoff_ms=8000):
        self.reader = reader
        self.on_card = on_card
        self.on_remove = on_remove
        self.interval_ms = interval_ms
        self.miss_polls = miss_polls
        self.miss_ms = miss_ms
        self.fail_limit = fail_limit
        self.backoff_ms = backoff_ms
        self.max_backoff_ms = max_backoff_ms
        self.status = INIT
        self.firmware = None
        self.uid = None  # the card in the field (after debounce), or None
        self.polls = 0
        self.cards = 0  # on_card events
        self.errors = 0  # failed polls and failed (re)initialisations
        self.reinits = 0
        self.no_heap = 0  # polls or on_card calls that found no heap (retried)
        # every loop turn adds to polls or errors, a re-init's backoff included: their sum is
        # the watchdog's sign that this task runs (doorapp/watchdog.py; no counter of its own)
        self.last_error = ""
        self._fails = 0
        self._misses = 0
        self._seen = 0
        self._run = False
        self._stop = False
        self._task = None

    def state(self):
        """A small dict for the app's status page."""
        return {
            "status": self.status, "errors": self.errors, "reinits": self.reinits,
            "last_error": self.last_error, "polls": self.polls, "cards": self.cards,
            "firmware": self.firmware, "no_heap": self.no_heap,
        }

    def start(self):
        import asyncio

        self._task = asyncio.create_task(self.run())
        return self._task

    def stop(self):
        self._stop = True
        self._run = False

    async def run(self):
        """_loop() until stop(); no heap anywhere in a poll (MemoryError, or a CancelledError
        that a timeout on a full heap may turn into) re-initialises the reader and goes on: the
        task that reads the cards must not end while the door runs."""
        from asyncio import CancelledError

        self._stop = False
        while True:
            try:
                await self._loop()
                return
            except MemoryError:  # (one name per clause: matching a tuple would allocate it)
                if self._stop:
                    raise
            except CancelledError:
                if self._stop:
                    raise
            self.errors += 1
            self.no_heap += 1
            self.last_error = _NO_HEAP
            gc.collect()
            await sleep_ms(self.interval_ms)

    async def _loop(self):
        """Initialise the reader, then poll it until stop(), re-initialising after `fail_limit`
        failed polls. One loop and no per-poll coroutine: a poll with no card allocates nothing
        here."""
        self._run = True
        self.status = INIT
        init = True
        backoff = self.backoff_ms
        try:
            while self._run:
                card = False  # False: the poll (or init) failed
                try:
                    if init:
                        self.firmware = await self.reader.init()
                        self.status = OK
                        self._fails = 0
                        init = False
                        continue
                    if self.felica == 2:
                        card = await self.reader.read_felica_target(self.felica_brty)
                    else:
                        card = await self.reader.read_passive_target()
                except MemoryError:  # (no text built: there is no heap for it)
                    self.last_error = _NO_HEAP
                    self.no_heap += 1
                    gc.collect()
                except PN532Error as e:
                    self.last_error = (type(e).__name__ + ": " + str(e))[:_MSG_MAX]
                if card is False:  # the poll or (re)init failed (an init that worked went on above)
                    self.errors += 1
                    self._fails += 1
                    self.status = ERROR
                    if init:  # (re)init failed: retry after a doubling backoff
                        await sleep_ms(backoff)
                        backoff = min(backoff * 2, self.max_backoff_ms)
                        if self._run:
                            self.status = REINIT
                            self.reinits += 1
                        continue
                if card is not False:
                    self.polls += 1
                    self._fails = 0
                    self.status = OK
                    now = ticks_ms()
                    fn = None
                    if card is not None:
                        self._misses = 0
                        self._seen = now
                        if card[0] != self.uid:
                            self.uid = card[0]
                            self.cards += 1
                            fn = self.on_card
                    elif self.uid is not None:
                        self._misses += 1
                        if self._misses >= self.miss_polls and ticks_diff(now, self._seen) >= self.miss_ms:
                            card = (self.uid,)
                            self.uid = None
                            fn = self.on_remove
                    elif self.felica:  # the field empty: the other kind next
                        self.felica = 3 - self.felica
                    if fn is not None:
                        try:
                            if fn == self.on_card and self.read_card is not None:
                                await self.read_card(self.reader, *card)
                            else:
                                fn(*card)
                        except MemoryError:  # decided nothing: the next poll presents the card again
                            self.no_heap += 1
                            gc.collect()
                            if fn == self.on_card:
                                self.uid = None
                                self.cards -= 1
                        except PN532Error as e:  # (read_card) the card left or the link failed mid-read
                            self.errors += 1
                            self.last_error = (type(e).__name__ + ": " + str(e))[:_MSG_MAX]
                            self.uid = None
                            self.cards -= 1
                        except Exception as e:  # a broken callback must not kill the reader task
                            print_exception(e)
                await sleep_ms(self.interval_ms)
                if self._fails >= self.fail_limit and self._run:
                    self.status = REINIT
                    self.reinits += 1
                    init = True
                    backoff = self.backoff_ms
        finally:
            self.status = STOPPED
            self._run = False

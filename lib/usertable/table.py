"""UserTable: the device's user store (docs/user-table.md) -- base table file + edit journal.

    t = UserTable.open("/flash", site_key=key, card_format="8HN")
    u = t.by_card("04A1B2C3")        # Record or None; <= 2 file reads, no allocation
    t.add_or_replace({"id": 7, "cards": ["DEADBEEF"], "pin": "4711"})   # journal append
    t.delete(7); t.compact(); t.install("/flash/users.new")

Crash safety: the table file is only ever replaced by rename of a verified temp file; the
journal records the identity (serial, CRC) of the table it applies to, and is ignored when
that is not the live table, so a power cut between the table rename and the journal reset
is harmless (the compacted table already holds the journal's edits).
"""
import gc
import json
import os

import cardfmt
from configerror import ConfigError
from usertable import fmt
from usertable.journal import OP_DEL, OP_PUT, Journal, remove, replace_file
from usertable.reader import Base, Record

# validate, writer and build are imported where needed (edits, compaction): a lookup-only
# device doesn't pay their RAM.

# modules the edit paths load and drop again (tzrule drops itself: usertable.sitetime._rule)
_COLD = ("usertable.edit", "usertable.sitetime", "usertable.validate", "usertable.validate_list",
         "usertable.codec", "usertable.decode", "usertable.scan", "usertable.export", "usertable.page", "usertable.compact", "usertable.stats",
         "usertable.writer", "usertable.build", "plates")
TABLE = "users.tbl"
JOURNAL = "users.jnl"
COMPACT_AT = 64  # journal entries
COMPACT_BYTES = 16384  # or journal bytes


class UserTableError(ConfigError):
    """The table can't be used as asked (damaged, wrong card format, ...): names file and field."""


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


class UserTable:
    def __init__(self, dir, site_key=None, card_format=None, tz="UTC0", relay_ids=None,
                 compact_at=COMPACT_AT, verify=False, auto_compact=True):
        self.dir = dir
        self.path = (dir.rstrip("/") + "/" if dir else "") + TABLE
        self.jpath = (dir.rstrip("/") + "/" if dir else "") + JOURNAL
        self.tz = tz
        self.relay_ids = relay_ids
        self.compact_at = compact_at
        self.auto_compact = auto_compact
        self.want_fid = cardfmt.format_id(card_format) if card_format else 0
        self._keyed = None
        if site_key:
            import keyedhash

            self._keyed = keyedhash.Keyed(site_key)
        self.rec = Record()  # the record lookups fill unless given rec=
        self._tmp = None  # second record for edits (created on first edit)
        self._kb = bytearray(16)  # key being looked up
        self._base = None
        self._j = None
        self._racc = 0
        self._bacc = 0
        self._sched = None
        self._busy = False  # a compaction is running (compact_async)
        self.streams = 0  # answers streaming users now (HTTP): the last one drops the cold code
        self.issues = []
        remove(self.path + ".tmp")
        remove(self.jpath + ".tmp")
        if not _exists(self.path):
            from unload import forget
            from usertable.build import build_file

            build_file(self.path, [], [], self.want_fid or cardfmt.format_id(cardfmt.DEFAULT), 1)
            forget("usertable.build", "usertable.writer", "usertable.codec")
        self._open(verify)

    @classmethod
    def open(cls, dir, site_key=None, card_format=None, tz="UTC0", relay_ids=None,
             compact_at=COMPACT_AT, verify=False, auto_compact=True):
        """Open (creating an empty table if there is none) the table in directory `dir`."""
        return cls(dir, site_key, card_format, tz, relay_ids, compact_at, verify, auto_compact)

    # -- opening ---------------------------------------------------------------------------
    def _open(self, verify=False, buf=None):
        try:
            b = Base(self.path, buf)
        except (OSError, ValueError) as e:
            raise UserTableError(self.path, "(file)", "not a usable user table: %s" % e)
        try:
            if verify:
                b.verify()
            if self.want_fid and b.fid != self.want_fid:
                raise self._format_error(self.path, b.fid)
        except ValueError as e:
            b.close()
            raise UserTableError(self.path, "(file)", "damaged user table: %s" % e)
        except Exception:
            b.close()
            raise
        self._base = b
        self.fid = b.fid
        self._sched = None
        self.issues = []
        has_secrets = b.ix_n[fmt.K_PIN] or b.ix_n[fmt.K_QR] or b.ix_n[fmt.K_BLE]
        self.secrets_ok = False
        if self._keyed is not None:
            if b.keycheck is None or b.keycheck == fmt.key_check(self._keyed):
                self.secrets_ok = True
            else:
                self.issues.append("site key differs from the table's: PIN/QR/BLE lookups disabled")
        elif has_secrets:
            self.issues.append("no site key: PIN/QR/BLE lookups disabled")
        self._j = Journal(self.jpath, b.serial, b.crc, b.fid)
        self._inbase = {}
        self._journal_changed()

    def _format_error(self, path, fid):
        """The table at `path` was built for card format `fid`, not the configured one."""
        want = cardfmt.format_name(self.want_fid)
        return UserTableError(path, "card_format", "table built for card format %s but config card.format is %s: "
                              "rebuild it with `doorctl users build --card-format %s`"
                              % (cardfmt.format_name(fid), want, want))

    def _journal_changed(self):
        """Recount users after the journal changed (an id lookup per journal user not seen yet:
        whether the base table has it doesn't change until the table is replaced)."""
        j = self._j
        b = self._base
        seen = self._inbase
        count = b.users
        for i in range(j.n):
            uid = j.uids[i]
            inb = seen.get(uid)
            if inb is None:
                inb = seen[uid] = b.locate(uid) >= 0
            if j.ops[i] == OP_PUT and not inb:
                count += 1
            elif j.ops[i] == OP_DEL and inb:
                count -= 1
        self._count = count

    def _close_files(self):
        if self._base is not None:
            self._racc += self._base.reads
            self._bacc += self._base.bytes_read
            self._base.close()
            self._base = None
        if self._j is not None:
            self._racc += self._j.reads
            self._bacc += self._j.bytes_read
            self._j.close()
            self._j = None

    def close(self):
        self._close_files()

    # -- facts -----------------------------------------------------------------------------
    @property
    def count(self):
        return self._count

    @property
    def serial(self):
        return self._base.serial

    @property
    def card_format(self):
        return cardfmt.format_name(self.fid)

    @property
    def reads(self):
        """File reads since open (lookups: <= 2 each)."""
        return self._racc + self._base.reads + self._j.reads

    @property
    def bytes_read(self):
        return self._bacc + self._base.bytes_read + self._j.bytes_read

    @property
    def schedules(self):
        """Custom schedule definitions stored in the table (list of dicts, see docs)."""
        if self._sched is None:
            data = self._base.schedules_bytes()
            self._sched = json.loads(data) if data else []
        return self._sched

    @property
    def journal_entries(self):
        return self._j.total

    def stats(self):
        """Sizes, counts, buckets and reader RAM (a dict; cold code)."""
        from unload import forget
        from usertable import stats

        try:
            return stats.stats(self)
        finally:
            forget("usertable.stats")

    # -- lookups ---------------------------------------------------------------------------
    def _lookup(self, k, kw, rec):
        """Journal (RAM index, one read on a hit), else base (bucket read + record read)."""
        if rec is None:
            rec = self.rec
        key = self._kb
        j = self._j
        if j.n:
            off = j.find(k, key, kw)
            if off >= 0:
                j.read(off, rec)
                return rec
        b = self._base
        ref = b.find(k, key)
        if ref < 0:
            return None
        b.read_record(ref, rec)
        if j.n and j.uid_index(rec.id) >= 0:
            return None  # that user was edited or deleted: the journal's version counts
        return rec

    def by_card(self, code, rec=None):
        """User owning card `code` (normalised, in the table's card format) or None."""
        fid = self.fid
        if not isinstance(code, str) or not fmt.pack_card(code, fid, self._kb, 2):
            return None
        w = fmt.CARD_WIDTH[fid]
        fmt.prefix(self._kb, w)
        return self._lookup(fmt.K_CARD, 2 + w, rec)

    def by_plate(self, plate, rec=None):
        """User owning normalised plate `plate` (plates.normalize); sets rec.plate_from/to."""
        if not isinstance(plate, str) or not fmt.pack_plate(plate, self._kb, 2):
            return None
        fmt.prefix(self._kb, fmt.PLATE_LEN)
        r = self._lookup(fmt.K_PLATE, 2 + fmt.PLATE_LEN, rec)
        if r is not None:
            r._match_plate(self._kb)
        return r

    def _secret(self, kind, value, rec):
        if not self.secrets_ok or not isinstance(value, str):
            return None
        d = self._keyed.digest(bytes((kind,)) + value.encode())  # HMAC: allocates (hashlib)
        kb = self._kb
        for i in range(fmt.HASH_LEN):
            kb[i] = d[i]
        return self._lookup(kind, fmt.HASH_LEN, rec)

    def by_pin(self, pin, rec=None):
        return self._secret(fmt.K_PIN, pin, rec)

    def by_qr(self, text, rec=None):
        return self._secret(fmt.K_QR, text.strip() if isinstance(text, str) else text, rec)

    def by_ble(self, key_id, rec=None):
        return self._secret(fmt.K_BLE, key_id.strip().upper() if isinstance(key_id, str) else key_id, rec)

    def by_id(self, uid, rec=None):
        if rec is None:
            rec = self.rec
        j = self._j
        if j.n:
            i = j.uid_index(uid)
            if i >= 0:
                if j.ops[i] == OP_DEL:
                    return None
                j.read(j.offs[i], rec)
                return rec
        if self._base.by_id(uid, rec):
            return rec
        return None

    user = by_id

    def new_record(self):
        """A separate Record to pass as rec= when two users must be held at once (e.g. card + PIN)."""
        return Record()

    # -- export, edits, compaction: cold code, one module per operation ----------------------
    def _cold(self, name, *args):
        """Run usertable.<module>.<function>(self, *args) for name "module.function", then drop
        the code it loaded again (unload.py): a device that mostly looks users up doesn't keep
        it, or the validators, in its heap."""
        if self._busy:
            raise UserTableError(self.path, "(busy)", "a compaction is running: try again when it has finished")
        import sys

        if sys.implementation.name == "micropython":  # (CPython's collector would only cost time)
            gc.collect()  # the code about to load wants unfragmented heap
        mod, _, fn = name.partition(".")
        try:
            return getattr(getattr(__import__("usertable." + mod), mod), fn)(self, *args)
        finally:
            from unload import forget

            forget(*_COLD)

    def iter_users(self):
        """Yield every user as a dict (no secrets: has_pin/has_qr/has_ble) in id order. Loads
        usertable.export (+ codec, scan): forget(*_COLD) when done."""
        from usertable import export

        return export.iter_users(self)

    def page(self, after=0, limit=50, q=""):
        """A cursor page of the users with id > after (usertable.page.page: yields None where
        other tasks may run, each user's Record (valid until the next step), last the cursor of
        the next page or -1). Loads usertable.page (+ decode): forget(*_COLD) when done."""
        from usertable import page

        return page.page(self, after, limit, q)

    def users(self, offset=0, limit=50):
        """A page of users (dicts without secrets) in id order (reads from the first user on:
        page() is the way on a large table)."""
        return self._cold("export.users", offset, limit)

    def user_dict(self, uid, tz=None):
        """User `uid` as a dict (no secrets: has_pin/has_qr/has_ble), or None; with `tz` (the
        site's TZ rule) its times as local text "YYYY-MM-DDTHH:MM" (None: unbounded), as the
        HTTP API gives them, else unix seconds (0: unbounded)."""
        return self._cold("export.user", uid, tz)

    def search(self, q, offset=0, limit=50):
        """(page of user dicts, number of matches) for users whose id, name or card code
        contain `q`, ignoring case."""
        return self._cold("export.search", q, offset, limit)

    def add_or_replace(self, user):
        """Add or replace one user (document form, docs/user-model.md; times may also be unix
        seconds). A PIN/QR/BLE key absent from `user` keeps the user's existing one; null or ""
        removes it. Raises ConfigError naming the field. Returns the user id."""
        # three stages, each one's code dropped before the next loads: local time text -> unix
        # seconds (tzrule), checks (validators, plates), journal append (codec)
        user = self._cold("sitetime.unix_times", user)
        nu = self._cold("validate.table_user", user)
        uid = self._cold("edit.add_or_replace", user, nu)
        self._after_edit()
        return uid

    def delete(self, uid):
        """Remove user `uid`; False if there is no such user."""
        if not self._cold("edit.delete", uid):
            return False
        self._after_edit()
        return True

    def _after_edit(self):
        self._journal_changed()
        if self.auto_compact and self.needs_compaction:
            self.compact()

    @property
    def needs_compaction(self):
        return self._j.total >= self.compact_at or self._j.size >= COMPACT_BYTES

    # -- compaction, install ----------------------------------------------------------------
    def compact(self, created=0):
        """Merge the journal into a new table (streaming: RAM bounded by the journal size, not
        the table), verify it, swap it in atomically and reset the journal."""
        self._cold("compact.compact", created)

    async def compact_async(self, created=0):
        """compact() for an asyncio task: yields to the loop while it streams, so lookups keep
        working (from the old table until the swap); edits raise UserTableError meanwhile."""
        if self._busy:
            raise UserTableError(self.path, "(busy)", "a compaction is running")
        from compat import sleep_ms

        gc.collect()
        from usertable import compact

        try:
            for _ in compact.compact_steps(self, created):
                await sleep_ms(0)
        finally:
            from unload import forget

            forget(*_COLD)

    def install(self, path):
        """Replace the whole table with the table file at `path` (same filesystem), after
        checking its header and checksum and its card format against the config; on any error
        the old table stays live. Resident (no cold code): a whole-table push must not need
        heap for the edit code."""
        if self._busy:
            raise UserTableError(self.path, "(busy)", "a compaction is running: try again when it has finished")
        # the live table stays open while the new one is checked, and lends it its lookup buffer
        # (~2 KB: a busy heap seldom has that twice over; the push after a load failed so), which
        # then goes on to the new live table: the swap needs no large block at any point
        buf = self._base.buf
        try:
            nb = Base(path, buf, False)
        except (OSError, ValueError) as e:
            raise UserTableError(path, "(file)", "not a user table: %s" % e)
        try:
            nb.verify()
            fid = nb.fid
        except ValueError as e:
            raise UserTableError(path, "(file)", "damaged user table: %s" % e)
        finally:
            nb.close()
        nb = None
        if self.want_fid and fid != self.want_fid:
            raise self._format_error(path, fid)
        self._swap(path)

    def _swap(self, path):
        """Make the checked table file `path` live: rename it over the table, then drop the
        journal (a stale one names the old table and is ignored anyway, so a power cut in
        between is safe). The live table's lookup buffer goes on to the new one (no second
        ~2 KB block needed). Shared by install and compaction."""
        buf = self._base.buf
        self._close_files()
        try:
            replace_file(path, self.path)
            remove(self.jpath)
        finally:
            self._open(buf=buf)

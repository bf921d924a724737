"""UserTable: the device's user store (docs/user-table.md) -- base table file + edit journal.

    t = UserTable.open("/flash", site_key=key, card_format="8HN")
    u = t.by_card("04A1B2C3")        # Record or None; <= 2 file reads, no allocation
    t.add_or_replace({"id": 7, "cards": ["DEADBEEF"], "pin": "4711"})   # journal append
    t.delete(7); t.compact(); t.install("/flash/users.new")

One class owns the table file (reader.Base), its journal, the edits, compaction and the users'
pages: nothing outside it reaches into its state. The host-side pieces it shares (checks:
validate; times: sitetime; encoding: codec; writing: writer, build) are imported where an edit,
a compaction or a new table needs them.

Crash safety: the table file is only ever replaced by rename of a verified temp file; the
journal records the identity (serial, CRC) of the table it applies to, and is ignored when
that is not the live table, so a power cut between the table rename and the journal reset
is harmless (the compacted table already holds the journal's edits).
"""
import json
import os
from array import array

from micropython import const

import cardfmt
from configerror import ConfigError
from usertable import fmt
from usertable.journal import EH, OP_DEL, OP_PUT, SECRET_KINDS, Journal, remove, replace_file
from usertable.reader import JBUF, Base, Record, ref_at

TABLE = "users.tbl"
JOURNAL = "users.jnl"
COMPACT_AT = 64  # journal entries
COMPACT_BYTES = 16384  # or journal bytes
BUDGET = const(500)  # records a search page reads at most (~1 s of an ESP32)
_PAUSE = const(16)  # a search page lets other tasks run every _PAUSE records (card taps)
_TRIES = const(4)  # a user's text is tried this often (with a pause between) when the heap is full
_SECRET_FIELDS = ("pin", "qr", "ble")  # order of journal.SECRET_KINDS


class UserTableError(ConfigError):
    """The table can't be used as asked (damaged, wrong card format, ...): names file and field."""


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def matches(rec, q, digits):
    """Search rule of the users list: id or card code containing `q` (digits / hex), or a name
    containing it, ignoring case (q is lower case)."""
    if digits and q in str(rec.id):
        return True
    if q in rec.name.lower():
        return True
    for c in rec.cards:
        if q in c.lower():
            return True
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
        self._tmp = None  # second record: edits and pages (_second)
        self._kb = bytearray(16)  # key being looked up
        self._base = None
        self._j = None
        self._racc = 0
        self._bacc = 0
        self._sched = None
        self._busy = False  # a compaction is running (compact_async)
        self.issues = []
        remove(self.path + ".tmp")
        remove(self.jpath + ".tmp")
        if not _exists(self.path):
            from usertable.build import build_file

            build_file(self.path, [], [], self.want_fid or cardfmt.format_id(cardfmt.DEFAULT), 1)
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

    @property
    def busy(self):
        """A compaction is running (compact_async): edits wait until it has finished."""
        return self._busy

    @property
    def needs_compaction(self):
        return self._j.total >= self.compact_at or self._j.size >= COMPACT_BYTES

    def stats(self):
        """Sizes, counts, buckets and reader RAM (a dict)."""
        b = self._base
        out = {"users": self._count, "serial": b.serial, "card_format": self.card_format,
               "size": b.size, "records_bytes": b.rec_len, "max_record": b.maxrec,
               "journal_entries": self._j.total, "journal_bytes": self._j.size,
               "ram": b.ram, "secrets": self.secrets_ok}
        for k in fmt.KINDS:
            out[fmt.KIND_NAMES[k] + "_entries"] = b.ix_n[k]
            out[fmt.KIND_NAMES[k] + "_buckets"] = b.ix_b[k]
        return out

    def _idle(self):
        if self._busy:
            raise UserTableError(self.path, "(busy)", "a compaction is running: try again when it has finished")

    def _second(self):
        """The table's second Record (the first is `rec`, the lookups'): single-user edits and
        pages read into it. Made on first use and kept; a page or an edit reads into it and is
        done with it in one step, never across a pause, so they can share it."""
        if self._tmp is None:
            self._tmp = Record()
        return self._tmp

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

    # -- users in id order -------------------------------------------------------------------
    def _records(self, rec, after=0):
        """Load every live user with id > after into `rec` in turn, in id order (yields rec):
        base records from the first one after `after` on (found through the id index: two
        reads, then one read each), merged with the journal (a journal put replaces or adds its
        user, a delete hides it). Nothing in `rec` is relied on across a yield, so `rec` may be
        shared with other walks."""
        b = self._base
        j = self._j
        jn = j.n
        u = j.uids
        k = 0
        hi = jn
        while k < hi:  # the first journal user with id > after
            mid = (k + hi) >> 1
            if u[mid] <= after:
                k = mid + 1
            else:
                hi = mid
        pos = b.first_after(after) if after else 0
        end = b.rec_len
        while True:
            uid = -1
            while pos < end:
                b.read_record(pos, rec)
                if rec.id > after:
                    uid = rec.id
                    break
                pos += rec._len
            if k < jn and (uid < 0 or u[k] <= uid):  # the journal's user comes first
                if u[k] == uid:
                    pos += rec._len  # edited or deleted: the base record doesn't count
                off = j.offs[k]
                k += 1
                if j.ops[k - 1] == OP_PUT:
                    j.read(off, rec)
                    yield rec
                continue
            if uid < 0:
                return
            pos += rec._len
            yield rec

    def _all_records(self, rec):
        """Every live user in id order into `rec` (yields rec), the table read sequentially in
        large chunks (the export, pages by offset: from the first user on)."""
        j = self._j
        k = 0
        n = j.n
        fid = self.fid
        for ref, buf, at, ln, uid in self._base.scan():
            skip = False
            while k < n and j.uids[k] <= uid:
                if j.uids[k] == uid:
                    skip = True
                if j.ops[k] == OP_PUT:
                    j.read(j.offs[k], rec)
                    yield rec
                k += 1
            if not skip:
                rec.take(buf, at, ln, fid, ref)
                yield rec
        while k < n:
            if j.ops[k] == OP_PUT:
                j.read(j.offs[k], rec)
                yield rec
            k += 1

    def page(self, after=0, limit=50, q="", budget=BUDGET):
        """A cursor page of the users with id > after (GET /api/v1/users?after=ID&limit=N&q=),
        for streaming: a generator that yields None where other tasks may run (every _PAUSE
        records a search reads), the Record of each user on the page (shared: valid until the
        next step; to_dict() or json() give its export form), and last an int: the cursor to
        continue from (`after=` of the next page), or -1 when no user follows. (Records, not
        dicts: a generator waiting to be resumed still holds the last value it yielded.)

        The first record is found through the id index (two reads), not by reading the table
        from its start: a page deep in a 20,000-user table costs what the first page costs. A
        page ends after `limit` users; a search (`q`: id, name or card code containing it, case
        ignored) also ends after reading `budget` records, with fewer users (maybe none) and a
        cursor. A page during which the table was swapped or a user edited ends at the last
        user read, with its cursor (the next page reads the new state).

        The Record it reads into is the table's second one, made here, before the answer starts
        (a lack of heap is then a clean error, not a page cut short); between steps a page
        holds nothing but its position."""
        return self._page(self._second(), after, limit, q.lower(), budget)

    def _page(self, rec, after, limit, q, budget):
        digits = q.isdigit()
        b = self._base
        j = self._j
        jt = j.total
        last = after
        n = 0
        got = 0
        for r in self._records(rec, after):
            if got == limit or (q and n == budget):
                yield last  # more users follow
                return
            n += 1
            last = r.id
            if q and not matches(r, q, digits):
                if n % _PAUSE:
                    continue
                yield None
            else:
                got += 1
                yield r
            if self._base is not b or self._j is not j or j.total != jt:
                yield last  # changed meanwhile: stop here, the cursor carries on
                return
        yield -1

    def walk(self, q="", offset=0, limit=0xFFFFFFFF, pause=64):
        """Users by offset for streaming (the export): yields None after every `pause` records
        read (an event loop runs other tasks there), a dict for each user on the page (no
        secrets), and last the number of users matching `q` ("" = all)."""
        q = q.lower()
        digits = q.isdigit()
        total = 0
        n = 0
        for r in self._all_records(Record()):
            n += 1
            if pause and n % pause == 0:
                yield None
            if q and not matches(r, q, digits):
                continue
            total += 1
            if offset < total <= offset + limit:
                yield r.to_dict()
            elif not q and total > offset + limit:
                total = self._count  # no search: the rest needn't be read
                break
        yield total

    def iter_users(self):
        """Yield every user as a dict (no secrets: has_pin/has_qr/has_ble) in id order."""
        for rec in self._all_records(Record()):
            yield rec.to_dict()

    def users(self, offset=0, limit=50):
        """A page of users (dicts without secrets) in id order (reads from the first user on:
        page() is the way on a large table)."""
        self._idle()
        return [x for x in self.walk("", offset, limit, 0) if isinstance(x, dict)]

    def search(self, q, offset=0, limit=50):
        """(page of user dicts, number of matches) for users whose id, name or card code
        contain `q`, ignoring case; one pass over the table."""
        self._idle()
        out = []
        total = 0
        for x in self.walk(q, offset, limit, 0):
            if isinstance(x, dict):
                out.append(x)
            elif x is not None:
                total = x
        return out, total

    def user_dict(self, uid, tz=None):
        """User `uid` as a dict (no secrets: has_pin/has_qr/has_ble), or None; with `tz` (the
        site's TZ rule) its times as local text "YYYY-MM-DDTHH:MM" (None: unbounded), as the
        HTTP API gives them, else unix seconds (0: unbounded)."""
        self._idle()
        rec = self.by_id(uid, Record())
        if rec is None:
            return None
        d = rec.to_dict()
        if tz is None:
            return d
        from usertable import sitetime

        return sitetime.local(d, tz)

    def json_text(self, users, tail, total=None):
        """JSON text of a walk of users (page() or walk()), a user at a time, for a streamed
        answer: '{"users": [' then each user the walk yields (a Record or an export dict; times
        as the site's local text), then `tail` formatted with the int the walk yields last
        (-1 = null) and `total` if given; an empty piece where the walk yields None (the server
        lets other tasks run there). A user read from a Record comes as a tuple of small texts
        (httpd writes them together)."""
        yield '{"users": ['
        sep = ""
        last = -1
        for x in users:
            if x is None:
                yield b""
            elif isinstance(x, int):
                last = x
            elif isinstance(x, dict):  # walk()
                from usertable import sitetime

                x = (sep + json.dumps(sitetime.local(x, self.tz))).encode()
                sep = ", "
                yield x
            else:  # a Record: its pieces, written together
                # no heap for a user's text: a pause lets the door's work finish and free its
                # heap (the Record stays as it is meanwhile: only the HTTP API's handlers use
                # the second Record, and the server runs them one at a time)
                for _ in range(_TRIES):
                    try:
                        x = x.json(self.tz, sep)
                        break
                    except MemoryError:
                        yield b""
                else:
                    raise MemoryError  # (the page ends cut short: the client sees it, asks again)
                sep = ", "
                yield x
            x = None
        if total is None:
            yield tail % last
        else:
            yield tail % ("null" if last < 0 else str(last), total)

    # -- edits -------------------------------------------------------------------------------
    def add_or_replace(self, user):
        """Add or replace one user (document form, docs/user-model.md; times may also be unix
        seconds). A PIN/QR/BLE key absent from `user` keeps the user's existing one; null or ""
        removes it. Raises ConfigError naming the field (another user owning one of its
        credentials: that credential). Returns the user id."""
        self._idle()
        from usertable import codec, sitetime, validate

        user = sitetime.unix_times(self.tz, user)  # local time text -> unix seconds
        nu = validate.table_user(user, self.fid, self.tz, self.relay_ids, self.schedules,
                                 self._keyed if self.secrets_ok else None, self.path)
        uid = nu["id"]
        tmp = self._second()
        old = self.by_id(uid, tmp)
        secrets = b""
        sfl = 0
        skeys = []
        for i in range(3):
            kind = SECRET_KINDS[i]
            field = _SECRET_FIELDS[i]
            key = None
            if nu[field] is not None:
                key = codec.keyed_key(self._keyed, kind, nu[field])
            elif field not in user and old is not None and getattr(old, "has_" + field):
                out = bytearray(fmt.HASH_LEN)
                if self._j.secret(old.ref, kind, out) if old.source else self._base.key_of(kind, old.ref, out):
                    key = bytes(out)
                    nu[field] = True  # flag only: encode_record sets the "has" bit
            if key is not None:
                secrets += key
                sfl |= 1 << i
                skeys.append((kind, key, field))
        rec = codec.encode_record(nu, self.fid)
        keys = []
        codec.record_keys(rec, 0, self.fid, keys)
        ci = 0
        pi = 0
        for kind, key in keys:
            if kind == fmt.K_CARD:
                field = "user.cards[%d]" % ci
                what = "card " + nu["cards"][ci]
                ci += 1
            else:
                field = "user.plates[%d]" % pi
                what = "plate " + nu["plates"][pi][0]
                pi += 1
            owner = self._owner(kind, key, tmp)
            if owner is not None and owner != uid:
                raise ConfigError(self.path, field, "%s already belongs to user %d" % (what, owner))
        for kind, key, field in skeys:
            owner = self._owner(kind, key, tmp)
            if owner is not None and owner != uid:
                raise ConfigError(self.path, "user." + field, "this %s already belongs to user %d"
                                  % (fmt.KIND_NAMES[kind].upper(), owner))
        self._j.append(OP_PUT, uid, rec + secrets, sfl)
        self._after_edit()
        return uid

    def _owner(self, kind, key, rec):
        """Id of the user owning credential `key` of `kind` (a full index key), or None."""
        kb = self._kb
        for i in range(len(key)):
            kb[i] = key[i]
        r = self._lookup(kind, len(key), rec)
        return None if r is None else r.id

    def delete(self, uid):
        """Remove user `uid`; False if there is no such user."""
        self._idle()
        if self.by_id(uid, self._second()) is None:
            return False
        self._j.append(OP_DEL, uid)
        self._after_edit()
        return True

    def _after_edit(self):
        self._journal_changed()
        if self.auto_compact and self.needs_compaction:
            self.compact()

    # -- compaction, install ----------------------------------------------------------------
    def compact(self, created=0, schedules=None):
        """Merge the journal into a new table (streaming: RAM bounded by the journal size, not
        the table), verify it, swap it in atomically and reset the journal. `schedules`: the
        custom schedule definitions the new table holds instead of the old ones (normalised,
        validate_list.schedules; the caller checks that no user names a schedule it drops)."""
        self._idle()
        for _ in self._compact_steps(created, schedules):
            pass

    async def compact_async(self, created=0, schedules=None):
        """compact() for an asyncio task: yields to the loop while it streams, so lookups keep
        working (from the old table until the swap); edits raise UserTableError meanwhile."""
        if self._busy:
            raise UserTableError(self.path, "(busy)", "a compaction is running")
        from compat import sleep_ms

        for _ in self._compact_steps(created, schedules):
            await sleep_ms(0)

    def _compact_steps(self, created, schedules=None):
        """compact() as a generator that yields every few hundred records/entries/KiB. The table
        stays readable throughout; the swap at the end is not interrupted."""
        b = self._base
        j = self._j
        tmp = self.path + ".tmp"
        ops = [(j.uids[i], j.ops[i], j.offs[i]) for i in range(j.n)]  # ascending ids
        if self._keyed is not None and self.secrets_ok:
            keycheck = fmt.key_check(self._keyed)
        else:
            keycheck = b.keycheck
        serial = (b.serial + 1) & 0xFFFFFFFF or 1
        self._busy = True
        try:
            try:
                data = b.schedules_bytes() if schedules is None else json.dumps(schedules).encode()
                with open(tmp, "wb") as f:
                    for _ in self._merge(f, ops, serial, keycheck, created, data):
                        yield
                nb = Base(tmp)
                try:
                    for _ in nb.verify_steps():
                        yield
                finally:
                    nb.close()
            except Exception:
                remove(tmp)
                raise
            self._swap(tmp)
        finally:
            self._busy = False

    def _merge(self, f, ops, serial, keycheck, created, data):
        """Write the base table with the journal's edits (`ops`: (uid, op, entry offset) in id
        order) applied to `f`, and the schedules' JSON text `data`: records in id order, then
        every index merged in key order, the records' new offsets computed from the size
        changes before them."""
        from usertable.writer import Writer, bucket_target

        b = self._base
        j = self._j
        fid = self.fid
        w = Writer(f, serial, fid, created, keycheck)
        w.schedules(data)
        w.begin_records()
        jbuf = bytearray(JBUF)
        newref = {}  # journal offset -> record offset in the new table
        bp_off = array("I")  # old offsets where the size change (bp_d) steps
        bp_d = array("i")
        dead = array("I")  # old offsets of replaced or deleted records
        delta = 0
        k = 0
        n = len(ops)
        steps = 0
        for ref, buf, at, ln, uid in b.scan():
            while k < n and ops[k][0] <= uid:
                ouid, op, joff = ops[k]
                if ouid == uid:
                    dead.append(ref)
                    delta -= ln
                if op == OP_PUT:
                    rl = j.entry(joff, jbuf)[0]
                    newref[joff] = w.rel()
                    w.record(jbuf, EH, rl, ouid)
                    delta += rl
                bp_off.append(ref)
                bp_d.append(delta)
                k += 1
            if not dead or dead[-1] != ref:
                w.record(buf, at, ln, uid)
            steps += 1
            if not steps & 127:
                yield
        while k < n:
            ouid, op, joff = ops[k]
            if op == OP_PUT:
                rl = j.entry(joff, jbuf)[0]
                newref[joff] = w.rel()
                w.record(jbuf, EH, rl, ouid)
            k += 1
        w.end_records()
        total = 0
        for kind in fmt.KINDS:
            total += (b.ix_n[kind] + j.kn[kind]) * (fmt.key_width(kind, fid) + fmt.REF)
        target = bucket_target(total)
        chunk = bytearray(1024)
        for kind in fmt.KINDS:
            kw = fmt.key_width(kind, fid)
            e = kw + fmt.REF
            w.begin_index(kind, b.ix_n[kind] + j.kn[kind], target)
            jk = j.kb[kind]
            jn = j.kn[kind]
            ji = 0
            for buf, p in b.entries(kind, chunk):
                r = ref_at(buf, p + kw)
                if dead and _sorted_has(dead, r):
                    continue
                while ji < jn and _cmp(jk, ji * e, buf, p, kw) < 0:
                    w.entry(jk, ji * e, newref[ref_at(jk, ji * e + kw)])
                    ji += 1
                w.entry(buf, p, r + _delta(bp_off, bp_d, r))
                steps += 1
                if not steps & 511:
                    yield
            while ji < jn:
                w.entry(jk, ji * e, newref[ref_at(jk, ji * e + kw)])
                ji += 1
            w.end_index()
        w.finish()

    def install(self, path):
        """Replace the whole table with the table file at `path` (same filesystem), after
        checking its header and checksum, its card format against the config and, when it
        holds PINs, QR codes or BLE keys, that it was built with this door's site key; on any
        error the old table stays live. Needs none of the edit code: a whole-table push must not need
        heap for it."""
        self._idle()
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
            kc = nb.keycheck
            secret = nb.ix_n[fmt.K_PIN] or nb.ix_n[fmt.K_QR] or nb.ix_n[fmt.K_BLE]
        except ValueError as e:
            raise UserTableError(path, "(file)", "damaged user table: %s" % e)
        finally:
            nb.close()
        nb = None
        if self.want_fid and fid != self.want_fid:
            raise self._format_error(path, fid)
        if secret and self._keyed is None:
            raise UserTableError(path, "site_key", "the table holds PINs, QR codes or BLE keys, but this door has no "
                                 "site key (secrets.json site_key) to check them with: provision it first")
        if secret and kc is not None and kc != fmt.key_check(self._keyed):
            raise UserTableError(path, "site_key", "the table was built with another site key than this door's: its "
                                 "PINs, QR codes and BLE keys would never match (build it with the door's secrets.json: "
                                 "doorctl users build --site-key-file)")
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


# -- compaction's merge helpers -------------------------------------------------------------
def _cmp(a, pa, b, pb, n):
    for i in range(n):
        d = a[pa + i] - b[pb + i]
        if d:
            return d
    return 0


def _sorted_has(arr, v):
    lo = 0
    hi = len(arr)
    while lo < hi:
        mid = (lo + hi) >> 1
        x = arr[mid]
        if x < v:
            lo = mid + 1
        elif x > v:
            hi = mid
        else:
            return True
    return False


def _delta(bp_off, bp_d, r):
    """Cumulative size change of the records before-or-at old offset r."""
    lo = 0
    hi = len(bp_off)
    while lo < hi:
        mid = (lo + hi) >> 1
        if bp_off[mid] <= r:
            lo = mid + 1
        else:
            hi = mid
    return bp_d[lo - 1] if lo else 0

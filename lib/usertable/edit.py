"""Single-user edits of a UserTable through the journal: cold code, imported per edit and
dropped again (table.UserTable._cold). Only what an edit needs is here; compaction, export and
scans are in compact, export and scan.

UserTable.add_or_replace runs an edit in three stages, each one's code dropped before the next
loads: text times to unix seconds (sitetime.unix_times, with tzrule), the checks
(validate.table_user, with plates), then this module's add_or_replace: encoding
(codec), ownership checks and the journal append. Functions take the table as `t`.
"""
import struct
from binascii import crc32

from configerror import ConfigError
from usertable import fmt
from usertable.journal import EH, HEAD_SIZE, OP_DEL, OP_PUT, SECRET_KINDS, replace_file
from usertable.reader import JBUF, Record

_SECRET_FIELDS = ("pin", "qr", "ble")  # order of SECRET_KINDS


def _owner(t, kind, key, rec):
    kb = t._kb
    for i in range(len(key)):
        kb[i] = key[i]
    r = t._lookup(kind, len(key), rec)
    return None if r is None else r.id


def _old_key(t, old, kind, out):
    """The keyed hash of `old`'s existing secret `kind` into out (scans: cold code)."""
    from usertable import scan

    if old.source:
        buf = bytearray(JBUF)
        n, sfl = scan.journal_entry(t._j, old.ref, buf)
        p = EH + n
        for i in range(3):
            if sfl >> i & 1:
                if SECRET_KINDS[i] == kind:
                    out[0:fmt.HASH_LEN] = buf[p:p + fmt.HASH_LEN]
                    return True
                p += fmt.HASH_LEN
        return False
    return scan.key_of(t._base, kind, old.ref, out)


def add_or_replace(t, user, nu):
    """Add or replace user document `user`, normalised as `nu` (validate.table_user). A PIN/
    QR/BLE key absent from `user` keeps the user's existing one; null or "" removes it. Raises
    ConfigError if another user owns one of its credentials. Returns the user id; the caller
    runs t._after_edit()."""
    from usertable import codec

    uid = nu["id"]
    if t._tmp is None:
        t._tmp = Record()
    tmp = t._tmp
    old = t.by_id(uid, tmp)
    secrets = b""
    sfl = 0
    skeys = []
    for i in range(3):
        kind = SECRET_KINDS[i]
        field = _SECRET_FIELDS[i]
        key = None
        if nu[field] is not None:
            key = codec.keyed_key(t._keyed, kind, nu[field])
        elif field not in user and old is not None and getattr(old, "has_" + field):
            out = bytearray(fmt.HASH_LEN)
            if _old_key(t, old, kind, out):
                key = bytes(out)
                nu[field] = True  # flag only: encode_record sets the "has" bit
        if key is not None:
            secrets += key
            sfl |= 1 << i
            skeys.append((kind, key, field))
    rec = codec.encode_record(nu, t.fid)
    keys = []
    codec.record_keys(rec, 0, t.fid, keys)
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
        owner = _owner(t, kind, key, tmp)
        if owner is not None and owner != uid:
            raise ConfigError(t.path, field, "%s already belongs to user %d" % (what, owner))
    for kind, key, field in skeys:
        owner = _owner(t, kind, key, tmp)
        if owner is not None and owner != uid:
            raise ConfigError(t.path, "user." + field, "this %s already belongs to user %d"
                              % (fmt.KIND_NAMES[kind].upper(), owner))
    t._j.append(OP_PUT, uid, rec + secrets, sfl)
    return uid


def delete(t, uid):
    """Remove user `uid`; False if there is no such user (the caller runs t._after_edit())."""
    if t._tmp is None:
        t._tmp = Record()
    if t.by_id(uid, t._tmp) is None:
        return False
    t._j.append(OP_DEL, uid)
    return True


# -- writing the journal ----------------------------------------------------------------
def _journal_rewrite(j):
    """Fresh head for the live table, keeping the good entries of a torn journal; atomic."""
    tmp = j.path + ".tmp"
    keep = j.valid and j.torn
    j.close()
    with open(tmp, "wb") as out:
        out.write(j._head())
        if keep:
            with open(j.path, "rb") as f:
                f.seek(HEAD_SIZE)
                left = j.size - HEAD_SIZE
                while left > 0:
                    chunk = f.read(512 if left > 512 else left)
                    if not chunk:
                        break
                    out.write(chunk)
                    left -= len(chunk)
    replace_file(tmp, j.path)
    if not keep:
        j._load()  # a stale journal's entries are gone: start empty
    j.valid = True
    j.torn = False


def journal_append(j, op, uid, payload=b"", sflags=0):
    """Append one entry in a single write (after resetting a stale or torn journal)."""
    if not j.valid or j.torn:
        _journal_rewrite(j)
    n = EH + len(payload) + 4
    if n > JBUF:
        raise ValueError("journal entry too large")
    e = struct.pack("<HBBI", n, op, sflags, uid) + payload
    e += struct.pack("<I", crc32(e) & 0xFFFFFFFF)
    j.close()
    with open(j.path, "ab") as f:
        f.write(e)
    j._apply(e, j.size)  # RAM index updated in place: no re-read of the journal
    j.total += 1
    j.size += n
    j.f = open(j.path, "rb")

"""Build a table from a normalised user list (validate.document) in RAM: the host tool, tests
and small lists on the device. Large tables on the device come from the host (install) or
from compaction, which streams instead of sorting in RAM.
"""
import json

from usertable import codec, fmt
from usertable.journal import remove, replace_file
from usertable.writer import Writer, bucket_target

_SECRETS = ((fmt.K_PIN, "pin"), (fmt.K_QR, "qr"), (fmt.K_BLE, "ble"))


def build(f, schedules, users, fid, serial, keyed=None, created=0):
    """Write a table to the open binary file `f`; returns a summary dict.

    ValueError if two different secrets hash to the same 64-bit key (probability ~n^2/2^65;
    change one of them) or a user needs a secret key and `keyed` is None.
    """
    users = sorted(users, key=lambda u: u["id"])
    w = Writer(f, serial, fid, created, fmt.key_check(keyed) if keyed else None)
    w.schedules(json.dumps(schedules).encode())
    w.begin_records()
    per = {}
    for k in fmt.KINDS:
        per[k] = []
    for u in users:
        rec = codec.encode_record(u, fid)
        ref = w.rel()
        uid = u["id"]
        w.record(rec, 0, len(rec), uid)
        for code in u["cards"]:
            per[fmt.K_CARD].append((codec.clear_key(fmt.K_CARD, code, fid), ref, uid))
        for p in u["plates"]:
            per[fmt.K_PLATE].append((codec.clear_key(fmt.K_PLATE, p[0], fid), ref, uid))
        for kind, field in _SECRETS:
            v = u[field]
            if v is not None:
                if keyed is None:
                    raise ValueError("user %d has a %s but no site key was given" % (uid, field))
                per[kind].append((codec.keyed_key(keyed, kind, v), ref, uid))
    w.end_records()
    total = 0
    for k in fmt.KINDS:
        total += len(per[k]) * (fmt.key_width(k, fid) + fmt.REF)
    target = bucket_target(total)
    counts = {}
    for k in fmt.KINDS:
        lst = per[k]
        lst.sort()
        for i in range(1, len(lst)):
            if lst[i][0] == lst[i - 1][0]:
                raise ValueError("the %s keys of users %d and %d collide: change one of them"
                                 % (fmt.KIND_NAMES[k], lst[i - 1][2], lst[i][2]))
        w.begin_index(k, len(lst), target)
        for key, ref, _ in lst:
            w.entry(key, 0, ref)
        w.end_index()
        counts[fmt.KIND_NAMES[k]] = len(lst)
    size, crc = w.finish()
    return {"users": len(users), "entries": counts, "size": size, "crc": crc, "serial": serial,
            "records_bytes": w.rec_len, "max_record": w.maxrec}


def build_file(path, schedules, users, fid, serial, keyed=None, created=0):
    """build() into path.tmp, then rename over path (old or new file, never a mix)."""
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            info = build(f, schedules, users, fid, serial, keyed, created)
    except Exception:
        remove(tmp)
        raise
    replace_file(tmp, path)
    return info

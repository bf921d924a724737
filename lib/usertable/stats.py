"""UserTable.stats(): sizes, counts, buckets and reader RAM (cold: a status page, the bench)."""
from usertable import fmt


def stats(t):
    b = t._base
    out = {"users": t._count, "serial": b.serial, "card_format": t.card_format,
           "size": b.size, "records_bytes": b.rec_len, "max_record": b.maxrec,
           "journal_entries": t._j.total, "journal_bytes": t._j.size,
           "ram": b.ram, "secrets": t.secrets_ok}
    for k in fmt.KINDS:
        out[fmt.KIND_NAMES[k] + "_entries"] = b.ix_n[k]
        out[fmt.KIND_NAMES[k] + "_buckets"] = b.ix_b[k]
    return out

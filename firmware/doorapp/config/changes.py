"""A config change checked whole: the running config with a partial one merged in, validated
as the file would be at start-up (Door.apply_config stores and applies the result). Cold code:
loaded for a change, dropped with the validators."""
from doorapp.config import schema


def check(cfg, partial, board_spec, path):
    """The new config: `cfg` (the running one) with `partial` merged in (sections replaced key
    by key, card.mifare too, relays and inputs item by item, web relays and floors by id with null removing one), checked whole; raises ConfigError naming the field.
    A change of `verify` alone checks that section only: the rest was checked already."""
    merged = {}
    for sec in cfg:
        merged[sec] = dict(cfg[sec])
    for sec in partial:
        val = partial[sec]
        if sec in ("web_relays", "floors") and isinstance(val, dict) and isinstance(merged.get(sec), dict):
            for key in val:  # null removes a web relay or a floor
                if val[key] is None:
                    merged[sec].pop(key, None)
                else:
                    merged[sec][key] = val[key]
        elif sec in ("relays", "inputs") and isinstance(val, dict) and isinstance(merged.get(sec), dict):
            for key in val:
                item = dict(merged[sec].get(key, {}))
                if isinstance(val[key], dict):
                    item.update(val[key])
                    merged[sec][key] = item
                else:
                    merged[sec][key] = val[key]
        elif isinstance(val, dict) and isinstance(merged.get(sec), dict):
            for key in val:  # a nested object (card.mifare) merges key by key too
                old = merged[sec].get(key)
                if isinstance(val[key], dict) and isinstance(old, dict):
                    old = dict(old)
                    old.update(val[key])
                    merged[sec][key] = old
                else:
                    merged[sec][key] = val[key]
        else:
            merged[sec] = val
    if list(partial) == ["verify"]:
        checked = dict(cfg)
        checked["verify"] = schema.validate_verify(merged["verify"], path, [r["id"] for r in board_spec["relays"]])
        return checked
    return schema.validate(merged, board_spec, path, cfg["time"]["tz"], cfg["verify"])

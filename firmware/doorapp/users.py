"""The user list on flash (users.json) and lookup by credential.

Interface kept small on purpose (by_card, get, count) so the compact flash table of the next
milestone can replace the storage without touching the callers.

File format: {"users": [{"id": 1001, "name": "...", "role": "user", "cards": ["04A1B2C3"],
"relays": [1]}]}. Card codes are written in the configured card format (config card.format).
"""
import cardfmt
from configerror import ConfigError

MAX_CARDS = 5
ROLES = ("user", "admin")
_FIELDS = ("id", "name", "role", "cards", "relays")


class User:
    __slots__ = ("id", "name", "role", "cards", "relays")

    def __init__(self, uid, name, role, cards, relays):
        self.id = uid
        self.name = name
        self.role = role
        self.cards = cards
        self.relays = relays


def parse(doc, card_format, relay_ids, path="users.json"):
    """Validate a users document; returns a list of User. Errors name the user and field."""
    if not isinstance(doc, dict) or not isinstance(doc.get("users"), list):
        raise ConfigError(path, "users", "must be an object with a list named users")
    seen_ids = {}
    seen_cards = {}
    out = []
    for i, u in enumerate(doc["users"]):
        at = "users[%d]" % i
        if not isinstance(u, dict):
            raise ConfigError(path, at, "must be an object")
        for key in u:
            if key not in _FIELDS:
                raise ConfigError(path, at + "." + key, "unknown field")
        uid = u.get("id")
        if isinstance(uid, bool) or not isinstance(uid, int) or not 1 <= uid <= 4294967294:
            raise ConfigError(path, at + ".id", "user id must be a number 1-4294967294")
        if uid in seen_ids:
            raise ConfigError(path, at + ".id", "user id %d already used by users[%d]" % (uid, seen_ids[uid]))
        seen_ids[uid] = i
        name = u.get("name", "")
        if not isinstance(name, str) or len(name) > 63:
            raise ConfigError(path, at + ".name", "must be text of at most 63 characters")
        role = u.get("role", "user")
        if role not in ROLES:
            raise ConfigError(path, at + ".role", "must be user or admin")
        cards = u.get("cards", [])
        if not isinstance(cards, list):
            raise ConfigError(path, at + ".cards", "must be a list")
        if len(cards) > MAX_CARDS:
            raise ConfigError(path, at + ".cards", "at most %d cards per user" % MAX_CARDS)
        norm = []
        for j, c in enumerate(cards):
            field = "%s.cards[%d]" % (at, j)
            if not isinstance(c, str):
                raise ConfigError(path, field, "card code must be text")
            try:
                code = cardfmt.normalize(c, card_format)
            except ValueError as e:
                raise ConfigError(path, field, str(e))
            if code in seen_cards:
                raise ConfigError(path, field, "card %s already belongs to user %d" % (code, seen_cards[code]))
            seen_cards[code] = uid
            norm.append(code)
        relays = u.get("relays", [1])
        if not isinstance(relays, list) or not relays:
            raise ConfigError(path, at + ".relays", "must be a non-empty list of relay ids")
        for r in relays:
            if r not in relay_ids:
                raise ConfigError(path, at + ".relays", "no relay %r on this board" % (r,))
        out.append(User(uid, name, role, norm, relays))
    return out


class UserStore:
    """Lookup by card code (already formatted in the configured format) and by user id."""

    def __init__(self, users):
        self._by_card = {}
        self._by_id = {}
        for u in users:
            self._by_id[u.id] = u
            for c in u.cards:
                self._by_card[c] = u

    def by_card(self, code):
        return self._by_card.get(code)

    def get(self, uid):
        return self._by_id.get(uid)

    def count(self):
        return len(self._by_id)

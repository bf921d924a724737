"""A fake door for the card-reader tests (test_desfire, test_plus, test_nfc): what the readers
and doorapp/cardkinds.py use of the door, recording what they decide in `out`."""


class CardDoor:
    def __init__(self, card, secrets):
        """`card`: the config's card section (enabled and format "10D" added); `secrets`: the
        door's secrets (the readers' keys)."""
        c = {"enabled": True, "format": "10D"}
        c.update(card)
        self.cfg = {"card": c}
        self.secrets = secrets
        self.card_format = "10D"
        self.out = []

    def on_card(self, uid, atqa, sak):
        self.out.append(("uid", bytes(uid)))

    def deny(self):
        pass

    def record(self, kind, granted, reason, value, fmt, user, relays):
        self.out.append(("deny", reason, bytes(value)))

    def show(self, text):
        pass

    def decide(self, kind, code, value, fmt):
        self.out.append(("code", code, bytes(value)))


class Watcher:
    read_card = None

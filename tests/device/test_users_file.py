"""users.json validation and lookup (the interim store; the compact table replaces its storage)."""
import cardfmt
from configerror import ConfigError
from doorapp import users


def parse(doc):
    return users.parse(doc, "8HN", [1, 2], "users.json")


def err(doc):
    try:
        parse(doc)
    except ConfigError as e:
        return e
    raise AssertionError("accepted: %r" % (doc,))


def test_lookup_by_card_and_id():
    store = users.UserStore(parse({"users": [
        {"id": 1, "name": "A", "cards": ["04a1b2c3", "11223344"]},
        {"id": 2, "name": "B", "cards": ["DEADBEEF"], "relays": [1, 2], "role": "admin"},
    ]}))
    assert store.count() == 2
    assert store.by_card(cardfmt.format_uid(b"\x04\xa1\xb2\xc3", "8HN")).id == 1
    assert store.by_card("DEADBEEF").relays == [1, 2]
    assert store.by_card("00000000") is None
    assert store.get(2).role == "admin" and store.get(3) is None


def test_errors_name_user_and_field():
    assert err({"users": [{"id": 1}, {"id": 1}]}).field == "users[1].id"
    assert err({"users": [{"id": "x"}]}).field == "users[0].id"
    assert err({"users": [{"id": 1, "cards": ["04A1B2C3"]}, {"id": 2, "cards": ["04a1b2c3"]}]}).field == "users[1].cards[0]"
    assert err({"users": [{"id": 1, "cards": ["1", "2", "3", "4", "5", "6"]}]}).field == "users[0].cards"
    assert err({"users": [{"id": 1, "cards": ["XYZ"]}]}).field == "users[0].cards[0]"
    assert err({"users": [{"id": 1, "relays": [3]}]}).field == "users[0].relays"
    assert err({"users": [{"id": 1, "role": "boss"}]}).field == "users[0].role"
    assert err({"users": [{"id": 1, "pin": "1234"}]}).field == "users[0].pin"
    assert err({"people": []}).field == "users"

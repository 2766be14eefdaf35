"""Commands for the platform's RabbitMQ events: parsing `order.issue`,
`product.issue_reported` and `user.registered`, and what handling them changes."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest

from sav.commands import platform
from sav.commands.app import SavApplication
from sav.commands.platform import (
    InvalidPlatformMessage,
    IssueReport,
    OrderIssue,
    ProductIssue,
    UserRegistered,
    parse_message,
)
from sav.commands.tickets import CreateTicket, create_ticket
from tests.support.domain import ADMIN, open_ticket, ticket_number_of

ORDER = {"order_id": "ORD-1", "user_id": "cust-1", "email": "c@example.com",
         "issue_type": "not_received", "description": "Parcel never came"}
PRODUCT = {"product_id": "SKU-9", "email": "c@example.com", "issue_type": "defect",
           "product_name": "Kettle"}
USER = {"user_id": "cust-7", "email": "New@Example.com", "name": "New User"}


def body(payload: Any) -> bytes:
    return orjson.dumps(payload)


@pytest.mark.parametrize(("key", "payload", "schema"), [
    ("order.issue", ORDER, OrderIssue),
    ("product.issue_reported", PRODUCT, ProductIssue),
    ("user.registered", USER, UserRegistered),
])
def test_each_routing_key_has_its_schema(key: str, payload: dict[str, Any],
                                         schema: type) -> None:
    assert isinstance(parse_message(key, body(payload)), schema)


def test_our_own_envelope_is_unwrapped() -> None:
    envelope = {"event": "order.issue", "timestamp": "2026-01-01T00:00:00Z", "data": ORDER}
    parsed = parse_message("order.issue", body(envelope))
    assert isinstance(parsed, OrderIssue) and parsed.order_id == "ORD-1"


def test_unknown_fields_are_ignored_and_numbers_become_strings() -> None:
    parsed = parse_message("order.issue", body({**ORDER, "order_id": 1234, "extra": [1, 2]}))
    assert isinstance(parsed, OrderIssue) and parsed.order_id == "1234"


@pytest.mark.parametrize(("key", "raw"), [
    ("order.shipped", body(ORDER)),
    ("order.issue", b"{not json"),
    ("order.issue", b""),
    ("order.issue", body([ORDER])),
    ("order.issue", body({**ORDER, "order_id": ""})),
    ("order.issue", body({k: v for k, v in ORDER.items() if k != "order_id"})),
    ("order.issue", body({**ORDER, "user_id": None, "email": None})),
    ("order.issue", body({**ORDER, "email": "not-an-email"})),
    ("order.issue", body({**ORDER, "priority": "critical"})),
    ("order.issue", body({**ORDER, "order_id": "x" * 65})),
    ("product.issue_reported", body({**PRODUCT, "product_id": None})),
    ("user.registered", body({"user_id": "cust-7"})),
    ("user.registered", body({**USER, "user_id": ""})),
])
def test_a_message_that_can_never_be_handled_is_invalid(key: str, raw: bytes) -> None:
    with pytest.raises(InvalidPlatformMessage):
        parse_message(key, raw)


def test_an_invalid_message_error_does_not_repeat_customer_data() -> None:
    with pytest.raises(InvalidPlatformMessage) as invalid:
        parse_message("order.issue", body({**ORDER, "email": "secret-person@@example"}))
    assert "secret-person" not in str(invalid.value)
    assert "email" in str(invalid.value)


def test_the_message_key_is_the_message_id_else_the_body_hash() -> None:
    assert platform.message_key("m-1", b"a") == platform.message_key("m-1", b"b") == "id:m-1"
    assert platform.message_key(None, b"a") == platform.message_key("", b"a")
    assert platform.message_key(None, b"a") != platform.message_key(None, b"b")


def test_platform_ticket_ids_are_stable_per_key_and_routing_key() -> None:
    first = platform.platform_ticket_id("order.issue", "id:m-1")
    assert first == platform.platform_ticket_id("order.issue", "id:m-1")
    assert first != platform.platform_ticket_id("order.issue", "id:m-2")
    assert first != platform.platform_ticket_id("product.issue_reported", "id:m-1")


def open_from(app: SavApplication, key: str, payload: dict[str, Any], message_id: str = "m-1"
              ) -> Any:
    issue = parse_message(key, body(payload))
    assert isinstance(issue, IssueReport)
    ticket_id = platform.platform_ticket_id(key, platform.message_key(message_id, body(payload)))
    return platform.open_issue_ticket(app, key, issue, ticket_id)


@pytest.mark.parametrize(("issue_type", "category"), [
    ("not_received", "delivery"), ("late_delivery", "delivery"), ("lost", "delivery"),
    ("damaged_in_transit", "delivery"), ("delivery", "delivery"),
    ("wrong_item", "order"), ("refund", "order"), ("other", "order"),
])
def test_order_issue_opens_a_ticket_in_its_category(app: SavApplication, issue_type: str,
                                                    category: str) -> None:
    outcome = open_from(app, "order.issue", {**ORDER, "issue_type": issue_type})
    ticket = app.get_ticket(outcome.ticket_id)
    assert ticket.category == category
    assert ticket.subject == f"Order ORD-1: {issue_type}"
    assert ticket.metadata == {"order_id": "ORD-1", "issue_type": issue_type}
    assert (ticket.user_id, ticket.tags, str(ticket.status)) == (
        "cust-1", ["order.issue"], "open")


def test_product_issue_opens_a_product_ticket(app: SavApplication) -> None:
    outcome = open_from(app, "product.issue_reported", PRODUCT)
    ticket = app.get_ticket(outcome.ticket_id)
    assert (ticket.category, ticket.subject) == ("product", "Product Kettle: defect")
    assert ticket.metadata == {"product_id": "SKU-9", "issue_type": "defect"}
    assert (ticket.user_id, ticket.contact_email) == (None, "c@example.com")
    assert ticket_number_of(outcome).startswith("TICKET-")


def test_the_reporters_own_subject_wins(app: SavApplication) -> None:
    outcome = open_from(app, "order.issue", {**ORDER, "subject": "Where is my parcel?"})
    assert app.get_ticket(outcome.ticket_id).subject == "Where is my parcel?"


def test_a_redelivered_message_opens_no_second_ticket(app: SavApplication) -> None:
    first = open_from(app, "order.issue", ORDER)
    assert first is not None
    assert open_from(app, "order.issue", ORDER) is None
    assert app.get_ticket(first.ticket_id).version == first.version


def test_two_different_messages_open_two_tickets(app: SavApplication) -> None:
    first = open_from(app, "order.issue", ORDER, message_id="m-1")
    second = open_from(app, "order.issue", ORDER, message_id="m-2")
    assert first.ticket_id != second.ticket_id


def registered() -> UserRegistered:
    user = parse_message("user.registered", body(USER))
    assert isinstance(user, UserRegistered)
    return user


def anonymous_ticket(app: SavApplication, email: str) -> UUID:
    return create_ticket(app, ADMIN, CreateTicket(subject="A", description="B",
                                                  contact_email=email)).ticket_id


def test_a_registered_user_is_linked_to_their_anonymous_tickets(app: SavApplication) -> None:
    mine, theirs = anonymous_ticket(app, "new@example.com"), anonymous_ticket(app, "x@y.com")
    user = registered()
    assert platform.link_registered_user(app, user, [mine, theirs]) == [mine]
    assert app.get_ticket(mine).user_id == "cust-7"
    assert app.get_ticket(theirs).user_id is None


def test_linking_is_idempotent_and_never_steals_a_ticket(app: SavApplication) -> None:
    anonymous = anonymous_ticket(app, "new@example.com")
    owned = open_ticket(app, ADMIN, user_id="cust-1", contact_email="new@example.com")
    user = registered()
    platform.link_registered_user(app, user, [anonymous])
    assert platform.link_registered_user(app, user, [anonymous, owned]) == []
    assert app.get_ticket(owned).user_id == "cust-1"


def test_linking_skips_missing_tickets(app: SavApplication) -> None:
    user = registered()
    assert platform.link_registered_user(app, user, [uuid4()]) == []

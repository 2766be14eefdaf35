"""The pydantic command models refuse bad input before any handler runs (422)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from sav.commands import messages, tickets
from sav.commands.tickets import METADATA_MAX_BYTES, METADATA_MAX_DEPTH

VALID: dict[str, Any] = {"subject": "Order not received", "description": "Parcel never arrived"}


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


def test_a_minimal_ticket_gets_its_defaults() -> None:
    cmd = tickets.CreateTicket(**VALID)
    assert (str(cmd.priority), str(cmd.source), cmd.tags, cmd.metadata) == (
        "normal", "web", [], {})


def test_text_is_trimmed() -> None:
    cmd = tickets.CreateTicket(subject="  Late  ", description="\tVery late\n")
    assert (cmd.subject, cmd.description) == ("Late", "Very late")


@pytest.mark.parametrize("fields", [
    {"subject": ""}, {"subject": "   "}, {"subject": "x" * 256},
    {"description": ""}, {"description": "x" * 50_001},
    {"priority": "critical"}, {"priority": None}, {"source": "fax"},
    {"category": "x" * 65}, {"user_id": "u" * 65}, {"contact_name": "n" * 256},
    {"contact_email": "not-an-email"}, {"contact_email": "a@"},
    {"tags": "vip"}, {"tags": [""]}, {"tags": ["  "]}, {"tags": ["t" * 65]},
    {"tags": [str(i) for i in range(51)]}, {"tags": [1]},
    {"metadata": []}, {"metadata": "x"},
    {"status": "open"}, {"ticket_number": "T-1"}, {"access_token_hash": "x"},
])
def test_bad_create_input_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        tickets.CreateTicket(**{**VALID, **fields})


@pytest.mark.parametrize("fields", [
    {"subject": "x" * 255}, {"description": "x" * 50_000}, {"category": "c" * 64},
    {"tags": ["t" * 64] * 50}, {"priority": "urgent", "source": "chat"},
    {"contact_email": "someone@example.com"},
    {"metadata": nested(METADATA_MAX_DEPTH)},
])
def test_input_at_the_limits_is_accepted(fields: dict[str, Any]) -> None:
    tickets.CreateTicket(**{**VALID, **fields})


def test_tags_are_trimmed() -> None:
    assert tickets.CreateTicket(**VALID, tags=[" vip ", "refund"]).tags == ["vip", "refund"]


@pytest.mark.parametrize("metadata", [
    nested(METADATA_MAX_DEPTH + 1),
    {"list": [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]},
    {"blob": "x" * METADATA_MAX_BYTES},
])
def test_metadata_depth_and_size_are_bounded(metadata: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="metadata"):
        tickets.CreateTicket(**VALID, metadata=metadata)
    with pytest.raises(ValidationError, match="metadata"):
        tickets.UpdateTicket(metadata=metadata)


def test_very_deep_metadata_is_refused_without_recursing_all_the_way() -> None:
    with pytest.raises(ValidationError, match="nest at most"):
        tickets.CreateTicket(**VALID, metadata=nested(900))


@pytest.mark.parametrize(("model", "fields"), [
    (tickets.UpdateTicket, {"assigned_to": "agent-1"}),
    (tickets.UpdateTicket, {"subject": ""}),
    (tickets.UpdateTicket, {"internal_notes": "x" * 50_001}),
    (tickets.UpdateTicket, {"tags": [""]}),
    (tickets.AssignTicket, {}),
    (tickets.AssignTicket, {"agent_id": ""}),
    (tickets.AssignTicket, {"agent_id": "a" * 65}),
    (tickets.AssignTicket, {"agent_id": "a", "note": "x"}),
    (tickets.ResolveTicket, {"resolution": "x" * 50_001}),
    (tickets.ResolveTicket, {"status": "resolved"}),
    (tickets.ReasonBody, {"reason": "x" * 2001}),
    (tickets.ReasonBody, {"why": "x"}),
    (messages.PostMessage, {}),
    (messages.PostMessage, {"content": "x" * 50_001}),
    (messages.PostMessage, {"content": "x", "author": "admin"}),
    (messages.EditMessage, {"content": ""}),
    (messages.EditMessage, {"content": "x", "is_internal": True}),
    (messages.RateTicket, {"rating": 5, "by": "cust-1"}),
])
def test_bad_command_bodies_are_refused(model: type, fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        model(**fields)


def test_an_empty_update_sets_nothing() -> None:
    assert tickets.UpdateTicket().model_dump(exclude_unset=True) == {}


def test_an_update_remembers_which_fields_were_sent() -> None:
    cmd = tickets.UpdateTicket(category=None, subject="New")
    assert cmd.model_dump(exclude_unset=True) == {"category": None, "subject": "New"}


def test_a_null_required_field_error_names_every_field() -> None:
    with pytest.raises(ValidationError, match="priority, subject cannot be null"):
        tickets.UpdateTicket(subject=None, priority=None)

"""The agent roster (`PUT /agents/{agent_id}`): admins register and change agents."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sav.commands.agents import MAX_AGENT_ID, UpsertAgent, upsert_agent
from sav.commands.app import SavApplication
from sav.events.agent import Agent, agent_aggregate_id
from sav.events.errors import PermissionDeniedError, RuleViolationError
from tests.support.domain import ACTORS, ADMIN


def agent(app: SavApplication, agent_id: str) -> Agent:
    found: Agent = app.repository.get(agent_aggregate_id(agent_id))
    return found


def test_first_upsert_registers_the_agent(app: SavApplication) -> None:
    outcome = upsert_agent(app, ADMIN, "agent-1",
                           UpsertAgent(name="Ann", email="ann@example.com"))
    assert (outcome.agent_id, outcome.created) == ("agent-1", True)
    registered = agent(app, "agent-1")
    assert (registered.name, registered.email, registered.active) == (
        "Ann", "ann@example.com", True)


def test_second_upsert_changes_the_agent(app: SavApplication) -> None:
    upsert_agent(app, ADMIN, "agent-1", UpsertAgent(name="Ann"))
    outcome = upsert_agent(app, ADMIN, "agent-1", UpsertAgent(name="Ann B", active=False))
    assert outcome.created is False
    changed = agent(app, "agent-1")
    assert (changed.name, changed.active) == ("Ann B", False)


def test_an_upsert_that_changes_nothing_appends_nothing(app: SavApplication) -> None:
    upsert_agent(app, ADMIN, "agent-1", UpsertAgent(name="Ann"))
    outcome = upsert_agent(app, ADMIN, "agent-1", UpsertAgent(name="Ann"))
    assert outcome.position is None
    assert agent(app, "agent-1").version == 1


@pytest.mark.parametrize("who", ["customer", "agent"])
def test_only_admins_manage_the_roster(app: SavApplication, who: str) -> None:
    with pytest.raises(PermissionDeniedError):
        upsert_agent(app, ACTORS[who], "agent-1", UpsertAgent(name="Ann"))


@pytest.mark.parametrize("agent_id", ["", "   ", "a" * (MAX_AGENT_ID + 1)])
def test_agent_id_is_one_to_64_characters(app: SavApplication, agent_id: str) -> None:
    with pytest.raises(RuleViolationError):
        upsert_agent(app, ADMIN, agent_id, UpsertAgent(name="Ann"))


def test_agent_id_is_trimmed(app: SavApplication) -> None:
    assert upsert_agent(app, ADMIN, "  agent-1 ", UpsertAgent(name="Ann")).agent_id == "agent-1"
    assert agent(app, "agent-1").agent_id == "agent-1"


def test_each_agent_has_one_stable_stream() -> None:
    assert agent_aggregate_id("agent-1") == agent_aggregate_id("agent-1")
    assert agent_aggregate_id("agent-1") != agent_aggregate_id("agent-2")


@pytest.mark.parametrize("body", [
    {}, {"name": ""}, {"name": "x" * 256}, {"name": "Ann", "email": "not-an-email"},
    {"name": "Ann", "role": "admin"}, {"name": "Ann", "active": "maybe"},
])
def test_bad_roster_bodies_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        UpsertAgent(**body)  # type: ignore[arg-type]

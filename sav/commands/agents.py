"""Agent roster commands: register or change an agent (admins only)."""

from __future__ import annotations

from dataclasses import dataclass

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from pydantic import BaseModel, ConfigDict, Field

from sav.commands.actor import Actor
from sav.commands.app import MAX_ATTEMPTS, SavApplication
from sav.commands.emails import Email
from sav.commands.policy import command_handler
from sav.commands.tickets import NOT_BLANK
from sav.events.agent import Agent, agent_aggregate_id
from sav.events.errors import ConflictError, PermissionDeniedError, RuleViolationError

MAX_AGENT_ID = 64


class UpsertAgent(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=255, pattern=NOT_BLANK)
    email: Email | None = None
    active: bool = Field(default=True, strict=True)  # `0` is not `false`


@dataclass(frozen=True)
class AgentOutcome:
    agent_id: str
    created: bool
    position: int | None


@command_handler
def upsert_agent(app: SavApplication, actor: Actor, agent_id: str, cmd: UpsertAgent
                 ) -> AgentOutcome:
    """Register the agent on first sight, otherwise record what changed (if anything).

    Two concurrent registrations collide on the stream's first version; the loser
    retries as a change, so neither write is lost.
    """
    if not actor.is_admin:
        raise PermissionDeniedError("only admins manage the agent roster")
    agent_id = agent_id.strip()
    if not agent_id or len(agent_id) > MAX_AGENT_ID:
        raise RuleViolationError(f"agent_id must be 1 to {MAX_AGENT_ID} characters",
                                 {"field": "agent_id"})
    email = str(cmd.email) if cmd.email else None
    aggregate_id = agent_aggregate_id(agent_id)
    for _ in range(MAX_ATTEMPTS):
        agent: Agent
        try:
            agent = app.repository.get(aggregate_id)
            created = False
        except AggregateNotFoundError:
            agent = Agent(agent_id=agent_id, name=cmd.name, email=email,
                          active=cmd.active, actor=actor.who.ref())
            created = True
        if not created:
            agent.change(name=cmd.name, email=email, active=cmd.active, by=actor.who)
        try:
            position = app.record(agent)
        except IntegrityError:
            continue
        return AgentOutcome(agent_id, created, position)
    raise ConflictError("too many concurrent changes to this agent, retry")

"""The Agent aggregate: one support agent of the roster used by auto-assign."""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from sav.events import clock
from sav.events.rules import Role, Who


def agent_aggregate_id(agent_id: str) -> UUID:
    """Agents are addressed by their user id; the aggregate id is derived from it."""
    return uuid5(NAMESPACE_URL, f"sav:agent:{agent_id}")


class Agent(Aggregate):
    class Event(clock.ClockedEvent):
        """Version 2 records the `actor`; only admins ever managed the roster."""

        actor: dict[str, Any]
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["actor"] = Who(None, Role.ADMIN).ref()

    class Registered(Event, Aggregate.Created):
        agent_id: str
        name: str
        email: str | None
        active: bool

    class Changed(Event):
        name: str
        email: str | None
        active: bool

    @staticmethod
    def create_id(agent_id: str) -> UUID:  # type: ignore[override]
        """One stream per agent: registering the same agent twice collides."""
        return agent_aggregate_id(agent_id)

    @event(Registered)
    def __init__(self, agent_id: str, name: str, email: str | None, active: bool,
                 actor: dict[str, Any] | None = None) -> None:
        self.agent_id = agent_id
        self.name = name
        self.email = email
        self.active = active

    def change(self, name: str, email: str | None, active: bool, by: Who) -> None:
        if (name, email, active) != (self.name, self.email, self.active):
            self._changed(name=name, email=email, active=active, actor=by.ref())

    @event(Changed)
    def _changed(self, name: str, email: str | None, active: bool,
                 actor: dict[str, Any]) -> None:
        self.name = name
        self.email = email
        self.active = active

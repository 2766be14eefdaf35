"""The Agent aggregate: one support agent of the roster used by auto-assign."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from sav.events import clock


def agent_aggregate_id(agent_id: str) -> UUID:
    """Agents are addressed by their user id; the aggregate id is derived from it."""
    return uuid5(NAMESPACE_URL, f"sav:agent:{agent_id}")


class Agent(Aggregate):
    class Event(clock.ClockedEvent):
        pass

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
    def __init__(self, agent_id: str, name: str, email: str | None, active: bool) -> None:
        self.agent_id = agent_id
        self.name = name
        self.email = email
        self.active = active

    def change(self, name: str, email: str | None, active: bool) -> None:
        if (name, email, active) != (self.name, self.email, self.active):
            self._changed(name=name, email=email, active=active)

    @event(Changed)
    def _changed(self, name: str, email: str | None, active: bool) -> None:
        self.name = name
        self.email = email
        self.active = active

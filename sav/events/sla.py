"""The SLA configuration's aggregates (issue 23): the business calendar and the policies.

Both are single streams with fixed ids: there is one calendar, and the policies are
one ordered set (matching reads them all, in `position` order). Who changed what and
when is kept like every other change in SAV, as permanent, past-tense events, and is
published (`sla.calendar.updated`, `sla.policy.updated`, `sla.policy.deleted`).
A ticket records the policy and calendar it was matched with in its own
`Ticket.SlaApplied` event: editing a policy never rewrites a ticket's history.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from sav.events import clock

CALENDAR_ID = uuid5(NAMESPACE_URL, "sav:sla:calendar")
POLICIES_ID = uuid5(NAMESPACE_URL, "sav:sla:policies")


class SlaCalendar(Aggregate):
    class Event(clock.ClockedEvent):
        actor: dict[str, Any]

    class Created(Event, Aggregate.Created):
        calendar: dict[str, Any]

    class Changed(Event):
        calendar: dict[str, Any]

    @event(Created)
    def __init__(self, id: UUID, calendar: dict[str, Any], actor: dict[str, Any]) -> None:
        self.calendar = dict(calendar)

    def change(self, calendar: dict[str, Any], actor: dict[str, Any]) -> None:
        if calendar != self.calendar:
            self._changed(calendar=calendar, actor=actor)

    @event(Changed)
    def _changed(self, calendar: dict[str, Any], actor: dict[str, Any]) -> None:
        self.calendar = dict(calendar)


class SlaPolicies(Aggregate):
    class Event(clock.ClockedEvent):
        actor: dict[str, Any]

    class Created(Event, Aggregate.Created):
        """The first policy ever put."""

        name: str
        policy: dict[str, Any]

    class PolicyPut(Event):
        """A policy created or replaced: `policy` is all of it."""

        name: str
        policy: dict[str, Any]

    class PolicyDeleted(Event):
        name: str

    @event(Created)
    def __init__(self, id: UUID, name: str, policy: dict[str, Any],
                 actor: dict[str, Any]) -> None:
        self.policies: dict[str, dict[str, Any]] = {name: dict(policy)}

    def put(self, name: str, policy: dict[str, Any], actor: dict[str, Any]) -> None:
        if self.policies.get(name) != policy:
            self._put(name=name, policy=policy, actor=actor)

    @event(PolicyPut)
    def _put(self, name: str, policy: dict[str, Any], actor: dict[str, Any]) -> None:
        self.policies[name] = dict(policy)

    def delete(self, name: str, actor: dict[str, Any]) -> bool:
        if name not in self.policies:
            return False
        self._deleted(name=name, actor=actor)
        return True

    @event(PolicyDeleted)
    def _deleted(self, name: str, actor: dict[str, Any]) -> None:
        del self.policies[name]

    def ordered(self) -> list[dict[str, Any]]:
        """The policies in matching order: `position`, then name."""
        return [{"name": name, **policy} for name, policy in sorted(
            self.policies.items(), key=lambda item: (item[1].get("position", 0), item[0]))]


# Every class of the configuration's streams (catalog, routing and the read models).
CONFIG_EVENTS: tuple[type, ...] = (
    SlaCalendar.Created, SlaCalendar.Changed,
    SlaPolicies.Created, SlaPolicies.PolicyPut, SlaPolicies.PolicyDeleted)

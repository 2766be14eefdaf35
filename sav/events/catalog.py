"""Every stored event class, for the checks that each consumer of events decides on
each one (projections, the publisher's routing, the event log)."""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from sav.events.agent import Agent
from sav.events.macro import Macros
from sav.events.privacy import Erasure
from sav.events.sla import SlaCalendar, SlaPolicies
from sav.events.ticket import Ticket
from sav.events.webhook import Webhook


def event_classes(aggregate: type[Aggregate]) -> tuple[type[Aggregate.Event], ...]:
    """The aggregate's own event classes. The library also defines a default `Created`
    class on every aggregate; it is left out when the aggregate names its own."""
    base = aggregate.Event
    found = [value for value in vars(aggregate).values()
             if isinstance(value, type) and issubclass(value, Aggregate.Event)
             and value is not base]
    starts = [cls for cls in found if issubclass(cls, Aggregate.Created)]
    if len(starts) > 1:
        found = [cls for cls in found if not (cls in starts and cls.__name__ == "Created")]
    return tuple(found)


TICKET_EVENTS = event_classes(Ticket)
AGENT_EVENTS = event_classes(Agent)
ERASURE_EVENTS = event_classes(Erasure)
WEBHOOK_EVENTS = event_classes(Webhook)
SLA_CONFIG_EVENTS = event_classes(SlaCalendar) + event_classes(SlaPolicies)
MACRO_CONFIG_EVENTS = event_classes(Macros)
ALL_EVENTS = (TICKET_EVENTS + AGENT_EVENTS + ERASURE_EVENTS + WEBHOOK_EVENTS
              + SLA_CONFIG_EVENTS + MACRO_CONFIG_EVENTS)
# Every aggregate whose events are stored (a test checks none in sav.events is missing).
AGGREGATES = (Ticket, Agent, Erasure, Webhook, SlaCalendar, SlaPolicies, Macros)

"""Reading the SLA configuration from the event store, and the hook every ticket
command runs (`follow_sla`): kept apart from the commands so the application itself
can import it."""

from __future__ import annotations

from typing import Any

from eventsourcing.application import AggregateNotFoundError

from sav.events import clock
from sav.events.sla import CALENDAR_ID, POLICIES_ID
from sav.events.ticket import Ticket
from sav.sla import calendar as cal
from sav.sla.rules import Config, follow


def get_aggregate(app: Any, aggregate_id: Any) -> Any:
    try:
        return app.repository.get(aggregate_id)
    except AggregateNotFoundError:
        return None


def calendar_json(app: Any) -> dict[str, Any]:
    found = get_aggregate(app, CALENDAR_ID)
    return cal.DEFAULT.as_json() if found is None else dict(found.calendar)


def policies(app: Any) -> list[dict[str, Any]]:
    found = get_aggregate(app, POLICIES_ID)
    return [] if found is None else list(found.ordered())


def load_config(app: Any) -> Config:
    return Config(calendar=calendar_json(app), policies=tuple(policies(app)))


def follow_sla(app: Any, ticket: Ticket, rematch: bool) -> None:
    """After a change to `ticket` (or its creation: `rematch`), before the append."""
    follow(ticket, lambda: load_config(app), clock.now(), rematch)

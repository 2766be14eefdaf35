"""Reading the SLA configuration from the event store, and the hook every ticket
command runs (`follow_sla`): kept apart from the commands so the application itself
can import it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

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


def last_versions(app: Any, streams: tuple[UUID, ...]) -> dict[UUID, int]:
    """Each stream's last version: one query on the SQL store (on the command's own
    transaction when there is one), one per stream otherwise (the in-memory store)."""
    recorder = app.recorder
    if hasattr(recorder, "last_versions"):
        return dict(recorder.last_versions(streams))
    found: dict[UUID, int] = {}
    for stream in streams:
        events = recorder.select_events(stream, desc=True, limit=1)
        if events:
            found[stream] = events[0].originator_version
    return found


class ConfigCache:
    """The configuration matching uses, kept between commands (issue 21): loading it
    took four reads (snapshots and events of two streams) on every creation. Before
    each use one query reads the versions of the calendar and policies streams; the
    configuration is loaded again only when one moved, so a change made in any process
    is seen by the next command, as before."""

    STREAMS = (CALENDAR_ID, POLICIES_ID)

    def __init__(self) -> None:
        self._kept: tuple[dict[UUID, int], Config] | None = None

    def get(self, app: Any) -> Config:
        versions = last_versions(app, self.STREAMS)
        kept = self._kept
        if kept is None or kept[0] != versions:
            # Read after the versions: at least as new as they say (a newer config
            # kept with older versions is only loaded again at the next use).
            kept = self._kept = (versions, load_config(app))
        config = kept[1]
        # Copies: a command's events carry these dicts.
        return Config(calendar=dict(config.calendar),
                      policies=tuple(dict(policy) for policy in config.policies))


def current_config(app: Any) -> Config:
    cache = getattr(app, "sla_config", None)
    return cache.get(app) if isinstance(cache, ConfigCache) else load_config(app)


def follow_sla(app: Any, ticket: Ticket, rematch: bool, config: Config | None = None) -> None:
    """After a change to `ticket` (or its creation: `rematch`), before the append;
    `config`: read beforehand (a creation reads it before taking its number's lock)."""
    follow(ticket, lambda: config or current_config(app), clock.now(), rematch)

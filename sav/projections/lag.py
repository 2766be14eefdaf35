"""How far a tailing reader (a projector, the publisher) is behind the event store, and
whether it is stuck: for `/status` of the API and of the workers.

Cheaper than the `/metrics` snapshot (no ticket counts): probes call it every few seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Mapper
from sqlalchemy import Engine, select

from sav.events import clock
from sav.eventstore.schema import tracking


@dataclass(frozen=True)
class ReaderLag:
    position: int
    head: int
    events: int
    # How long the oldest waiting event has waited while the reader did not move:
    # the lesser of the event's age and the time since the reader last advanced.
    stalled_seconds: float

    def as_json(self) -> dict[str, Any]:
        return {"position": self.position, "head": self.head, "lag_events": self.events,
                "stalled_seconds": round(self.stalled_seconds, 3)}


def reader_lag(engine: Engine, recorder: ApplicationRecorder, mapper: Mapper[Any],
               name: str) -> ReaderLag:
    """The lag of tracking row `name` (a reader that has no row yet is at 0)."""
    head = recorder.max_notification_id() or 0
    with engine.connect() as conn:
        row = conn.execute(select(tracking.c.position, tracking.c.updated_at)
                           .where(tracking.c.name == name)).first()
    position = int(row.position) if row is not None else 0
    events = max(0, head - position)
    stalled = 0.0
    if events:
        since_advance = time.time() - float(row.updated_at) if row is not None else None
        oldest = recorder.select_notifications(position + 1, 1)
        if oldest:
            stamp: datetime = getattr(mapper.to_domain_event(oldest[0]), "timestamp")  # noqa: B009
            waited = max(0.0, (clock.now() - stamp).total_seconds())
            stalled = waited if since_advance is None else min(waited, since_advance)
    return ReaderLag(position, head, events, max(0.0, stalled))

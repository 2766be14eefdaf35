"""The global event feed as plain records, for export, analysts and the publisher."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification

from sav.projections.schema import iso

_ENVELOPE = {"originator_id", "originator_version", "timestamp", "originator_topic"}


def event_record(notification: Notification, event: Any) -> dict[str, Any]:
    data = {
        key: (iso(value) if isinstance(value, datetime) else value)
        for key, value in event.__dict__.items()
        if key not in _ENVELOPE
    }
    return {
        "position": notification.id,
        "type": type(event).__qualname__,
        "stream_id": str(notification.originator_id),
        "version": notification.originator_version,
        "timestamp": iso(event.timestamp),
        "data": data,
    }


def iter_records(recorder: ApplicationRecorder, mapper: Mapper[Any], after: int = 0,
                 batch: int = 1000) -> Iterator[dict[str, Any]]:
    position = after
    while True:
        notifications = recorder.select_notifications(position, batch, inclusive_of_start=False)
        if not notifications:
            return
        for notification in notifications:
            yield event_record(notification, mapper.to_domain_event(notification))
        position = notifications[-1].id

"""`ApplicationRecorder` on SQLAlchemy Core, for SQLite and MySQL/MariaDB."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    IntegrityError,
    Notification,
    OperationalError,
    StoredEvent,
    Subscription,
)
from sqlalchemy import Engine, select
from sqlalchemy import exc as sa_exc

from sav.eventstore.db import is_sqlite, write_transaction
from sav.eventstore.schema import event_sequence
from sav.eventstore.schema import stored_events as stored_events_table

AppendListener = Callable[[int], None]


class SqlApplicationRecorder(ApplicationRecorder):
    """Appends hold the sequence row lock until commit, so position N is only
    visible after every position below N is: a reader can never skip an event."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._listeners: list[AppendListener] = []

    def on_append(self, listener: AppendListener) -> None:
        """Call `listener(last_position)` after each committed append."""
        self._listeners.append(listener)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        try:
            ids = self._append(stored_events)
        except sa_exc.IntegrityError:
            raise IntegrityError("stream version already exists") from None
        except sa_exc.OperationalError as error:
            raise OperationalError(str(error.orig)) from None
        for listener in self._listeners:
            listener(ids[-1])
        return ids

    def _append(self, events: Sequence[StoredEvent]) -> list[int]:
        with write_transaction(self.engine) as conn:
            query = select(event_sequence.c.last_id).where(event_sequence.c.name == "events")
            if not is_sqlite(self.engine):
                query = query.with_for_update()
            last = conn.execute(query).scalar_one()
            ids = list(range(last + 1, last + 1 + len(events)))
            conn.execute(
                stored_events_table.insert(),
                [
                    {
                        "notification_id": nid,
                        "originator_id": str(e.originator_id),
                        "originator_version": e.originator_version,
                        "topic": e.topic,
                        "state": e.state,
                    }
                    for nid, e in zip(ids, events, strict=True)
                ],
            )
            conn.execute(
                event_sequence.update()
                .where(event_sequence.c.name == "events")
                .values(last_id=ids[-1])
            )
        return ids

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        t = stored_events_table.c
        query = select(t.originator_id, t.originator_version, t.topic, t.state).where(
            t.originator_id == str(originator_id)
        )
        if gt is not None:
            query = query.where(t.originator_version > gt)
        if lte is not None:
            query = query.where(t.originator_version <= lte)
        query = query.order_by(t.originator_version.desc() if desc else t.originator_version)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            StoredEvent(
                originator_id=UUID(row.originator_id),
                originator_version=row.originator_version,
                topic=row.topic,
                state=bytes(row.state),
            )
            for row in rows
        ]

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> list[Notification]:
        t = stored_events_table.c
        query = select(t.notification_id, t.originator_id, t.originator_version, t.topic, t.state)
        if start is not None:
            query = query.where(
                t.notification_id >= start if inclusive_of_start else t.notification_id > start
            )
        if stop is not None:
            query = query.where(t.notification_id <= stop)
        if topics:
            query = query.where(t.topic.in_(list(topics)))
        query = query.order_by(t.notification_id).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            Notification(
                id=row.notification_id,
                originator_id=UUID(row.originator_id),
                originator_version=row.originator_version,
                topic=row.topic,
                state=bytes(row.state),
            )
            for row in rows
        ]

    def max_notification_id(self) -> int | None:
        with self.engine.connect() as conn:
            last = conn.execute(
                select(event_sequence.c.last_id).where(event_sequence.c.name == "events")
            ).scalar()
        return last or None

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        # Neither SQLite nor MySQL can push; sav.workers tail by polling instead.
        raise NotImplementedError("subscribe() is not available; poll select_notifications()")


class NullSnapshotRecorder(AggregateRecorder):
    """Snapshots are disabled; present only to satisfy the factory interface."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        raise NotImplementedError

    def select_events(self, originator_id: UUID | str, **kwargs: Any) -> list[StoredEvent]:
        return []

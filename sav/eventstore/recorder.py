"""`ApplicationRecorder` on SQLAlchemy Core, for SQLite and MySQL/MariaDB."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    DataError,
    Notification,
    ProcessRecorder,
    StoredEvent,
    Subscription,
    Tracking,
)
from sqlalchemy import Connection, Engine, Executable, Table, bindparam, func, select, text
from sqlalchemy import exc as sa_exc

from sav.eventstore import prepared
from sav.eventstore.db import execute_together, is_sqlite, write_transaction
from sav.eventstore.errors import persistence_error, translated, translating
from sav.eventstore.schema import TOPIC_LENGTH, event_sequence
from sav.eventstore.schema import snapshots as snapshots_table
from sav.eventstore.schema import stored_events as stored_events_table
from sav.eventstore.subscription import PollingSubscription
from sav.eventstore.tracking import SqlTrackingRecorder

log = logging.getLogger("sav.eventstore")
AppendListener = Callable[[int], None]
# Called inside an append's transaction, after the events got their positions, with the
# savepoint INLINE_SAVEPOINT open; returns what to run once that transaction has
# committed (or None). See `project_inline`.
INLINE_SAVEPOINT = "sav_inline"
InlineHook = Callable[[Connection, Sequence[StoredEvent], Sequence[int]],
                      Callable[[], None] | None]


# Taking positions locks the sequence row until commit. MySQL returns the new value
# set through LAST_INSERT_ID(expr) with the UPDATE's reply, SQLite with RETURNING: one
# round trip either way.
_TAKE_POSITIONS = {
    "mysql": text("UPDATE event_sequence SET last_id = LAST_INSERT_ID(last_id + :n) "
                  "WHERE name = 'events'"),
    "sqlite": text("UPDATE event_sequence SET last_id = last_id + :n "
                   "WHERE name = 'events' RETURNING last_id"),
}
_INSERT = stored_events_table.insert()
# Opened in the round trip of the events' INSERT; the commit releases it (issue 21).
_SAVEPOINT = text(f"SAVEPOINT {INLINE_SAVEPOINT}")


@functools.cache
def _last_versions(streams: int) -> Executable:
    """The query of `streams` streams' last versions, one per count (compiled once)."""
    t = stored_events_table.c
    return (select(t.originator_id, func.max(t.originator_version))
            .where(t.originator_id.in_([bindparam(f"id{n}") for n in range(streams)]))
            .group_by(t.originator_id))


@functools.cache
def _notifications(after: bool, inclusive: bool, upto: bool, topics: int) -> Executable:
    """`select_notifications`' query of each shape (compiled once): from `start`, up to
    `stop`, of `topics` topics, at most `limit`."""
    t = stored_events_table.c
    query = select(t.notification_id, t.originator_id, t.originator_version, t.topic, t.state)
    if after:
        start: Any = bindparam("start")
        query = query.where(t.notification_id >= start if inclusive else t.notification_id > start)
    if upto:
        query = query.where(t.notification_id <= bindparam("stop"))
    if topics:
        query = query.where(t.topic.in_([bindparam(f"topic{n}") for n in range(topics)]))
    return query.order_by(t.notification_id).limit(bindparam("limit"))


def check_topics(events: Sequence[StoredEvent]) -> None:
    """The same refusal on both profiles (SQLite would store a longer topic)."""
    for event in events:
        if len(event.topic) > TOPIC_LENGTH:
            raise DataError(f"an event topic is longer than {TOPIC_LENGTH} characters: "
                            f"{event.topic[:60]}...")


class StreamReads:
    """`select_events` of the library's recorders, over one table of stream records
    (events or snapshots) with their `originator_id` and `originator_version`."""

    reader: Engine
    records: Table

    @translating
    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        t = self.records.c
        query = select(t.originator_id, t.originator_version, t.topic, t.state).where(
            t.originator_id == str(originator_id))
        if gt is not None:
            query = query.where(t.originator_version > gt)
        if lte is not None:
            query = query.where(t.originator_version <= lte)
        query = query.order_by(t.originator_version.desc() if desc else t.originator_version)
        if limit is not None:
            query = query.limit(limit)
        with self.reader.connect() as conn:
            rows = conn.execute(query).all()
        stream = UUID(str(originator_id))
        return [StoredEvent(originator_id=stream, originator_version=row.originator_version,
                            topic=row.topic, state=bytes(row.state)) for row in rows]


class SqlApplicationRecorder(StreamReads, ApplicationRecorder):
    """Appends hold the sequence row lock until commit, so position N is only
    visible after every position below N is: a reader can never skip an event.

    `transaction()` lets a command do its own writes (the ticket-number counter) and
    its append in one transaction: one commit per command."""

    records = stored_events_table

    def __init__(self, engine: Engine, reader: Engine | None = None) -> None:
        self.engine = engine
        self.reader = reader or engine
        self._listeners: list[AppendListener] = []
        self._inline: InlineHook | None = None
        self._local = threading.local()
        self._writers = 0  # threads of this process in a write transaction or waiting
        self._writers_lock = threading.Lock()
        self._take_positions = _TAKE_POSITIONS["sqlite" if is_sqlite(engine) else "mysql"]

    def on_append(self, listener: AppendListener) -> None:
        """Call `listener(last_position)` after each committed append."""
        self._listeners.append(listener)

    def project_inline(self, hook: InlineHook | None) -> None:
        """Run `hook(conn, events, positions)` in each append's transaction, while it
        holds the sequence row (every lower position is committed, no higher one can
        be); what it returns runs after the commit, before the append listeners.

        Only while no other thread of this process waits to write: the hook's work
        holds the sequence row longer, and under contention the projector, batching
        many appends in one transaction, keeps appends flowing (issue 21's figures)."""
        self._inline = hook

    @contextmanager
    def _writing(self) -> Iterator[None]:
        with self._writers_lock:
            self._writers += 1
        try:
            yield
        finally:
            with self._writers_lock:
                self._writers -= 1

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """The calling thread's write transaction; appends inside it join it, and the
        append listeners hear of them once it commits."""
        current: Connection | None = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        self._local.last = None
        self._local.committed = []
        self._local.deferred = []
        try:
            with self._writing(), write_transaction(self.engine) as conn:
                self._local.conn = conn
                yield conn
                self._write_deferred(conn)  # none left but by a transaction without events
        except sa_exc.SQLAlchemyError as error:
            raise persistence_error(error) from None
        finally:
            self._local.conn = None
            self._local.deferred = []
        if self._local.last is not None:
            self._notify(self._local.last, self._local.committed)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        check_topics(stored_events)
        joined = getattr(self._local, "conn", None)
        try:
            if joined is not None:
                inline = self._inlining()
                ids = self._append(joined, stored_events, inline)
                self._local.last = ids[-1]
                if inline and (then := inline(joined, stored_events, ids)) is not None:
                    self._local.committed.append(then)
                return ids
            with self._writing(), write_transaction(self.engine) as conn:
                inline = self._inlining()
                ids = self._append(conn, stored_events, inline)
                then = inline(conn, stored_events, ids) if inline else None
        except sa_exc.SQLAlchemyError as error:
            raise persistence_error(error) from None
        self._notify(ids[-1], [then] if then is not None else ())
        return ids

    def defer(self, statement: Executable, row: dict[str, Any]) -> bool:
        """Write `row` with the calling thread's next append, in its transaction and in
        the round trip of its events' INSERT (issue 21: a new ticket's data-key row);
        False when the thread has no transaction here (the caller writes it itself)."""
        if getattr(self._local, "conn", None) is None:
            return False
        self._local.deferred.append((statement, [row]))
        return True

    def _write_deferred(self, conn: Connection, first: Sequence[tuple[Executable, list[Any]]] = (),
                        then: Sequence[tuple[Executable, list[Any]]] = ()) -> None:
        """`first`, what was deferred, `then`: in this order, in one round trip."""
        deferred, self._local.deferred = getattr(self._local, "deferred", []), []
        execute_together(conn, [*first, *deferred, *then])

    @translating
    def last_versions(self, originator_ids: Sequence[UUID]) -> dict[UUID, int]:
        """The last version of each of these streams (absent: it has no events), in one
        query: on the calling thread's write transaction when it has one (no checkout),
        else a read."""
        if not originator_ids:
            return {}
        query = _last_versions(len(originator_ids))
        params = {f"id{n}": str(stream) for n, stream in enumerate(originator_ids)}
        joined: Connection | None = getattr(self._local, "conn", None)
        if joined is not None:
            rows = prepared.fetch_all(joined, query, params)
        else:
            rows = prepared.read_all(self.reader, query, params)
        return {UUID(stream): int(version) for stream, version in rows}

    def remove_listener(self, listener: AppendListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _inlining(self) -> InlineHook | None:
        """The hook to run on this append, unless other threads wait to write (then the
        events are left to the projector, woken by the append listeners)."""
        return None if self._writers > 1 else self._inline

    def _notify(self, position: int, committed: Sequence[Callable[[], None]] = ()) -> None:
        for then in committed:
            try:
                then()
            except Exception:  # the append is committed: its command must not fail now
                log.exception("after projecting position %s inline", position)
        for listener in tuple(self._listeners):  # a subscription may stop meanwhile
            listener(position)

    def _append(self, conn: Connection, events: Sequence[StoredEvent],
                savepoint: object = None) -> list[int]:
        """Positions, then the events' INSERT with what was deferred and, when
        `savepoint` (an inline projection follows), INLINE_SAVEPOINT: one round trip."""
        last = prepared.returned(conn, self._take_positions, {"n": len(events)})
        ids = list(range(last - len(events) + 1, last + 1))
        self._write_deferred(conn, [(_INSERT, [
            {
                "notification_id": nid,
                "originator_id": str(e.originator_id),
                "originator_version": e.originator_version,
                "topic": e.topic,
                "state": e.state,
            }
            for nid, e in zip(ids, events, strict=True)
        ])], [(_SAVEPOINT, [{}])] if savepoint else [])  # the savepoint last: it keeps them
        return ids

    @translating
    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> list[Notification]:
        query = _notifications(start is not None, inclusive_of_start, stop is not None,
                               len(topics))
        params: dict[str, Any] = {"start": start, "stop": stop, "limit": limit,
                                  **{f"topic{n}": topic for n, topic in enumerate(topics)}}
        # A projector's every step: on the reader's pool, no `Connection` (issue 21).
        rows = prepared.read_all(self.reader, query, {
            name: value for name, value in params.items() if value is not None})
        return [Notification(id=position, originator_id=UUID(stream),
                             originator_version=version, topic=topic, state=bytes(state))
                for position, stream, version, topic, state in rows]

    @translating
    def select_stream_notifications(
        self, originator_id: UUID | str, *, gt: int | None = None, limit: int | None = None
    ) -> list[Notification]:
        """One stream's events by version, each with its global position (a ticket's
        history shows both)."""
        stream = originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
        t = stored_events_table.c
        query = select(t.notification_id, t.originator_version, t.topic, t.state).where(
            t.originator_id == str(stream))
        if gt is not None:
            query = query.where(t.originator_version > gt)
        query = query.order_by(t.originator_version)
        if limit is not None:
            query = query.limit(limit)
        with self.reader.connect() as conn:
            rows = conn.execute(query).all()
        # Positional unpacking, one UUID: a long stream reads thousands of rows.
        return [Notification(id=position, originator_id=stream, originator_version=version,
                             topic=topic, state=bytes(state))
                for position, version, topic, state in rows]

    @translating
    def max_notification_id(self) -> int | None:
        with self.reader.connect() as conn:
            last = conn.execute(
                select(event_sequence.c.last_id).where(event_sequence.c.name == "events")
            ).scalar()
        return last or None

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        """The events after `gt`, then each new one as it commits (what the library's
        `ProjectionRunner` follows); SAV's own workers poll `select_notifications`."""
        return PollingSubscription(self, gt, topics)


class SqlSnapshotRecorder(StreamReads, AggregateRecorder):
    """Snapshots of aggregates: any number per stream, the latest one is used."""

    records = snapshots_table

    def __init__(self, engine: Engine, reader: Engine | None = None) -> None:
        self.engine = engine
        self.reader = reader or engine

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """A snapshot of a version already snapshotted is an IntegrityError, as in the
        library; `SavApplication` ignores it (it is the same state)."""
        if not stored_events:
            return None  # an INSERT without rows would be `VALUES ()` on MySQL
        check_topics(stored_events)
        rows = [{"originator_id": str(e.originator_id), "originator_version":
                 e.originator_version, "topic": e.topic, "state": e.state}
                for e in stored_events]
        with translated(), write_transaction(self.engine) as conn:
            conn.execute(snapshots_table.insert(), rows)
        return None


class SqlProcessRecorder(SqlApplicationRecorder, ProcessRecorder):
    """Events and the tracking of the upstream position that caused them, in one
    transaction (the library's `EventSourcedProjection`). A database holds one
    application's events: a process application gets a database of its own
    (`<NAME>_SAV_DATABASE_URL`). SAV itself has none; its projectors track with
    `sav.eventstore.tracking.advance`."""

    def __init__(self, engine: Engine, reader: Engine | None = None, scope: str = "") -> None:
        super().__init__(engine, reader)
        self.tracking = SqlTrackingRecorder(engine, reader, scope)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        tracking: Tracking | None = kwargs.get("tracking")
        if tracking is None:
            return super().insert_events(stored_events)
        with self.transaction() as conn:
            self.tracking.track(conn, tracking)
            return super().insert_events(stored_events)

    def insert_tracking(self, tracking: Tracking) -> None:
        self.tracking.insert_tracking(tracking)

    def max_tracking_id(self, application_name: str) -> int | None:
        return self.tracking.max_tracking_id(application_name)

"""The projector: tails the global event order and applies read-model handlers.

Each batch of events and the new tracking position are written in one transaction,
and the position moves by compare-and-set, so a projector killed at any moment (or
two running at once) converges to the same tables: the read model is exactly-once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification, StoredEvent
from sqlalchemy import Connection, Engine, text
from sqlalchemy import exc as sa_exc

from sav.eventstore import prepared
from sav.eventstore.db import create_store_schema, schema_lock, write_transaction
from sav.eventstore.errors import transaction_dropped
from sav.eventstore.recorder import INLINE_SAVEPOINT
from sav.eventstore.schema import tracking
from sav.eventstore.tracking import ADVANCE, StaleTrackingError, advance, read_position
from sav.privacy.fields import erased_tickets
from sav.projections import registry
from sav.projections.batch import batch
from sav.projections.position import READ_MODEL
from sav.projections.schema import Handler, Handlers, read_metadata

log = logging.getLogger("sav.projections")


def create_read_schema(engine: Engine) -> None:
    create_store_schema(engine)
    with schema_lock(engine) as conn:
        read_metadata.create_all(conn)
        for create in registry.schema_hooks():
            create(conn)


def handler_map(handlers: Iterable[Handlers] | None = None) -> dict[type, list[Handler]]:
    """Each event class -> its handlers, in the read models' order."""
    found: dict[type, list[Handler]] = defaultdict(list)
    for table in handlers if handlers is not None else registry.handler_tables():
        for event_class, handler in table.items():
            if handler is not None:
                found[event_class].append(handler)
    return found


def apply_events(conn: Connection, handlers: dict[type, list[Handler]],
                 events: Iterable[tuple[Any, int]]) -> None:
    """Run the handlers of each (domain event, position), in one projector batch."""
    with batch(conn):  # what handlers defer to the batch's end is written here
        for event, position in events:
            for handler in handlers.get(type(event), ()):
                handler(conn, event, position)


InlineListener = Callable[[int, int, set[str]], None]
_UNDO = text(f"ROLLBACK TO SAVEPOINT {INLINE_SAVEPOINT}")


class InlineProjection:
    """Projects a command's own events in the command's transaction (issue 21).

    Called by the recorder while the append holds the sequence row: every position
    below the append's first is committed and no other writer can commit one until we
    do. So when the tracking row stands exactly one below the first position, the
    read model is complete up to there, and this transaction applies the append's
    events and moves the row to its last position, committing with them: the
    asynchronous projector (here, in other processes, a replay) finds them applied and
    goes on from there. When the row stands lower (that projector is behind), nothing
    is done here and the projector applies them in order, as before: exactly-once
    either way, and the row never jumps over a position.

    The handlers run on events decoded from what was stored (the same input as the
    projector's, erased fields included), inside a savepoint: a failing handler
    leaves the command's append alone and the event to the projector.
    """

    def __init__(self, mapper: Mapper[Any], name: str = READ_MODEL,
                 handlers: Iterable[Handlers] | None = None) -> None:
        self.mapper = mapper
        self.name = name
        self.handlers = handler_map(handlers)
        self._listeners: list[InlineListener] = []

    def on_projected(self, listener: InlineListener) -> None:
        """`listener(first, last, stream_ids)` once a projected append committed."""
        self._listeners.append(listener)

    def __call__(self, conn: Connection, stored: Sequence[StoredEvent],
                 positions: Sequence[int]) -> Callable[[], None] | None:
        """Inside the savepoint the recorder opened with the append (INLINE_SAVEPOINT,
        released by the commit: no round trip of its own); a failure rolls back to it."""
        first, last = positions[0], positions[-1]
        events = [self.mapper.to_domain_event(event) for event in stored]
        try:
            now = time.time()
            # The compare-and-set: the row must be exactly one below the append.
            moved = prepared.execute(conn, ADVANCE, [{
                "row": self.name, "start": first - 1, "end": last, "now": now}])
            if moved != 1:
                if first != 1:
                    return None  # the projector is behind: it applies these in order
                # The very first events: no row yet (a missing row counts as 0).
                conn.execute(tracking.insert().values(name=self.name, position=last,
                                                      updated_at=now))
            apply_events(conn, self.handlers, zip(events, positions, strict=True))
        except sa_exc.IntegrityError as error:
            # A projector created the row first, or a handler's constraint refused.
            log.warning("positions %s-%s left to the projector: %s", first, last,
                        error.orig)
            conn.execute(_UNDO)
            return None
        except sa_exc.SQLAlchemyError as error:
            if not conn.in_transaction() or transaction_dropped(error):
                raise  # the database dropped the whole transaction (a deadlock)
            log.exception("projecting positions %s-%s inline failed; the projector "
                          "will apply them", first, last)
            conn.execute(_UNDO)
            return None
        streams = {str(event.originator_id) for event in stored}
        notifications = [Notification(id=p, originator_id=e.originator_id,
                                      originator_version=e.originator_version,
                                      topic=e.topic, state=e.state)
                         for p, e in zip(positions, stored, strict=True)]
        streams |= erased_tickets(self.mapper, notifications)  # issue 12

        def committed() -> None:
            for listener in self._listeners:
                listener(first, last, streams)

        return committed


class Projector:
    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: Mapper[Any],
        engine: Engine,
        name: str = READ_MODEL,
        handlers: Iterable[Handlers] | None = None,
        batch_size: int = 500,
    ) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.engine = engine
        self.name = name
        self.batch_size = batch_size
        self.handlers = handler_map(handlers)
        self.position = self.read_position()
        # Appends this process projected inline, first -> last, not yet joined to
        # `position` (they may commit out of order); guarded by `_lock`.
        self._inline: dict[int, int] = {}
        self._lock = threading.Lock()
        self.wakeup = threading.Event()  # set by `wake()`: appends to project
        self._listeners: list[Callable[[int], None]] = []
        self._appliers: list[Callable[[set[str]], None]] = []
        self._overtaken: list[Callable[[int], None]] = []

    def read_position(self) -> int:
        return read_position(self.engine, self.name)

    def on_advance(self, listener: Callable[[int], None]) -> None:
        self._listeners.append(listener)

    def on_applied(self, listener: Callable[[set[str]], None]) -> None:
        """`listener(stream_ids)` after each committed batch, before `on_advance`."""
        self._appliers.append(listener)

    def on_overtaken(self, listener: Callable[[int], None]) -> None:
        """`listener(position)` when another writer moved the position (another
        projector, or `sav replay` switching rebuilt tables in), before `on_advance`:
        `on_applied` never heard of the events up to there, nor of changed rows."""
        self._overtaken.append(listener)

    def wake(self, _position: int | None = None) -> None:
        self.wakeup.set()

    def run_once(self, stop: int | None = None) -> int:
        """Apply every event recorded after the position (up to `stop`, inclusive, if
        given); returns how many.

        The position is kept in memory between batches: the compare-and-set in each
        batch's transaction tells when another process moved it, and only then is it
        read again (one query per batch instead of three)."""
        applied = 0
        while True:
            # Read once: an inline projection may move `position` meanwhile.
            start = self.position
            notifications = self.recorder.select_notifications(
                start, self.batch_size, stop=stop, inclusive_of_start=False
            )
            if not notifications:
                return applied
            try:
                self._apply(start, notifications)
            except StaleTrackingError:
                self._moved_to(self.read_position())
                continue
            except sa_exc.IntegrityError:
                # A concurrent projector wrote the same rows first: retry from its position.
                position = self.read_position()
                if position == start:
                    raise
                self._moved_to(position)
                continue
            applied += len(notifications)
            if self._appliers:
                streams = {str(n.originator_id) for n in notifications}
                streams |= erased_tickets(self.mapper, notifications)  # issue 12
                for listener in self._appliers:
                    listener(streams)
            self._advanced_to(notifications[-1].id)
            if len(notifications) < self.batch_size:
                return applied  # caught up: the next append wakes us

    def projected_inline(self, first: int, last: int, _streams: object = None) -> None:
        """This process applied positions `first`..`last` in their own command's
        transaction (`InlineProjection`, committed): follow without a query, and
        without taking them for another writer's."""
        with self._lock:
            self._inline[first] = last
        self._advanced_to(None)

    def _moved_to(self, position: int) -> None:
        """The row moved under a batch: by this process's inline projections alone
        (nothing to redo), or by another writer (its rows unheard of)."""
        with self._lock:
            ours = self._joined(self.position) == position
        if ours:
            self._advanced_to(position)
        else:
            self._overtaken_at(position)

    def _overtaken_at(self, position: int) -> None:
        for listener in self._overtaken:
            listener(position)
        self._advanced_to(position, exact=True)

    def _joined(self, position: int) -> int:
        """`position` moved over the inline appends that continue it (under `_lock`)."""
        while (last := self._inline.pop(position + 1, None)) is not None:
            position = last
        return position

    def _advanced_to(self, position: int | None, exact: bool = False) -> None:
        """Move to `position` (None: where the inline appends lead) and on over the
        inline appends that continue it; `exact`: even backwards (an operator's
        `--from`, a replay's switch)."""
        with self._lock:
            if position is None or (not exact and position < self.position):
                position = self.position
            position = self._joined(position)
            for first in [f for f in self._inline if f <= position]:
                del self._inline[first]  # behind the row: never joinable
            if position == self.position:
                return
            self.position = position
            # Under the lock: listeners hear the positions in order, whichever thread
            # (a request's or the projector's) moved it.
            for listener in self._listeners:
                listener(position)

    def _apply(self, start: int, notifications: Sequence[Any]) -> None:
        end = notifications[-1].id
        with write_transaction(self.engine) as conn:
            # The position moves first: a stale batch fails before doing any work, and
            # the tracking row is locked before any read table is touched, so `sav
            # replay` can hold projectors off with that row while it renames tables.
            advance(conn, self.name, start, end)
            apply_events(conn, self.handlers, ((self.mapper.to_domain_event(n), n.id)
                                               for n in notifications))

"""The projector: tails the global event order and applies read-model handlers.

Each batch of events and the new tracking position are written in one transaction,
and the position moves by compare-and-set, so a projector killed at any moment (or
two running at once) converges to the same tables: the read model is exactly-once.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Mapper
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from sav.eventstore.db import create_store_schema, schema_lock, write_transaction
from sav.eventstore.tracking import StaleTrackingError, advance, read_position
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
        self.handlers: dict[type, list[Handler]] = defaultdict(list)
        for table in handlers if handlers is not None else registry.handler_tables():
            for event_class, handler in table.items():
                if handler is not None:
                    self.handlers[event_class].append(handler)
        self.position = self.read_position()
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
            notifications = self.recorder.select_notifications(
                self.position, self.batch_size, stop=stop, inclusive_of_start=False
            )
            if not notifications:
                return applied
            try:
                self._apply(notifications)
            except StaleTrackingError:
                self._overtaken_at(self.read_position())
                continue
            except sa_exc.IntegrityError:
                # A concurrent projector wrote the same rows first: retry from its position.
                position = self.read_position()
                if position == self.position:
                    raise
                self._overtaken_at(position)
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

    def _overtaken_at(self, position: int) -> None:
        for listener in self._overtaken:
            listener(position)
        self._advanced_to(position)

    def _advanced_to(self, position: int) -> None:
        changed = position != self.position
        self.position = position
        if changed:
            for listener in self._listeners:
                listener(position)

    def _apply(self, notifications: Sequence[Any]) -> None:
        start, end = self.position, notifications[-1].id
        with write_transaction(self.engine) as conn:
            # The position moves first: a stale batch fails before doing any work, and
            # the tracking row is locked before any read table is touched, so `sav
            # replay` can hold projectors off with that row while it renames tables.
            advance(conn, self.name, start, end)
            with batch(conn):  # what handlers defer to the batch's end is written here
                for notification in notifications:
                    event = self.mapper.to_domain_event(notification)
                    for handler in self.handlers.get(type(event), ()):
                        handler(conn, event, notification.id)

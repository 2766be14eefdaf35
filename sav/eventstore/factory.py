"""eventsourcing infrastructure factory: `PERSISTENCE_MODULE=sav.eventstore.factory`.

Reads `SAV_DATABASE_URL` (a sync SQLAlchemy URL) from the application environment.
It passes the library's own recorder test cases on SQLite and MariaDB
(tests/integration/test_eventsourcing_conformance.py).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    Mapper,
    ProcessRecorder,
    Transcoder,
)
from eventsourcing.utils import resolve_topic

from sav.eventstore.db import create_store_schema, engine_for, reader_for
from sav.eventstore.recorder import (
    SqlApplicationRecorder,
    SqlProcessRecorder,
    SqlSnapshotRecorder,
)
from sav.eventstore.tracking import SqlTrackingRecorder
from sav.eventstore.transcoder import PrivacyMapper


class Factory(InfrastructureFactory[SqlTrackingRecorder]):
    def __init__(self, env: object) -> None:
        super().__init__(env)  # type: ignore[arg-type]
        url = self.env.get("SAV_DATABASE_URL")
        if not url:
            raise ValueError("SAV_DATABASE_URL is not set")
        self.engine = engine_for(url)
        self.reader = reader_for(url)
        create_store_schema(self.engine)

    def mapper(self, transcoder: Transcoder | None = None,
               mapper_class: type[Mapper[Any]] | None = None) -> Mapper[Any]:
        """A stored database needs its key store (installed by `sav.bootstrap`) before it
        writes: never plain text for want of one."""
        return PrivacyMapper(transcoder or self.transcoder(), self.compressor(), self.cipher(),
                             require_keys=True)

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        if purpose == "snapshots":
            return SqlSnapshotRecorder(self.engine, self.reader)
        return self.application_recorder()

    def application_recorder(self) -> ApplicationRecorder:
        return SqlApplicationRecorder(self.engine, self.reader)

    def tracking_recorder(
        self, tracking_recorder_class: type[SqlTrackingRecorder] | None = None
    ) -> SqlTrackingRecorder:
        """The class given (a materialised view), or TRACKING_RECORDER_TOPIC's; its rows
        are scoped by the environment's name (the projection's, under ProjectionRunner)."""
        if tracking_recorder_class is None:
            topic = self.env.get(self.TRACKING_RECORDER_TOPIC)
            tracking_recorder_class = resolve_topic(topic) if topic else SqlTrackingRecorder
        assert tracking_recorder_class is not None
        if not issubclass(tracking_recorder_class, SqlTrackingRecorder):
            raise TypeError(f"{tracking_recorder_class} is not a SqlTrackingRecorder")
        return tracking_recorder_class(self.engine, self.reader, scope=self.env.name)

    def process_recorder(self) -> ProcessRecorder:
        return SqlProcessRecorder(self.engine, self.reader, scope=self.env.name)

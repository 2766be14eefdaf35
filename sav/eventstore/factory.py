"""eventsourcing infrastructure factory: `PERSISTENCE_MODULE=sav.eventstore.factory`.

Reads `SAV_DATABASE_URL` (a sync SQLAlchemy URL) from the application environment.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    Mapper,
    ProcessRecorder,
    TrackingRecorder,
    Transcoder,
)

from sav.eventstore.db import create_store_schema, engine_for, reader_for
from sav.eventstore.recorder import SqlApplicationRecorder, SqlSnapshotRecorder
from sav.eventstore.transcoder import PrivacyMapper


class Factory(InfrastructureFactory[TrackingRecorder]):
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
        self, tracking_recorder_class: type[TrackingRecorder] | None = None
    ) -> TrackingRecorder:
        raise NotImplementedError("projections track with sav.projections.runner")

    def process_recorder(self) -> ProcessRecorder:
        raise NotImplementedError("SAV has no process applications")

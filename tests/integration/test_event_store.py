"""The project's event store on SQLite and MariaDB: gapless order, concurrency, big payloads."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from sqlalchemy import Engine

from sav.config import Settings
from sav.eventstore.db import build_engine, create_store_schema
from sav.eventstore.recorder import SqlApplicationRecorder
from sav.eventstore.transcoder import OrjsonTranscoder

WRITERS = 8
EVENTS_PER_WRITER = 60


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = build_engine(settings.database_url, pool_size=WRITERS + 2)
    create_store_schema(engine)
    yield engine
    engine.dispose()


def stored(stream: uuid.UUID, version: int, size: int = 16) -> StoredEvent:
    return StoredEvent(originator_id=stream, originator_version=version,
                       topic="tests:Event", state=b"x" * size)


def test_tailing_reader_sees_every_event_once_in_order_under_concurrent_writers(
    engine: Engine,
) -> None:
    """Invariant 3: with 8 writers committing concurrently, a reader tailing the global
    order never skips an event (auto-increment ids on MySQL would)."""
    recorder = SqlApplicationRecorder(engine)
    total = WRITERS * EVENTS_PER_WRITER
    seen: list[int] = []
    done = threading.Event()

    def write(worker: int) -> None:
        stream = uuid.uuid4()
        for version in range(1, EVENTS_PER_WRITER + 1):
            recorder.insert_events([stored(stream, version)])

    def tail() -> None:
        position = 0
        while len(seen) < total:
            batch = recorder.select_notifications(position, 7, inclusive_of_start=False)
            for notification in batch:
                seen.append(notification.id)
                position = notification.id
            if not batch and done.is_set() and position >= total:
                break

    reader = threading.Thread(target=tail)
    reader.start()
    writers = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join(timeout=60)
    assert seen == list(range(1, total + 1))


def test_appending_an_existing_version_conflicts_and_writes_nothing(engine: Engine) -> None:
    recorder = SqlApplicationRecorder(engine)
    stream = uuid.uuid4()
    assert recorder.insert_events([stored(stream, 1)]) == [1]
    other = uuid.uuid4()
    with pytest.raises(IntegrityError):
        recorder.insert_events([stored(other, 1), stored(stream, 1)])
    assert recorder.max_notification_id() == 1
    assert recorder.select_events(other) == []
    assert recorder.insert_events([stored(stream, 2)]) == [2]


def test_sixteen_mebibyte_payload_round_trips(engine: Engine) -> None:
    recorder = SqlApplicationRecorder(engine)
    stream = uuid.uuid4()
    payload = bytes(range(256)) * (16 * 1024 * 1024 // 256)
    recorder.insert_events([StoredEvent(stream, 1, "tests:Big", payload)])
    (event,) = recorder.select_events(stream)
    assert event.state == payload


def test_select_events_filters_versions(engine: Engine) -> None:
    recorder = SqlApplicationRecorder(engine)
    stream = uuid.uuid4()
    recorder.insert_events([stored(stream, v) for v in range(1, 6)])
    assert [e.originator_version for e in recorder.select_events(stream, gt=2, lte=4)] == [3, 4]
    assert [e.originator_version for e in recorder.select_events(stream, desc=True, limit=2)] == [
        5, 4]
    notes = recorder.select_notifications(2, 2)
    assert [n.id for n in notes] == [2, 3]


def test_transcoder_keeps_datetimes_and_leaves_user_data_alone() -> None:
    transcoder = OrjsonTranscoder()
    moment = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    user_data = {"_type_": "datetime_iso", "_data_": "not a date"}
    decoded = transcoder.decode(transcoder.encode(
        {"timestamp": moment, "metadata": {"nested": user_data}, "n": 1}))
    assert decoded == {"timestamp": moment, "metadata": {"nested": user_data}, "n": 1}

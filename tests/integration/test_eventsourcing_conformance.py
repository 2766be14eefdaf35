"""`PERSISTENCE_MODULE=sav.eventstore.factory` is a persistence module like the library's
own: the eventsourcing library's recorder test cases (`eventsourcing.tests.persistence`)
and its projection test cases (`eventsourcing.tests.projection`: `ProjectionRunner`,
`EventSourcedProjectionRunner`) pass over it, on SQLite and on MariaDB, unchanged.

Each library case is re-run per backend by subclassing (as the library tests its own
SQLite and PostgreSQL modules); every test gets a database of its own, dropped after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar
from uuid import uuid4

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    DataError,
    InfrastructureFactory,
    IntegrityError,
    PersistenceError,
    ProcessRecorder,
    StoredEvent,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.tests import persistence as library
from eventsourcing.tests import projection as library_projections
from eventsourcing.utils import Environment
from sqlalchemy import Column, Integer, MetaData, String, Table, text

from sav.commands.app import SavApplication
from sav.config import Settings
from sav.eventstore.db import dispose_engine
from sav.eventstore.factory import Factory
from sav.eventstore.recorder import SqlApplicationRecorder, SqlProcessRecorder
from sav.eventstore.tracking import SqlTrackingRecorder
from tests.support.settings import drop_mysql_database, make_settings

MODULE = "sav.eventstore.factory"


class Backend:
    """A database of its own for each test, reached through the public extension point:
    the environment `PERSISTENCE_MODULE` + `SAV_DATABASE_URL`."""

    profile: ClassVar[str]
    url: str

    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path) -> Iterator[None]:
        databases: list[Settings] = []

        def new_database(name: str) -> str:
            settings = make_settings(self.profile, tmp_path / name)
            databases.append(settings)
            return settings.database_url

        self.new_database = new_database
        self.url = new_database("store")
        yield
        for settings in databases:
            dispose_engine(settings.database_url)
            if settings.is_mysql:
                drop_mysql_database(settings.db_database)

    def factory(self, name: str = "") -> Factory:
        env = Environment(name, {"PERSISTENCE_MODULE": MODULE, "SAV_DATABASE_URL": self.url})
        factory = InfrastructureFactory.construct(env)
        assert isinstance(factory, Factory)
        return factory


class OnSqlite(Backend):
    profile = "sqlite"


class OnMariadb(Backend):
    profile = "mysql"


# -- the recorders -------------------------------------------------------------------

class SnapshotRecorder(Backend):
    def create_recorder(self) -> AggregateRecorder:
        return self.factory().aggregate_recorder("snapshots")


class TestSnapshotRecorderOnSqlite(OnSqlite, SnapshotRecorder,
                                   library.AggregateRecorderTestCase):
    pass


class TestSnapshotRecorderOnMariadb(OnMariadb, SnapshotRecorder,
                                    library.AggregateRecorderTestCase):
    pass


class EventRecorder(Backend):
    """The application recorder, also as the aggregate recorder of stored events."""

    def create_recorder(self) -> ApplicationRecorder:
        return self.factory().application_recorder()


class Subscriptions(EventRecorder):
    """`subscribe()`, optional in the library (its SQLite recorder lacks it)."""

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()  # type: ignore[attr-defined]


class TestApplicationRecorderOnSqlite(OnSqlite, Subscriptions,
                                      library.ApplicationRecorderTestCase):
    pass


class TestApplicationRecorderOnMariadb(OnMariadb, Subscriptions,
                                       library.ApplicationRecorderTestCase):
    pass


class TestNonInterleavingOnSqlite(OnSqlite, EventRecorder,
                                  library.NonInterleavingNotificationIDsBaseCase):
    pass


class TestNonInterleavingOnMariadb(OnMariadb, EventRecorder,
                                   library.NonInterleavingNotificationIDsBaseCase):
    pass


class Tracker(Backend):
    def create_recorder(self) -> TrackingRecorder:
        return self.factory().tracking_recorder()


class TestTrackingRecorderOnSqlite(OnSqlite, Tracker, library.TrackingRecorderTestCase):
    pass


class TestTrackingRecorderOnMariadb(OnMariadb, Tracker, library.TrackingRecorderTestCase):
    pass


class Processor(Backend):
    def create_recorder(self) -> ProcessRecorder:
        return self.factory().process_recorder()


class TestProcessRecorderOnSqlite(OnSqlite, Processor, library.ProcessRecorderTestCase):
    pass


class TestProcessRecorderOnMariadb(OnMariadb, Processor, library.ProcessRecorderTestCase):
    pass


# -- the infrastructure factory ------------------------------------------------------

class TrackingRecorderSubclass(SqlTrackingRecorder):
    pass


class FactoryCase(Backend):
    def setUp(self) -> None:
        self.env = Environment("TestCase")
        self.env["PERSISTENCE_MODULE"] = MODULE
        self.env["SAV_DATABASE_URL"] = self.url
        super().setUp()  # type: ignore[misc]

    def expected_factory_class(self) -> type[Factory]:
        return Factory

    def expected_aggregate_recorder_class(self) -> type[AggregateRecorder]:
        return SqlApplicationRecorder  # purpose "events": the stored events themselves

    def expected_application_recorder_class(self) -> type[ApplicationRecorder]:
        return SqlApplicationRecorder

    def expected_tracking_recorder_class(self) -> type[TrackingRecorder]:
        return SqlTrackingRecorder

    def tracking_recorder_subclass(self) -> type[TrackingRecorder]:
        return TrackingRecorderSubclass

    def expected_process_recorder_class(self) -> type[ProcessRecorder]:
        return SqlProcessRecorder


class TestFactoryOnSqlite(OnSqlite, FactoryCase, library.InfrastructureFactoryTestCase):
    pass


class TestFactoryOnMariadb(OnMariadb, FactoryCase, library.InfrastructureFactoryTestCase):
    pass


# -- the library's projection runners over SAV's event store -------------------------

counters = Table("test_event_counters", MetaData(),
                 Column("name", String(16), primary_key=True),
                 Column("count", Integer, nullable=False))


class SqlEventCounters(SqlTrackingRecorder, library_projections.EventCountersView):
    """A materialised view: its counter and its tracking move in one transaction."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        counters.create(self.engine, checkfirst=True)

    def get_created_event_counter(self) -> int:
        return self._count("created")

    def get_subsequent_event_counter(self) -> int:
        return self._count("subsequent")

    def incr_created_event_counter(self, tracking: Tracking) -> None:
        self._increment("created", tracking)

    def incr_subsequent_event_counter(self, tracking: Tracking) -> None:
        self._increment("subsequent", tracking)

    def _count(self, name: str) -> int:
        with self.reader.connect() as conn:
            value = conn.execute(counters.select().where(counters.c.name == name)).first()
        return 0 if value is None else int(value.count)

    def _increment(self, name: str, tracking: Tracking) -> None:
        with self.transaction() as conn:
            self.track(conn, tracking)
            moved = conn.execute(counters.update().where(counters.c.name == name)
                                 .values(count=counters.c.count + 1))
            if moved.rowcount == 0:
                conn.execute(counters.insert().values(name=name, count=1))


class CountersView(Backend):
    view_class = SqlEventCounters

    def construct_event_counters_view(self) -> library_projections.EventCountersView:
        return self.factory("eventcounters").tracking_recorder(SqlEventCounters)


class TestEventCountersViewOnSqlite(OnSqlite, CountersView,
                                    library_projections.EventCountersViewTestCase):
    pass


class TestEventCountersViewOnMariadb(OnMariadb, CountersView,
                                     library_projections.EventCountersViewTestCase):
    pass


class Runner(CountersView):
    def setUp(self) -> None:
        self.env = {"PERSISTENCE_MODULE": MODULE, "SAV_DATABASE_URL": self.url}


class TestProjectionRunnerOnSqlite(
        OnSqlite, Runner, library_projections.AggregateEventCountersProjectionTestCase):
    pass


class TestProjectionRunnerOnMariadb(
        OnMariadb, Runner, library_projections.AggregateEventCountersProjectionTestCase):
    pass


class EventSourcedRunner(Backend):
    """The projection's own events go to a database of its own (its environment name's
    `COUNTERS_SAV_DATABASE_URL`): SAV's store holds one application's events."""

    def setUp(self) -> None:
        self.env = {"PERSISTENCE_MODULE": MODULE, "SAV_DATABASE_URL": self.url,
                    "COUNTERS_SAV_DATABASE_URL": self.new_database("counters")}


class TestEventSourcedProjectionRunnerOnSqlite(
        OnSqlite, EventSourcedRunner, library_projections.EventSourcedProjectionTestCase):
    pass


class TestEventSourcedProjectionRunnerOnMariadb(
        OnMariadb, EventSourcedRunner, library_projections.EventSourcedProjectionTestCase):
    pass


# -- errors are the library's --------------------------------------------------------

@pytest.fixture
def store(settings: Settings) -> Iterator[Factory]:
    env = Environment("", {"PERSISTENCE_MODULE": MODULE,
                           "SAV_DATABASE_URL": settings.database_url})
    factory = InfrastructureFactory.construct(env)
    assert isinstance(factory, Factory)
    yield factory
    dispose_engine(settings.database_url)


def event(topic: str = "tests:Event") -> StoredEvent:
    return StoredEvent(originator_id=uuid4(), originator_version=1, topic=topic,
                       state=b"{}")


def test_a_topic_longer_than_the_column_is_a_data_error_on_both_profiles(
        store: Factory) -> None:
    long_topic = "tests:" + "E" * 250
    for recorder in (store.application_recorder(), store.aggregate_recorder("snapshots")):
        with pytest.raises(DataError):
            recorder.insert_events([event(long_topic)])
        recorder.insert_events([event("tests:" + "E" * 249)])  # 255 characters fit


def test_reads_and_writes_of_missing_tables_are_the_library_s_errors(store: Factory) -> None:
    events, snapshots = store.application_recorder(), store.aggregate_recorder("snapshots")
    tracking = store.tracking_recorder()
    with store.engine.begin() as conn:
        for table in ("stored_events", "event_sequence", "snapshots", "projection_tracking"):
            conn.execute(text(f"DROP TABLE {table}"))
    failing: list[Callable[[], object]] = [
        lambda: events.select_notifications(None, 10),
        events.max_notification_id,
        lambda: events.select_events(uuid4()),
        lambda: events.insert_events([event()]),
        lambda: snapshots.select_events(uuid4()),
        lambda: snapshots.insert_events([event()]),
        lambda: tracking.max_tracking_id("upstream"),
        lambda: tracking.insert_tracking(Tracking("upstream", 1)),
    ]
    for call in failing:
        with pytest.raises(PersistenceError):
            call()


def test_a_second_snapshot_of_one_version_is_ignored_by_sav_but_not_by_the_recorder(
        settings: Settings) -> None:
    """The recorder refuses it like the library's; SAV's application, whose append has
    committed by then, must not take that for a conflicting append and retry it."""
    app = SavApplication(settings.database_url)
    try:
        aggregate = Aggregate()
        app.save(aggregate)
        app.take_snapshot(aggregate.id)
        app.take_snapshot(aggregate.id)
        assert app.snapshots is not None
        assert [s.originator_version for s in app.snapshots.get(aggregate.id)] == [1]
        with pytest.raises(IntegrityError):
            app.snapshots.recorder.insert_events(
                [app.snapshots.mapper.to_stored_event(Aggregate.Snapshot.take(aggregate))])
    finally:
        app.close()
        dispose_engine(settings.database_url)

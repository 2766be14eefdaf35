"""The leases of one process are renewed together: one UPDATE for all (issue 21)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, select, update

from sav.eventstore.db import build_engine, create_store_schema
from sav.eventstore.schema import leases
from sav.workers.lease import HeldLeases, Lease, renew_through, run_while_leader

TTL = 30.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = build_engine(f"sqlite:///{tmp_path / 'leases.sqlite3'}")
    create_store_schema(engine)
    yield engine
    engine.dispose()


def statements(engine: Engine) -> list[str]:
    sent: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _sent(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith("BEGIN"):
            sent.append(statement.split()[0])

    return sent


def expiries(engine: Engine) -> dict[str, float]:
    with engine.connect() as conn:
        return dict(conn.execute(select(leases.c.name, leases.c.expires_at)).all())


def held_pair(engine: Engine, first: str, second: str) -> tuple[FakeClock, HeldLeases,
                                                                  Lease, Lease]:
    """Two leases of one process, both taken."""
    clock = FakeClock()
    held = HeldLeases(clock)
    one, two = (Lease(engine, name, ttl=TTL, held=held) for name in (first, second))
    assert one.acquire() and two.acquire()
    return clock, held, one, two


def test_one_update_renews_every_lease_of_the_process_on_one_beat(engine: Engine) -> None:
    clock, held, projector, publisher = held_pair(engine, "projector:read_model", "publisher")
    before = expiries(engine)
    sent = statements(engine)
    clock.now += 1
    assert projector.acquire() and publisher.acquire()
    assert sent == []  # fresh: no query
    clock.now += TTL / 3
    assert projector.acquire()
    assert publisher.acquire()  # renewed with the projector's
    assert sent == ["UPDATE"]  # one statement for both
    after = expiries(engine)
    assert after["publisher"] > before["publisher"]
    assert after["projector:read_model"] > before["projector:read_model"]
    assert publisher.renew_due() == projector.renew_due() == clock.now + TTL / 3
    assert held.names() == ["projector:read_model", "publisher"]


def test_a_lease_taken_over_drops_out_of_the_group(engine: Engine) -> None:
    clock, held, mine, lost = held_pair(engine, "scheduler", "webhooks")
    with engine.begin() as conn:  # another process took it (it had expired there)
        conn.execute(update(leases).where(leases.c.name == "webhooks").values(
            owner="elsewhere", expires_at=9e12))
    clock.now += TTL / 3
    assert mine.acquire()
    assert held.names() == ["scheduler"]
    assert lost.renewed is None
    assert not lost.acquire()
    assert expiries(engine)["webhooks"] == 9e12


def test_a_released_lease_is_not_renewed_with_the_others(engine: Engine) -> None:
    clock, _held, kept, gone = held_pair(engine, "mail", "projector:event_log")
    gone.release()
    clock.now += TTL / 3
    assert kept.acquire()
    assert "projector:event_log" not in expiries(engine)
    other = Lease(engine, "projector:event_log", ttl=TTL, held=HeldLeases(clock))
    assert other.acquire()


def test_a_renewal_through_an_autocommit_engine_is_one_statement(engine: Engine) -> None:
    autocommit = create_engine(engine.url, isolation_level="AUTOCOMMIT")
    renew_through(engine, autocommit)
    clock, _held, first, second = held_pair(engine, "publisher", "mail")
    before = expiries(engine)
    on_writer, on_autocommit = statements(engine), statements(autocommit)
    clock.now += TTL / 3
    assert first.acquire() and second.acquire()
    assert (on_writer, on_autocommit) == ([], ["UPDATE"])
    after = expiries(engine)  # committed: seen by the other engine
    assert after["publisher"] > before["publisher"] and after["mail"] > before["mail"]
    autocommit.dispose()


def test_a_standby_reads_the_lease_table_once_per_beat_for_all_its_leases(
        engine: Engine) -> None:
    with engine.begin() as conn:  # another process holds both
        conn.execute(leases.insert(), [
            {"name": name, "owner": "elsewhere", "expires_at": 9e12}
            for name in ("publisher", "mail")])
    clock = FakeClock()
    held = HeldLeases(clock)
    publisher, mail = (Lease(engine, name, ttl=TTL, held=held) for name in ("publisher", "mail"))
    sent = statements(engine)
    assert not publisher.acquire() and not mail.acquire()
    assert sent == ["SELECT"]  # one read for both, and no take worth a try
    assert publisher.standby_due() == mail.standby_due() == clock.now + TTL / 3
    with engine.begin() as conn:  # the other process died: its leases expire
        conn.execute(update(leases).values(expires_at=0))
    sent.clear()
    clock.now += TTL / 3
    assert publisher.acquire() and mail.acquire()
    assert sent.count("SELECT") == 3  # the table once, then each take reads its row
    assert held.names() == ["mail", "publisher"]


def test_a_burst_of_wakes_within_the_settle_time_is_one_step(engine: Engine) -> None:
    """`settle` (the event log's): appends that come together are handled by one step,
    not one each; a step still comes at most `settle` after the first wake."""
    steps: list[float] = []
    stop, wake = threading.Event(), threading.Event()
    worker = threading.Thread(target=run_while_leader, args=(
        engine, "settling", TTL, stop, lambda: steps.append(time.monotonic())),
        kwargs={"idle": 60.0, "wake": wake, "settle": 0.3})
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while not steps:  # the first step, when the lease is taken
            assert time.monotonic() < deadline
            time.sleep(0.01)
        first_wake = time.monotonic()
        for _ in range(10):  # ten appends within 0.1 s
            wake.set()
            time.sleep(0.01)
        while len(steps) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.4)
        assert len(steps) == 2, steps  # one step for the burst
        assert 0.25 < steps[1] - first_wake < 1.0
    finally:
        stop.set()
        wake.set()
        worker.join(5)

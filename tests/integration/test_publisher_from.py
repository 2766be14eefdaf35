"""`sav worker publisher --from N` moves the shared tracking row only while holding the
publisher lease: never under another live publisher, at once when none is active."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import pytest

from sav.bootstrap import Services
from sav.config import Settings
from sav.eventstore.tracking import set_position
from sav.workers import publisher
from sav.workers.lease import Lease
from sav.workers.publisher import LEASE_NAME, TRACKING_NAME, move_under_lease

TTL = 0.3


@pytest.fixture
def settings_env() -> dict[str, str]:
    return {"SAV_WORKER_LEASE_TTL": str(TTL)}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_one_attempt_writes_nothing_while_another_publisher_holds_the_lease(
        services: Services) -> None:
    set_position(services.engine, TRACKING_NAME, 50)
    active = Lease(services.engine, LEASE_NAME, owner="active-publisher", ttl=30)
    assert active.acquire()
    mover = Lease(services.engine, LEASE_NAME, ttl=TTL)
    assert not move_under_lease(mover, 0)
    assert publisher.tracked_position(services.engine) == 50
    active.release()
    assert move_under_lease(mover, 0)
    assert publisher.tracked_position(services.engine) == 0
    assert mover.holder() is None  # let go at once: a publisher may take it


@pytest.mark.parametrize("broker", ["unset", "unreachable"])
def test_from_waits_for_the_active_publisher_then_moves_the_row(
        services: Services, settings: Settings, broker: str) -> None:
    if broker == "unreachable":  # the publisher leads, moves the row, then retries the broker
        settings = settings.model_copy(update={"rabbitmq_host": "127.0.0.1",
                                               "rabbitmq_port": closed_port()})
    set_position(services.engine, TRACKING_NAME, 50)
    active = Lease(services.engine, LEASE_NAME, owner="active-publisher", ttl=30)
    assert active.acquire()
    stop = threading.Event()
    worker = threading.Thread(target=publisher.run, args=(
        services.app, services.engine, settings, stop), kwargs={"start_from": 0})
    worker.start()
    try:
        time.sleep(3 * TTL)  # several attempts to take the lease
        assert publisher.tracked_position(services.engine) == 50
        active.release()  # the active publisher stops
        wait_until(lambda: publisher.tracked_position(services.engine) == 0)
    finally:
        stop.set()
        worker.join(timeout=10)
    assert not worker.is_alive()

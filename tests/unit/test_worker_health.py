"""What a worker process says about itself: the leases it holds, its threads, over HTTP."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from sav.eventstore.db import build_engine, create_store_schema
from sav.projections.lag import ReaderLag
from sav.workers.health import WorkerHealth, serve_health
from sav.workers.lease import HeldLeases, Lease


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_lease_not_renewed_is_no_longer_claimed_once_it_would_expire() -> None:
    clock = FakeClock()
    held = HeldLeases(clock)
    held.held("publisher", 3.0)
    held.hold("consumer")
    clock.now += 2.9
    assert held.names() == ["consumer", "publisher"]
    clock.now += 0.2
    assert held.names() == ["consumer"]
    held.lost("consumer")
    assert held.names() == []


def test_leases_report_what_this_process_won_and_lost(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'leases.sqlite3'}")
    create_store_schema(engine)
    mine, theirs = HeldLeases(), HeldLeases()
    first = Lease(engine, "publisher", "one", ttl=30, held=mine)
    second = Lease(engine, "publisher", "two", ttl=30, held=theirs)
    assert first.acquire() and not second.acquire()
    assert (mine.names(), theirs.names()) == (["publisher"], [])
    first.release()
    assert second.acquire()
    assert (mine.names(), theirs.names()) == ([], ["publisher"])
    engine.dispose()


def lags() -> dict[str, ReaderLag]:
    return {"projections": ReaderLag(7, 9, 2, 0.5)}


@pytest.fixture
def worker_http() -> Iterator[tuple[str, HeldLeases, dict[str, threading.Thread]]]:
    held = HeldLeases()
    threads: dict[str, threading.Thread] = {}
    health = WorkerHealth(["projections", "consumer"], threads, lags, held)
    server = serve_health(health, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.server_address[1]}", held, threads
    server.shutdown()
    server.server_close()


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())


def test_status_names_the_jobs_held_and_the_lag(worker_http: Any) -> None:
    base, held, _ = worker_http
    held.held("projector:read_model", 30)
    held.held("scheduler:auto-close", 30)  # a job's lock, not a job: not listed
    held.hold("consumer")
    status, body = get(f"{base}/status")
    assert status == 200
    assert body["leases"] == ["consumer", "projections"]
    assert body["kinds"] == ["projections", "consumer"]
    assert body["lag"]["projections"] == {"position": 7, "head": 9, "lag_events": 2,
                                          "stalled_seconds": 0.5}
    assert get(f"{base}/nowhere")[0] == 404


def test_health_fails_when_a_worker_thread_died(worker_http: Any) -> None:
    base, _, threads = worker_http
    assert get(f"{base}/health") == (200, {"status": "ok", "service": "sav-worker"})
    finished = threading.Thread(target=lambda: None, name="consumer")
    finished.start()
    finished.join()
    threads["consumer"] = finished
    assert get(f"{base}/health") == (503, {"status": "failing", "dead": ["consumer"]})


def test_status_is_503_when_the_database_does_not_answer() -> None:
    def unreachable() -> dict[str, ReaderLag]:
        raise ConnectionError("database down")

    health = WorkerHealth(["projections"], {}, unreachable, HeldLeases())
    status, body = health.status()
    assert status == 503
    assert (body["status"], body["database"]) == ("degraded", "unavailable")

"""`/ready`, the API pods' readiness probe (k8s/deployment-api.yaml), on both profiles: it
asks whether this pod can serve (its process and its database), not whether a worker is
behind. A stuck projector makes `/status` 503 for the operators, while every pod stays in
the Service and keeps answering reads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from sav.api.app import create_app
from sav.bootstrap import Services, bootstrap
from sav.commands import tickets
from sav.commands.actor import Actor
from sav.config import Settings
from tests.support.http import CUSTOMER, Client

STALL_SECONDS = 0.5


@pytest.fixture
def settings_env() -> dict[str, str]:
    return {"SAV_PROJECTION_STALL_SECONDS": str(STALL_SECONDS)}


@pytest.fixture
async def unprojected(settings: Settings) -> AsyncIterator[tuple[Services, Client]]:
    """An API whose projector does not run (every worker stuck or gone)."""
    services = bootstrap(settings)
    client = Client(create_app(settings, services))
    yield services, client
    await client.aclose()
    await services.aclose()


async def test_a_stuck_projector_degrades_status_but_not_readiness(
        unprojected: tuple[Services, Client]) -> None:
    services, client = unprojected
    ready = await client.get("/ready")
    assert ready.status == 200
    assert ready.json == {"status": "ready", "database": "connected"}

    tickets.create_ticket(services.app, Actor("cust-1", "customer"),
                          tickets.CreateTicket(subject="Broken", description="It broke"))
    await asyncio.sleep(STALL_SECONDS + 0.2)
    assert (await client.get("/status")).status == 503  # the operators see it
    assert (await client.get("/ready")).status == 200  # the pod still serves
    assert (await client.get("/tickets", as_=CUSTOMER)).status == 200  # reads work


async def test_a_pod_that_cannot_reach_its_database_is_not_ready(
        unprojected: tuple[Services, Client], tmp_path: Path) -> None:
    _, client = unprojected
    assert (await client.get("/ready")).status == 200
    unreachable = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'no-such-directory' / 'sav.sqlite3'}")
    reads, client.app.ctx.reads = client.app.ctx.reads, unreachable
    try:
        down = await client.get("/ready")
        assert down.status == 503
        assert down.json["error"]["code"] == "dependency_unavailable"
        assert down.headers["retry-after"] == "5"
    finally:
        client.app.ctx.reads = reads
        await unreachable.dispose()
    assert (await client.get("/ready")).status == 200

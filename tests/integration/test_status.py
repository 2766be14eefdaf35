"""The API's `/status` on both profiles: projection lag, and `degraded` when the projector
has not advanced for SAV_PROJECTION_STALL_SECONDS while events wait."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from sav.api.app import create_app
from sav.bootstrap import Services, bootstrap
from sav.commands import tickets
from sav.commands.actor import Actor
from sav.config import Settings
from sav.projections.runner import Projector
from tests.support.http import Client

STALL_SECONDS = 1.0


@pytest.fixture
def settings_env() -> dict[str, str]:
    return {"SAV_PROJECTION_STALL_SECONDS": str(STALL_SECONDS)}


@pytest.fixture
async def unprojected(settings: Settings) -> AsyncIterator[tuple[Services, Client]]:
    """An API whose projector does not run (a worker that died)."""
    services = bootstrap(settings)
    yield services, Client(create_app(settings, services))
    await services.aclose()


async def test_status_is_degraded_while_events_wait_for_a_stuck_projector(
        unprojected: tuple[Services, Client]) -> None:
    services, client = unprojected
    ready = await client.get("/status")
    assert ready.status == 200
    assert ready.json["projection"]["lag_events"] == 0

    tickets.create_ticket(services.app, Actor("cust-1", "customer"),
                          tickets.CreateTicket(subject="Broken", description="It broke"))
    fresh = await client.get("/status")
    assert fresh.status == 200, fresh.json  # waiting, but not for long yet
    assert (fresh.json["projection"]["lag_events"], fresh.json["projection"]["stalled"]) \
        == (1, False)

    await asyncio.sleep(STALL_SECONDS + 0.2)
    stuck = await client.get("/status")
    assert stuck.status == 503
    assert stuck.json["status"] == "degraded"
    assert stuck.json["projection"]["stalled"] is True
    assert stuck.json["projection"]["stalled_seconds"] > STALL_SECONDS
    assert stuck.headers["retry-after"]

    app = services.app
    Projector(app.recorder, app.mapper, services.engine).run_once()
    caught_up = await client.get("/status")
    assert caught_up.status == 200
    assert caught_up.json["projection"] == {**caught_up.json["projection"], "lag_events": 0,
                                            "stalled": False}
    assert caught_up.json["projection_position"] == caught_up.json["projection"]["head"]

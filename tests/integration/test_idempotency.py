"""Idempotency-Key: a retry returns the first result, including after the first answer
was a 503 because the read model lagged (the ticket was stored; issue 10)."""

from __future__ import annotations

import pytest

from sav.bootstrap import Services
from sav.projections.runner import Projector
from tests.support.http import CUSTOMER, Client

BODY = {"subject": "Parcel", "description": "Never came"}


@pytest.fixture
def settings_env() -> dict[str, str]:
    return {"SAV_READ_YOUR_WRITES_TIMEOUT": "0.5"}


def stop_projecting(services: Services) -> None:
    services.background.close()
    services.read_model.local = None  # requests now follow the tracking row


async def test_retry_after_a_503_replays_the_created_ticket(
        client: Client, services: Services) -> None:
    stop_projecting(services)
    headers = {"Idempotency-Key": "order-77"}
    first = await client.post("/tickets", as_=CUSTOMER, json=BODY, headers=headers)
    assert first.status == 503, first
    # The stored ticket: its URL in Location, its id in the details (issue 13: a list).
    ticket_id = first.headers["location"].removeprefix("/tickets/")
    assert {"field": "ticket_id", "message": ticket_id} in first.json["error"]["details"]
    assert first.headers["retry-after"] == "1"

    still_lagging = await client.post("/tickets", as_=CUSTOMER, json=BODY, headers=headers)
    assert still_lagging.status == 503, still_lagging

    Projector(services.app.recorder, services.app.mapper, services.engine).run_once()
    retry = await client.post("/tickets", as_=CUSTOMER, json=BODY, headers=headers)
    assert retry.status == 201, retry
    assert retry.json["id"] == ticket_id
    assert retry.headers["idempotent-replayed"] == "true"
    again = await client.post("/tickets", as_=CUSTOMER, json=BODY, headers=headers)
    assert (again.status, again.json["id"]) == (201, ticket_id)
    listed = await client.get("/tickets", as_=CUSTOMER)
    assert [t["id"] for t in listed.json["data"]] == [ticket_id]

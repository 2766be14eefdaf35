"""Satisfaction ratings over HTTP on both profiles: owner only, once, when done."""

from __future__ import annotations

from typing import Any

import pytest

from sav.bootstrap import Services
from tests.support.http import ADMIN, CUSTOMER, OTHER_CUSTOMER, Client, create_ticket


async def resolved_ticket(client: Client) -> dict[str, Any]:
    ticket = await create_ticket(client)
    response = await client.post(f"/tickets/{ticket['id']}/resolve", as_=ADMIN,
                                 json={"resolution": "Refunded"})
    assert response.status == 200
    return ticket


async def test_owner_rates_a_resolved_ticket_once(client: Client, services: Services) -> None:
    ticket = await resolved_ticket(client)
    path = f"/tickets/{ticket['id']}/satisfaction"
    rated = await client.post(path, as_=CUSTOMER, json={"rating": 4, "comment": "Quick"})
    assert rated.status == 200
    assert rated.json["satisfaction_rating"] == 4
    assert rated.json["satisfaction_comment"] == "Quick"
    before = services.app.recorder.max_notification_id()
    again = await client.post(path, as_=CUSTOMER, json={"rating": 1})
    assert again.status == 409 and again.json["error"]["code"] == "invalid_transition"
    assert services.app.recorder.max_notification_id() == before
    stats = (await client.get("/tickets/statistics", as_=ADMIN)).json
    assert stats["satisfaction"] == {"average": 4.0, "count": 1}


async def test_closed_tickets_can_be_rated(client: Client) -> None:
    ticket = await create_ticket(client)
    await client.post(f"/tickets/{ticket['id']}/close", as_=CUSTOMER)
    rated = await client.post(f"/tickets/{ticket['ticket_number']}/satisfaction",
                              as_=CUSTOMER, json={"rating": 5})
    assert rated.status == 200 and rated.json["satisfaction_rating"] == 5


async def test_rating_before_resolution_is_409(client: Client) -> None:
    ticket = await create_ticket(client)
    response = await client.post(f"/tickets/{ticket['id']}/satisfaction", as_=CUSTOMER,
                                 json={"rating": 5})
    assert response.status == 409


async def test_only_the_owner_rates(client: Client) -> None:
    ticket = await resolved_ticket(client)
    path = f"/tickets/{ticket['id']}/satisfaction"
    assert (await client.post(path, as_=OTHER_CUSTOMER, json={"rating": 5})).status == 404
    assert (await client.post(path, as_=ADMIN, json={"rating": 5})).status == 403
    assert (await client.post(path, json={"rating": 5})).status == 401


async def test_public_ticket_rated_with_its_token(client: Client) -> None:
    created = await client.post("/public/tickets", json={
        "email": "bob@example.com", "subject": "s", "description": "d"})
    ticket = created.json
    await client.post(f"/tickets/{ticket['id']}/resolve", as_=ADMIN)
    path = f"/public/tickets/{ticket['ticket_number']}/satisfaction"
    headers = {"X-Access-Token": ticket["access_token"]}
    rated = await client.post(path, headers=headers, json={"rating": 3, "comment": "ok"})
    assert rated.status == 200 and rated.json["satisfaction_rating"] == 3
    assert (await client.post(path, headers=headers, json={"rating": 3})).status == 409
    stats = (await client.get("/tickets/statistics", as_=ADMIN)).json
    assert stats["satisfaction"]["count"] == 1


@pytest.mark.parametrize("body, status", [
    (b'{"rating": 0}', 422),
    (b'{"rating": 6}', 422),
    (b'{"rating": "5"}', 422),
    (b'{"rating": 4.5}', 422),
    (b'{"rating": true}', 422),
    (b'{"comment": "no rating"}', 422),
    (b'{"rating": 5, "stars": 5}', 422),
    (b'{"rating": 5', 400),
    (b"", 400),
])
async def test_bad_rating_is_4xx_and_writes_nothing(
    client: Client, services: Services, body: bytes, status: int
) -> None:
    ticket = await resolved_ticket(client)
    before = services.app.recorder.max_notification_id()
    response = await client.post(f"/tickets/{ticket['id']}/satisfaction", as_=CUSTOMER,
                                 content=body, headers={"content-type": "application/json"})
    assert response.status == status, response
    assert services.app.recorder.max_notification_id() == before
    stored = (await client.get(f"/tickets/{ticket['id']}", as_=CUSTOMER)).json
    assert stored["satisfaction_rating"] is None

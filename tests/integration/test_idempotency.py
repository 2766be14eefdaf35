"""Idempotency-Key: a retry returns the first result, including after the first answer
was a 503 because the read model lagged (the ticket was stored; issue 10), on every POST
route of the app (issue 19)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sav.api.app import create_app
from sav.api.idempotency import SEALED_FIELDS, is_replayable
from sav.api.tables import idempotency_keys
from sav.bootstrap import Services
from sav.events import clock
from sav.projections.runner import Projector
from sav.workers.scheduler import run_job
from tests.support.http import CUSTOMER, Client, create_ticket
from tests.support.posts import example_post, public_ticket, resolved
from tests.support.settings import make_settings
from tests.support.workers import jobs_of

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


# -- every POST route (issue 19) ----------------------------------------------------------

def post_routes(app: Any) -> list[Any]:
    return sorted((r for r in app.router.routes if "POST" in r.methods),
                  key=lambda r: r.path)


def test_every_post_route_is_replayable(tmp_path: Path) -> None:
    """Applied at registration: no POST route, however it is written, can forget it."""
    app = create_app(make_settings("sqlite", tmp_path))
    missing = [route.path for route in post_routes(app) if not is_replayable(route.handler)]
    assert missing == []


async def test_every_post_route_replays_the_first_answer(
        client: Client, services: Services) -> None:
    """Same key and body: the first answer again, marked replayed, nothing done twice;
    same key with another body: 422. Every POST route of the app, one by one."""
    await client.get("/health")  # the app's routes are there once it started
    routes = post_routes(client.app)
    assert len(routes) >= 17, [r.path for r in routes]
    for n, route in enumerate(routes):
        call = await example_post(client, route.path)
        if call is None:
            continue  # tests.support.posts.WITHOUT_EXAMPLE says why
        headers = {**call.headers, "Idempotency-Key": f"key-{n}"}
        first = await client.post(call.path, as_=call.as_, headers=headers, **call.first)
        assert 200 <= first.status < 300, (route.path, first)
        assert "idempotent-replayed" not in first.headers, route.path
        head = services.app.recorder.max_notification_id()
        again = await client.post(call.path, as_=call.as_, headers=headers, **call.first)
        assert (again.status, again.json) == (first.status, first.json), (route.path, again)
        assert again.headers["idempotent-replayed"] == "true", route.path
        assert again.headers.get("etag") == first.headers.get("etag"), route.path
        assert again.headers.get("location") == first.headers.get("location"), route.path
        assert services.app.recorder.max_notification_id() == head, route.path  # no event
        answer = first.json if isinstance(first.json, dict) else {}
        shown_once = [answer[name] for name in SEALED_FIELDS if name in answer]
        with services.engine.connect() as conn:
            stored = conn.execute(select(idempotency_keys.c.body)).scalars().all()
        assert not [s for s in shown_once if any(s in body for body in stored)], route.path
        other = await client.post(call.path, as_=call.as_, headers=headers, **call.other)
        assert other.status == 422, (route.path, other)
        assert other.json["error"]["code"] == "idempotency_key_reused", route.path


async def test_a_rating_retried_is_the_first_answer_not_a_conflict(client: Client) -> None:
    ticket = await create_ticket(client)
    await resolved(client, ticket["id"])
    path, key = f"/tickets/{ticket['id']}/satisfaction", {"Idempotency-Key": "rate-1"}
    first = await client.post(path, as_=CUSTOMER, json={"rating": 5}, headers=key)
    retry = await client.post(path, as_=CUSTOMER, json={"rating": 5}, headers=key)
    assert (first.status, retry.status) == (200, 200), retry
    assert retry.json["satisfaction_rating"] == 5
    # Without the key, a second rating is still the conflict it always was.
    assert (await client.post(path, as_=CUSTOMER, json={"rating": 5})).status == 409


async def test_a_public_reply_retried_is_one_message_and_needs_the_token(
        client: Client) -> None:
    number, token = await public_ticket(client)
    path = f"/public/tickets/{number}/messages"
    key = {"Idempotency-Key": "reply-1"}
    first = await client.post(path, json={"content": "photo"}, headers={**token, **key})
    retry = await client.post(path, json={"content": "photo"}, headers={**token, **key})
    assert (first.status, retry.status) == (201, 201), retry
    assert retry.json["id"] == first.json["id"]
    # The same key and body without the ticket's token replays nothing: still a 404.
    stranger = await client.post(path, json={"content": "photo"},
                                 headers={"X-Access-Token": "guess", **key})
    assert stranger.status == 404, stranger
    seen = await client.get(f"/public/tickets/{number}", headers=token)
    assert [m["content"] for m in seen.json["messages"]] == ["photo"]


async def test_a_public_ticket_retried_gets_its_token_back_never_stored_in_clear(
        client: Client, services: Services) -> None:
    body = {"email": "cy@example.com", "subject": "Fridge", "description": "Warm"}
    key = {"Idempotency-Key": "public-1"}
    first = await client.post("/public/tickets", json=body, headers=key)
    retry = await client.post("/public/tickets", json=body, headers=key)
    assert (first.status, retry.status) == (201, 201), retry
    assert retry.json["access_token"] == first.json["access_token"]
    assert retry.json["id"] == first.json["id"]
    with services.engine.connect() as conn:
        stored = conn.execute(select(idempotency_keys.c.body)).scalars().all()
    assert stored and not [b for b in stored if first.json["access_token"] in b]
    lookup = await client.get(f"/public/tickets/{first.json['ticket_number']}",
                              headers={"X-Access-Token": retry.json["access_token"]})
    assert lookup.status == 200


# -- expiry (SAV_IDEMPOTENCY_TTL_HOURS) -----------------------------------------------------

def stored_keys(services: Services) -> list[str]:
    with services.engine.connect() as conn:
        return sorted(conn.execute(select(idempotency_keys.c.key)).scalars())


async def test_an_expired_answer_is_forgotten_and_the_key_makes_a_new_ticket(
        client: Client, services: Services) -> None:
    key = {"Idempotency-Key": "order-88"}
    first = await client.post("/tickets", as_=CUSTOMER, json=BODY, headers=key)
    clock.travel(timedelta(hours=23))  # within the default 24 h: the first answer
    replay = await client.post("/tickets", as_=CUSTOMER, json=BODY, headers=key)
    assert (replay.json["id"], replay.headers["idempotent-replayed"]) == (
        first.json["id"], "true")
    clock.travel(timedelta(hours=2))  # 25 h after: a new request, a new ticket
    later = await client.post("/tickets", as_=CUSTOMER, json=BODY, headers=key)
    assert later.status == 201 and "idempotent-replayed" not in later.headers, later
    assert later.json["id"] != first.json["id"]
    again = await client.post("/tickets", as_=CUSTOMER, json=BODY, headers=key)
    assert (again.json["id"], again.headers["idempotent-replayed"]) == (
        later.json["id"], "true")
    listed = await client.get("/tickets", as_=CUSTOMER)
    assert len(listed.json["data"]) == 2
    # After the expiry another body is a new request too, not a reused key.
    clock.travel(timedelta(hours=25))
    other = await client.post("/tickets", as_=CUSTOMER, json={**BODY, "subject": "Else"},
                              headers=key)
    assert other.status == 201 and other.json["subject"] == "Else"


@pytest.mark.parametrize("settings_env", [{"SAV_IDEMPOTENCY_TTL_HOURS": "1"}])
async def test_the_ttl_setting_and_a_message_posted_again_after_it(
        client: Client, services: Services) -> None:
    """A derived message id (the key's) does not collide with the first one's either."""
    ticket = await create_ticket(client)
    path, key = f"/tickets/{ticket['id']}/messages", {"Idempotency-Key": "say-1"}
    first = await client.post(path, as_=CUSTOMER, json={"content": "hi"}, headers=key)
    clock.travel(timedelta(minutes=61))
    later = await client.post(path, as_=CUSTOMER, json={"content": "hi"}, headers=key)
    assert (first.status, later.status) == (201, 201), later
    assert later.json["id"] != first.json["id"] and "idempotent-replayed" not in later.headers
    listed = await client.get(path, as_=CUSTOMER)
    assert [m["content"] for m in listed.json["data"]] == ["hi", "hi"]


async def test_a_refused_request_keeps_nothing_so_the_key_takes_a_corrected_body(
        client: Client, services: Services) -> None:
    key = {"Idempotency-Key": "fix-me"}
    refused = await client.post("/tickets", as_=CUSTOMER, json={"subject": ""}, headers=key)
    assert refused.status == 422 and stored_keys(services) == []
    fixed = await client.post("/tickets", as_=CUSTOMER, json=BODY, headers=key)
    assert fixed.status == 201 and "idempotent-replayed" not in fixed.headers


async def test_the_job_deletes_the_expired_answers_only(
        client: Client, services: Services) -> None:
    for n in range(3):
        await client.post("/tickets", as_=CUSTOMER, json=BODY,
                          headers={"Idempotency-Key": f"old-{n}"})
    clock.travel(timedelta(hours=20))
    await client.post("/tickets", as_=CUSTOMER, json=BODY, headers={"Idempotency-Key": "new"})
    clock.travel(timedelta(hours=5))
    summary = await asyncio.to_thread(run_job, jobs_of(services), "idempotency-keys")
    assert summary == {"job": "idempotency-keys", "deleted": 3, "ttl_hours": 24.0}
    assert stored_keys(services) == ["POST /tickets new"]

"""`GET /metrics` (Prometheus text) and the structured event log, on both profiles."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sav.api.app import create_app
from sav.bootstrap import Services
from sav.config import Settings
from sav.events import clock
from sav.eventstore.db import write_transaction
from sav.eventstore.schema import tracking
from sav.logging import JsonFormatter
from sav.workers.event_log import event_log_projector
from sav.workers.scheduler import run_job
from tests.support.http import ADMIN, AGENT, CUSTOMER, Client, create_ticket
from tests.support.workers import jobs_of

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(client: Client) -> Samples:
    response = await client.get("/metrics")
    assert response.status == 200, response
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


async def test_metrics_is_public_prometheus_text(client: Client) -> None:
    samples = await scrape(client)
    assert value(samples, "sav_events_appended_total") == 0
    assert value(samples, "sav_projection_lag_events", projector="read_model") in (None, 0)


async def test_http_requests_and_latency_by_route_and_status(client: Client) -> None:
    ticket = await create_ticket(client)
    await create_ticket(client)
    await client.get(f"/tickets/{ticket['id']}", as_=CUSTOMER)
    await client.get("/tickets")  # 401
    await client.get("/no-such-route", as_=CUSTOMER)
    samples = await scrape(client)
    assert value(samples, "sav_http_requests_total", method="POST", route="/tickets",
                 status="201") == 2
    assert value(samples, "sav_http_requests_total", method="GET",
                 route="/tickets/<ticket_ref:str>", status="200") == 1
    assert value(samples, "sav_http_requests_total", method="GET", route="/tickets",
                 status="401") == 1
    assert value(samples, "sav_http_requests_total", method="GET", route="unmatched",
                 status="404") == 1
    assert value(samples, "sav_http_request_duration_seconds_count", method="POST",
                 route="/tickets", status="201") == 2
    assert not any(ticket["id"] in str(key) for key in samples)


async def test_events_tickets_and_escalations(client: Client, services: Services) -> None:
    clock.freeze(T0)
    urgent = await create_ticket(client, priority="urgent")
    await create_ticket(client, priority="low")
    await client.post(f"/tickets/{urgent['id']}/assign", as_=AGENT, json={"agent_id": "agent-1"})
    clock.freeze(T0 + timedelta(hours=3))
    await asyncio.to_thread(run_job, jobs_of(services), "escalate")
    samples = await scrape(client)
    assert value(samples, "sav_events_appended_total") == 4
    assert value(samples, "sav_event_appends_total") == 4  # appends by this process
    assert value(samples, "sav_tickets", status="assigned", priority="urgent") == 1
    assert value(samples, "sav_tickets", status="open", priority="low") == 1
    assert value(samples, "sav_ticket_escalations_total") == 1


@pytest.mark.parametrize("settings_env", [{"RABBITMQ_HOST": "127.0.0.1"}])  # publishing on
async def test_projection_and_publisher_lag(client: Client, services: Services) -> None:
    clock.freeze(T0)
    for _ in range(3):
        await create_ticket(client)
    with write_transaction(services.engine) as conn:
        conn.execute(tracking.insert(), [
            {"name": "stalled_projector", "position": 0, "updated_at": 0.0},
            {"name": "publisher", "position": 1, "updated_at": 0.0}])
    clock.freeze(T0 + timedelta(seconds=90))
    samples = await scrape(client)
    assert value(samples, "sav_projection_lag_events", projector="read_model") == 0
    assert value(samples, "sav_projection_lag_seconds", projector="read_model") == 0
    assert value(samples, "sav_projection_lag_events", projector="stalled_projector") == 3
    assert value(samples, "sav_projection_lag_seconds", projector="stalled_projector") == 90
    assert value(samples, "sav_publisher_lag_events") == 2
    assert value(samples, "sav_publisher_lag_seconds") == 90
    assert value(samples, "sav_publisher_paused") == 0


async def test_each_app_has_its_own_registry(client: Client, settings: Settings,
                                             services: Services) -> None:
    await create_ticket(client)
    other = Client(create_app(settings, services))
    samples = await scrape(other)
    assert value(samples, "sav_http_requests_total", method="POST", route="/tickets",
                 status="201") is None


# -- structured logs ------------------------------------------------------------------


async def test_event_log_lines_carry_ids_not_content(client: Client, services: Services,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    projector = await asyncio.to_thread(event_log_projector, services.app, services.engine)
    ticket = await create_ticket(client, subject="Secret subject", description="Private",
                                 contact_email="ana@example.com", contact_name="Ana")
    await client.post(f"/tickets/{ticket['id']}/messages", as_=ADMIN,
                      json={"content": "my card number is 4242"})
    await client.post(f"/tickets/{ticket['id']}/assign", as_=ADMIN, json={"agent_id": "agent-1"})
    await client.post(f"/tickets/{ticket['id']}/resolve", as_=ADMIN)
    await client.post(f"/tickets/{ticket['id']}/close", as_=ADMIN)
    with caplog.at_level(logging.INFO, logger="sav.events"):
        await asyncio.to_thread(projector.run_once)
    records = [r for r in caplog.records if r.name == "sav.events"]
    assert [r.getMessage() for r in records] == [
        "ticket.created", "ticket.message_added", "ticket.assigned", "ticket.status_changed",
        "ticket.status_changed", "ticket.closed"]
    lines = [orjson.loads(JsonFormatter().format(r)) for r in records]
    assert {line["ticket_id"] for line in lines} == {ticket["id"]}
    assert lines[2]["agent_id"] == "agent-1" and lines[4]["status"] == "closed"
    text = " ".join(orjson.dumps(line).decode() for line in lines)
    for secret in ("Secret subject", "Private", "ana@example.com", "Ana", "4242"):
        assert secret not in text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sav.events"):
        await asyncio.to_thread(projector.run_once)
    assert [r for r in caplog.records if r.name == "sav.events"] == []  # logged once


async def test_no_publisher_lag_while_publishing_is_paused(client: Client) -> None:
    """No broker configured (issue 13): events wait in the store by design; a paused gauge
    says so instead of a lag that grows forever and would page someone."""
    for _ in range(2):
        await create_ticket(client)
    samples = await scrape(client)
    assert value(samples, "sav_publisher_paused") == 1
    assert value(samples, "sav_publisher_lag_events") is None
    assert value(samples, "sav_publisher_lag_seconds") is None

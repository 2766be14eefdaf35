"""Outbound webhooks on both profiles, against a real HTTP receiver
(tests/support/webhook_receiver.py): signed deliveries checked by a verifier written from
the Standard Webhooks specification, the event filter, retries with the same
`webhook-id`, the delivery log, a manual retry, pausing, disabling, private targets
refused, and a `sav worker webhooks` killed with SIGKILL mid-backlog losing nothing."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from sav.api.app import create_app
from sav.api.auth import issue_token
from sav.bootstrap import Services
from sav.config import Settings
from sav.events import clock
from sav.webhooks.deliveries import position_of
from sav.webhooks.sender import WebhookSender
from sav.workers.scheduler import run_job
from tests.support.http import ADMIN, AGENT, ANALYST, CUSTOMER, Client, create_ticket
from tests.support.live_server import live_server, server_env
from tests.support.settings import JWT_SECRET
from tests.support.webhook_receiver import (
    InvalidSignatureError,
    Receiver,
    verify_standard_webhook,
    webhook_receiver,
)
from tests.support.workers import jobs_of

ENVELOPE = {"position", "message_id", "event", "timestamp", "data"}


@pytest.fixture
def settings_env() -> dict[str, str]:
    return {"SAV_WEBHOOK_ALLOW_PRIVATE": "true", "SAV_WEBHOOK_FIRST_RETRY_SECONDS": "0.2",
            "SAV_WORKER_LEASE_TTL": "1.5"}


class RunningSender:
    """The sender in a thread of this process, as `sav serve` runs it."""

    def __init__(self, services: Services, settings: Settings | None = None) -> None:
        self.stop = threading.Event()
        self.sender = WebhookSender(services.app, services.engine,
                                    settings or services.settings, poll_interval=0.05)
        services.app.on_append(self.sender.wake)
        self.thread = threading.Thread(target=self.sender.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=15)


@pytest.fixture
def sender(services: Services) -> Iterator[RunningSender]:
    running = RunningSender(services)
    yield running
    running.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as endpoint:
        yield endpoint


async def subscribe(client: Client, url: str, events: list[str], **extra: Any
                    ) -> dict[str, Any]:
    response = await client.post("/webhooks", as_=ADMIN,
                                 json={"url": url, "events": events, **extra})
    assert response.status == 201, response
    return response.json  # type: ignore[no-any-return]


async def patch(client: Client, path: str, body: dict[str, Any],
                as_: tuple[str, str] = ADMIN) -> Any:
    return await client.request("PATCH", path, as_=as_, json=body)


async def received(receiver: Receiver, count: int, timeout: float = 30.0) -> list[Any]:
    return await asyncio.to_thread(receiver.wait_for, lambda got: len(got) >= count, timeout)


async def deliveries_of(client: Client, webhook_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/webhooks/{webhook_id}/deliveries", as_=ADMIN)
    assert response.status == 200, response
    return response.json["data"]  # type: ignore[no-any-return]


async def until(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_delivery_is_the_signed_envelope_of_the_events_named_and_is_logged(
        client: Client, receiver: Receiver, sender: RunningSender) -> None:
    hook = await subscribe(client, receiver.url, ["ticket.created", "ticket.assigned"],
                           description="CRM")
    assert hook["active"] is True and hook["secret"].startswith("whsec_")
    assert set(hook) >= {"id", "url", "events", "description", "active", "secret"}
    listed = (await client.get("/webhooks", as_=ADMIN)).json["data"]
    assert [h["id"] for h in listed] == [hook["id"]]
    assert "secret" not in listed[0]
    assert "secret" not in (await client.get(f"/webhooks/{hook['id']}", as_=ADMIN)).json

    ticket = await create_ticket(client)
    await client.post(f"/tickets/{ticket['id']}/messages", as_=CUSTOMER,
                      json={"content": "any news?"})  # ticket.message.new: not named
    await client.post(f"/tickets/{ticket['id']}/assign", as_=ADMIN,
                      json={"agent_id": "agent-1"})
    got = await received(receiver, 2)
    await asyncio.sleep(0.5)  # nothing else comes: the message was not named
    # Sent side by side, so in any order: the position orders them.
    got = sorted(receiver.requests(), key=lambda r: r.json()["position"])
    assert [r.json()["event"] for r in got] == ["ticket.created", "ticket.assigned"]

    feed = (await client.get("/events", as_=ADMIN)).json["data"]
    by_id = {entry["message_id"]: entry for entry in feed}
    for request in got:
        verify_standard_webhook(hook["secret"], request.headers, request.body)
        body = request.json()
        assert set(body) == ENVELOPE
        assert request.headers["webhook-id"] == body["message_id"]
        assert body == by_id[body["message_id"]]  # the published envelope, as GET /events
        assert request.headers["content-type"] == "application/json"
    assert got[0].json()["data"]["ticket_id"] == ticket["id"]

    log = await deliveries_of(client, hook["id"])
    assert [d["event"] for d in log] == ["ticket.assigned", "ticket.created"]  # newest first
    for delivery in log:
        assert delivery["status"] == "delivered" and delivery["attempts"] == 1
        assert delivery["last_status_code"] == 200 and delivery["last_error"] is None
        assert delivery["next_attempt_at"] is None
        assert set(delivery) >= {"id", "event", "position", "status", "attempts",
                                 "last_status_code", "next_attempt_at", "last_error"}
    newest = (await client.get(f"/webhooks/{hook['id']}/deliveries?limit=1", as_=ADMIN))
    assert [d["event"] for d in newest.json["data"]] == ["ticket.assigned"]
    older = await client.get(f"/webhooks/{hook['id']}/deliveries?before="
                             f"{newest.json['data'][0]['position']}", as_=ADMIN)
    assert [d["event"] for d in older.json["data"]] == ["ticket.created"]
    for query in ("limit=0", "limit=101", "limit=x", "before=-1"):
        answer = await client.get(f"/webhooks/{hook['id']}/deliveries?{query}", as_=ADMIN)
        assert answer.status == 422, (query, answer)

    metrics = (await client.get("/metrics")).body.decode()
    assert 'sav_webhook_deliveries{status="delivered"} 2.0' in metrics
    assert f'sav_webhook_backlog{{webhook_id="{hook["id"]}"}} 0.0' in metrics
    assert f'sav_webhook_disabled{{webhook_id="{hook["id"]}"}} 0.0' in metrics
    assert "sav_webhook_delivery_duration_seconds_count 2.0" in metrics


async def test_a_500_is_retried_with_the_same_webhook_id_and_a_manual_retry_sends_again(
        client: Client, receiver: Receiver, sender: RunningSender) -> None:
    hook = await subscribe(client, receiver.url, ["ticket.created"])
    receiver.answer(500)
    await create_ticket(client)
    first, second = await received(receiver, 2)
    assert (first.status, second.status) == (500, 200)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    verify_standard_webhook(hook["secret"], second.headers, second.body)

    async def delivered() -> Any:
        log = await deliveries_of(client, hook["id"])
        return log if log[0]["status"] == "delivered" else None

    (delivery,) = await until(delivered)
    assert delivery["attempts"] == 2 and delivery["last_status_code"] == 200

    retried = await client.post(
        f"/webhooks/{hook['id']}/deliveries/{delivery['id']}/retry", as_=ADMIN)
    assert retried.status == 202, retried
    assert retried.json["status"] == "pending"
    third = (await received(receiver, 3))[2]
    assert third.headers["webhook-id"] == first.headers["webhook-id"]
    verify_standard_webhook(hook["secret"], third.headers, third.body)
    unknown = await client.post(f"/webhooks/{hook['id']}/deliveries/nope/retry", as_=ADMIN)
    assert unknown.status == 404


async def test_a_paused_subscription_receives_nothing_until_resumed(
        client: Client, sender: RunningSender) -> None:
    with webhook_receiver() as paused_end, webhook_receiver() as active_end:
        paused = await subscribe(client, paused_end.url, ["ticket.created"])
        await subscribe(client, active_end.url, ["ticket.created"])
        answer = await patch(client, f"/webhooks/{paused['id']}", {"active": False})
        assert answer.status == 200 and answer.json["active"] is False
        await create_ticket(client)
        await received(active_end, 1)  # the sender went past the event
        await asyncio.sleep(0.5)
        assert paused_end.requests() == []
        assert await deliveries_of(client, paused["id"]) == []

        resumed = await patch(client, f"/webhooks/{paused['id']}", {"active": True})
        assert resumed.json["active"] is True
        # What happened during the pause is sent once resumed (at-least-once).
        got = await asyncio.to_thread(paused_end.wait_for, lambda got: any(
            r.json()["event"] == "ticket.created" for r in got))
        assert got


async def test_one_failing_endpoint_never_delays_another(
        client: Client, sender: RunningSender) -> None:
    with webhook_receiver() as failing, webhook_receiver() as healthy:
        failing.default = 503
        await subscribe(client, failing.url, ["ticket.created"])
        await subscribe(client, healthy.url, ["ticket.created"])
        for _ in range(5):
            await create_ticket(client)
        got = await received(healthy, 5)
        assert {r.status for r in got} == {200}
        assert all(r.status == 503 for r in failing.requests())


async def test_410_disables_the_subscription_with_a_published_event(
        client: Client, receiver: Receiver, sender: RunningSender) -> None:
    hook = await subscribe(client, receiver.url, ["ticket.created"])
    receiver.default = 410
    await create_ticket(client)
    await received(receiver, 1)

    async def disabled() -> Any:
        found = (await client.get(f"/webhooks/{hook['id']}", as_=ADMIN)).json
        return found if found["active"] is False else None

    found = await until(disabled)
    assert found["disabled_reason"] == "gone"
    (delivery,) = await deliveries_of(client, hook["id"])
    assert delivery["status"] == "failed" and delivery["last_status_code"] == 410
    events = (await client.get("/events?type=webhook.disabled", as_=ADMIN)).json["data"]
    assert [e["data"]["webhook_id"] for e in events] == [hook["id"]]
    assert events[0]["data"]["reason"] == "gone"
    assert not any("secret" in e["data"] for e in
                   (await client.get("/events", as_=ADMIN)).json["data"])


async def test_the_last_failed_attempt_fails_the_delivery_and_disables_the_endpoint(
        settings: Settings, services: Services, receiver: Receiver) -> None:
    quick = settings.model_copy(update={"webhook_retry_hours": 1.5 / 3600})
    client = Client(create_app(quick, services))
    # Woken by this process's appends, as `sav serve` wires it: the store's head watch
    # leaves local appends to them (built by hand, the sender slept through the create).
    running = RunningSender(services, quick)
    try:
        hook = await subscribe(client, receiver.url, ["ticket.created"])
        receiver.default = 500
        await create_ticket(client)

        async def failed() -> Any:
            log = await deliveries_of(client, hook["id"])
            return log if log and log[0]["status"] == "failed" else None

        (delivery,) = await until(failed)
        assert delivery["attempts"] >= 2 and delivery["last_status_code"] == 500
        found = await until(lambda: _disabled(client, hook["id"]))
        assert found["disabled_reason"] == "failing"
        assert len({r.headers["webhook-id"] for r in receiver.requests()}) == 1
    finally:
        running.close()
        await client.aclose()


async def _disabled(client: Client, webhook_id: str) -> Any:
    found = (await client.get(f"/webhooks/{webhook_id}", as_=ADMIN)).json
    return found if found["active"] is False else None


async def test_subscriptions_are_for_admins_and_checked(
        settings: Settings, services: Services, client: Client) -> None:
    for caller in (CUSTOMER, AGENT, ANALYST):
        assert (await client.post("/webhooks", as_=caller, json={"url": 1})).status == 403
        assert (await client.post("/webhooks", as_=caller, content=b"{")).status == 403
        assert (await client.get("/webhooks", as_=caller)).status == 403
        assert (await client.get("/webhooks/x", as_=caller)).status == 403
        assert (await patch(client, "/webhooks/x", {"events": 3}, as_=caller)).status == 403
        assert (await client.delete("/webhooks/x", as_=caller)).status == 403
        assert (await client.get("/webhooks/x/deliveries", as_=caller)).status == 403
        assert (await client.post("/webhooks/x/deliveries/y/retry", as_=caller)).status == 403
    assert (await client.get("/webhooks")).status == 401

    async def refused(body: dict[str, Any], field: str) -> None:
        answer = await client.post("/webhooks", as_=ADMIN, json=body)
        assert answer.status == 422, (body, answer)
        details = answer.json["error"]["details"]
        assert all(set(d) == {"field", "message"} for d in details)
        assert field in {d["field"] for d in details}, details

    url = "https://example.com/hooks"
    await refused({"url": url, "events": ["ticket.nope"]}, "events")
    await refused({"url": url, "events": []}, "events")
    await refused({"url": "/relative", "events": ["*"]}, "url")
    await refused({"url": "ftp://example.com/x", "events": ["*"]}, "url")
    await refused({"url": url}, "events")
    await refused({"url": url, "events": ["*"], "colour": "red"}, "colour")

    # Without SAV_WEBHOOK_ALLOW_PRIVATE: private targets are refused, at creation and
    # when changed.
    strict = Client(create_app(settings.model_copy(update={"webhook_allow_private": False}),
                               services))
    try:
        for target in ("http://127.0.0.1:8080/h", "http://localhost/h", "http://[::1]/h",
                       "http://169.254.169.254/latest/meta-data", "http://10.0.0.7/h",
                       "http://192.168.1.20/h", "http://[fe80::1]/h",
                       "http://[::ffff:127.0.0.1]/h", "http://0.0.0.0/h"):
            answer = await strict.post("/webhooks", as_=ADMIN,
                                       json={"url": target, "events": ["*"]})
            assert answer.status == 422, (target, answer)
            assert answer.json["error"]["details"][0]["field"] == "url"
        public = await strict.post("/webhooks", as_=ADMIN,
                                   json={"url": "https://hooks.example.invalid/x",
                                         "events": ["*"]})
        assert public.status == 201  # does not resolve yet: checked when delivering
        moved = await patch(strict, f"/webhooks/{public.json['id']}",
                            {"url": "http://127.0.0.1/h"})
        assert moved.status == 422
    finally:
        await strict.aclose()


async def test_change_and_delete(client: Client, receiver: Receiver) -> None:
    hook = await subscribe(client, receiver.url, ["ticket.created"])
    changed = await patch(client, f"/webhooks/{hook['id']}",
                          {"events": ["*"], "description": "all of it"})
    assert changed.status == 200, changed
    assert changed.json["events"] == ["*"] and changed.json["description"] == "all of it"
    assert (await patch(client, f"/webhooks/{hook['id']}", {"events": ["x.y"]})).status == 422
    gone = await client.delete(f"/webhooks/{hook['id']}", as_=ADMIN)
    assert gone.status == 200 and gone.json["id"] == hook["id"]
    for path in (f"/webhooks/{hook['id']}", f"/webhooks/{hook['id']}/deliveries"):
        assert (await client.get(path, as_=ADMIN)).status == 404
    assert (await client.delete(f"/webhooks/{hook['id']}", as_=ADMIN)).status == 404
    assert (await client.get("/webhooks/not-a-uuid", as_=ADMIN)).status == 404
    assert (await client.get("/webhooks", as_=ADMIN)).json == {"data": []}


def sender_process(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = server_env(settings, SAV_WEBHOOK_ALLOW_PRIVATE="true",
                     SAV_WORKER_LEASE_TTL="1.5", SAV_WORKER_HEALTH_PORT="0")
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "sav.cli", "worker", "webhooks"],
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                cwd=Path(__file__).parents[2])


async def test_a_sender_killed_mid_backlog_loses_nothing(
        settings: Settings, services: Services, client: Client) -> None:
    with webhook_receiver() as receiver:
        receiver.delay = 0.05  # a backlog takes a while: the kill lands in the middle
        hook = await subscribe(client, receiver.url, ["ticket.created"])
        tickets = 80
        for _ in range(tickets):
            await create_ticket(client)
        log = Path(settings.data_dir) / "webhooks-worker.log"
        first = sender_process(settings, log)
        try:
            try:
                await received(receiver, 10, timeout=60)
            except AssertionError as error:
                raise AssertionError(f"{error}\n{log.read_text()[-3000:]}") from None
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            if first.poll() is None:
                first.kill()
        await asyncio.sleep(0.5)  # what was in flight at the kill reaches the receiver
        killed_at = len(receiver.delivered())
        assert killed_at < tickets, "killed before the end of the backlog"
        second = sender_process(settings, log)
        try:
            async def all_delivered() -> Any:
                rows = (await client.get(f"/webhooks/{hook['id']}/deliveries?limit=100",
                                         as_=ADMIN)).json["data"]
                done = [d for d in rows if d["status"] == "delivered"]
                return rows if len(done) == tickets else None

            await until(all_delivered, timeout=90)
        finally:
            second.terminate()
            second.wait(timeout=30)
        # At least once: every event arrived; only what the killed sender had sent (its
        # round's outcomes not yet written) comes twice.
        ids = [r.headers["webhook-id"] for r in receiver.delivered()]
        assert len(set(ids)) == tickets
        assert len(ids) - tickets <= killed_at
        head = services.app.recorder.max_notification_id()
        assert position_of(services.engine, hook["id"]) == head


async def test_sav_serve_sends_webhooks_from_its_in_process_workers(settings: Settings) -> None:
    with webhook_receiver() as receiver, live_server(
            settings, SAV_WEBHOOK_ALLOW_PRIVATE="true") as server:
        admin = {"Authorization": f"Bearer {issue_token(JWT_SECRET, 'admin-1', 'admin')}"}
        async with httpx.AsyncClient(base_url=server.base_url, headers=admin) as http:
            hook = await http.post("/webhooks", json={"url": receiver.url,
                                                      "events": ["ticket.created"]})
            assert hook.status_code == 201, hook.text
            ticket = await http.post("/tickets", json={"subject": "Late", "description": "x"})
            assert ticket.status_code == 201
            (got,) = await received(receiver, 1)
            verify_standard_webhook(hook.json()["secret"], got.headers, got.body)
            assert got.json()["data"]["ticket_id"] == ticket.json()["id"]


async def test_the_guard_runs_again_before_every_delivery(
        settings: Settings, services: Services, client: Client, receiver: Receiver) -> None:
    """Made while private targets were allowed (or a name that pointed elsewhere then):
    a sender that does not allow them refuses to connect, and says so in the log."""
    hook = await subscribe(client, receiver.url, ["ticket.created"])
    strict = settings.model_copy(update={"webhook_allow_private": False})
    running = RunningSender(services, strict)
    try:
        await create_ticket(client)

        async def attempted() -> Any:
            log = await deliveries_of(client, hook["id"])
            return log if log and log[0]["attempts"] >= 1 else None

        (delivery,) = await until(attempted)
        assert delivery["status"] == "pending" and delivery["last_status_code"] is None
        assert "not a public address" in delivery["last_error"]
        assert receiver.requests() == []
    finally:
        running.close()


def signatures(request: Any) -> list[str]:
    return str(request.headers["webhook-signature"]).split(" ")


async def test_a_rotated_secret_signs_beside_the_old_one_for_the_grace_period_only(
        client: Client, receiver: Receiver, sender: RunningSender) -> None:
    """POST /webhooks/{id}/secret/rotate: the new secret shown once; during the grace
    period each delivery carries both signatures (a receiver holding either accepts it),
    then only the new one's."""
    hook = await subscribe(client, receiver.url, ["ticket.created"])
    old = hook["secret"]
    path = f"/webhooks/{hook['id']}/secret/rotate"
    for who in (AGENT, ANALYST, CUSTOMER):
        assert (await client.post(path, as_=who)).status == 403
    assert (await client.post(f"/webhooks/{uuid.uuid4()}/secret/rotate", as_=ADMIN)
            ).status == 404
    await create_ticket(client)
    before = (await received(receiver, 1))[0]
    assert len(signatures(before)) == 1
    verify_standard_webhook(old, before.headers, before.body)

    rotated = await client.post(path, as_=ADMIN)
    assert rotated.status == 200, rotated
    new = rotated.json["secret"]
    assert new.startswith("whsec_") and new != old and rotated.json["id"] == hook["id"]
    expires = datetime.fromisoformat(rotated.json["previous_secret_expires_at"])
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)
    assert "secret" not in (await client.get(f"/webhooks/{hook['id']}", as_=ADMIN)).json
    published = (await client.get("/events?type=webhook.updated", as_=ADMIN)).json["data"]
    assert new not in str(published) and old not in str(published)

    await create_ticket(client)
    during = (await received(receiver, 2))[1]
    assert len(signatures(during)) == 2
    for secret in (new, old):  # the receiver may switch at any moment
        verify_standard_webhook(secret, during.headers, during.body)

    clock.travel(timedelta(hours=24, minutes=1))
    await create_ticket(client)
    after = (await received(receiver, 3))[2]
    assert len(signatures(after)) == 1
    verify_standard_webhook(new, after.headers, after.body)
    with pytest.raises(InvalidSignatureError):
        verify_standard_webhook(old, after.headers, after.body)


async def test_the_job_prunes_old_finished_deliveries_and_keeps_pending_ones(
        client: Client, services: Services, receiver: Receiver,
        sender: RunningSender) -> None:
    hook = await subscribe(client, receiver.url, ["ticket.created"])
    await create_ticket(client)
    await received(receiver, 1)
    receiver.answer(*[500] * 1000)  # the next one stays pending, retried
    await create_ticket(client)
    await received(receiver, 2)
    await until(lambda: _statuses(client, hook["id"], ["pending", "delivered"]))
    jobs, now = jobs_of(services), datetime.now(UTC)
    soon = await asyncio.to_thread(run_job, jobs, "webhook-deliveries", now + timedelta(days=29))
    assert soon == {"job": "webhook-deliveries", "deleted": 0, "retention_days": 30.0}
    later = await asyncio.to_thread(run_job, jobs, "webhook-deliveries", now + timedelta(days=31))
    assert later["deleted"] == 1
    assert [d["status"] for d in await deliveries_of(client, hook["id"])] == ["pending"]


async def _statuses(client: Client, webhook_id: str, expected: list[str]) -> bool:
    return [d["status"] for d in await deliveries_of(client, webhook_id)] == expected

"""`GET /asyncapi.json`: a valid AsyncAPI 3 document, and every message the real publisher
sends to RabbitMQ matches the JSON Schema it gives for its routing key (both profiles)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import jsonschema
import orjson
import pytest

from sav.api.asyncapi import HEADERS_SCHEMA, asyncapi_document, published_keys
from sav.api.auth import issue_token
from sav.bootstrap import Services
from sav.commands.automations import escalate_ticket, request_survey
from sav.commands.platform import UserRegistered, link_registered_user, parse_message
from sav.config import Settings, load_settings
from sav.events import clock
from sav.workers.scheduler import run_job
from tests.support.broker import Tap, body, delete_names, headers, rabbit_env, unique_names
from tests.support.http import ADMIN, AGENT, CUSTOMER, Client, create_ticket
from tests.support.live_server import live_server
from tests.support.story import tell_story
from tests.support.workers import jobs_of, publisher_of

ASYNCAPI_SCHEMA = (Path(__file__).parents[1] / "fixtures" / "asyncapi"
                   / "asyncapi-3.0.0.schema.json")


def document() -> dict[str, Any]:
    return asyncapi_document(load_settings({"SAV_DATA_DIR": "/nonexistent",
                                            "AUTH_JWT_SECRET": "x" * 40}))


def payload_validator(doc: dict[str, Any], key: str) -> jsonschema.Validator:
    schema = doc["components"]["messages"][key.replace(".", "_")]["payload"]
    return jsonschema.Draft202012Validator(schema,
                                           format_checker=jsonschema.FormatChecker())


def test_the_document_is_valid_asyncapi_3_and_names_every_routing_key() -> None:
    doc = document()
    validator = jsonschema.Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text()))
    assert [e.message for e in validator.iter_errors(doc)] == []
    broken = json.loads(json.dumps(doc))
    broken["operations"]["publish_ticket_created"]["action"] = "publish"
    assert list(validator.iter_errors(broken)), "the AsyncAPI schema must catch a bad action"
    addresses = {channel["address"] for channel in doc["channels"].values()
                 if channel["servers"] == [{"$ref": "#/servers/rabbitmq"}]}
    assert set(published_keys()) | {"order.issue", "user.registered",
                                     "product.issue_reported"} == addresses
    streams = {channel["address"] for channel in doc["channels"].values()
               if channel["servers"] == [{"$ref": "#/servers/api"}]}
    assert streams == {"/events", "/tickets/{ticket_ref}/events",
                       "/public/tickets/{ticket_ref}/events"}
    actions = {op["channel"]["$ref"].rsplit("/", 1)[-1]: op["action"]
               for op in doc["operations"].values()}
    assert actions["ticket_created"] == "send" and actions["order_issue"] == "receive"
    for message in doc["components"]["messages"].values():
        jsonschema.Draft202012Validator.check_schema(message["payload"])


def test_consumed_schemas_take_the_payload_or_its_envelope_and_their_examples() -> None:
    doc = document()
    order = {"order_id": "42", "email": "jo@example.com", "issue_type": "not_received"}
    accepts = payload_validator(doc, "order.issue")
    assert accepts.is_valid(order)
    assert accepts.is_valid({"event": "order.issue", "timestamp": "2026-11-29T10:00:00Z",
                             "data": order})
    assert not accepts.is_valid({"email": "jo@example.com"})  # no order_id
    user = payload_validator(doc, "user.registered")
    assert user.is_valid({"user_id": "u-1", "email": "jo@example.com"})
    assert not user.is_valid({"user_id": "u-1"})
    assert payload_validator(doc, "product.issue_reported").is_valid(
        {"product_id": "p-1", "user_id": "u-1"})
    for name, message in doc["components"]["messages"].items():
        for example in message.get("examples", []):
            payload_validator(doc, message["name"]).validate(example["payload"])
            parse_message(message["name"], json.dumps(example["payload"]).encode())
            assert name == message["name"].replace(".", "_")


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    names = unique_names()
    yield names
    asyncio.run(delete_names(names))


@pytest.fixture
def settings_env(names: dict[str, str]) -> dict[str, str]:
    return rabbit_env(names)


@pytest.fixture
async def tap(settings: Settings) -> AsyncIterator[Tap]:
    async with Tap(settings.rabbitmq_exchange) as tap:
        yield tap


@pytest.fixture
def publisher(services: Services) -> Iterator[None]:
    stop = threading.Event()
    running = publisher_of(services)
    services.app.on_append(running.wake)
    thread = threading.Thread(target=running.run, args=(stop,), daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


async def every_event_kind(client: Client, services: Services) -> None:
    """One or more events of each kind SAV stores: the story (create … reopen), then
    what it leaves out."""
    app = services.app
    story = await tell_story(client)
    path = f"/tickets/{story.ticket_id}"
    posted = await client.post(f"{path}/messages", as_=CUSTOMER, json={"content": "oops"})
    assert (await client.delete(f"{path}/messages/{posted.json['id']}", as_=CUSTOMER)
            ).status == 200
    ticket = (await client.get(path, as_=AGENT)).json
    attachment = ticket["attachments"][0]["id"]
    assert (await client.delete(f"{path}/attachments/{attachment}", as_=AGENT)).status == 200
    assert (await client.post(f"{path}/close", as_=CUSTOMER)).status == 200
    assert (await client.delete(path, as_=ADMIN)).status == 200
    assert (await client.post(f"{path}/restore", as_=ADMIN)).status == 200
    taken = f"/tickets/{(await create_ticket(client))['id']}"
    assert (await client.post(f"{taken}/assign", as_=ADMIN,
                              json={"agent_id": "agent-1"})).status == 200
    assert (await client.post(f"{taken}/unassign", as_=ADMIN)).status == 200

    public = await client.post("/public/tickets", json={
        "email": "new@example.com", "subject": "Lid", "description": "Broken lid"})
    assert link_registered_user(app, UserRegistered(user_id="u-9", email="new@example.com"),
                                [UUID(public.json["id"])])
    urgent = await create_ticket(client, priority="urgent")
    assert escalate_ticket(app, UUID(urgent["id"]), clock.now() + timedelta(hours=1),
                           "no first response")
    assert (await client.post(f"/tickets/{urgent['id']}/close", as_=CUSTOMER)).status == 200
    assert request_survey(app, UUID(urgent["id"]))
    agent = {"name": "Ada", "email": "ada@example.com", "active": True}
    assert (await client.put("/agents/agent-1", as_=ADMIN, json=agent)).status == 201
    assert (await client.put("/agents/agent-1", as_=ADMIN,
                             json={**agent, "active": False})).status == 200
    if any(key.startswith("privacy.") for key in published_keys()):
        erased = await client.post("/privacy/erasures", as_=ADMIN, json={"user_id": "u-9"})
        assert erased.status == 202, erased
    if any(key.startswith("webhook.") for key in published_keys()):
        every_webhook_event(app)
    if any(key.startswith("sla.") for key in published_keys()):
        await every_sla_event(client, services)
    if any(key.startswith("macro.") for key in published_keys()):
        await every_macro_event(client)


async def every_macro_event(client: Client) -> None:
    """A macro created, changed, applied to a ticket and deleted (issue 26)."""
    body = {"title": "Hi", "content": "Hello {{customer.name}}",
            "actions": {"priority": "high"}}
    macro = await client.post("/macros", as_=ADMIN, json=body)
    assert macro.status == 201
    path = f"/macros/{macro.json['id']}"
    assert (await client.put(path, as_=ADMIN, json={**body, "title": "Hello"})).status == 200
    ticket = await create_ticket(client)
    assert (await client.post(f"/tickets/{ticket['id']}{path}", as_=AGENT)).status == 200
    assert (await client.delete(path, as_=ADMIN)).status == 200
    other = await create_ticket(client)
    links = f"/tickets/{ticket['id']}/links"
    assert (await client.post(links, as_=AGENT, json={"ticket_id": other["id"],
                                                      "kind": "related"})).status == 201
    assert (await client.delete(f"{links}/{other['id']}", as_=AGENT)).status == 200
    assert (await client.post(f"/tickets/{other['id']}/merge", as_=AGENT,
                              json={"into": ticket["id"]})).status == 200


async def every_sla_event(client: Client, services: Services) -> None:
    """The configuration's changes and a ticket's clocks: applied, paused, resumed,
    started, met, breached (by the `sla` job), stopped."""
    calendar = {"timezone": "Europe/Paris", "holidays": ["2026-12-25"]}
    assert (await client.put("/sla/calendar", as_=ADMIN, json=calendar)).status == 200
    assert (await client.put("/sla/calendar", as_=ADMIN, json={})).status == 200
    policy = {"first_response_minutes": 60, "next_response_minutes": 0.5,
              "resolution_minutes": 600}
    for name in ("gone", "all"):
        assert (await client.put(f"/sla/policies/{name}", as_=ADMIN, json=policy)).status == 201
    assert (await client.put("/sla/policies/all", as_=ADMIN,
                             json={**policy, "position": -1})).status == 200
    assert (await client.delete("/sla/policies/gone", as_=ADMIN)).status == 200
    ticket = await create_ticket(client)
    path = f"/tickets/{ticket['id']}"
    await client.post(f"{path}/assign", as_=AGENT, json={"agent_id": "agent-1"})
    await client.post(f"{path}/messages", as_=AGENT, json={"content": "On it"})
    await client.post(f"{path}/wait", as_=AGENT)
    await client.post(f"{path}/messages", as_=CUSTOMER, json={"content": "Still broken"})
    clock.freeze(clock.now() + timedelta(minutes=1))  # the next response is late
    assert run_job(jobs_of(services), "sla")["breached"] == 1
    assert (await client.post(f"{path}/resolve", as_=AGENT, json={})).status == 200
    unanswered = await create_ticket(client)  # resolved unanswered: its clock stops
    assert (await client.post(f"/tickets/{unanswered['id']}/resolve", as_=AGENT,
                              json={})).status == 200


def every_webhook_event(app: Any) -> None:
    """A subscription's whole life, through its commands (the sender disables it)."""
    from sav.webhooks import commands as hooks
    from tests.support.domain import ADMIN as ADMIN_ACTOR

    rules = hooks.TargetRules(allow_private=True, https_only=False)
    made = hooks.create_webhook(app, ADMIN_ACTOR, hooks.CreateWebhook(
        url="http://127.0.0.1:9/hook", events=["*"]), rules)
    for change in ({"description": "audit", "active": False}, {"active": True}):
        hooks.update_webhook(app, ADMIN_ACTOR, made.webhook_id,
                             hooks.UpdateWebhook(**change), rules)
    hooks.disable_webhook(app, made.webhook_id, "gone", None, 410)
    hooks.delete_webhook(app, ADMIN_ACTOR, made.webhook_id)


async def test_every_published_message_matches_its_schema(
        client: Client, services: Services, tap: Tap, publisher: None) -> None:
    await every_event_kind(client, services)
    head = services.app.recorder.max_notification_id()
    await tap.wait_for_positions(head)
    doc = (await client.get("/asyncapi.json")).json
    assert doc == json.loads(json.dumps(asyncapi_document(services.settings)))
    headers_validator = jsonschema.Draft202012Validator(HEADERS_SCHEMA)
    seen: set[str] = set()
    for message in tap.messages:
        key = message.routing_key
        properties = message.header.properties
        assert properties.message_type == key and properties.content_type == "application/json"
        assert properties.delivery_mode == 2 and properties.message_id
        errors = [f"{list(e.absolute_path)}: {e.message}"
                  for e in payload_validator(doc, key).iter_errors(body(message))]
        assert errors == [], (key, body(message))
        headers_validator.validate(headers(message))
        seen.add(key)
    assert seen == set(published_keys())


def sse_messages(response: httpx.Response, count: int) -> list[dict[str, Any]]:
    """The first `count` messages of a Server-Sent Events stream (comments skipped)."""
    found: list[dict[str, Any]] = []
    fields: dict[str, Any] = {}
    for line in response.iter_lines():
        if line:
            name, _, value = line.partition(":")
            if name:
                fields[name] = value.removeprefix(" ")
            continue
        if "data" in fields:
            found.append({**fields, "data": orjson.loads(fields["data"])})
            if len(found) == count:
                return found
        fields = {}
    raise AssertionError(f"the stream ended after {found}")


def stream_validator(doc: dict[str, Any], channel: str, event: str) -> jsonschema.Validator:
    message = doc["channels"][channel]["messages"][f"{channel}_{event}"]["$ref"]
    schema = doc["components"]["messages"][message.rsplit("/", 1)[1]]["payload"]
    return jsonschema.Draft202012Validator(schema,
                                           format_checker=jsonschema.FormatChecker())


def test_the_sse_streams_send_what_the_document_says(settings: Settings) -> None:
    """A real `sav serve`: each message of the ticket, public and feed streams (history
    entries, presence, feed entries) matches its channel's payload, and a schema-breaking
    entry would not."""
    doc = document()
    secret = settings.jwt_secret()
    auth = {who: {"Authorization": "Bearer " + issue_token(secret, who[0], who[1])}
            for who in (ADMIN, AGENT, CUSTOMER)}
    sse = {"Accept": "text/event-stream", "Last-Event-ID": "0"}
    with live_server(settings) as server, httpx.Client(base_url=server.base_url,
                                                        timeout=30) as client:
        created = client.post("/public/tickets", json={
            "email": "jo@example.com", "subject": "Broken lid", "description": "Lid"})
        assert created.status_code == 201, created.text
        ticket = created.json()
        path = f"/tickets/{ticket['id']}"
        assert client.post(f"{path}/assign", headers=auth[ADMIN],
                           json={"agent_id": AGENT[0]}).status_code == 200
        assert client.post(f"{path}/messages", headers=auth[AGENT],
                           json={"content": "It ships today"}).status_code == 201
        assert client.post(f"{path}/viewing", headers=auth[ADMIN]).status_code == 204
        checks = [(f"{path}/events", auth[AGENT], "ticket_events_stream", 4),
                  (f"/public/tickets/{ticket['ticket_number']}/events",
                   {"X-Access-Token": ticket["access_token"]}, "public_ticket_events_stream", 3),
                  ("/events", auth[ADMIN], "events_stream", 3)]
        seen: set[tuple[str, str]] = set()
        for url, headers, channel, count in checks:
            with client.stream("GET", url, headers={**headers, **sse}) as response:
                assert response.status_code == 200, (url, response.read())
                for message in sse_messages(response, count):
                    event = message.get("event", "message")
                    stream_validator(doc, channel, event).validate(message["data"])
                    seen.add((channel, event))
                    if event == "message":
                        assert message["id"] == str(message["data"]["position"])
        assert seen == {("ticket_events_stream", "message"),
                        ("ticket_events_stream", "presence"),
                        ("public_ticket_events_stream", "message"),
                        ("events_stream", "message")}
    entry = stream_validator(doc, "ticket_events_stream", "message")
    assert not entry.is_valid({"position": "1", "type": "ticket.created"})
    assert not stream_validator(doc, "ticket_events_stream", "presence").is_valid(
        {"viewers": [{"id": "agent-1"}]})

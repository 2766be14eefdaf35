"""The AsyncAPI 3 document of the messages SAV publishes and consumes on RabbitMQ, built
from the code that makes and reads them: the publisher's routing (`sav.workers.routing`,
one channel per routing key, its `data` from the stored event classes' fields) and the
consumer's payload models (`sav.commands.platform`); and the Server-Sent Events streams
of the HTTP API (`GET /events`, `GET /tickets/{id}/events`,
`GET /public/tickets/{number}/events`), their `data` from the API's response models.
Served at `GET /asyncapi.json`.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from typing import Any

from pydantic import TypeAdapter

from sav import __version__
from sav.api import schemas
from sav.commands.platform import SCHEMAS as CONSUMED
from sav.config import Settings
from sav.events.catalog import ALL_EVENTS
from sav.events.ticket import STATUS_AFTER
from sav.privacy.fields import personal_paths
from sav.workers.routing import (
    IDENTITY_FIELDS,
    NEVER_PUBLISHED,
    TRANSITIONS,
    message_data,
    routing_key,
)

AMQP_BINDING = "0.3.0"
# Fields of the library's event envelope: published as the message's timestamp and
# headers, not inside `data`.
ENVELOPE = {"originator_id", "originator_version", "timestamp", "originator_topic",
            "originator_id_type"}
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["x-sav-position", "x-sav-version", "x-sav-stream-id", "x-sav-event-type"],
    "properties": {
        "x-sav-position": {"type": "integer", "minimum": 1,
                           "description": "global position: gapless, increasing"},
        "x-sav-version": {"type": "integer", "minimum": 1,
                          "description": "the stream's (ticket's) version after this event"},
        "x-sav-stream-id": {"type": "string", "description": "the ticket's (or agent "
                            "aggregate's) UUID"},
        "x-sav-event-type": {"type": "string", "description": "the stored event class"},
    },
}
ACTOR_SCHEMA = {"type": "object", "required": ["id", "role"], "properties": {
    "id": {"type": ["string", "null"]}, "role": {"type": ["string", "null"]}}}


def published_keys() -> dict[str, list[type]]:
    """Routing key -> the stored event classes published under it."""
    found: dict[str, list[type]] = {}
    for event_class in ALL_EVENTS:
        found.setdefault(routing_key(event_class), []).append(event_class)
    return dict(sorted(found.items()))


def event_data_schema(event_class: type) -> dict[str, Any]:
    """`data` of a message built from `event_class`: the stream's identity, the event's
    fields (personal ones null once their subject is erased), status and transition."""
    hints = typing.get_type_hints(event_class)
    nullable = {path[0] for path in personal_paths(event_class)}
    properties: dict[str, Any] = {}
    for name, hint in hints.items():
        if name in ENVELOPE or name in NEVER_PUBLISHED:
            continue
        schema = ACTOR_SCHEMA if name == "actor" else TypeAdapter(hint).json_schema()
        if name in nullable and not _allows_null(schema):
            schema = {"anyOf": [schema, {"type": "null"}]}
        properties[name] = schema
    identity = identity_schema(event_class)
    properties = {**identity, **properties}
    if event_class in STATUS_AFTER:
        properties["status"] = {"const": STATUS_AFTER[event_class].value}
    if event_class in TRANSITIONS:
        properties["transition"] = {"const": TRANSITIONS[event_class]}
    return {"type": "object", "required": sorted(properties), "properties": properties,
            "additionalProperties": True}


def identity_schema(event_class: type) -> dict[str, Any]:
    """The identity `data` starts with: the stream's id (under the name the publisher
    gives it) and the fields the aggregate's opening event defines (`ticket_number`)."""
    stream_key = next(iter(message_data(event_class, {"stream_id": "", "data": {}}, {})))
    aggregate = event_class.__qualname__.split(".")[0]
    found: dict[str, Any] = {stream_key: {"type": "string", "format": "uuid"}}
    for opening, names in IDENTITY_FIELDS.items():
        if opening.__qualname__.split(".")[0] == aggregate:
            hints = typing.get_type_hints(opening)
            found.update({name: TypeAdapter(hints[name]).json_schema() for name in names})
    return found


def _allows_null(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "null" or any(
        option.get("type") == "null" for option in schema.get("anyOf", []))


def published_payload(key: str, classes: Iterable[type]) -> dict[str, Any]:
    datas = [event_data_schema(event_class) for event_class in classes]
    return {
        "$schema": SCHEMA_DIALECT,
        "type": "object",
        "required": ["event", "timestamp", "data"],
        "properties": {
            "event": {"const": key},
            "timestamp": {"type": "string", "format": "date-time",
                          "description": "when the event happened (UTC)"},
            "data": datas[0] if len(datas) == 1 else {"anyOf": datas},
        },
    }


def consumed_payload(key: str, model: type[Any]) -> dict[str, Any]:
    """A consumed body is the payload itself, or the same envelope SAV publishes."""
    payload = model.model_json_schema()
    defs = payload.pop("$defs", {})
    envelope = {"type": "object", "required": ["data"], "properties": {
        "event": {"const": key}, "timestamp": {"type": "string"},
        "data": {"$ref": "#/$defs/payload"}}}
    return {"$schema": SCHEMA_DIALECT, "$defs": {**defs, "payload": payload},
            "anyOf": [{"$ref": "#/$defs/payload"}, envelope]}


class Presence(schemas.Shape):
    """`event: presence` of a staff stream: who else of the staff views the ticket now."""

    viewers: list[schemas.Viewer]


# The Server-Sent Events streams (`Accept: text/event-stream`): (channel, address, who
# reads it, its messages as (SSE `event` field, model, what it is)). Each message's SSE
# `id` is the entry's `position`: a reconnecting client sends it back as `Last-Event-ID`.
ENTRY = ("message", schemas.HistoryEntry,
         "a new entry of the ticket's history, as GET /tickets/{id}/history lists it, "
         "filtered for the reader (customers never see internal notes)")
STREAMS: list[tuple[str, str, str, list[tuple[str, type[schemas.Shape], str]]]] = [
    ("ticket_events_stream", "/tickets/{ticket_ref}/events",
     "the ticket's customer and the staff who may see it (Bearer JWT)",
     [ENTRY, ("presence", Presence, "staff readers only: who else of the staff views the "
              "ticket, sent when it changes (POST /tickets/{id}/viewing)")]),
    ("public_ticket_events_stream", "/public/tickets/{ticket_ref}/events",
     "anyone with the ticket's access token (X-Access-Token or ?token=)", [ENTRY]),
    ("events_stream", "/events",
     "admins and analysts (Bearer JWT): the feed, each entry the message published to "
     "RabbitMQ with its position; ?type= and ?ticket_id= select",
     [("message", schemas.FeedEntry, "the next entry of the feed")]),
]
STREAM_PARAMETERS = {"ticket_ref": {"description": "the ticket's id (UUID) or its number"}}


def model_payload(model: type[Any]) -> dict[str, Any]:
    payload: dict[str, Any] = model.model_json_schema(mode="serialization")
    return {"$schema": SCHEMA_DIALECT, **payload}


def add_streams(channels: dict[str, Any], operations: dict[str, Any],
                messages: dict[str, Any]) -> None:
    """The SSE streams: one channel per route on the `api` server, SAV sending."""
    for name, address, readers, kinds in STREAMS:
        refs: dict[str, Any] = {}
        for event, model, summary in kinds:
            message = f"{name}_{event}"
            messages[message] = {
                "name": event, "title": f"{address} {event}",
                "contentType": "application/json", "summary": summary,
                "description": f"An SSE message: `event: {event}` (absent for `message`), "
                               "`data:` this JSON on one line"
                               + (", `id:` its `position`." if event == "message" else "."),
                "payload": model_payload(model),
            }
            refs[message] = {"$ref": f"#/components/messages/{message}"}
        channels[name] = {
            "address": address, "messages": refs, "servers": [{"$ref": "#/servers/api"}],
            "description": f"GET {address} with `Accept: text/event-stream`: read by "
                           f"{readers}. A comment every 15 s keeps it open; `retry:` "
                           "says when to reconnect, with `Last-Event-ID`.",
            **({"parameters": {key: value for key, value in STREAM_PARAMETERS.items()
                               if f"{{{key}}}" in address}} if "{" in address else {}),
        }
        operations[f"stream_{name}"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{name}"},
            "summary": f"SAV streams GET {address} (Server-Sent Events)",
            "messages": [{"$ref": f"#/channels/{name}/messages/{message}"}
                         for message in refs],
        }


def channel_id(key: str) -> str:
    return key.replace(".", "_")


def asyncapi_document(settings: Settings) -> dict[str, Any]:
    exchange = {"name": settings.rabbitmq_exchange, "type": "topic", "durable": True,
                "autoDelete": False, "vhost": settings.rabbitmq_vhost}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for key, classes in published_keys().items():
        name = channel_id(key)
        messages[name] = {
            "name": key, "title": key, "contentType": "application/json",
            "summary": "Published for " + ", ".join(c.__qualname__ for c in classes),
            "payload": published_payload(key, classes), "headers": HEADERS_SCHEMA,
            "correlationId": {"location": "$message.header#/x-sav-stream-id"},
            "bindings": {"amqp": {"messageType": key, "bindingVersion": AMQP_BINDING}},
        }
        channels[name] = _channel(key, name, exchange)
        operations[f"publish_{name}"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{name}"},
            "summary": f"SAV publishes {key} (persistent, message_id stable per event)",
            "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
            "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": AMQP_BINDING}},
        }
    for key, model in sorted(CONSUMED.items()):
        name = channel_id(key)
        messages[name] = {
            "name": key, "title": key, "contentType": "application/json",
            "summary": (model.__doc__ or key).strip().splitlines()[0],
            "description": "Ids may be numbers or strings; unknown fields are ignored.",
            "payload": consumed_payload(key, model),
            "examples": [{"name": key, "payload": CONSUMED_EXAMPLES[key]}],
            "bindings": {"amqp": {"messageType": key, "bindingVersion": AMQP_BINDING}},
        }
        channels[name] = _channel(key, name, exchange)
        operations[f"consume_{name}"] = {
            "action": "receive", "channel": {"$ref": f"#/channels/{name}"},
            "summary": f"SAV consumes {key} from queue {settings.rabbitmq_queue}",
            "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
            "bindings": {"amqp": {"ack": True, "bindingVersion": AMQP_BINDING}},
        }
    add_streams(channels, operations, messages)
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "SAV ticket events", "version": __version__,
                 "description": DESCRIPTION.format(exchange=settings.rabbitmq_exchange,
                                                   queue=settings.rabbitmq_queue)},
        "defaultContentType": "application/json",
        "servers": {"rabbitmq": {"host": f"{settings.rabbitmq_host or 'rabbitmq'}:"
                                         f"{settings.rabbitmq_port}",
                                 "protocol": "amqp", "protocolVersion": "0.9.1"},
                    "api": {"host": api_host(settings), "protocol": "http",
                            "description": "SAV's HTTP API: its Server-Sent Events "
                                           "streams (the rest is in /openapi.json)"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def api_host(settings: Settings) -> str:
    """The API's host as clients reach it (SAV_PUBLIC_BASE_URL, else the local port)."""
    base = settings.public_base_url.split("://", 1)[-1].split("/", 1)[0]
    return base or f"localhost:{settings.app_port}"


def _channel(key: str, name: str, exchange: dict[str, Any]) -> dict[str, Any]:
    return {"address": key, "servers": [{"$ref": "#/servers/rabbitmq"}],
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": {"amqp": {"is": "routingKey", "exchange": exchange,
                                  "bindingVersion": AMQP_BINDING}}}


# What a producer sends, one per consumed key (the unit test checks each against its schema).
CONSUMED_EXAMPLES: dict[str, dict[str, Any]] = {
    "order.issue": {"order_id": "A-1042", "user_id": "cust-1", "email": "jo@example.com",
                    "customer_name": "Jo", "issue_type": "not_received",
                    "subject": "Parcel never came", "priority": "high"},
    "product.issue_reported": {"product_id": "KETTLE-2", "order_id": "A-1042",
                               "product_name": "Kettle", "email": "jo@example.com",
                               "issue_type": "defective", "description": "The lid is cracked"},
    "user.registered": {"user_id": "cust-7", "email": "ann@example.com", "name": "Ann"},
}

DESCRIPTION = (
    "Every stored event is published once (at least once: drop duplicates by "
    "`message_id`, a UUID stable per event) on the durable topic exchange `{exchange}`, "
    "in global order, persistent, with `type` = the routing key and `app_id` = `sav`. "
    "Bind your own durable queue to the keys you need. Internal messages are published "
    "with `is_internal: true`: a consumer that reaches customers must drop them. SAV "
    "consumes `order.issue`, `product.issue_reported` and `user.registered` from queue "
    "`{queue}` (dead letters in `{queue}.dead`). The same entries, with their position, "
    "are readable over HTTP at `GET /events`.")

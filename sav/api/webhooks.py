"""Outbound webhook routes (admins only; issue 25): the subscriptions
(`/webhooks`, `/webhooks/{id}`), their signing secret's rotation
(`/webhooks/{id}/secret/rotate`) and their delivery log (`/webhooks/{id}/deliveries`,
`.../{delivery_id}/retry`). Every route checks the caller first: a non-admin gets 403
whatever the body or the id."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from sanic import Blueprint, HTTPResponse, Request

from sav.api import http, schemas
from sav.api.auth import current_actor
from sav.api.body import JsonBody, deferred_body
from sav.api.errors import ApiError
from sav.api.openapi import documents_query, responds
from sav.api.query import JSON_INTEGER
from sav.commands.actor import Actor
from sav.webhooks import deliveries
from sav.webhooks.commands import (
    CreateWebhook,
    TargetRules,
    UpdateWebhook,
    create_webhook,
    delete_webhook,
    rotate_secret,
    update_webhook,
)
from sav.webhooks.subscriptions import find_subscription, list_subscriptions, subscription_json

bp = Blueprint("webhooks")

DELIVERIES_LIMIT = 50
MAX_INT = 2**62  # a position or a count (a BIGINT holds it)


# -- the shapes answered (sav.api.examples has one of each) ---------------------------


class Webhook(schemas.Shape):
    """A subscription; never its secret."""

    id: str
    url: str
    events: list[str] = Field(examples=[["ticket.created", "ticket.resolved"]])
    description: str | None
    active: bool
    disabled_reason: str | None = Field(
        description="why the sender disabled it: `gone` (410) or `failing`; null otherwise")
    created_at: datetime
    updated_at: datetime


class WebhookCreated(Webhook):
    secret: str = Field(description="`whsec_` + base64 of the signing key: shown only in "
                        "this answer")


class WebhookSecretRotated(WebhookCreated):
    previous_secret_expires_at: datetime = Field(
        description="until when deliveries carry the old secret's signature too (both "
        "in `webhook-signature`, space-separated): switch the receiver over before")


class WebhookList(schemas.Shape):
    data: list[Webhook]


class WebhookDelivery(schemas.Shape):
    id: str
    webhook_id: str
    event: str
    position: int
    message_id: str = Field(description="sent as `webhook-id`, the same on every attempt")
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    last_status_code: int | None
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime


class WebhookDeliveryList(schemas.Shape):
    data: list[WebhookDelivery]


class DeliveryListQuery(BaseModel):
    limit: int = Field(DELIVERIES_LIMIT, ge=1, le=100, description="deliveries (1-100)")
    before: int | None = Field(None, ge=0, le=MAX_INT, description="only events before "
                               "this position (the last `position` of the previous page)")


# -- helpers ----------------------------------------------------------------------------


def require_admin(request: Request) -> Actor:
    actor = current_actor(request)
    if not actor.is_admin:
        raise ApiError(403, "forbidden", "only admins manage webhooks")
    return actor


def target_rules(request: Request) -> TargetRules:
    settings = http.settings(request)
    return TargetRules(allow_private=settings.webhook_allow_private,
                       https_only=settings.app_env == "production")


def checked_id(webhook_id: str) -> str:
    try:
        return str(UUID(webhook_id))
    except ValueError:
        raise ApiError(404, "not_found", "webhook not found") from None


async def visible_subscription(request: Request, webhook_id: str,
                               position: int | None = None) -> Any:
    await http.wait_until_visible(request, position, {"webhook_id": webhook_id})
    async with http.reads(request).connect() as conn:
        row = await find_subscription(conn, webhook_id)
    if row is None:
        raise ApiError(404, "not_found", "webhook not found")
    return row


def int_arg(request: Request, name: str) -> int | None:
    raw = http.first_arg(request, name)  # `before=` is a value to refuse, not "none"
    if raw is None:
        return None
    if not JSON_INTEGER.match(raw):
        raise ApiError(422, "validation_failed", f"{name} must be an integer",
                       [{"field": name, "message": "not an integer"}])
    value = int(raw)
    if not 0 <= value <= MAX_INT:
        raise ApiError(422, "validation_failed", f"{name} is out of range",
                       [{"field": name, "message": f"must be between 0 and {MAX_INT}"}])
    return value


# -- routes -----------------------------------------------------------------------------


@bp.post("/webhooks")
@responds(201, WebhookCreated, description="created: keep the secret, it is not shown again")
@deferred_body(CreateWebhook)
async def create_webhook_route(request: Request, body: JsonBody[CreateWebhook]
                               ) -> HTTPResponse:
    """Subscribe a URL to events (`["*"]`: all); each is POSTed signed (Standard Webhooks).

    The answer carries the signing secret, once. A URL that is not absolute http(s), or
    that points at a loopback, private or link-local address, is refused (422)."""
    actor = require_admin(request)
    cmd = body.parse(request)
    outcome = await http.command_pool(request).run(create_webhook, actor, cmd,
                                                   target_rules(request))
    row = await visible_subscription(request, outcome.webhook_id, outcome.position)
    return http.json({**subscription_json(row), "secret": outcome.secret}, status=201)


@bp.get("/webhooks")
@responds(200, WebhookList)
async def list_webhooks_route(request: Request) -> HTTPResponse:
    """Every subscription, oldest first (never the secrets)."""
    require_admin(request)
    async with http.reads(request).connect() as conn:
        rows = await list_subscriptions(conn)
    return http.json({"data": [subscription_json(row) for row in rows]})


@bp.get("/webhooks/<webhook_id:str>")
@responds(200, Webhook)
async def get_webhook_route(request: Request, webhook_id: str) -> HTTPResponse:
    """One subscription (never its secret)."""
    require_admin(request)
    row = await visible_subscription(request, checked_id(webhook_id))
    return http.json(subscription_json(row))


@bp.patch("/webhooks/<webhook_id:str>")
@responds(200, Webhook)
@deferred_body(UpdateWebhook)
async def update_webhook_route(request: Request, webhook_id: str,
                               body: JsonBody[UpdateWebhook]) -> HTTPResponse:
    """Change the URL, events or description; `{"active": false}` pauses it (nothing is
    sent), `{"active": true}` resumes it, also after the sender disabled it."""
    actor = require_admin(request)
    webhook_id = checked_id(webhook_id)
    cmd = body.parse(request)
    outcome = await http.command_pool(request).run(update_webhook, actor, webhook_id, cmd,
                                                   target_rules(request))
    row = await visible_subscription(request, webhook_id, outcome.position)
    return http.json(subscription_json(row))


@bp.delete("/webhooks/<webhook_id:str>")
@responds(200, schemas.Deleted)
async def delete_webhook_route(request: Request, webhook_id: str) -> HTTPResponse:
    """Delete the subscription and its delivery log."""
    actor = require_admin(request)
    webhook_id = checked_id(webhook_id)
    pool = http.command_pool(request)
    outcome = await pool.run(delete_webhook, actor, webhook_id)
    await http.wait_until_visible(request, outcome.position, {"webhook_id": webhook_id})
    await pool.call(deliveries.forget, http.read_model(request).engine, webhook_id)
    return http.json({"success": True, "message": "webhook deleted", "id": webhook_id})


@bp.post("/webhooks/<webhook_id:str>/secret/rotate", name="webhook_rotate_secret")
@responds(200, WebhookSecretRotated, description="rotated: keep the new secret, it is not "
          "shown again")
async def rotate_secret_route(request: Request, webhook_id: str) -> HTTPResponse:
    """A new signing secret, shown once. For SAV_WEBHOOK_SECRET_GRACE_HOURS (24 h)
    every delivery is signed with both, the new one first, so the receiver can switch
    to it at any moment in between; then only the new one signs. A rotation during a
    grace period ends it: the secret it replaces becomes the one that signs too."""
    actor = require_admin(request)
    webhook_id = checked_id(webhook_id)
    grace = http.settings(request).webhook_secret_grace_hours
    outcome = await http.command_pool(request).run(rotate_secret, actor, webhook_id, grace)
    row = await visible_subscription(request, webhook_id, outcome.position)
    return http.json({**subscription_json(row), "secret": outcome.secret,
                      "previous_secret_expires_at": outcome.previous_secret_until})


@bp.get("/webhooks/<webhook_id:str>/deliveries")
@responds(200, WebhookDeliveryList)
@documents_query(DeliveryListQuery)
async def list_deliveries_route(request: Request, webhook_id: str) -> HTTPResponse:
    """The subscription's deliveries, newest event first: status, attempts, last answer."""
    require_admin(request)
    limit = int_arg(request, "limit")
    limit = DELIVERIES_LIMIT if limit is None else limit
    if not 1 <= limit <= 100:
        raise ApiError(422, "validation_failed", "limit must be between 1 and 100",
                       [{"field": "limit", "message": "out of range"}])
    before = int_arg(request, "before")
    row = await visible_subscription(request, checked_id(webhook_id))
    async with http.reads(request).connect() as conn:
        rows = await deliveries.list_deliveries(conn, row.id, limit, before)
    return http.json({"data": [deliveries.delivery_json(item) for item in rows]})


@bp.post("/webhooks/<webhook_id:str>/deliveries/<delivery_id:str>/retry")
@responds(202, WebhookDelivery, description="queued: sent again as soon as the sender runs")
async def retry_delivery_route(request: Request, webhook_id: str, delivery_id: str
                               ) -> HTTPResponse:
    """Send a delivery again (delivered or failed alike), once, with the same
    `webhook-id`; sent even while the subscription is paused or disabled."""
    require_admin(request)
    row = await visible_subscription(request, checked_id(webhook_id))
    engine = http.read_model(request).engine
    if not await http.command_pool(request).call(deliveries.retry, engine, row.id,
                                                 delivery_id):
        raise ApiError(404, "not_found", "delivery not found")
    async with http.reads(request).connect() as conn:
        delivery = await deliveries.find_delivery(conn, row.id, delivery_id)
    return http.json(deliveries.delivery_json(delivery), status=202)

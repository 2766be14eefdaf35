"""Webhook subscription commands (admins): create, change, pause or resume, rotate the
signing secret, delete; and the sender's own, disabling an endpoint that is gone or keeps
failing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from pydantic import BaseModel, ConfigDict, Field

from sav.commands.actor import SYSTEM, Actor
from sav.commands.app import MAX_ATTEMPTS, SavApplication
from sav.commands.policy import command_handler
from sav.events import clock
from sav.events.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RuleViolationError,
)
from sav.events.webhook import Webhook
from sav.history.feed import EVENT_TYPES
from sav.webhooks.guard import TargetRefusedError, check_new_target
from sav.webhooks.signing import new_secret

EVERY_EVENT = "*"
MAX_EVENTS = 100


class CreateWebhook(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str = Field(min_length=1, max_length=2048,
                     description="an absolute http(s) URL (https in production)")
    events: list[str] = Field(min_length=1, max_length=MAX_EVENTS,
                              description='the event names to send, or ["*"] for all')
    description: str | None = Field(None, max_length=500)


class UpdateWebhook(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str | None = Field(None, min_length=1, max_length=2048)
    events: list[str] | None = Field(None, min_length=1, max_length=MAX_EVENTS)
    description: str | None = Field(None, max_length=500)
    active: bool | None = Field(None, description="false pauses it, true resumes it")


@dataclass(frozen=True)
class TargetRules:
    """What `sav.webhooks.guard` allows, from the settings."""

    allow_private: bool
    https_only: bool


@dataclass(frozen=True)
class WebhookOutcome:
    webhook_id: str
    position: int | None
    secret: str | None = None  # only on creation and rotation: shown once
    previous_secret_until: str | None = None  # a rotation: until when the old one signs


def checked_events(events: list[str]) -> list[str]:
    unknown = [name for name in events if name != EVERY_EVENT and name not in EVENT_TYPES]
    if unknown:
        raise RuleViolationError(
            "unknown event name", [{"field": "events", "message": f"unknown event {name!r} "
                                    "(see GET /events?type= for the names)"}
                                   for name in unknown])
    # ["*"] stands for every event, whatever else is listed beside it.
    return [EVERY_EVENT] if EVERY_EVENT in events else list(dict.fromkeys(events))


def checked_url(url: str, rules: TargetRules) -> str:
    try:
        check_new_target(url, rules.allow_private, rules.https_only)
    except TargetRefusedError as error:
        raise RuleViolationError("the URL is not an allowed webhook target",
                                 [{"field": "url", "message": f"the URL {error}"}]) from None
    return url


def _admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise PermissionDeniedError("only admins manage webhooks")


def load(app: SavApplication, webhook_id: str) -> Webhook:
    try:
        webhook: Any = app.repository.get(UUID(webhook_id))
    except (AggregateNotFoundError, ValueError):
        raise NotFoundError("webhook not found") from None
    if not isinstance(webhook, Webhook) or webhook.deleted:
        raise NotFoundError("webhook not found")
    return webhook


@command_handler
def create_webhook(app: SavApplication, actor: Actor, cmd: CreateWebhook,
                   rules: TargetRules) -> WebhookOutcome:
    _admin(actor)
    events = checked_events(cmd.events)
    url = checked_url(cmd.url, rules)
    secret = new_secret()
    webhook = Webhook(id=uuid4(), url=url, events=events, description=cmd.description,
                      secret=secret, actor=actor.who.ref())
    return WebhookOutcome(str(webhook.id), app.record(webhook), secret)


@command_handler
def update_webhook(app: SavApplication, actor: Actor, webhook_id: str, cmd: UpdateWebhook,
                   rules: TargetRules) -> WebhookOutcome:
    _admin(actor)
    events = checked_events(cmd.events) if cmd.events is not None else None
    url = checked_url(cmd.url, rules) if cmd.url is not None else None
    by = actor.who.ref()

    def change(webhook: Webhook) -> None:
        webhook.change(by, url=url, events=events, description=cmd.description)
        if cmd.active is False:
            webhook.pause(by)
        elif cmd.active is True:
            webhook.resume(by)

    return WebhookOutcome(webhook_id, _changed(app, webhook_id, change))


@command_handler
def delete_webhook(app: SavApplication, actor: Actor, webhook_id: str) -> WebhookOutcome:
    _admin(actor)
    return WebhookOutcome(webhook_id, _changed(
        app, webhook_id, lambda webhook: webhook.delete(actor.who.ref())))


def disable_webhook(app: SavApplication, webhook_id: str, reason: str,
                    delivery_id: str | None, status_code: int | None) -> int | None:
    """The sender's: the endpoint is gone (410) or a delivery failed for good."""
    try:
        return _changed(app, webhook_id, lambda webhook: webhook.disable(
            reason, delivery_id, status_code, SYSTEM.who.ref()))
    except NotFoundError:
        return None  # deleted meanwhile: nothing to disable


def _changed(app: SavApplication, webhook_id: str, change: Callable[[Webhook], None]
             ) -> int | None:
    """Load, change, append; again on a concurrent append (an admin and the sender)."""
    for _ in range(MAX_ATTEMPTS):
        webhook = load(app, webhook_id)
        change(webhook)
        try:
            return app.record(webhook)
        except IntegrityError:
            continue
    raise ConflictError("too many concurrent changes to this webhook, retry")


@command_handler
def rotate_secret(app: SavApplication, actor: Actor, webhook_id: str,
                  grace_hours: float) -> WebhookOutcome:
    """A new signing secret (shown once); the old one signs too for `grace_hours`."""
    _admin(actor)
    secret = new_secret()
    until = clock.now() + timedelta(hours=grace_hours)
    by = actor.who.ref()
    position = _changed(app, webhook_id,
                        lambda webhook: webhook.rotate_secret(secret, until, by))
    return WebhookOutcome(webhook_id, position, secret, until.isoformat())


def secret_of(app: SavApplication, webhook_id: str) -> str:
    """The signing secret, opened by the store's decryption."""
    return load(app, webhook_id).secret


def signing_secrets(app: SavApplication, webhook_id: str) -> tuple[list[str], float | None]:
    """The secrets deliveries are signed with now, and when that list changes by itself
    (the end of a rotation's grace period, epoch seconds; None: only by a new event)."""
    webhook = load(app, webhook_id)
    now = clock.now()
    found = webhook.signing_secrets(now)
    until = webhook.previous_secret_until
    return found, (datetime.fromisoformat(until).timestamp() if len(found) > 1 and until
                   else None)

"""The Webhook aggregate: one outbound webhook subscription (issue 25).

Who created, changed, paused or deleted a subscription, and when the sender disabled
it, is kept like every other change in SAV: as permanent, past-tense events. The signing
secret is in `Created`, and in the `Updated` of a rotation (`changes.secret`, with
`previous_secret_until`: until when the old one signs too); it is sealed in the store like
personal data (`sav.privacy.fields.PERSONAL`, docs/decisions/0120-webhooks.md) and never
published.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from sav.events import clock
from sav.events.errors import NotFoundError

# Why the sender disabled a subscription (`Webhook.Disabled.reason`).
GONE = "gone"  # the endpoint answered 410 Gone
FAILING = "failing"  # a delivery failed its last attempt


class Webhook(Aggregate):
    class Event(clock.ClockedEvent):
        actor: dict[str, Any]

    class Created(Event, Aggregate.Created):
        url: str
        events: list[str]
        description: str | None
        secret: str

    class Updated(Event):
        changes: dict[str, Any]  # any of url, events, description: their new values

    class Paused(Event):
        """An admin paused it: nothing is sent until it is resumed."""

    class Resumed(Event):
        """An admin resumed it (after a pause, or after the sender disabled it)."""

    class Disabled(Event):
        """The sender gave up on the endpoint: `reason` is `gone` (410) or `failing`."""

        reason: str
        delivery_id: str | None
        status_code: int | None

    class Deleted(Event):
        pass

    @event(Created)
    def __init__(self, id: UUID, url: str, events: list[str], description: str | None,
                 secret: str, actor: dict[str, Any]) -> None:
        self.url = url
        self.events = list(events)
        self.description = description
        self.secret = secret
        # After a rotation: the old secret, which signs too until `previous_secret_until`
        # (ISO 8601, UTC).
        self.previous_secret: str | None = None
        self.previous_secret_until: str | None = None
        self.active = True
        self.disabled_reason: str | None = None
        self.deleted = False

    def ensure_exists(self) -> None:
        if self.deleted:
            raise NotFoundError("webhook not found")

    def change(self, actor: dict[str, Any], **values: Any) -> None:
        changes = {name: value for name, value in values.items()
                   if value is not None and getattr(self, name) != value}
        if changes:
            self._updated(changes=changes, actor=actor)

    def rotate_secret(self, secret: str, previous_until: datetime,
                      actor: dict[str, Any]) -> None:
        """A new signing secret; the current one keeps signing until `previous_until`."""
        self.ensure_exists()
        self._updated(changes={"secret": secret,
                               "previous_secret_until": previous_until.isoformat()},
                      actor=actor)

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets a delivery is signed with at `now`: the current one, and the
        previous one during the grace period after a rotation."""
        until = self.previous_secret_until
        if self.previous_secret and until and datetime.fromisoformat(until) > now:
            return [self.secret, self.previous_secret]
        return [self.secret]

    @event(Updated)
    def _updated(self, changes: dict[str, Any], actor: dict[str, Any]) -> None:
        if "secret" in changes:
            self.previous_secret = self.secret
        for name, value in changes.items():
            setattr(self, name, list(value) if name == "events" else value)

    def pause(self, actor: dict[str, Any]) -> None:
        if self.active:
            self._paused(actor=actor)

    @event(Paused)
    def _paused(self, actor: dict[str, Any]) -> None:
        self.active = False

    def resume(self, actor: dict[str, Any]) -> None:
        if not self.active:
            self._resumed(actor=actor)

    @event(Resumed)
    def _resumed(self, actor: dict[str, Any]) -> None:
        self.active = True
        self.disabled_reason = None

    def disable(self, reason: str, delivery_id: str | None, status_code: int | None,
                actor: dict[str, Any]) -> None:
        """Only an active subscription is disabled (a paused one stays paused)."""
        if self.active:
            self._disabled(reason=reason, delivery_id=delivery_id, status_code=status_code,
                           actor=actor)

    @event(Disabled)
    def _disabled(self, reason: str, delivery_id: str | None, status_code: int | None,
                  actor: dict[str, Any]) -> None:
        self.active = False
        self.disabled_reason = reason

    def delete(self, actor: dict[str, Any]) -> None:
        self.ensure_exists()
        self._deleted(actor=actor)

    @event(Deleted)
    def _deleted(self, actor: dict[str, Any]) -> None:
        self.deleted = True
        self.active = False

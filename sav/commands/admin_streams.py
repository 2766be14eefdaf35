"""What the admin-kept single streams share (the SLA calendar and policies,
`sav.sla.commands`; the macros, `sav.commands.macros`): only admins change them, and a
change is load, change, append, retried when another admin appended in between."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from sav.commands.actor import Actor
from sav.commands.app import MAX_ATTEMPTS, SavApplication
from sav.events.errors import ConflictError, PermissionDeniedError

R = TypeVar("R")


def require_admin(actor: Actor, what: str) -> None:
    """403 unless an admin: "only admins change {what}"."""
    if not actor.is_admin:
        raise PermissionDeniedError(f"only admins change {what}")


def save_retrying(app: SavApplication, change: Callable[[], tuple[Aggregate, R]]) -> R:
    """`change()` loads the stream and returns (the aggregate to save, the result); a
    concurrent append (another admin) makes it run again on the new version."""
    for _ in range(MAX_ATTEMPTS):
        aggregate, result = change()
        try:
            app.save(aggregate)
        except IntegrityError:
            continue
        return result
    raise ConflictError("too many concurrent changes, retry")


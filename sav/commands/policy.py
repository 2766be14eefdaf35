"""Who may see and do what. The query side mirrors `can_see` in SQL (projections.ticket_queries)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from sav.commands.actor import Actor
from sav.events.errors import NotFoundError, PermissionDeniedError
from sav.events.rules import DONE, Role
from sav.events.ticket import Ticket

# "Agents see tickets assigned to them plus all unassigned open ones": unassigned
# tickets that still need work (not resolved or closed).
AGENT_POOL_EXCLUDES = DONE

P = ParamSpec("P")
T = TypeVar("T")


def can_see(actor: Actor, user_id: str | None, assigned_to: str | None, status: str) -> bool:
    if actor.sees_every_ticket:
        return True
    if actor.role == Role.AGENT:
        if assigned_to is None:
            return status not in AGENT_POOL_EXCLUDES
        return assigned_to == actor.user_id
    return actor.user_id is not None and user_id == actor.user_id


def require_visible(ticket: Ticket, actor: Actor) -> None:
    """Invisible tickets answer exactly like missing ones (404)."""
    if not can_see(actor, ticket.user_id, ticket.assigned_to, ticket.status):
        raise NotFoundError("ticket not found")


def require_staff(actor: Actor, action: str) -> None:
    if not actor.is_staff:
        raise PermissionDeniedError(f"only agents and admins may {action}")


def require_owner_or_staff(ticket: Ticket, actor: Actor, action: str) -> None:
    if not actor.is_staff and ticket.user_id != actor.user_id:
        raise PermissionDeniedError(f"only the ticket's owner or staff may {action}")


def refuse_read_only(actor: Actor) -> None:
    if actor.read_only:
        raise PermissionDeniedError(f"the {actor.role} role has read-only access",
                                    {"role": actor.role})


def command_handler(
    handler: Callable[Concatenate[Any, Actor, P], T],
) -> Callable[Concatenate[Any, Actor, P], T]:
    """Marks `handler(app, actor, ...)` as a command: read-only roles are refused (403)
    before it loads anything, so no rule in its body (staff rights, an owner's rights)
    can ever apply to them. A unit test checks that every handler carries the mark."""

    @functools.wraps(handler)
    def run(app: Any, actor: Actor, /, *args: P.args, **kwargs: P.kwargs) -> T:
        refuse_read_only(actor)
        return handler(app, actor, *args, **kwargs)

    run.command_handler = True  # type: ignore[attr-defined]
    return run

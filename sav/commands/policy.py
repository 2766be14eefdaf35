"""Who may see and do what. The query side mirrors `can_see` in SQL (projections.ticket_queries)."""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from sav.commands.actor import Actor
from sav.events.errors import NotFoundError, PermissionDeniedError
from sav.events.rules import DONE, Role
from sav.events.ticket import Ticket
from sav.eventstore.errors import TransactionAbortedError

# "Agents see tickets assigned to them plus all unassigned open ones": unassigned
# tickets that still need work (not resolved or closed).
AGENT_POOL_EXCLUDES = DONE

P = ParamSpec("P")
T = TypeVar("T")
# A command the database aborted (a deadlock; on Galera a certification conflict or a
# brute-force abort) stored nothing: it runs again as a whole, from loading on, at
# jittered moments so the writers that collided do not collide again.
ABORTED_ATTEMPTS = 12
ABORTED_JITTER_S = 0.005  # doubled on each attempt, up to ABORTED_MAX_JITTER_S
ABORTED_MAX_JITTER_S = 0.25
log = logging.getLogger("sav.commands")
_depth = threading.local()  # command handlers may call others: only the outermost retries


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
    can ever apply to them. A unit test checks that every handler carries the mark.
    The outermost command the database aborted (`TransactionAbortedError`: nothing of it
    was stored) runs again as a whole, up to ABORTED_ATTEMPTS times."""

    @functools.wraps(handler)
    def run(app: Any, actor: Actor, /, *args: P.args, **kwargs: P.kwargs) -> T:
        refuse_read_only(actor)
        depth = getattr(_depth, "value", 0)
        _depth.value = depth + 1
        try:
            for attempt in range(1, ABORTED_ATTEMPTS + 1):
                try:
                    return handler(app, actor, *args, **kwargs)
                except TransactionAbortedError:
                    if depth:
                        raise  # the enclosing command retries
                    if attempt == ABORTED_ATTEMPTS:
                        log.warning("%s aborted by the database %s times; giving up",
                                    handler.__name__, attempt)
                        raise  # a 503
                    time.sleep(random.uniform(0, min(ABORTED_MAX_JITTER_S,
                                                     ABORTED_JITTER_S * 2 ** attempt)))
            raise AssertionError("unreachable")
        finally:
            _depth.value = depth

    run.command_handler = True  # type: ignore[attr-defined]
    return run

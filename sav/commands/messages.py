"""Conversation and satisfaction commands: post, edit, remove, mark read, rate.

Every handler runs through `app.change_ticket` (optimistic concurrency, retried) and
authorizes against the loaded aggregate. A caller proves access either as an
authenticated actor who can see the ticket, or with the ticket's public access token.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID, uuid4

from pydantic import BeforeValidator, Field

from sav.commands.actor import Actor
from sav.commands.app import MarkedRead, Outcome, PostedMessage, SavApplication
from sav.commands.policy import command_handler, require_visible
from sav.commands.tickets import NOT_BLANK, Command, hash_access_token
from sav.events.errors import ConflictError, NotFoundError, PermissionDeniedError
from sav.events.ticket import MessageState, Ticket

MAX_CONTENT = 50_000


class PostMessage(Command):
    content: str = Field(min_length=1, max_length=MAX_CONTENT, pattern=NOT_BLANK)
    is_internal: bool = Field(default=False, strict=True)


class PublicPostMessage(Command):
    """Anonymous callers cannot ask for an internal note: the field does not exist."""

    content: str = Field(min_length=1, max_length=MAX_CONTENT, pattern=NOT_BLANK)


class EditMessage(Command):
    content: str = Field(min_length=1, max_length=MAX_CONTENT, pattern=NOT_BLANK)


def integral(value: Any) -> Any:
    """A float with no fractional part is the integer it equals (JSON Schema's rule)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class RateTicket(Command):
    # A JSON integer, as the document says: `4` or `4.0` (JSON Schema's integers), never
    # `"4"`, `true` or `4.5`.
    rating: Annotated[int, BeforeValidator(integral)] = Field(ge=1, le=5, strict=True)
    comment: str | None = Field(default=None, max_length=5_000)


def token_matches(stored_hash: str | None, token: str | None) -> bool:
    """Constant-time check of a public access token against its stored SHA-256."""
    if not token:
        return False
    # Hash even when nothing is stored, so a missing ticket costs the same as a wrong token.
    given = hash_access_token(token)
    return hmac.compare_digest(stored_hash or "0" * 64, given) and stored_hash is not None


def require_access(ticket: Ticket, actor: Actor, access_token: str | None) -> None:
    """Token holders act on that ticket only; everyone else needs normal visibility."""
    if access_token is not None:
        if not token_matches(ticket.access_token_hash, access_token):
            raise NotFoundError("ticket not found")
        return
    require_visible(ticket, actor)


def require_author_or_admin(message: MessageState, actor: Actor, action: str) -> None:
    is_author = actor.user_id is not None and message.user_id == actor.user_id
    if not (is_author or actor.is_admin):
        raise PermissionDeniedError(f"only the author or an admin may {action} this message")


@command_handler
def post_message(
    app: SavApplication, actor: Actor, ticket_id: UUID, cmd: PostMessage | PublicPostMessage,
    *, message_id: UUID | None = None, access_token: str | None = None,
    expected_version: int | None = None,
) -> PostedMessage:
    """Add a message. A customer reply wakes a waiting ticket or reopens a resolved one.

    `expected_version` (If-Match: the ticket's ETag): a reply to the state the writer
    saw, 412 when the ticket changed since (the customer may have just written again)."""
    new_id = str(message_id or uuid4())
    is_internal = isinstance(cmd, PostMessage) and cmd.is_internal

    def change(ticket: Ticket) -> None:
        require_access(ticket, actor, access_token)
        if is_internal and not actor.is_staff:
            raise PermissionDeniedError("only agents and admins write internal notes")
        if new_id in ticket.messages:
            # Same Idempotency-Key retried concurrently: the first one won.
            raise ConflictError("this message was already posted")
        on_behalf_of_contact = not actor.is_staff
        ticket.post_message(
            message_id=new_id,
            user_id=actor.user_id,
            role=actor.role,
            author_name=actor.name or (ticket.contact_name if on_behalf_of_contact else None),
            author_email=actor.email or (ticket.contact_email if on_behalf_of_contact else None),
            content=cmd.content,
            is_internal=is_internal,
        )

    ticket, _, position = app.change_ticket(
        ticket_id, change, expected_version,
        check=lambda ticket: require_access(ticket, actor, access_token))
    return PostedMessage(ticket.id, ticket.version, position, new_id)


@command_handler
def edit_message(
    app: SavApplication, actor: Actor, ticket_id: UUID, message_id: str, cmd: EditMessage,
    expected: int | None = None,
) -> Outcome:
    """`expected`: the message's ETag the editor saw (If-Match), 412 when it changed."""
    return _by_author(app, actor, ticket_id, message_id, "edit", expected,
                      lambda ticket: ticket.edit_message(message_id, cmd.content, by=actor.who))


@command_handler
def remove_message(app: SavApplication, actor: Actor, ticket_id: UUID, message_id: str,
                   expected: int | None = None) -> Outcome:
    return _by_author(app, actor, ticket_id, message_id, "delete", expected,
                      lambda ticket: ticket.remove_message(message_id, by=actor.who))


def _by_author(app: SavApplication, actor: Actor, ticket_id: UUID, message_id: str,
               action: str, expected: int | None, apply: Callable[[Ticket], None]) -> Outcome:
    """A change only the message's author (or an admin) may make; a stale `expected`
    revision is a 412 once the caller is known to be allowed (a stranger learns nothing)."""

    def change(ticket: Ticket) -> None:
        require_visible(ticket, actor)
        require_author_or_admin(ticket.visible_message(message_id, actor.role), actor, action)
        ticket.require_message_revision(message_id, expected)
        apply(ticket)

    return _run(app, ticket_id, change)


@command_handler
def mark_message_read(app: SavApplication, actor: Actor, ticket_id: UUID, message_id: str
                      ) -> MarkedRead:
    """Marking one's own side's message is accepted and changes nothing."""

    def change(ticket: Ticket) -> int:
        require_visible(ticket, actor)
        ticket.visible_message(message_id, actor.role)
        return ticket.mark_read([message_id], reader_id=actor.user_id, role=actor.role)

    return _marked(app, ticket_id, change)


@command_handler
def mark_all_read(app: SavApplication, actor: Actor, ticket_id: UUID) -> MarkedRead:
    def change(ticket: Ticket) -> int:
        require_visible(ticket, actor)
        return ticket.mark_read(list(ticket.messages), reader_id=actor.user_id, role=actor.role)

    return _marked(app, ticket_id, change)


@command_handler
def rate_ticket(
    app: SavApplication, actor: Actor, ticket_id: UUID, cmd: RateTicket,
    *, access_token: str | None = None,
) -> Outcome:
    """The ticket's owner (or the holder of its access token) rates it once, when done."""

    def change(ticket: Ticket) -> None:
        require_access(ticket, actor, access_token)
        if access_token is None and (actor.is_staff or ticket.user_id != actor.user_id):
            raise PermissionDeniedError("only the ticket's owner may rate it")
        ticket.rate(cmd.rating, cmd.comment, by=actor.who)

    return _run(app, ticket_id, change)


def _marked(app: SavApplication, ticket_id: UUID, change: Callable[[Ticket], int]
            ) -> MarkedRead:
    ticket, marked, position = app.change_ticket(ticket_id, change)
    return MarkedRead(ticket.id, ticket.version, position, marked)


def _run(app: SavApplication, ticket_id: UUID, change: Callable[[Ticket], None]) -> Outcome:
    ticket, _, position = app.change_ticket(ticket_id, change)
    return Outcome(ticket.id, ticket.version, position)

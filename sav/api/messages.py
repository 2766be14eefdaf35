"""Conversation routes: list, add, unread count, mark all read, get, edit, delete, mark read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from sanic import Blueprint, HTTPResponse, Request

from sav.api import http, schemas
from sav.api.auth import current_actor
from sav.api.body import body
from sav.api.errors import ApiError
from sav.api.openapi import conditional, documents_query, responds
from sav.commands import messages as commands
from sav.commands.actor import Actor
from sav.commands.app import MarkedRead, Outcome
from sav.projections.messages import find_message, list_messages, message_json, unread_count

bp = Blueprint("messages")
OutcomeT = TypeVar("OutcomeT", bound=Outcome)

BASE = "/tickets/<ticket_ref:str>/messages"


def message_uuid(raw: str) -> str:
    """Message ids are UUIDs; anything else is simply not found."""
    try:
        return str(UUID(raw))
    except ValueError:
        raise ApiError(404, "not_found", "message not found") from None


async def message_response(request: Request, ticket_id: str, message_id: str,
                           actor: Actor | None, status: int = 200) -> HTTPResponse:
    """The message with its ETag: the ticket version that last set its content, what
    `If-Match` on PUT/DELETE compares (docs/decisions/0160-careful-client-domain.md)."""
    async with http.reads(request).connect() as conn:
        row = await find_message(conn, ticket_id, message_id, actor)
    if row is None:
        raise ApiError(404, "not_found", "message not found")
    headers = http.etag(row.revision) if row.revision is not None else None
    return http.json(message_json(row), status=status, headers=headers)


@bp.get(BASE)
@responds(200, schemas.MessagePage)
@documents_query(schemas.MessagePageQuery)
async def list_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """The ticket's conversation visible to the caller, oldest first (cursor paginated)."""
    actor = current_actor(request)
    limit, cursor = http.pagination(request, default=50)
    ticket = await http.visible_ticket(request, ticket_ref, actor)
    async with http.reads(request).connect() as conn:
        rows, next_cursor = await list_messages(conn, ticket.id, actor, limit, cursor)
    return http.json(http.page([message_json(row) for row in rows], limit, next_cursor))


@bp.post(BASE)
@responds(201, schemas.Message, etag=True)
@conditional
@body(commands.PostMessage)
async def add_route(request: Request, ticket_ref: str,
                    cmd: commands.PostMessage) -> HTTPResponse:
    """Add a message (`is_internal` notes: agents and admins only). With `If-Match` (the
    ticket's ETag) a reply to the state the writer saw: 412 when the ticket changed since."""
    actor = current_actor(request)
    ticket_id = await http.resolve_ticket_id(request, ticket_ref)
    expected = http.if_match(request)

    async def produce() -> HTTPResponse:
        outcome = await http.run_command(request, commands.post_message, actor, ticket_id,
                                         cmd, message_id=http.idempotent_id(request),
                                         expected_version=expected)
        return await message_response(request, str(ticket_id), outcome.message_id,
                                      actor, status=201)

    return await http.idempotent(request, produce)


@bp.get(f"{BASE}/unread-count")
@responds(200, schemas.UnreadCount)
async def unread_count_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """How many of the other side's visible messages the caller has not read."""
    actor = current_actor(request)
    ticket = await http.visible_ticket(request, ticket_ref, actor)
    async with http.reads(request).connect() as conn:
        count = await unread_count(conn, ticket.id, actor)
    return http.json({"count": count})


@bp.post(f"{BASE}/mark-all-read")
@responds(200, schemas.Marked, etag=True)
async def mark_all_read_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """Mark every visible message of the other side as read."""
    actor = current_actor(request)
    ticket_id = await http.resolve_ticket_id(request, ticket_ref)
    return marked(await http.run_command(request, commands.mark_all_read, actor, ticket_id))


@bp.get(f"{BASE}/<message_ref:str>")
@responds(200, schemas.Message, etag=True)
async def get_route(request: Request, ticket_ref: str, message_ref: str) -> HTTPResponse:
    """One message (internal notes are not found for customers)."""
    actor = current_actor(request)
    ticket = await http.visible_ticket(request, ticket_ref, actor)
    return await message_response(request, ticket.id, message_uuid(message_ref), actor)


@bp.put(f"{BASE}/<message_ref:str>")
@responds(200, schemas.Message, etag=True)
@conditional
@body(commands.EditMessage)
async def update_route(request: Request, ticket_ref: str, message_ref: str,
                       cmd: commands.EditMessage) -> HTTPResponse:
    """Edit a message's content (its author, or an admin); `If-Match`: its ETag."""
    message_id, outcome = await change_message(request, ticket_ref, message_ref,
                                               commands.edit_message, cmd,
                                               http.if_match(request))
    return await message_response(request, str(outcome.ticket_id), message_id,
                                  current_actor(request))


@bp.delete(f"{BASE}/<message_ref:str>")
@responds(200, schemas.Deleted, etag=True)
@conditional
async def delete_route(request: Request, ticket_ref: str, message_ref: str) -> HTTPResponse:
    """Delete a message (its author, or an admin); `If-Match`: its ETag."""
    message_id, outcome = await change_message(request, ticket_ref, message_ref,
                                               commands.remove_message, http.if_match(request))
    return http.json({"success": True, "message": "message deleted", "id": message_id},
                     headers=http.etag(outcome.version))


@bp.post(f"{BASE}/<message_ref:str>/mark-read")
@responds(200, schemas.Marked, etag=True)
async def mark_read_route(request: Request, ticket_ref: str, message_ref: str) -> HTTPResponse:
    """Mark one message of the other side as read."""
    _, outcome = await change_message(request, ticket_ref, message_ref,
                                      commands.mark_message_read)
    return marked(outcome)


async def change_message(request: Request, ticket_ref: str, message_ref: str,
                         command: Callable[..., OutcomeT], *args: Any) -> tuple[str, OutcomeT]:
    """Run `command(app, actor, ticket_id, message_id, *args)`; the message id and outcome."""
    actor = current_actor(request)
    ticket_id = await http.resolve_ticket_id(request, ticket_ref)
    message_id = message_uuid(message_ref)
    return message_id, await http.run_command(request, command, actor, ticket_id, message_id,
                                              *args)


def marked(outcome: MarkedRead) -> HTTPResponse:
    return http.json({"success": True, "marked": outcome.marked},
                     headers=http.etag(outcome.version))

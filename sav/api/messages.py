"""Conversation routes: list, add, unread count, mark all read, get, edit, delete, mark read."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sanic import Blueprint, HTTPResponse, Request

from sav.api.auth import current_actor
from sav.api.errors import ApiError
from sav.api.http import (
    accepts,
    etag,
    idempotent,
    idempotent_id,
    json,
    page,
    pagination,
    parse,
    resolve_ticket_id,
    run_command,
    runtime,
)
from sav.commands import messages as commands
from sav.commands.actor import Actor
from sav.commands.policy import can_see
from sav.projections.messages import find_message, list_messages, message_json, unread_count
from sav.projections.ticket_queries import find_ticket

bp = Blueprint("messages")

BASE = "/tickets/<ticket_ref:str>/messages"


def message_uuid(raw: str) -> str:
    """Message ids are UUIDs; anything else is simply not found."""
    try:
        return str(UUID(raw))
    except ValueError:
        raise ApiError(404, "not_found", "message not found") from None


async def visible_ticket(request: Request, ticket_ref: str, actor: Actor) -> Any:
    async with runtime(request).read_engine.connect() as conn:
        row = await find_ticket(conn, ticket_ref)
    if row is None or not can_see(actor, row.user_id, row.assigned_to, row.status):
        raise ApiError(404, "not_found", "ticket not found")
    return row


async def message_response(request: Request, ticket_id: str, message_id: str,
                           actor: Actor | None, status: int = 200,
                           headers: dict[str, str] | None = None) -> HTTPResponse:
    async with runtime(request).read_engine.connect() as conn:
        row = await find_message(conn, ticket_id, message_id, actor)
    if row is None:
        raise ApiError(404, "not_found", "message not found")
    return json(message_json(row), status=status, headers=headers)


@bp.get(BASE)
async def list_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """The ticket's conversation visible to the caller, oldest first (cursor paginated)."""
    actor = current_actor(request)
    limit, cursor = pagination(request, default=50)
    ticket = await visible_ticket(request, ticket_ref, actor)
    async with runtime(request).read_engine.connect() as conn:
        rows, next_cursor = await list_messages(conn, ticket.id, actor, limit, cursor)
    return json(page([message_json(row) for row in rows], limit, next_cursor))


@bp.post(BASE)
@accepts(commands.PostMessage)
async def add_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """Add a message (`is_internal` notes: agents and admins only)."""
    actor = current_actor(request)
    ticket_id = await resolve_ticket_id(request, ticket_ref)
    cmd = parse(request, commands.PostMessage)

    async def produce() -> HTTPResponse:
        outcome = await run_command(request, commands.post_message, actor, ticket_id, cmd,
                                    message_id=idempotent_id(request))
        return await message_response(request, str(ticket_id), outcome.message_id,
                                      actor, status=201, headers=etag(outcome.version))

    return await idempotent(request, produce)


@bp.get(f"{BASE}/unread-count")
async def unread_count_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """How many of the other side's visible messages the caller has not read."""
    actor = current_actor(request)
    ticket = await visible_ticket(request, ticket_ref, actor)
    async with runtime(request).read_engine.connect() as conn:
        count = await unread_count(conn, ticket.id, actor)
    return json({"count": count})


@bp.post(f"{BASE}/mark-all-read")
async def mark_all_read_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """Mark every visible message of the other side as read."""
    actor = current_actor(request)
    ticket_id = await resolve_ticket_id(request, ticket_ref)
    outcome = await run_command(request, commands.mark_all_read, actor, ticket_id)
    return json({"success": True, "marked": outcome.marked},
                headers=etag(outcome.version))


@bp.get(f"{BASE}/<message_ref:str>")
async def get_route(request: Request, ticket_ref: str, message_ref: str) -> HTTPResponse:
    """One message (internal notes are not found for customers)."""
    actor = current_actor(request)
    ticket = await visible_ticket(request, ticket_ref, actor)
    return await message_response(request, ticket.id, message_uuid(message_ref), actor)


@bp.put(f"{BASE}/<message_ref:str>")
@accepts(commands.EditMessage)
async def update_route(request: Request, ticket_ref: str, message_ref: str) -> HTTPResponse:
    """Edit a message's content (its author, or an admin)."""
    actor = current_actor(request)
    ticket_id = await resolve_ticket_id(request, ticket_ref)
    message_id = message_uuid(message_ref)
    cmd = parse(request, commands.EditMessage)
    outcome = await run_command(request, commands.edit_message, actor, ticket_id,
                                message_id, cmd)
    return await message_response(request, str(ticket_id), message_id, actor,
                                  headers=etag(outcome.version))


@bp.delete(f"{BASE}/<message_ref:str>")
async def delete_route(request: Request, ticket_ref: str, message_ref: str) -> HTTPResponse:
    """Delete a message (its author, or an admin)."""
    actor = current_actor(request)
    ticket_id = await resolve_ticket_id(request, ticket_ref)
    message_id = message_uuid(message_ref)
    outcome = await run_command(request, commands.remove_message, actor, ticket_id, message_id)
    return json({"success": True, "message": "message deleted", "id": message_id},
                headers=etag(outcome.version))


@bp.post(f"{BASE}/<message_ref:str>/mark-read")
async def mark_read_route(request: Request, ticket_ref: str, message_ref: str) -> HTTPResponse:
    """Mark one message of the other side as read."""
    actor = current_actor(request)
    ticket_id = await resolve_ticket_id(request, ticket_ref)
    message_id = message_uuid(message_ref)
    outcome = await run_command(request, commands.mark_message_read, actor, ticket_id,
                                message_id)
    return json({"success": True, "marked": outcome.marked},
                headers=etag(outcome.version))

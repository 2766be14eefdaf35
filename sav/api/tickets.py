"""Ticket routes: list, create, statistics, get, update, delete and lifecycle commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from pydantic import BaseModel
from sanic import Blueprint, HTTPResponse, Request

from sav.api import details
from sav.api.auth import current_actor
from sav.api.errors import ApiError
from sav.api.http import (
    accepts,
    etag,
    idempotent,
    idempotent_id,
    if_match,
    json,
    page,
    pagination,
    parse,
    resolve_ticket_id,
    run_command,
    runtime,
)
from sav.commands import tickets as commands
from sav.commands.actor import Actor
from sav.commands.policy import can_see
from sav.projections import statistics
from sav.projections.ticket_queries import find_ticket, list_tickets, ticket_json

bp = Blueprint("tickets")

FILTERS = ("status", "priority", "assigned_to", "category", "q", "user_id")


async def ticket_response(request: Request, ticket_id: UUID, actor: Actor,
                          status: int = 200, extra: dict[str, Any] | None = None,
                          after_write: bool = False, created: bool = False) -> HTTPResponse:
    """The ticket as the caller may see it, from the read model, with its ETag.

    `after_write`: the command already authorized the caller, who gets the new state
    even when it leaves their view (an agent resolving an unassigned ticket)."""
    async with runtime(request).read_engine.connect() as conn:
        row = await find_ticket(conn, str(ticket_id))
        visible = row is not None and (
            after_write or can_see(actor, row.user_id, row.assigned_to, row.status))
        if row is None or not visible:
            raise ApiError(404, "not_found", "ticket not found")
        data = ticket_json(row, actor)
        # A ticket just created has no conversation yet: skip two queries.
        data.update({"messages": [], "attachments": []} if created
                    else await details.ticket_details(conn, row, actor))
    data.update(extra or {})
    return json(data, status=status, headers=etag(row.version))


@bp.get("/tickets")
async def list_route(request: Request) -> HTTPResponse:
    """List the tickets the caller may see (filters: status, priority, assigned_to, category, q)."""
    actor = current_actor(request)
    limit, cursor = pagination(request)
    filters = {name: request.args.get(name) for name in FILTERS}
    async with runtime(request).read_engine.connect() as conn:
        rows, next_cursor = await list_tickets(conn, actor, filters, limit, cursor)
    return json(page([ticket_json(row, actor) for row in rows], limit, next_cursor))


@bp.post("/tickets")
@accepts(commands.CreateTicket)
async def create_route(request: Request) -> HTTPResponse:
    """Create a support ticket."""
    actor = current_actor(request)
    cmd = parse(request, commands.CreateTicket)

    async def produce() -> HTTPResponse:
        try:
            outcome = await run_command(request, commands.create_ticket, actor, cmd,
                                        ticket_id=idempotent_id(request))
        except IntegrityError:
            raise ApiError(409, "conflict", "a request with this Idempotency-Key is "
                           "already being processed") from None
        return await ticket_response(request, outcome.ticket_id, actor, status=201,
                                     created=True)

    return await idempotent(request, produce)


@bp.get("/tickets/statistics")
async def statistics_route(request: Request) -> HTTPResponse:
    """Ticket statistics over what the caller may see."""
    actor = current_actor(request)
    async with runtime(request).read_engine.connect() as conn:
        data = await statistics.ticket_statistics(conn, actor, request.args)
    return json(data)


@bp.get("/tickets/<ticket_ref:str>")
async def get_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """Get a ticket with its visible messages and attachments."""
    actor = current_actor(request)
    return await ticket_response(request, await resolve_ticket_id(request, ticket_ref), actor)


@bp.put("/tickets/<ticket_ref:str>")
@accepts(commands.UpdateTicket)
async def update_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """Update ticket fields (customers: subject, description, priority of open tickets)."""
    actor = current_actor(request)
    ticket_id = await resolve_ticket_id(request, ticket_ref)
    cmd = parse(request, commands.UpdateTicket)
    await run_command(request, commands.update_ticket, actor, ticket_id, cmd, if_match(request))
    return await ticket_response(request, ticket_id, actor, after_write=True)


@bp.delete("/tickets/<ticket_ref:str>")
async def delete_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """Soft-delete a ticket (admins, or the customer who owns it)."""
    actor = current_actor(request)
    ticket_id = await resolve_ticket_id(request, ticket_ref)
    outcome = await run_command(request, commands.delete_ticket, actor, ticket_id,
                                if_match(request))
    return json({"success": True, "message": "ticket deleted", "id": str(ticket_id)},
                headers=etag(outcome.version))


def lifecycle_route(name: str, call: Callable[[Request, Actor, UUID], Any],
                    body: type[BaseModel] | None = None) -> None:
    async def handler(request: Request, ticket_ref: str) -> HTTPResponse:
        actor = current_actor(request)
        ticket_id = await resolve_ticket_id(request, ticket_ref)

        async def produce() -> HTTPResponse:
            await call(request, actor, ticket_id)
            return await ticket_response(request, ticket_id, actor, after_write=True)

        return await idempotent(request, produce)

    handler.__doc__ = f"{name.capitalize()} a ticket."
    if body is not None:
        accepts(body)(handler)
    bp.add_route(handler, f"/tickets/<ticket_ref:str>/{name}", methods=["POST"],
                 name=f"ticket_{name}")


lifecycle_route("assign", lambda r, a, t: run_command(
    r, commands.assign_ticket, a, t, parse(r, commands.AssignTicket), if_match(r)),
    commands.AssignTicket)
lifecycle_route("start", lambda r, a, t: run_command(
    r, commands.start_ticket, a, t, if_match(r)))
lifecycle_route("wait", lambda r, a, t: run_command(
    r, commands.wait_on_customer, a, t, if_match(r)))
lifecycle_route("resolve", lambda r, a, t: run_command(
    r, commands.resolve_ticket, a, t, parse(r, commands.ResolveTicket, allow_empty=True),
    if_match(r)), commands.ResolveTicket)
lifecycle_route("close", lambda r, a, t: run_command(
    r, commands.close_ticket, a, t, parse(r, commands.ReasonBody, allow_empty=True),
    if_match(r)), commands.ReasonBody)
lifecycle_route("reopen", lambda r, a, t: run_command(
    r, commands.reopen_ticket, a, t, parse(r, commands.ReasonBody, allow_empty=True),
    if_match(r)), commands.ReasonBody)

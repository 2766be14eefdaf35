"""Ticket routes: list, create, statistics, get, update, delete and lifecycle commands."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import IntegrityError
from sanic import Blueprint, HTTPResponse, Request

from sav.api import details, http, schemas
from sav.api.auth import current_actor
from sav.api.body import body
from sav.api.conventions import known_representation, representation_tag
from sav.api.created import created_view
from sav.api.errors import ApiError
from sav.api.history import PastQuery, past_response
from sav.api.openapi import conditional, documents_query, responds
from sav.api.presence import with_viewers
from sav.api.query import query
from sav.api.views import TicketView
from sav.commands import tickets as commands
from sav.commands.actor import Actor
from sav.commands.app import Outcome
from sav.commands.policy import can_see
from sav.events import clock
from sav.mail.templates import preferred_locale
from sav.projections import statistics
from sav.projections.links import embedded_links, has_links
from sav.projections.schema import naive_utc
from sav.projections.sla_queries import SLA_FILTERS, SORTS
from sav.projections.ticket_queries import find_ticket, list_tickets, ticket_json

bp = Blueprint("tickets")

FILTERS = ("status", "priority", "assigned_to", "category", "q", "user_id")
LISTED = {"status": re.compile(schemas.STATUS_LIST),
          "priority": re.compile(schemas.PRIORITY_LIST)}


async def render_ticket(request: Request, ticket_id: str, actor: Actor,
                        created: bool = False) -> TicketView:
    """The ticket as the caller's side sees it, from the read model (404 if missing);
    whether this caller may see it at all is decided on the view's fields."""
    async with http.reads(request).connect() as conn:
        row = await find_ticket(conn, ticket_id)
        if row is None:
            raise ApiError(404, "not_found", "ticket not found")
        data = ticket_json(row, actor)
        # A ticket just created has no conversation yet: skip two queries.
        path = f"/tickets/{row.id}/messages"
        data.update(details.no_details(path) if created
                    else await details.ticket_details(conn, row, actor, path))
        linked = bool(data["links"]) or (not created and await has_links(conn, row.id))
    body = orjson.dumps(data)
    return TicketView(row.version, row.user_id, row.assigned_to, row.status, body,
                      linked=linked, tag=representation_tag(http.etag(row.version)["ETag"], body))


def visible(view: TicketView, actor: Actor) -> TicketView:
    if not can_see(actor, view.user_id, view.assigned_to, view.status):
        raise ApiError(404, "not_found", "ticket not found")
    return view


def view_response(view: TicketView, status: int = 200) -> HTTPResponse:
    return http.Response(view.body, status=status, headers=http.etag(view.version),
                         content_type="application/json")


async def ticket_response(request: Request, ticket_id: UUID, actor: Actor,
                          status: int = 200, after_write: bool = False,
                          created: bool = False) -> HTTPResponse:
    """The ticket as the caller may see it, from the read model, with its ETag.

    `after_write`: the command already authorized the caller, who gets the new state
    even when it leaves their view (an agent resolving an unassigned ticket)."""
    view = await render_ticket(request, str(ticket_id), actor, created)
    response = view_response(view if after_write else visible(view, actor), status)
    return await with_viewers(request, response, str(ticket_id), actor)


@bp.get("/tickets")
@responds(200, schemas.TicketPage)
@documents_query(schemas.TicketListQuery)
async def list_route(request: Request) -> HTTPResponse:
    """List the tickets the caller may see (filters: status, priority, assigned_to,
    category, q, tag, created_after, created_before; admins: deleted)."""
    actor = current_actor(request)
    limit, cursor = http.pagination(request)
    filters = {name: request.args.get(name) for name in FILTERS}
    for name, pattern in LISTED.items():  # as the document's patterns say, blank refused
        filters[name] = value = http.first_arg(request, name)
        if value is not None and not pattern.match(value):
            raise ApiError(422, "validation_failed", f"unknown {name}: {value}",
                           [{"field": name, "message": "not valid"}])
    deleted = http.first_arg(request, "deleted")
    if deleted not in (None, "true", "false"):
        raise ApiError(422, "validation_failed", "deleted must be true or false",
                       [{"field": "deleted", "message": "not true or false"}])
    if deleted == "true" and not actor.is_admin:
        raise ApiError(403, "forbidden", "only admins list deleted tickets",
                       {"role": actor.role})
    tags = tuple(given(request, "tag"))
    if any(not tag.strip() for tag in tags):
        raise ApiError(422, "validation_failed", "tag must not be empty",
                       [{"field": "tag", "message": "empty"}])
    sla, sort = sla_list_args(request, actor)
    async with http.reads(request).connect() as conn:
        rows, next_cursor = await list_tickets(
            conn, actor, filters, limit, cursor, tags=tags, deleted=deleted == "true",
            created_after=rfc3339(request, "created_after"),
            created_before=rfc3339(request, "created_before"), sla=sla, sort=sort,
            now=clock.now())
        # One query for the page's links (issue 26), not one per ticket.
        links = await embedded_links(conn, {row.id: row.user_id for row in rows},
                                     actor.sees_internal)
    return http.json(http.page([{**ticket_json(row, actor), "links": links[row.id]}
                                for row in rows], limit, next_cursor))


def sla_list_args(request: Request, actor: Actor) -> tuple[str | None, str | None]:
    """`sla=breached|at_risk` and `sort=sla_due`: service levels are staff-only."""
    sla, sort = http.first_arg(request, "sla"), http.first_arg(request, "sort")
    for name, value, allowed in (("sla", sla, SLA_FILTERS), ("sort", sort, SORTS)):
        if value is not None and value not in allowed:
            raise ApiError(422, "validation_failed", f"{name} must be {' or '.join(allowed)}",
                           [{"field": name, "message": f"not {' or '.join(allowed)}"}])
    if (sla or sort) and not actor.sees_internal:
        raise ApiError(403, "forbidden", "only staff list tickets by service level",
                       {"role": actor.role})
    return sla, sort


def given(request: Request, name: str) -> list[str]:
    """Every value of a query parameter, blank ones too (`tag=` is a mistake to report,
    not a filter to drop)."""
    return [value for key, value in request.get_query_args(keep_blank_values=True)
            if key == name]


def rfc3339(request: Request, name: str) -> datetime | None:
    """An RFC 3339 date-time query parameter (with its offset), as naive UTC."""
    values = given(request, name)
    if not values:
        return None
    raw = values[0]
    try:
        moment = datetime.fromisoformat(raw) if "T" in raw.upper() else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ApiError(422, "validation_failed", f"{name} must be an RFC 3339 date-time "
                       "with its offset (e.g. 2026-12-01T00:00:00Z)",
                       [{"field": name, "message": "not an RFC 3339 date-time"}])
    try:
        return naive_utc(moment)
    except OverflowError:  # 0001-01-01T00:00:00+01:00: before anything, as after
        return datetime.min if moment.year == 1 else datetime.max


@bp.post("/tickets")
@responds(201, schemas.TicketDetails, etag=True)
@body(commands.CreateTicket)
async def create_route(request: Request, cmd: commands.CreateTicket) -> HTTPResponse:
    """Create a support ticket."""
    actor = current_actor(request)

    async def produce() -> HTTPResponse:
        ticket_id = http.idempotent_id(request)
        try:
            outcome = await http.run_command(
                request, commands.create_ticket, actor, cmd, ticket_id=ticket_id,
                locale=preferred_locale(request.headers.get("accept-language")))
        except IntegrityError:
            assert ticket_id is not None  # only a key-derived id can exist already
            return await first_creation(request, ticket_id, actor)
        view = created_view(outcome, actor)  # from the command's own events: no read
        if view is None:
            return await ticket_response(request, outcome.ticket_id, actor, status=201,
                                         created=True)
        return view_response(visible(view, actor), 201)  # (viewers: on reads only)

    return await http.idempotent(request, produce)


async def first_creation(request: Request, ticket_id: UUID, actor: Actor) -> HTTPResponse:
    """A retry whose first request stored the ticket (and maybe answered 503 while the
    read model lagged, so nothing was kept to replay): the ticket, once visible."""
    pool = http.command_pool(request)
    head = await pool.call(pool.app.recorder.max_notification_id)
    await http.wait_until_visible(request, head, {"ticket_id": str(ticket_id)})
    response = await ticket_response(request, ticket_id, actor, status=201, after_write=True)
    response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.get("/tickets/statistics")
@responds(200, schemas.Statistics)
@documents_query(schemas.StatisticsQuery)
async def statistics_route(request: Request) -> HTTPResponse:
    """Ticket statistics over what the caller may see."""
    actor = current_actor(request)
    async with http.reads(request).connect() as conn:
        data = await statistics.ticket_statistics(conn, actor, {  # blank ones too
            name: http.first_arg(request, name) for name in ("from", "to", "group_by")})
    return http.json(data)


@bp.get("/tickets/<ticket_ref:str>")
@responds(200, schemas.TicketDetails, etag=True)
@query(PastQuery)
async def get_route(request: Request, ticket_ref: str, query: PastQuery) -> HTTPResponse:
    """Get a ticket with its visible messages (the latest) and attachments; with
    `version` or `as_of`, as it was then (rebuilt from its events)."""
    actor = current_actor(request)
    if query.given:
        return await past_response(request, ticket_ref, actor, query)
    ticket_id = await http.resolve_ticket_key(request, ticket_ref)
    views = http.views(request)
    view = views.get(ticket_id, actor.sees_internal)
    if view is None:
        generation = views.generation
        view = await render_ticket(request, ticket_id, actor)
        if not view.linked:
            views.put(ticket_id, actor.sees_internal, view, generation)
    response = await with_viewers(request, view_response(visible(view, actor)), ticket_id,
                                  actor)
    if view.tag is not None and response.body is view.body:  # (staff: viewers added)
        known_representation(request, view.body, view.tag)
    return response


@bp.put("/tickets/<ticket_ref:str>")
@responds(200, schemas.TicketDetails, etag=True)
@conditional
@body(commands.UpdateTicket)
async def update_route(request: Request, ticket_ref: str,
                       cmd: commands.UpdateTicket) -> HTTPResponse:
    """Update ticket fields (customers: subject, description, priority of open tickets)."""
    actor = current_actor(request)
    ticket_id = await http.resolve_ticket_id(request, ticket_ref)
    await http.run_command(request, commands.update_ticket, actor, ticket_id, cmd,
                           http.if_match(request))
    return await ticket_response(request, ticket_id, actor, after_write=True)


@bp.delete("/tickets/<ticket_ref:str>")
@responds(200, schemas.Deleted, etag=True)
@conditional
async def delete_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """Soft-delete a ticket (admins, or the customer who owns it)."""
    actor = current_actor(request)
    ticket_id = await http.resolve_ticket_id(request, ticket_ref)
    outcome = await http.run_command(request, commands.delete_ticket, actor, ticket_id,
                                     http.if_match(request))
    return http.json({"success": True, "message": "ticket deleted", "id": str(ticket_id)},
                     headers=http.etag(outcome.version))


# The lifecycle commands (docs/contract.md's table): which transitions are allowed is the
# aggregate's rule, each route only names its command. Route names keep the
# operationIds that /openapi.json has always published.
async def lifecycle(request: Request, ticket_ref: str, command: Callable[..., Outcome],
                    *args: Any) -> HTTPResponse:
    """Idempotent, conditional on If-Match; answers the ticket's new state."""
    actor = current_actor(request)
    ticket_id = await http.resolve_ticket_id(request, ticket_ref)

    async def produce() -> HTTPResponse:
        await http.run_command(request, command, actor, ticket_id, *args, http.if_match(request))
        return await ticket_response(request, ticket_id, actor, after_write=True)

    return await http.idempotent(request, produce)


@bp.post("/tickets/<ticket_ref:str>/assign", name="ticket_assign")
@responds(200, schemas.TicketDetails, etag=True)
@conditional
@body(commands.AssignTicket)
async def assign_route(request: Request, ticket_ref: str,
                       cmd: commands.AssignTicket) -> HTTPResponse:
    """Assign a ticket."""
    return await lifecycle(request, ticket_ref, commands.assign_ticket, cmd)


@bp.post("/tickets/<ticket_ref:str>/unassign", name="ticket_unassign")
@responds(200, schemas.TicketDetails, etag=True)
@conditional
async def unassign_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """Take a ticket back from its agent (staff): `assigned_to` null, status `open`
    (from assigned, in_progress or waiting_customer)."""
    return await lifecycle(request, ticket_ref, commands.unassign_ticket)


@bp.post("/tickets/<ticket_ref:str>/restore", name="ticket_restore")
@responds(200, schemas.TicketDetails, etag=True)
@conditional
async def restore_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """Restore a soft-deleted ticket (admins; by id or number, `?deleted=true` lists them)."""
    actor = current_actor(request)
    ticket_id = await http.resolve_ticket_id(request, ticket_ref, include_deleted=True)
    await http.run_command(request, commands.restore_ticket, actor, ticket_id,
                           http.if_match(request))
    return await ticket_response(request, ticket_id, actor, after_write=True)


@bp.post("/tickets/<ticket_ref:str>/start", name="ticket_start")
@responds(200, schemas.TicketDetails, etag=True)
@conditional
async def start_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """Start a ticket."""
    return await lifecycle(request, ticket_ref, commands.start_ticket)


@bp.post("/tickets/<ticket_ref:str>/wait", name="ticket_wait")
@responds(200, schemas.TicketDetails, etag=True)
@conditional
async def wait_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """Put a ticket on hold, waiting for the customer."""
    return await lifecycle(request, ticket_ref, commands.wait_on_customer)


@bp.post("/tickets/<ticket_ref:str>/resolve", name="ticket_resolve")
@responds(200, schemas.TicketDetails, etag=True)
@conditional
@body(commands.ResolveTicket, allow_empty=True)
async def resolve_route(request: Request, ticket_ref: str,
                        cmd: commands.ResolveTicket) -> HTTPResponse:
    """Resolve a ticket."""
    return await lifecycle(request, ticket_ref, commands.resolve_ticket, cmd)


@bp.post("/tickets/<ticket_ref:str>/close", name="ticket_close")
@responds(200, schemas.TicketDetails, etag=True)
@conditional
@body(commands.ReasonBody, allow_empty=True)
async def close_route(request: Request, ticket_ref: str,
                      cmd: commands.ReasonBody) -> HTTPResponse:
    """Close a ticket."""
    return await lifecycle(request, ticket_ref, commands.close_ticket, cmd)


@bp.post("/tickets/<ticket_ref:str>/reopen", name="ticket_reopen")
@responds(200, schemas.TicketDetails, etag=True)
@conditional
@body(commands.ReasonBody, allow_empty=True)
async def reopen_route(request: Request, ticket_ref: str,
                       cmd: commands.ReasonBody) -> HTTPResponse:
    """Reopen a ticket."""
    return await lifecycle(request, ticket_ref, commands.reopen_ticket, cmd)

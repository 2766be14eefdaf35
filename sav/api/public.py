"""Anonymous support: create a ticket, look it up, reply and rate it with its access token.

A missing ticket and a wrong or missing token answer the same 404, so the routes reveal
nothing about which ticket numbers exist. Every route is rate limited per client.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import EmailStr, Field
from sanic import Blueprint, HTTPResponse, Request

from sav.api import details
from sav.api.errors import ApiError
from sav.api.http import accepts, json, parse, run_command, runtime
from sav.api.messages import message_response
from sav.api.ratelimit import enforce_public_rate_limit
from sav.commands import messages as message_commands
from sav.commands.actor import public_actor
from sav.commands.tickets import Command, CreateTicket, Priority, create_ticket
from sav.projections.schema import iso
from sav.projections.ticket_queries import find_ticket

bp = Blueprint("public")
bp.on_request(enforce_public_rate_limit)

MAX_TOKEN_LENGTH = 256

# What an anonymous token holder may see of a ticket: no assignee, internal notes,
# tags, metadata or token hash.
PUBLIC_FIELDS = ("id", "ticket_number", "subject", "description", "status", "priority",
                 "category", "source", "contact_email", "contact_name", "resolution_notes",
                 "satisfaction_rating", "satisfaction_comment")
PUBLIC_TIMES = ("first_response_at", "resolved_at", "closed_at", "created_at", "updated_at")


class CreatePublicTicket(Command):
    email: EmailStr
    name: str | None = Field(default=None, min_length=1, max_length=255)
    subject: str = Field(min_length=1, max_length=255)
    description: str = Field(min_length=1, max_length=50_000)
    priority: Priority = "normal"
    category: str | None = Field(default=None, max_length=64)


def not_found() -> ApiError:
    return ApiError(404, "not_found", "ticket not found")


def access_token(request: Request) -> str | None:
    token = request.headers.get("x-access-token") or request.args.get("token")
    if token is None or len(token) > MAX_TOKEN_LENGTH:
        return None
    return token.strip()


async def ticket_with_token(request: Request, ticket_ref: str) -> tuple[Any, str]:
    """The ticket row, if the request carries its access token; 404 otherwise."""
    token = access_token(request)
    async with runtime(request).read_engine.connect() as conn:
        row = await find_ticket(conn, ticket_ref)
    stored = row.access_token_hash if row is not None else None
    if token is None or not message_commands.token_matches(stored, token):
        raise not_found()
    return row, token


async def public_ticket_response(request: Request, ticket_id: str, status: int = 200,
                                 extra: dict[str, Any] | None = None) -> HTTPResponse:
    async with runtime(request).read_engine.connect() as conn:
        row = await find_ticket(conn, ticket_id)
        if row is None:
            raise not_found()
        data: dict[str, Any] = {name: getattr(row, name) for name in PUBLIC_FIELDS}
        data.update({name: iso(getattr(row, name)) for name in PUBLIC_TIMES})
        data.update(await details.ticket_details(conn, row, None))
    data.update(extra or {})
    return json(data, status=status)


@bp.post("/public/tickets")
@accepts(CreatePublicTicket)
async def create_route(request: Request) -> HTTPResponse:
    """Open a ticket without an account; the access token is returned once, here only."""
    body = parse(request, CreatePublicTicket)
    actor = public_actor(str(body.email), body.name)
    cmd = CreateTicket(subject=body.subject, description=body.description,
                       priority=body.priority, category=body.category,
                       contact_email=body.email, contact_name=body.name)
    # No Idempotency-Key here: a stored replay would keep the token in clear text.
    outcome = await run_command(request, create_ticket, actor, cmd, with_access_token=True)
    return await public_ticket_response(request, str(outcome.ticket_id), status=201,
                                        extra={"access_token": outcome.access_token})


@bp.get("/public/tickets/<ticket_ref:str>")
async def lookup_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """The ticket and its public messages (token in `X-Access-Token` or `?token=`)."""
    row, _ = await ticket_with_token(request, ticket_ref)
    return await public_ticket_response(request, row.id)


@bp.post("/public/tickets/<ticket_ref:str>/messages")
@accepts(message_commands.PublicPostMessage)
async def reply_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """Reply as the ticket's contact; a reply wakes a waiting or resolved ticket."""
    row, token = await ticket_with_token(request, ticket_ref)
    cmd = parse(request, message_commands.PublicPostMessage)
    actor = public_actor(row.contact_email, row.contact_name)
    outcome = await run_command(request, message_commands.post_message, actor, UUID(row.id),
                                cmd, access_token=token)
    return await message_response(request, row.id, outcome.message_id, None,
                                  status=201)


@bp.post("/public/tickets/<ticket_ref:str>/satisfaction")
@accepts(message_commands.RateTicket)
async def satisfaction_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """Rate the ticket once it is resolved or closed (1 to 5, optional comment)."""
    row, token = await ticket_with_token(request, ticket_ref)
    cmd = parse(request, message_commands.RateTicket)
    actor = public_actor(row.contact_email, row.contact_name)
    await run_command(request, message_commands.rate_ticket, actor, UUID(row.id), cmd,
                      access_token=token)
    return await public_ticket_response(request, row.id)

"""Anonymous support: create a ticket, look it up, reply and rate it with its access token.

A missing ticket and a wrong or missing token answer the same 404, so the routes reveal
nothing about which ticket numbers exist. Every route is rate limited per client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from pydantic import Field
from sanic import Blueprint, HTTPResponse, Request

from sav.api import details, http, schemas
from sav.api.body import JsonBody, body, deferred_body
from sav.api.errors import ApiError
from sav.api.messages import message_response
from sav.api.openapi import documents_query, responds
from sav.api.ratelimit import add_rate_limit_headers, enforce_public_rate_limit
from sav.commands import messages as message_commands
from sav.commands.actor import public_actor
from sav.commands.app import Outcome
from sav.commands.emails import Email
from sav.commands.tickets import NOT_BLANK, Command, CreateTicket, create_ticket
from sav.events.rules import Priority
from sav.mail.templates import preferred_locale
from sav.projections.ticket_queries import find_ticket, public_ticket_json

bp = Blueprint("public")
bp.on_request(enforce_public_rate_limit)
bp.on_response(add_rate_limit_headers)
OutcomeT = TypeVar("OutcomeT", bound=Outcome)

MAX_TOKEN_LENGTH = 256



class CreatePublicTicket(Command):
    email: Email
    name: str | None = Field(default=None, min_length=1, max_length=255, pattern=NOT_BLANK)
    subject: str = Field(min_length=1, max_length=255, pattern=NOT_BLANK)
    description: str = Field(min_length=1, max_length=50_000, pattern=NOT_BLANK)
    priority: Priority = Priority.NORMAL
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
    async with http.reads(request).connect() as conn:
        row = await find_ticket(conn, ticket_ref)
    stored = row.access_token_hash if row is not None else None
    if token is None or not message_commands.token_matches(stored, token):
        raise not_found()
    return row, token


async def public_ticket_response(request: Request, ticket_id: str, status: int = 200,
                                 extra: dict[str, Any] | None = None) -> HTTPResponse:
    async with http.reads(request).connect() as conn:
        row = await find_ticket(conn, ticket_id)
        if row is None:
            raise not_found()
        # What an anonymous token holder may see (the fields declared public).
        data: dict[str, Any] = public_ticket_json(row)
        # No list route for token holders: they see the latest messages only.
        data.update(await details.ticket_details(conn, row, None, None))
    data.update(extra or {})
    return http.json(data, status=status)


@bp.post("/public/tickets")
@responds(201, schemas.PublicTicket,
          description="created; `access_token` is shown this once, here only")
@body(CreatePublicTicket)
async def create_route(request: Request, cmd: CreatePublicTicket) -> HTTPResponse:
    """Open a ticket without an account; the access token is returned once, here only."""
    actor = public_actor(str(cmd.email), cmd.name)
    create = CreateTicket(subject=cmd.subject, description=cmd.description,
                          priority=cmd.priority, category=cmd.category,
                          contact_email=cmd.email, contact_name=cmd.name)
    # No Idempotency-Key here: a stored replay would keep the token in clear text.
    outcome = await http.run_command(request, create_ticket, actor, create,
                                     with_access_token=True,
                                     locale=preferred_locale(
                                         request.headers.get("accept-language")))
    return await public_ticket_response(request, str(outcome.ticket_id), status=201,
                                        extra={"access_token": outcome.access_token})


@bp.get("/public/tickets/<ticket_ref:str>")
@responds(200, schemas.PublicTicket)
@documents_query(schemas.AccessTokenQuery)
async def lookup_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """The ticket and its public messages (token in `X-Access-Token` or `?token=`)."""
    row, _ = await ticket_with_token(request, ticket_ref)
    return await public_ticket_response(request, row.id)


@bp.post("/public/tickets/<ticket_ref:str>/messages")
@responds(201, schemas.Message)
@documents_query(schemas.AccessTokenQuery)
@deferred_body(message_commands.PublicPostMessage)
async def reply_route(request: Request, ticket_ref: str,
                      body: JsonBody[message_commands.PublicPostMessage]) -> HTTPResponse:
    """Reply as the ticket's contact; a reply wakes a waiting or resolved ticket."""
    row, outcome = await run_as_contact(request, ticket_ref, body,
                                        message_commands.post_message)
    return await message_response(request, row.id, outcome.message_id, None, status=201)


@bp.post("/public/tickets/<ticket_ref:str>/satisfaction")
@responds(200, schemas.PublicTicket)
@documents_query(schemas.AccessTokenQuery)
@deferred_body(message_commands.RateTicket)
async def satisfaction_route(request: Request, ticket_ref: str,
                             body: JsonBody[message_commands.RateTicket]) -> HTTPResponse:
    """Rate the ticket once it is resolved or closed (1 to 5, optional comment)."""
    row, _ = await run_as_contact(request, ticket_ref, body, message_commands.rate_ticket)
    return await public_ticket_response(request, row.id)


async def run_as_contact(request: Request, ticket_ref: str, body: JsonBody[Any],
                         command: Callable[..., OutcomeT]) -> tuple[Any, OutcomeT]:
    """Run `command` as the ticket's contact. The token is checked before the body is
    validated: a caller without it learns nothing, not even validation errors."""
    row, token = await ticket_with_token(request, ticket_ref)
    cmd = body.parse(request)
    actor = public_actor(row.contact_email, row.contact_name)
    return row, await http.run_command(request, command, actor, UUID(row.id), cmd,
                                       access_token=token)

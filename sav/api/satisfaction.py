"""Satisfaction rating by the ticket's owner (the public twin lives in `sav.api.public`)."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from sav.api import http, schemas
from sav.api.auth import current_actor
from sav.api.body import body
from sav.api.openapi import responds
from sav.api.tickets import ticket_response
from sav.commands.messages import RateTicket, rate_ticket

bp = Blueprint("satisfaction")


@bp.post("/tickets/<ticket_ref:str>/satisfaction")
@responds(200, schemas.TicketDetails, etag=True)
@body(RateTicket)
async def rate_route(request: Request, ticket_ref: str, cmd: RateTicket) -> HTTPResponse:
    """Rate a resolved or closed ticket once: `{"rating": 1..5, "comment"}` (owner only)."""
    actor = current_actor(request)
    ticket_id = await http.resolve_ticket_id(request, ticket_ref)
    await http.run_command(request, rate_ticket, actor, ticket_id, cmd)
    return await ticket_response(request, ticket_id, actor)

"""Links between tickets (issue 26): `GET/POST /tickets/{id}/links`,
`DELETE /tickets/{id}/links/{other_id}`. Staff link and unlink; whoever may read the
ticket reads its links (those to tickets they may see). Both sides are written in one
append (`sav.commands.links`)."""

from __future__ import annotations

from uuid import UUID

from sanic import Blueprint, HTTPResponse, Request

from sav.api import http, schemas
from sav.api.auth import current_actor
from sav.api.body import body
from sav.api.openapi import responds
from sav.api.tickets import ticket_response
from sav.commands import links as commands
from sav.commands import merge
from sav.commands.actor import Actor
from sav.projections.links import links_of

bp = Blueprint("links")


class TicketLinks(schemas.Shape):
    id: str
    links: list[schemas.TicketLink]


async def answer(request: Request, ticket_id: str, actor: Actor, status: int = 200
                 ) -> HTTPResponse:
    async with http.reads(request).connect() as conn:
        found = await links_of(conn, ticket_id, actor)
    return http.json({"id": ticket_id, "links": found}, status=status)


@bp.get("/tickets/<ticket_ref:str>/links")
@responds(200, TicketLinks)
async def list_links_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """The ticket's links, oldest first, with each other ticket's number and status."""
    actor = current_actor(request)
    row = await http.visible_ticket(request, ticket_ref, actor)
    return await answer(request, row.id, actor)


@bp.post("/tickets/<ticket_ref:str>/links", name="ticket_link")
@responds(201, TicketLinks)
@body(commands.LinkBody)
async def create_link_route(request: Request, ticket_ref: str, cmd: commands.LinkBody
                            ) -> HTTPResponse:
    """Link another ticket (staff): `related` on both sides, `parent`/`child` mirrored,
    `duplicate` as `duplicate_of` here and `duplicated_by` there."""
    actor = current_actor(request)
    ticket_id = await http.resolve_ticket_id(request, ticket_ref)
    await http.run_command(request, commands.link_tickets, actor, ticket_id, cmd)
    return await answer(request, str(ticket_id), actor, status=201)


@bp.delete("/tickets/<ticket_ref:str>/links/<other_id:str>")
@responds(200, schemas.Deleted)
async def delete_link_route(request: Request, ticket_ref: str, other_id: str
                            ) -> HTTPResponse:
    """Remove a link, on both sides (staff)."""
    actor = current_actor(request)
    ticket_id = await http.resolve_ticket_id(request, ticket_ref)
    try:
        other = UUID(other_id)
    except ValueError:
        other = await http.resolve_ticket_id(request, other_id)
    await http.run_command(request, commands.unlink_tickets, actor, ticket_id, other)
    return http.json({"success": True, "message": "link removed", "id": str(other)})


@bp.post("/tickets/<ticket_ref:str>/merge", name="ticket_merge")
@responds(200, schemas.TicketDetails, etag=True)
@body(merge.MergeBody)
async def merge_route(request: Request, ticket_ref: str, cmd: merge.MergeBody
                      ) -> HTTPResponse:
    """Merge this ticket into `into` (staff): this one is closed with `merged_into`, the
    target lists it as `merged_from` in its links, and each side gets a public message
    saying so. Into itself 422; into a closed or merged ticket 409."""
    actor = current_actor(request)
    ticket_id = await http.resolve_ticket_id(request, ticket_ref)
    await http.run_command(request, merge.merge_ticket, actor, ticket_id, cmd)
    return await ticket_response(request, ticket_id, actor, after_write=True)

"""Macro routes (issue 26): the catalog (`/macros`, `/macros/{macro_id}`; staff read,
admins change) and applying one to a ticket (`POST /tickets/{id}/macros/{macro_id}`,
staff). The catalog is read from its own stream (`sav.events.macro`), so a change is
seen at once; applying answers the ticket as the read model shows it afterwards."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sanic import Blueprint, HTTPResponse, Request

from sav.api import http, schemas
from sav.api.auth import current_actor
from sav.api.body import body
from sav.api.errors import ApiError
from sav.api.openapi import responds
from sav.api.tickets import ticket_response
from sav.commands import macros as commands
from sav.commands.actor import Actor

bp = Blueprint("macros")


class MacroActionsShown(schemas.Shape):
    """A macro's actions as stored (the request's `MacroActions` checks them)."""

    status: str | None = None
    priority: str | None = None
    add_tags: list[str] | None = None
    remove_tags: list[str] | None = None
    assign_to_me: bool | None = None


class Macro(schemas.Shape):
    id: str
    title: str
    content: str
    is_internal: bool
    actions: MacroActionsShown
    created_at: str
    updated_at: str
    created_by: str | None
    updated_by: str | None


class MacroList(schemas.Shape):
    data: list[Macro]


def _staff(request: Request) -> Actor:
    actor = current_actor(request)
    if not actor.sees_internal:  # agents, admins, analysts
        raise ApiError(403, "forbidden", "only staff read macros")
    return actor


def macro_ref(macro_id: str) -> str:
    """A macro id is a UUID; anything else is no macro (404)."""
    try:
        return str(UUID(macro_id))
    except ValueError:
        raise ApiError(404, "not_found", "macro not found") from None


@bp.get("/macros")
@responds(200, MacroList)
async def list_macros_route(request: Request) -> HTTPResponse:
    """Every macro, by title (staff)."""
    _staff(request)
    pool = http.command_pool(request)
    return http.json({"data": await pool.call(commands.all_macros, pool.app)})


@bp.post("/macros")
@responds(201, Macro)
@body(commands.MacroBody)
async def create_macro_route(request: Request, cmd: commands.MacroBody) -> HTTPResponse:
    """Create a macro (admins). An unknown placeholder in `content`, or an unknown
    status or priority in `actions`, is a 422."""
    actor = current_actor(request)
    created: dict[str, Any] = await http.command_pool(request).run(
        commands.create_macro, actor, cmd)
    return http.json(created, status=201)


@bp.get("/macros/<macro_id:str>")
@responds(200, Macro)
async def get_macro_route(request: Request, macro_id: str) -> HTTPResponse:
    """One macro (staff)."""
    _staff(request)
    pool = http.command_pool(request)
    return http.json(await pool.call(commands.one_macro, pool.app, macro_ref(macro_id)))


@bp.put("/macros/<macro_id:str>")
@responds(200, Macro)
@body(commands.MacroBody)
async def replace_macro_route(request: Request, macro_id: str,
                              cmd: commands.MacroBody) -> HTTPResponse:
    """Replace a macro (admins): all of it, as at creation."""
    actor = current_actor(request)
    return http.json(await http.command_pool(request).run(
        commands.replace_macro, actor, macro_ref(macro_id), cmd))


@bp.delete("/macros/<macro_id:str>")
@responds(200, schemas.Deleted)
async def delete_macro_route(request: Request, macro_id: str) -> HTTPResponse:
    """Delete a macro (admins). The tickets it was applied to keep what it did, and the
    statistics keep its uses."""
    actor = current_actor(request)
    ref = macro_ref(macro_id)
    await http.command_pool(request).run(commands.delete_macro, actor, ref)
    return http.json({"success": True, "message": "macro deleted", "id": ref})


@bp.post("/tickets/<ticket_ref:str>/macros/<macro_id:str>", name="ticket_apply_macro")
@responds(200, schemas.TicketDetails, etag=True)
async def apply_macro_route(request: Request, ticket_ref: str, macro_id: str
                            ) -> HTTPResponse:
    """Apply a macro (staff): its content, rendered for this ticket and agent, is posted
    as a message and its actions applied, in one append. If any step is refused (an
    invalid transition: 409) nothing happens."""
    actor = current_actor(request)
    ref = macro_ref(macro_id)
    ticket_id = await http.resolve_ticket_id(request, ticket_ref)
    await http.run_command(request, commands.apply_macro, actor, ticket_id, ref)
    return await ticket_response(request, ticket_id, actor, after_write=True)

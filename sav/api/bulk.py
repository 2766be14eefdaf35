"""`POST /tickets/bulk` (issue 26, staff): one action on up to 100 tickets, each ticket
its own command (`sav.commands.bulk`), answered per ticket with the status its own route
would give: `{"results": [{"id", "status", "error"?}]}`, always 200 once the request
itself is valid (more than 100 ids: 422). `Idempotency-Key` replays the first answer
like on every POST."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, HTTPResponse, Request

from sav.api import http, schemas
from sav.api.auth import current_actor
from sav.api.body import body
from sav.api.errors import STATUS_BY_DOMAIN_ERROR, ApiError
from sav.api.openapi import responds
from sav.commands import bulk as commands
from sav.events.errors import DomainError

bp = Blueprint("bulk")


class BulkResult(schemas.Shape):
    id: str
    status: int
    error: schemas.ErrorBody | None = None


class BulkResults(schemas.Shape):
    results: list[BulkResult]


def _failure(error: Exception) -> tuple[int, dict[str, Any]] | None:
    if isinstance(error, ApiError):
        return error.status, {"code": error.code, "message": error.message}
    if isinstance(error, DomainError):
        for cls, status in STATUS_BY_DOMAIN_ERROR:
            if isinstance(error, cls):
                return status, {"code": error.code, "message": error.message}
    return None


@bp.post("/tickets/bulk", name="tickets_bulk")
@responds(200, BulkResults)
@body(commands.BulkBody)
async def bulk_route(request: Request, cmd: commands.BulkBody) -> HTTPResponse:
    """One action on many tickets (staff): assign, unassign, close, resolve,
    set_priority, add_tags, remove_tags or apply_macro. One ticket refused (403, 404,
    409, 422) does not stop the others."""
    actor = current_actor(request)
    handler, args = commands.command_for(cmd)
    pool = http.command_pool(request)
    results: list[dict[str, Any]] = []
    last: int | None = None
    for ref in cmd.ids:
        try:
            ticket_id = await http.resolve_ticket_id(request, ref)
            outcome = await pool.run(handler, actor, ticket_id, *args)
        except Exception as error:  # each ticket answers for itself
            failure = _failure(error)
            if failure is None:
                raise
            results.append({"id": ref, "status": failure[0], "error": failure[1]})
            continue
        if outcome.position is not None:
            last = max(last or 0, outcome.position)
        results.append({"id": ref, "status": 200})
    await http.wait_until_visible(request, last)
    return http.json({"results": results})

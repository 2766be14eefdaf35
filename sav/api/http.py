"""Edge helpers shared by blueprints: what a route may use of the services, JSON,
commands, ETags, the caller's Idempotency-Key (its replays: `sav.api.idempotency`)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

import orjson
from sanic import HTTPResponse, Request
from sanic.helpers import has_message_body
from sqlalchemy.ext.asyncio import AsyncEngine

from sav.api.errors import ApiError
from sav.api.query import JSON_INTEGER
from sav.api.views import TicketViews
from sav.commands.actor import Actor
from sav.commands.app import Outcome
from sav.commands.policy import can_see
from sav.commands.pool import CommandPool
from sav.config import Settings
from sav.projections.position import ReadModelPosition
from sav.projections.ticket_queries import find_ticket
from sav.storage.lifecycle import Storage

OutcomeT = TypeVar("OutcomeT", bound=Outcome)
log = logging.getLogger("sav.api")
MAX_LIMIT = 100
CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


# What a route may use of the process's services, one accessor each (`app.ctx` is
# filled by `sav.api.app.fill_context`): a route names only what it needs.
def settings(request: Request) -> Settings:
    return request.app.ctx.settings  # type: ignore[no-any-return]


def reads(request: Request) -> AsyncEngine:
    """The read model's async engine, for queries."""
    return request.app.ctx.reads  # type: ignore[no-any-return]


def command_pool(request: Request) -> CommandPool:
    return request.app.ctx.command_pool  # type: ignore[no-any-return]


def read_model(request: Request) -> ReadModelPosition:
    return request.app.ctx.read_model  # type: ignore[no-any-return]


def views(request: Request) -> TicketViews:
    return request.app.ctx.views  # type: ignore[no-any-return]


def storage(request: Request) -> Storage:
    return request.app.ctx.storage  # type: ignore[no-any-return]


class Response(HTTPResponse):
    """Sanic's response, its header lines encoded at about a third of Sanic's cost. Sanic
    strips CR, LF and NUL from every name and value with `str.translate` (the largest
    share of a kept view's answer, `GET /tickets/{id}`); only a name or value that is
    not printable can hold one, so only those are stripped: the same bytes are sent."""

    __slots__ = ()

    @property
    def processed_headers(self) -> Iterator[tuple[bytes, bytes]]:
        if has_message_body(self.status):
            self.headers.setdefault("content-type", self.content_type)
        for name, value in self.headers.items():
            value = f"{value}"
            if not (name.isprintable() and value.isprintable()):
                name, value = (self._sanitize_header_value(name),
                               self._sanitize_header_value(value))
            yield name.encode("ascii"), value.encode(errors="surrogateescape")


def json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> HTTPResponse:
    return Response(orjson.dumps(data), status=status, headers=headers,
                    content_type="application/json")


def first_arg(request: Request, name: str) -> str | None:
    """The first value of a query parameter, a blank one too (`limit=` is a value to
    refuse, not the default: what `/openapi.json` says of it, issue 19)."""
    for key, value in request.get_query_args(keep_blank_values=True):
        if key == name:
            return value
    return None


def pagination(request: Request, default: int = 20) -> tuple[int, str | None]:
    raw = first_arg(request, "limit")
    # As JSON writes an integer (the document's `integer`): not `+5`, `1_0`, other digits.
    if raw is not None and not JSON_INTEGER.match(raw):
        raise ApiError(422, "validation_failed", "limit must be an integer",
                       [{"field": "limit", "message": "not an integer"}])
    limit = int(raw) if raw is not None else default
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(422, "validation_failed", f"limit must be between 1 and {MAX_LIMIT}",
                       [{"field": "limit", "message": "out of range"}])
    cursor = first_arg(request, "cursor")
    if cursor == "":
        raise ApiError(422, "validation_failed", "invalid cursor",
                       [{"field": "cursor", "message": "empty"}])
    return limit, cursor


def page(data: list[Any], limit: int, next_cursor: str | None) -> dict[str, Any]:
    return {"data": data, "pagination": {"limit": limit, "next_cursor": next_cursor}}


def if_match(request: Request) -> int | None:
    """The version an `If-Match` header requires, if any (`"3"`, `W/"3"`, `3`, `*`)."""
    raw = request.headers.get("if-match")
    if raw is None or raw.strip() == "*":
        return None
    # A GET's ETag is `"<version>-<digest of the body>"`: the version is what matters.
    value = raw.strip().removeprefix("W/").strip('"').split("-", 1)[0]
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise ApiError(412, "precondition_failed", "If-Match must be a ticket ETag")
    return int(value)


def etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


async def resolve_ticket_key(request: Request, id_or_number: str) -> str:
    """`resolve_ticket_id` as the read model keys tickets (`str(UUID)`); a UUID already
    written so is taken as it is, unparsed (`GET /tickets/{id}` answers from memory)."""
    if CANONICAL_UUID.match(id_or_number):
        return id_or_number
    return str(await resolve_ticket_id(request, id_or_number))


async def resolve_ticket_id(request: Request, id_or_number: str,
                            include_deleted: bool = False) -> UUID:
    """`/tickets/{id}` takes a UUID or a ticket number; unknown ones are 404."""
    try:
        return UUID(id_or_number)
    except ValueError:
        pass
    async with reads(request).connect() as conn:
        row = await find_ticket(conn, id_or_number, include_deleted)
    if row is None:
        raise ApiError(404, "not_found", "ticket not found")
    return UUID(row.id)


async def visible_ticket(request: Request, ticket_ref: str, actor: Actor) -> Any:
    """The ticket's read-model row (by id or number), or 404 when missing or hidden
    from the caller."""
    with contextlib.suppress(ValueError):  # else a ticket number
        ticket_ref = str(UUID(ticket_ref))
    async with reads(request).connect() as conn:
        row = await find_ticket(conn, ticket_ref)
    if row is None or not can_see(actor, row.user_id, row.assigned_to, row.status):
        raise ApiError(404, "not_found", "ticket not found")
    return row


async def run_command(request: Request, handler: Callable[..., OutcomeT], *args: Any,
                      **kwargs: Any) -> OutcomeT:
    """Run a command on the pool, then wait until the read model shows it."""
    outcome = await command_pool(request).run(handler, *args, **kwargs)
    await wait_until_visible(request, outcome.position,
                             {"ticket_id": str(outcome.ticket_id), "version": outcome.version})
    return outcome


async def wait_until_visible(request: Request, position: int | None,
                             details: dict[str, Any] | None = None) -> None:
    """Read-your-writes, bounded: a read model that does not catch up in time is a 503
    (the change itself is stored; `details` say what was written)."""
    if not await read_model(request).wait(position):
        headers = {"Retry-After": "1"}
        if details and details.get("ticket_id"):
            headers["Location"] = f"/tickets/{details['ticket_id']}"
        if details and details.get("version"):
            headers["ETag"] = f'"{details["version"]}"'
        raise ApiError(503, "read_model_lagging",
                       "the change is stored but not visible yet; read it again shortly",
                       details, headers=headers)


def idempotency_scope(request: Request) -> tuple[str, str] | None:
    """Whose `Idempotency-Key` this is (scope) and for what (method, path, key): the
    token's user, or for anonymous calls the client address and the access token they
    show (hashed), so a replay never answers a caller without the ticket's token."""
    key = request.headers.get("idempotency-key")
    if not key:
        return None
    if len(key) > 128 or not key.isascii() or not key.isprintable():
        raise ApiError(422, "validation_failed",
                       "Idempotency-Key must be at most 128 printable ASCII characters")
    actor = getattr(request.ctx, "actor", None)
    if actor is not None:
        scope = f"user:{actor.user_id}"
    else:
        shown = request.headers.get("x-access-token") or request.args.get("token") or ""
        caller = f"{request.remote_addr or request.ip}\0{shown}".encode()
        scope = f"anon:{hashlib.sha256(caller).hexdigest()[:40]}"
    return scope[:64], f"{request.method} {request.path} {key}"[:255]


def idempotent_id(request: Request) -> UUID | None:
    """A create with an Idempotency-Key gets an id derived from it and from the time the
    key was claimed (`sav.api.idempotency`), so concurrent retries collide on the event
    store's unique stream version instead of duplicating, and the same key once its
    answer expired makes a new one."""
    scope = idempotency_scope(request)
    if scope is None:
        return None
    generation = getattr(request.ctx, "idempotency_generation", None)
    claimed = f":{generation.isoformat()}" if generation is not None else ""
    return uuid5(NAMESPACE_URL, f"sav:{scope[0]}:{scope[1]}{claimed}")


async def idempotent(request: Request, produce: Callable[[], Awaitable[HTTPResponse]]
                     ) -> HTTPResponse:
    """Every POST route replays its first result for an `Idempotency-Key` already: the
    rule is applied at registration (`sav.api.idempotency`), so a route just produces."""
    return await produce()

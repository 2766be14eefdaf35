"""A ticket's past: its history (`GET /tickets/{id}/history`) and the ticket as it was
(`GET /tickets/{id}?version=N` or `?as_of=<RFC 3339>`), both read from its events.

Who may read them is decided on the ticket as it is now (404 otherwise); what is shown
follows the caller's role (customers never get staff-only entries, fields or notes).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sanic import Blueprint, HTTPResponse, Request

from sav.api import http, schemas
from sav.api.auth import current_actor
from sav.api.errors import ApiError
from sav.api.openapi import responds
from sav.api.query import query
from sav.commands.actor import Actor
from sav.events.errors import RuleViolationError
from sav.history.entries import history_page, past_state, present_messages
from sav.history.past import past_ticket_json
from sav.projections.cursors import CURSOR_PATTERN, decode_cursor, encode_cursor
from sav.projections.links import past_links

bp = Blueprint("history")

MAX_VERSION = 2**63 - 1  # a BIGINT: larger would fail in SQL, not be a 422

# RFC 3339 date-times; the offset may be missing (read as UTC) and a `+` that arrives
# unencoded in a query string is a space.
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}(?::\d{2}(?:\.(\d+))?)?)([Zz]|[+\- ]\d{2}:\d{2})?$")


def parse_rfc3339(value: str) -> datetime:
    """An aware datetime; a date-time without an offset is UTC."""
    found = _RFC3339.match(value.strip())
    if found is None:
        raise ValueError("must be an RFC 3339 date-time, e.g. 2026-11-29T10:30:00Z")
    day, clock, fraction, offset = found.groups()
    if fraction is not None:  # Python keeps microseconds: finer digits are dropped
        clock = clock.replace(f".{fraction}", f".{fraction[:6].ljust(6, '0')}")
    if offset is None or offset in "Zz":
        zone = "+00:00"
    else:
        zone = "+" + offset[1:] if offset.startswith(" ") else offset
    try:
        moment = datetime.fromisoformat(f"{day}T{clock}{zone}")
    except ValueError:
        raise ValueError("is not a valid date-time") from None
    return moment.astimezone(UTC)


class HistoryQuery(BaseModel):
    model_config = ConfigDict(frozen=True)

    limit: int = Field(20, ge=1, le=http.MAX_LIMIT, description="entries per page")
    cursor: str | None = Field(None, description="where the page starts: the previous "
                               "page's pagination.next_cursor (opaque; its pattern is "
                               "exact: nothing else is accepted)",
                               json_schema_extra={"pattern": CURSOR_PATTERN})


class PastQuery(BaseModel):
    """`version` or `as_of`, not both; neither is the ticket as it is now."""

    model_config = ConfigDict(frozen=True)

    version: int | None = Field(None, ge=1, le=MAX_VERSION,
                                description="the ticket as it was after this version")
    as_of: datetime | None = Field(None, description="the ticket as it was at this moment "
                                   "(RFC 3339; without an offset, UTC)")

    @field_validator("as_of", mode="before")
    @classmethod
    def rfc3339(cls, value: Any) -> Any:
        return parse_rfc3339(value) if isinstance(value, str) else value

    @property
    def given(self) -> bool:
        return self.version is not None or self.as_of is not None


@bp.get("/tickets/<ticket_ref:str>/history")
@responds(200, schemas.HistoryPage)
@query(HistoryQuery)
async def history_route(request: Request, ticket_ref: str, query: HistoryQuery
                        ) -> HTTPResponse:
    """A ticket's history: one entry per event, oldest first (customers: no staff-only
    entries or fields)."""
    actor = current_actor(request)
    after = cursor_version(query.cursor)
    row = await http.visible_ticket(request, ticket_ref, actor)
    pool = http.command_pool(request)
    entries, last = await pool.call(history_page, pool.app, UUID(row.id), actor.sees_internal,
                                    after, query.limit)
    return http.json(http.page(entries, query.limit,
                               encode_cursor(last) if last is not None else None))


def cursor_version(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        return decode_cursor(cursor)
    except RuleViolationError:
        raise ApiError(422, "validation_failed", "invalid cursor",
                       [{"field": "cursor", "message": "not a cursor of this list"}]) from None


async def past_response(request: Request, ticket_ref: str, actor: Actor, past: PastQuery
                        ) -> HTTPResponse:
    """`GET /tickets/{id}?version=|as_of=`: the ticket as it was, rebuilt from its events,
    with that version's ETag; 404 before it existed or past its head."""
    if past.version is not None and past.as_of is not None:
        raise ApiError(422, "validation_failed", "give version or as_of, not both", [
            {"field": "version", "message": "not with as_of"},
            {"field": "as_of", "message": "not with version"}])
    row = await http.visible_ticket(request, ticket_ref, actor)
    pool = http.command_pool(request)
    state = await pool.call(past_state, pool.app, UUID(row.id), past.version, past.as_of)
    if state is None:
        what = "version" if past.version is not None else "moment"
        raise ApiError(404, "not_found", f"the ticket did not exist at that {what}")
    present = (None if actor.sees_internal
               else await pool.call(present_messages, pool.app, UUID(row.id)))
    async with http.reads(request).connect() as conn:
        linked = await past_links(conn, state.links.values(), state.row.user_id,
                                  actor.sees_internal)
    return http.json(past_ticket_json(state, actor, present, linked),
                     headers=http.etag(state.version))

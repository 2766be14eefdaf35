"""The global event feed over HTTP, for admins and analysts: pages (`GET /events`), long
polling (`wait=`), a live tail as Server-Sent Events (`Accept: text/event-stream`) and the
export (`GET /events/export`). Entries are `sav.history.feed`'s: the envelope
published to RabbitMQ plus the global position."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal
from uuid import UUID

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sanic import Blueprint, HTTPResponse, Request, Sanic
from sanic.http import Http

from sav.api import http, schemas
from sav.api.auth import current_actor
from sav.api.errors import ApiError
from sav.api.openapi import responds
from sav.api.query import query
from sav.commands.actor import Actor
from sav.events.rules import Role
from sav.history.feed import EVENT_TYPES, EventFeed, Page, Selection, export_chunks

log = logging.getLogger("sav.api")
bp = Blueprint("events")

MAX_POSITION = 2**63 - 1  # a BIGINT: larger would fail in SQL, not be a 422
MAX_LIMIT = 1000
MAX_WAIT_SECONDS = 30
POLL_SECONDS = 0.2
HEARTBEAT_SECONDS = 15.0
RECONNECT_MILLISECONDS = 3000
EXPORT_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}

# The analyst role may not exist yet in this build; admins always read the feed.
FEED_READERS = frozenset(role for role in (Role.ADMIN, getattr(Role, "ANALYST", None)) if role)


class FeedQuery(BaseModel):
    model_config = ConfigDict(frozen=True)

    after: int = Field(0, ge=0, le=MAX_POSITION,
                       description="return events after this global position")
    limit: int = Field(100, ge=1, le=MAX_LIMIT, description="events per page")
    type: str | None = Field(None, description="only events published under this "
                             "routing key, e.g. ticket.assigned",
                             json_schema_extra={"enum": [*EVENT_TYPES, None]})
    ticket_id: UUID | None = Field(None, description="only the events of this ticket")
    wait: float = Field(0, ge=0, le=MAX_WAIT_SECONDS, allow_inf_nan=False,
                        description="seconds to wait for an event when there is none yet")

    @field_validator("type")
    @classmethod
    def known_type(cls, value: str | None) -> str | None:
        if value is not None and value not in EVENT_TYPES:
            raise ValueError(f"unknown event type; one of {', '.join(EVENT_TYPES)}")
        return value

    @property
    def selection(self) -> Selection:
        return Selection(self.type, None if self.ticket_id is None else str(self.ticket_id))


class ExportQuery(BaseModel):
    model_config = ConfigDict(frozen=True)

    after: int = Field(0, ge=0, le=MAX_POSITION,
                       description="export the events after this global position")
    format: Literal["jsonl", "csv"] = Field("jsonl", description="JSON lines or CSV")


class StoreHead:
    """The store's last position, polled off the event loop by one task while any request
    waits on it: many long polls and live tails cost one small query per interval.
    Closed when the server stops, so waiting requests answer and live tails end."""

    def __init__(self, read: Callable[[], Awaitable[int]], interval: float = POLL_SECONDS
                 ) -> None:
        self._read = read
        self.interval = interval
        self.position = 0
        self.closed = False
        self._moved: asyncio.Event | None = None
        self._waiters = 0
        self._poller: asyncio.Task[None] | None = None

    async def wait_past(self, position: int, timeout: float) -> bool:
        """True as soon as the head is past `position`; False after `timeout` seconds or
        once closed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._waiters += 1
        try:
            if self._poller is None or self._poller.done():
                self._poller = loop.create_task(self._poll())
            while not self.closed and self.position <= position:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                self._moved = self._moved or asyncio.Event()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._moved.wait(), remaining)
            return not self.closed
        finally:
            self._waiters -= 1

    async def _poll(self) -> None:
        while self._waiters and not self.closed:
            try:
                position = await self._read()
            except Exception:
                log.warning("event feed: cannot read the store's head", exc_info=True)
            else:
                if position != self.position:
                    self.position = position
                    self._wake()
            await asyncio.sleep(self.interval)

    def _wake(self) -> None:
        moved, self._moved = self._moved, None
        if moved is not None:
            moved.set()

    def open(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True
        self._wake()


def feed_of(request: Request) -> EventFeed:
    return request.app.ctx.feed  # type: ignore[no-any-return]


def store_head(request: Request) -> StoreHead:
    return request.app.ctx.store_head  # type: ignore[no-any-return]


def new_store_head(app: Sanic) -> StoreHead:
    """`app.ctx.store_head`: the head of the store the app serves, read on its command
    pool (looked up when polled: the app factory fills `app.ctx` again at start)."""
    return StoreHead(lambda: app.ctx.command_pool.call(app.ctx.feed.head))


@bp.before_server_start
async def open_feed(app: Sanic, _: Any = None) -> None:
    app.ctx.store_head.open()


@bp.before_server_stop
async def close_feed(app: Sanic, _: Any = None) -> None:
    app.ctx.store_head.close()


def require_feed_reader(request: Request) -> Actor:
    actor = current_actor(request)
    if actor.role not in FEED_READERS:
        raise ApiError(403, "forbidden", "only admins and analysts read the event feed")
    return actor


@bp.get("/events")
@responds(200, schemas.FeedPage, content_type="text/event-stream",
          description="a page; a live tail with `Accept: text/event-stream`")
@query(FeedQuery)
async def feed_route(request: Request, query: FeedQuery) -> HTTPResponse | None:
    """The global event feed, in position order (admins and analysts).

    Pages, long polling with `wait`, Server-Sent Events with `Accept: text/event-stream`."""
    require_feed_reader(request)
    if "text/event-stream" in request.headers.get("accept", "").lower():
        await tail(request, query, last_event_id(request, query.after))
        return None
    page = await read_page(request, query.after, query.limit, query.selection, query.wait)
    next_after = page.entries[-1]["position"] if page.entries else query.after
    return http.json({"data": page.entries,
                      "pagination": {"limit": query.limit, "next_after": next_after}})


async def read_page(request: Request, after: int, limit: int, selection: Selection,
                    wait: float) -> Page:
    """The entries after `after`; when there are none yet, waits up to `wait` seconds
    for the first ones (returning as soon as they are stored)."""
    pool, feed, head = http.command_pool(request), feed_of(request), store_head(request)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    page = await pool.call(feed.page, after, limit, selection)
    while not page.entries:
        remaining = deadline - loop.time()
        if remaining <= 0 or not await head.wait_past(page.scanned, remaining):
            break
        # Nothing selected up to `scanned`: read on from there.
        page = await pool.call(feed.page, page.scanned, limit, selection)
    return page


def last_event_id(request: Request, after: int) -> int:
    """Where a live tail resumes: the `Last-Event-ID` a reconnecting client sends, else
    `after`."""
    raw = request.headers.get("last-event-id")
    if raw is None or not raw.strip():
        return after
    if not raw.strip().isdigit() or int(raw) > MAX_POSITION:
        raise ApiError(422, "validation_failed", "Last-Event-ID must be a feed position",
                       [{"field": "Last-Event-ID", "message": "not a position"}])
    return int(raw)


async def tail(request: Request, query: FeedQuery, position: int) -> None:
    """Server-Sent Events: each entry as `id: <position>` and `data: <entry>`, a comment
    as heartbeat every HEARTBEAT_SECONDS, until the client leaves (the handler is then
    cancelled) or the server stops. No `event:` field, so `EventSource.onmessage` sees
    every entry (its routing key is in the data)."""
    if isinstance(request.stream, Http):
        # One connection per tail (`Connection: close`): when the server stops and ends
        # the tail, no idle keep-alive connection holds the shutdown back.
        request.stream.keep_alive = False
    response = await request.respond(
        content_type="text/event-stream; charset=utf-8",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    await response.send(f"retry: {RECONNECT_MILLISECONDS}\n: tailing after {position}\n\n")
    head = store_head(request)
    while not head.closed:
        page = await read_page(request, position, query.limit, query.selection,
                               HEARTBEAT_SECONDS)
        await response.send(b"".join(map(sse_message, page.entries)) or b": heartbeat\n\n")
        position = page.scanned
    await response.eof()


def sse_message(entry: dict[str, Any]) -> bytes:
    return b"id: %d\ndata: %s\n\n" % (entry["position"], orjson.dumps(entry))


@bp.get("/events/export")
@responds(200, content_type=tuple(EXPORT_TYPES.values()),
          description="the event log, streamed: JSON lines or CSV")
@query(ExportQuery)
async def export_route(request: Request, query: ExportQuery) -> None:
    """The event log after `after` as JSON lines or CSV, streamed (admins and analysts)."""
    require_feed_reader(request)
    pool = http.command_pool(request)
    chunks = export_chunks(feed_of(request), query.after, query.format)
    first = await pool.call(next, chunks, None)  # a failing store is still a clean 503
    response = await request.respond(
        content_type=EXPORT_TYPES[query.format],
        headers={"Content-Disposition":
                 f'attachment; filename="sav-events-after-{query.after}.{query.format}"'})
    chunk = first
    while chunk is not None:
        await response.send(chunk)
        chunk = await pool.call(next, chunks, None)
    await response.eof()

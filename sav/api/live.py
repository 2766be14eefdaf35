"""Live conversations: a ticket's history as it happens (`GET /tickets/{id}/events`, and
`GET /public/tickets/{number}/events` with the access token), and agent collision
(`POST /tickets/{id}/viewing`, `viewers` on staff views).

With `Accept: text/event-stream` a stream sends each new history entry of the ticket as
`id: <position>` / `data: <entry>`, filtered for the reader as the history is; staff
streams also get `event: presence` when who else views the ticket changes. Without that
header the route answers the history's JSON page. Every stream of a process is fed by
one tailer (`sav.history.live.TicketTailer`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import jwt
from sanic import Blueprint, HTTPResponse, Request, Sanic
from sanic.http import Http

from sav.api import http, schemas
from sav.api.auth import bearer_token, current_actor
from sav.api.errors import ApiError
from sav.api.events import MAX_POSITION, RECONNECT_MILLISECONDS
from sav.api.history import HistoryQuery, cursor_version
from sav.api.openapi import responds
from sav.api.presence import PresenceStore, RecentViewers, build_presence, viewers_json
from sav.api.public import ticket_with_token
from sav.api.query import query
from sav.api.ratelimit import add_rate_limit_headers, enforce_public_rate_limit
from sav.commands.policy import can_see
from sav.history.entries import history_page
from sav.history.live import (
    LiveItem,
    PresenceItem,
    Reach,
    Subscription,
    TicketTailer,
    catch_up,
    sse_presence,
)
from sav.projections.cursors import encode_cursor

bp = Blueprint("live")

HEARTBEAT_SECONDS = 15.0
PRESENCE_SECONDS = 1.0  # how often a process looks for changes of who views its tickets
STREAM = "text/event-stream"


@dataclass
class Live:
    """One app's tailer and presence store, for the services it runs on."""

    services: Any
    tailer: TicketTailer
    presence: PresenceStore
    recent: RecentViewers


def live_of(request: Request) -> Live:
    """Built on first use from `app.ctx` (the services exist only once the server runs)."""
    ctx = request.app.ctx
    live: Live | None = getattr(ctx, "live", None)
    if live is None or live.services is not ctx.services:
        pool = http.command_pool(request)
        presence = build_presence(ctx.settings.redis_url, ctx.reads)
        live = Live(ctx.services, TicketTailer(pool.app, pool.call, ctx.store_head, presence,
                                               PRESENCE_SECONDS, HEARTBEAT_SECONDS),
                    presence, RecentViewers(presence))
        ctx.live = live
    return live


@bp.before_server_stop
async def end_streams(app: Sanic, _: Any = None) -> None:
    live: Live | None = getattr(app.ctx, "live", None)
    if live is not None:
        live.tailer.close()


@bp.after_server_stop
async def close_presence(app: Sanic, _: Any = None) -> None:
    live: Live | None = getattr(app.ctx, "live", None)
    if live is not None:
        app.ctx.live = None
        await live.presence.close()


class PublicHistoryQuery(HistoryQuery):
    token: str | None = None


def wants_stream(request: Request) -> bool:
    """HEAD answers the page's head: a stream has no end to measure."""
    return request.method != "HEAD" and STREAM in request.headers.get("accept", "").lower()


def last_event_id(request: Request) -> int | None:
    """The position a reconnecting client saw last; None: the stream starts now."""
    raw = request.headers.get("last-event-id")
    if raw is None or not raw.strip():
        return None
    if not raw.strip().isdigit() or int(raw) > MAX_POSITION:
        raise ApiError(422, "validation_failed", "Last-Event-ID must be a position",
                       [{"field": "Last-Event-ID", "message": "not a position"}])
    return int(raw)


async def history_json(request: Request, ticket_id: str, staff: bool, query: HistoryQuery
                       ) -> HTTPResponse:
    after = cursor_version(query.cursor)
    pool = http.command_pool(request)
    entries, last = await pool.call(history_page, pool.app, UUID(ticket_id), staff, after,
                                    query.limit)
    return http.json(http.page(entries, query.limit,
                               encode_cursor(last) if last is not None else None))


@bp.get("/tickets/<ticket_ref:str>/events")
@responds(200, schemas.HistoryPage, content_type=STREAM,
          description="the history's page; a live stream with `Accept: text/event-stream`")
@query(HistoryQuery)
async def ticket_events_route(request: Request, ticket_ref: str, query: HistoryQuery
                              ) -> HTTPResponse | None:
    """A ticket's history as it happens (Server-Sent Events; `Last-Event-ID` resumes), or
    its history page without `Accept: text/event-stream`."""
    actor = current_actor(request)
    row = await http.visible_ticket(request, ticket_ref, actor)
    if not wants_stream(request):
        return await history_json(request, row.id, actor.sees_internal, query)
    reader = Reader(actor.sees_internal, actor.user_id if actor.sees_internal else None,
                    lambda reach: not reach.deleted and can_see(
                        actor, reach.user_id, reach.assigned_to, reach.status),
                    token_expiry(request), still_signed_in(request))
    await stream(request, row, reader, {})
    return None


@bp.get("/public/tickets/<ticket_ref:str>/events")
@responds(200, schemas.HistoryPage, content_type=STREAM,
          description="the history's page; a live stream with `Accept: text/event-stream`")
@query(PublicHistoryQuery)
async def public_ticket_events_route(request: Request, ticket_ref: str,
                                     query: PublicHistoryQuery) -> HTTPResponse | None:
    """The ticket's public history as it happens, with its access token (`X-Access-Token`
    or `?token=`); its history page without `Accept: text/event-stream`."""
    await enforce_public_rate_limit(request)
    row, _ = await ticket_with_token(request, ticket_ref)
    if not wants_stream(request):
        response = await history_json(request, row.id, False, query)
        await add_rate_limit_headers(request, response)
        return response
    quota = getattr(request.ctx, "rate_limit", None)
    reader = Reader(False, None, lambda reach: not reach.deleted, None, None)
    await stream(request, row, reader, quota.headers() if quota is not None else {})
    return None


@bp.post("/tickets/<ticket_ref:str>/viewing")
@responds(204, description="marked for the next 30 seconds")
async def viewing_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """Say the caller (staff) is looking at the ticket: for the next 30 seconds, other
    staff see them in the ticket's `viewers` and its live streams."""
    actor = current_actor(request)
    if not actor.is_staff:
        raise ApiError(403, "forbidden", "only agents and admins mark tickets as viewed",
                       {"role": actor.role})
    row = await http.visible_ticket(request, ticket_ref, actor)
    live = live_of(request)
    await live.presence.mark(row.id, str(actor.user_id))
    live.recent.forget(row.id)
    live.tailer.nudge_presence()
    return HTTPResponse(status=204)


@dataclass(frozen=True)
class Reader:
    """Who reads a stream: their side, their id (staff: left out of `viewers`), whether
    they still see the ticket after an event, and how long their credentials last."""

    staff: bool
    viewer_id: str | None
    sees: Callable[[Reach], bool]
    expires_at: float | None
    recheck: Callable[[], Awaitable[bool]] | None


def token_expiry(request: Request) -> float | None:
    """When the caller's JWT expires (it was verified by `auth.authenticate`)."""
    if request.app.ctx.remote_auth is not None:
        return None
    claims = jwt.decode(bearer_token(request), options={"verify_signature": False})
    return float(claims["exp"])


def still_signed_in(request: Request) -> Callable[[], Awaitable[bool]] | None:
    """With a remote auth service, the token is asked about again at each heartbeat
    (its answers are cached briefly)."""
    remote = request.app.ctx.remote_auth
    if remote is None:
        return None
    token = bearer_token(request)

    async def check() -> bool:
        try:
            await remote.actor(token)
        except ApiError:
            return False
        return True

    return check


async def stream(request: Request, row: Any, reader: Reader, headers: dict[str, str]) -> None:
    """Server-Sent Events of one ticket for `reader`, until the client leaves, the ticket
    is erased or leaves the reader's sight, the credentials expire or the server stops."""
    last = last_event_id(request)
    live, pool = live_of(request), http.command_pool(request)
    subscription = Subscription(row.id, reader.staff)
    await live.tailer.subscribe(subscription)  # before the catch-up: nothing falls between
    try:
        start = await pool.call(catch_up, pool.app, UUID(row.id), reader.staff, last)
        subscription.version = start.version
        viewers = await first_viewers(live, row.id, reader)
        if isinstance(request.stream, Http):
            request.stream.keep_alive = False  # as `/events`: no idle connection at shutdown
        response = await request.respond(
            content_type="text/event-stream; charset=utf-8",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **headers})
        greeting = (f"retry: {RECONNECT_MILLISECONDS}\n: ticket {row.id} after "
                    f"{'now' if last is None else last}\n\n").encode()
        presence = [] if viewers is None else [sse_presence(viewers)]
        await response.send(greeting + b"".join([*start.messages, *presence]))
        ended = (bool(getattr(row, "erased", False)) or start.reach is None
                 or not reader.sees(start.reach))
        while not ended:
            ended, chunk, viewers = await next_chunk(subscription, reader, viewers)
            if chunk:
                await response.send(chunk)
        await response.eof()
    finally:
        live.tailer.unsubscribe(subscription)


async def first_viewers(live: Live, ticket_id: str, reader: Reader
                        ) -> list[dict[str, str]] | None:
    if not reader.staff:
        return None
    try:
        found = (await live.presence.viewers([ticket_id])).get(ticket_id, [])
    except Exception:
        found = []  # the tailer logs it; the stream says so at the next change
    return viewers_json(found, reader.viewer_id)


async def next_chunk(subscription: Subscription, reader: Reader,
                     viewers: list[dict[str, str]] | None
                     ) -> tuple[bool, bytes, list[dict[str, str]] | None]:
    """Wait for what comes next (at most a heartbeat's time): whether the stream ends,
    what to send, and the viewers the reader now knows of."""
    timeout = HEARTBEAT_SECONDS
    if reader.expires_at is not None:
        timeout = min(timeout, reader.expires_at - time.time())
        if timeout <= 0:
            return True, b"", viewers
    items = await subscription.wait(timeout)
    if subscription.closed or subscription.overflowed:
        return True, b"", viewers
    if not items:
        if timeout < HEARTBEAT_SECONDS:
            return True, b"", viewers  # waited until the token expired (a timer may fire early)
        if reader.recheck is not None and not await reader.recheck():
            return True, b"", viewers
        return False, b": heartbeat\n\n", viewers
    chunks: list[bytes] = []
    for item in items:
        if isinstance(item, PresenceItem):
            seen = viewers_json(list(item.viewers), reader.viewer_id)
            if seen != viewers:
                viewers = seen
                chunks.append(sse_presence(seen))
            continue
        ended, message = step(subscription, reader, item)
        if message:
            chunks.append(message)
        if ended:
            return True, b"".join(chunks), viewers
    return False, b"".join(chunks), viewers


def step(subscription: Subscription, reader: Reader, item: LiveItem) -> tuple[bool, bytes]:
    """One event for this reader: (the stream ends, the message to send)."""
    if item.final:
        return True, b""
    if item.version <= subscription.version:
        return False, b""  # already in the catch-up
    subscription.version = item.version
    if item.reach is not None and not reader.sees(item.reach):
        return True, b""
    return False, (item.staff if reader.staff else item.customer) or b""

"""Agent collision: who of the staff is looking at a ticket (`POST /tickets/{id}/viewing`).

A mark lasts VIEWING_SECONDS; a viewer's `since` is when their current run of marks
began (a gap longer than that starts a new one). Kept where every API replica sees it,
as the public rate limit is (`sav.api.ratelimit`): the database's `ticket_viewers`
table, or Redis when `REDIS_URL` is set. Never an event (who looked is not a change of
the ticket) and never shown to customers: only staff views carry `viewers`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import orjson
from sanic import HTTPResponse, Request
from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from sav.api.tables import ticket_viewers
from sav.commands.actor import Actor
from sav.history.live import since_iso

log = logging.getLogger("sav.api")

VIEWING_SECONDS = 30.0
SWEEP_SECONDS = 60.0  # how often one process deletes marks long expired

Viewers = dict[str, list[tuple[str, float]]]  # ticket id -> (viewer id, since), oldest first


class PresenceStore(Protocol):
    async def mark(self, ticket_id: str, viewer_id: str) -> None: ...

    async def viewers(self, ticket_ids: list[str]) -> Viewers: ...

    async def close(self) -> None: ...


# `since` stays while the previous mark is fresh; MySQL assigns left to right, so
# `since` is decided on the old `seen_at` before that is moved.
_MARK = {
    "sqlite": text(
        "INSERT INTO ticket_viewers (ticket_id, viewer_id, since, seen_at) "
        "VALUES (:ticket_id, :viewer_id, :now, :now) "
        "ON CONFLICT(ticket_id, viewer_id) DO UPDATE SET "
        "since = CASE WHEN ticket_viewers.seen_at < :stale THEN excluded.since "
        "ELSE ticket_viewers.since END, seen_at = excluded.seen_at"),
    "mysql": text(
        "INSERT INTO ticket_viewers (ticket_id, viewer_id, since, seen_at) "
        "VALUES (:ticket_id, :viewer_id, :now, :now) "
        "ON DUPLICATE KEY UPDATE since = IF(seen_at < :stale, VALUES(since), since), "
        "seen_at = VALUES(seen_at)"),
}


class SqlPresence:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock
        self.upsert = _MARK["sqlite" if engine.dialect.name == "sqlite" else "mysql"]
        self.swept_at = 0.0

    async def mark(self, ticket_id: str, viewer_id: str) -> None:
        now = self.clock()
        async with self.engine.begin() as conn:
            await conn.execute(self.upsert, {"ticket_id": ticket_id, "viewer_id": viewer_id,
                                             "now": now, "stale": now - VIEWING_SECONDS})
            if now - self.swept_at > SWEEP_SECONDS:
                self.swept_at = now
                await conn.execute(ticket_viewers.delete().where(
                    ticket_viewers.c.seen_at < now - 2 * VIEWING_SECONDS))

    async def viewers(self, ticket_ids: list[str]) -> Viewers:
        if not ticket_ids:
            return {}
        t = ticket_viewers.c
        query = (select(t.ticket_id, t.viewer_id, t.since)
                 .where(t.ticket_id.in_(bindparam("ids", expanding=True)),
                        t.seen_at >= bindparam("cutoff"))
                 .order_by(t.since, t.viewer_id))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query, {"ids": ticket_ids,
                                               "cutoff": self.clock() - VIEWING_SECONDS})).all()
        found: Viewers = {}
        for row in rows:
            found.setdefault(row.ticket_id, []).append((row.viewer_id, float(row.since)))
        return found

    async def close(self) -> None:
        return None


# Atomic in Redis: keep `since` while the previous mark is fresh, drop expired marks of
# the ticket, and let the whole hash expire once nobody marks it any more.
_REDIS_MARK = """
local now, window = tonumber(ARGV[2]), tonumber(ARGV[3])
local since = now
local marks = redis.call('HGETALL', KEYS[1])
for i = 1, #marks, 2 do
  local viewer = marks[i]
  local old_since, seen = string.match(marks[i + 1], '^(%S+) (%S+)$')
  if tonumber(seen) < now - window then
    redis.call('HDEL', KEYS[1], viewer)
  elseif viewer == ARGV[1] then
    since = tonumber(old_since)
  end
end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%.6f %.6f', since, now))
redis.call('EXPIRE', KEYS[1], math.ceil(2 * window))
return 1
"""


class RedisPresence:
    def __init__(self, url: str, clock: Callable[[], float] = time.time) -> None:
        from redis.asyncio import Redis

        self.redis: Any = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self.clock = clock
        self.script: Any = self.redis.register_script(_REDIS_MARK)

    @staticmethod
    def key(ticket_id: str) -> str:
        return f"sav:viewing:{ticket_id}"

    async def mark(self, ticket_id: str, viewer_id: str) -> None:
        await self.script(keys=[self.key(ticket_id)],
                          args=[viewer_id, repr(self.clock()), repr(VIEWING_SECONDS)])

    async def viewers(self, ticket_ids: list[str]) -> Viewers:
        if not ticket_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for ticket_id in ticket_ids:
                pipe.hgetall(self.key(ticket_id))
            hashes = await pipe.execute()
        cutoff = self.clock() - VIEWING_SECONDS
        found: Viewers = {}
        for ticket_id, marks in zip(ticket_ids, hashes, strict=True):
            fresh = []
            for viewer, value in marks.items():
                since, seen = (float(part) for part in value.split())
                if seen >= cutoff:
                    fresh.append((viewer.decode(), since))
            if fresh:
                found[ticket_id] = sorted(fresh, key=lambda pair: (pair[1], pair[0]))
        return found

    async def close(self) -> None:
        await self.redis.aclose()


class RecentViewers:
    """Who views a ticket, read for staff views at most once per `ttl` seconds per
    process and ticket (`GET /tickets/{id}` answers from memory: a query each time would
    double its cost). A mark made in this process is seen at once; one made on another
    replica within `ttl`."""

    def __init__(self, store: PresenceStore, ttl: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, kept: int = 10_000) -> None:
        self.store = store
        self.ttl = ttl
        self.clock = clock
        self.kept = kept
        self._read: dict[str, tuple[float, list[tuple[str, float]]]] = {}

    async def of(self, ticket_id: str) -> list[tuple[str, float]]:
        now = self.clock()
        cached = self._read.get(ticket_id)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        found = (await self.store.viewers([ticket_id])).get(ticket_id, [])
        if len(self._read) >= self.kept:
            self._read.clear()
        self._read[ticket_id] = (now, found)
        return found

    def forget(self, ticket_id: str) -> None:
        self._read.pop(ticket_id, None)


def build_presence(redis_url: str, engine: AsyncEngine) -> PresenceStore:
    return RedisPresence(redis_url) if redis_url else SqlPresence(engine)


def viewers_json(found: list[tuple[str, float]] | list[tuple[str, str]], exclude: str | None
                 ) -> list[dict[str, str]]:
    """`[{"id", "since"}]` of everyone but the caller (`since` as an ISO 8601 string)."""
    return [{"id": viewer, "since": since if isinstance(since, str) else since_iso(since)}
            for viewer, since in found if viewer != exclude]


def recent_viewers(request: Request) -> RecentViewers:
    from sav.api.live import live_of  # the live streams own the store (one per app)

    return live_of(request).recent


async def with_viewers(request: Request, response: HTTPResponse, ticket_id: str,
                       actor: Actor) -> HTTPResponse:
    """A staff view of the ticket with `viewers` added; others' views as they are. If the
    shared store cannot be read the view still answers, with no one listed."""
    if not actor.sees_internal or response.status != 200 or not response.body:
        return response
    try:
        found = await recent_viewers(request).of(ticket_id)
    except Exception:
        log.warning("cannot read who views ticket %s", ticket_id, exc_info=True)
        found = []
    body = bytes(response.body)
    # The view is one JSON object, rendered by orjson: close it with one more member.
    if body.endswith(b"}") and b'"viewers":' not in body:
        separator = b"," if body != b"{}" else b""
        response.body = (body[:-1] + separator + b'"viewers":'
                         + orjson.dumps(viewers_json(found, actor.user_id)) + b"}")
    return response

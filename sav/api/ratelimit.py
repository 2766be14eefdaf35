"""Rate limiting of the anonymous (`/public/`) routes, per client, shared by every replica.

Fixed windows counted in one place every API process sees: the database's
`rate_limit_windows` table (one upsert per request) or Redis when `REDIS_URL` is set. So
N replicas allow the limit, not N times it. If the shared store fails, each process falls
back to its own sliding window: the limit loosens to N times for the outage, never to none,
and a public request never fails because of its limiter.

Who the client is: the socket's peer, unless that peer is a trusted proxy
(`SAV_TRUSTED_PROXIES`); then the address its `X-Forwarded-For` names (see `client_ip`).

Every answer of a limited route tells the client its quota, 2xx and 429 alike, in the
IETF draft's structured fields (docs/decisions/0100-rate-limit-headers.md):

    RateLimit-Policy: "public";q=30;w=60     30 requests per 60-second window
    RateLimit: "public";r=12;t=17            12 left, 17 s until the window resets
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sanic import HTTPResponse, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from sav.api.errors import ApiError
from sav.api.tables import rate_limit_windows

log = logging.getLogger("sav.api")

# Beyond this many tracked clients, idle ones are swept so memory stays bounded.
SWEEP_THRESHOLD = 10_000

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# The name of the public routes' policy in the headers (a label: one policy here).
POLICY = "public"


@dataclass(frozen=True)
class Quota:
    """A client's quota after one hit: `remaining` hits, more in `reset` seconds."""

    limit: int
    window: float
    remaining: int
    reset: float
    allowed: bool

    @property
    def retry_after(self) -> int:
        """Whole seconds to wait after a refusal (at least 1)."""
        return max(1, math.ceil(self.reset))

    def headers(self) -> dict[str, str]:
        """`RateLimit-Policy` and `RateLimit`, as the draft's structured-field items."""
        return {"RateLimit-Policy": f'"{POLICY}";q={self.limit};w={math.ceil(self.window)}',
                "RateLimit": f'"{POLICY}";r={self.remaining};t={max(0, math.ceil(self.reset))}'}


class SlidingWindowLimiter:
    """At most `limit` hits per key in any `window` seconds; `limit` <= 0 disables it.
    In memory: one process's view (the fallback of the shared limiter)."""

    def __init__(self, limit: int, window: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.hits: dict[str, deque[float]] = {}

    def hit(self, key: str) -> float | None:
        """Record a hit; returns None if allowed, else the seconds until one is allowed."""
        quota = self.take(key)
        return None if quota is None or quota.allowed else quota.reset

    def take(self, key: str) -> Quota | None:
        """Record a hit (if allowed) and return what is left; None when disabled. More
        is allowed when the oldest hit in the window leaves it: that is `reset`."""
        if self.limit <= 0:
            return None
        now = self.clock()
        recent = self.hits.setdefault(key, deque())
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        allowed = len(recent) < self.limit
        if allowed:
            recent.append(now)
            if len(self.hits) > SWEEP_THRESHOLD:
                self.sweep(now)
        # window - age, not `recent[0] + window - now`: exactly the window for a first
        # hit (the other order can round above it, and `t` is rounded up).
        return Quota(self.limit, self.window, self.limit - len(recent),
                     self.window - (now - recent[0]), allowed)

    def sweep(self, now: float) -> None:
        idle = [key for key, times in self.hits.items() if not times or
                times[-1] <= now - self.window]
        for key in idle:
            del self.hits[key]


class WindowCounters(Protocol):
    async def count(self, key: str, window: int, lifetime: float) -> int:
        """Add a hit to (key, window) and return the window's hits so far; the counter
        may be forgotten `lifetime` seconds later."""
        ...


_UPSERT = {
    "sqlite": text("INSERT INTO rate_limit_windows (bucket, slot, hits) "
                   "VALUES (:bucket, :slot, 1) ON CONFLICT(bucket, slot) "
                   "DO UPDATE SET hits = hits + 1 RETURNING hits"),
    # LAST_INSERT_ID(expr): the count comes back with the statement's reply.
    "mysql": text("INSERT INTO rate_limit_windows (bucket, slot, hits) "
                  "VALUES (:bucket, :slot, LAST_INSERT_ID(1)) "
                  "ON DUPLICATE KEY UPDATE hits = LAST_INSERT_ID(hits + 1)"),
}


class SqlWindowCounters:
    """Counters in the shared database; windows older than the previous one are deleted
    by whichever process first counts in a new window."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.upsert = _UPSERT["sqlite" if engine.dialect.name == "sqlite" else "mysql"]
        self.swept_before = 0

    async def count(self, key: str, window: int, lifetime: float) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(self.upsert, {"bucket": key, "slot": window})
            hits = int(result.scalar_one() if result.returns_rows else result.lastrowid)
        if window > self.swept_before:
            self.swept_before = window
            async with self.engine.begin() as conn:
                await conn.execute(rate_limit_windows.delete().where(
                    rate_limit_windows.c.slot < window - 1))
        return hits


class RedisWindowCounters:
    """Counters in Redis (`REDIS_URL`): INCR, expiring with the window."""

    def __init__(self, url: str) -> None:
        from redis.asyncio import Redis

        self.redis: Any = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)

    async def count(self, key: str, window: int, lifetime: float) -> int:
        name = f"sav:ratelimit:{key}:{window}"
        async with self.redis.pipeline(transaction=True) as pipe:
            hits, _ = await pipe.incr(name).expire(name, math.ceil(lifetime)).execute()
        return int(hits)

    async def close(self) -> None:
        await self.redis.aclose()


class SharedRateLimiter:
    """At most `limit` hits per client in each fixed window of `window` seconds, counted
    in `counters` (shared by the replicas); `limit` <= 0 disables it."""

    def __init__(self, limit: int, window: float, counters: WindowCounters | None,
                 secret: bytes, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self.window = window
        self.counters = counters
        self.secret = secret
        self.clock = clock
        self.fallback = SlidingWindowLimiter(limit, window)

    async def close(self) -> None:
        if isinstance(self.counters, RedisWindowCounters):
            await self.counters.close()

    def bucket(self, client: str) -> str:
        # Keyed hash: the shared store never holds a client's address.
        return hmac.new(self.secret, client.encode(), hashlib.sha256).hexdigest()[:40]

    async def hit(self, client: str) -> float | None:
        """Count a hit; None if allowed, else the seconds until the window ends."""
        quota = await self.take(client)
        return None if quota is None or quota.allowed else quota.reset

    async def take(self, client: str) -> Quota | None:
        """Count a hit and return the client's quota; None when disabled."""
        if self.limit <= 0:
            return None
        if self.counters is None:
            return self.fallback.take(client)
        now = self.clock()
        window = int(now // self.window)
        try:
            hits = await self.counters.count(self.bucket(client), window, 2 * self.window)
        except Exception:
            log.warning("shared rate limit unavailable; limiting per process",
                        exc_info=True)
            return self.fallback.take(client)
        return Quota(self.limit, self.window, max(0, self.limit - hits),
                     (window + 1) * self.window - now, hits <= self.limit)


def build_public_limiter(limit: int, window: float, secret: bytes, redis_url: str,
                         engine: AsyncEngine | None) -> SharedRateLimiter:
    """Redis when configured, else the database (`engine`); in memory until the
    services (and so the engine) exist."""
    counters: WindowCounters | None = None
    if redis_url:
        counters = RedisWindowCounters(redis_url)
    elif engine is not None:
        counters = SqlWindowCounters(engine)
    return SharedRateLimiter(limit, window, counters, secret)


def trusted_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry) for entry in entries)


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


def client_ip(peer: str, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The client's address: the socket peer unless it is a trusted proxy; then the
    right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries to its
    left were written by the client and prove nothing)."""
    address = _address(peer)
    if address is None or not forwarded_for or not any(address in n for n in trusted):
        return peer
    hops = [_address(part) for part in forwarded_for.split(",")]
    for hop in reversed(hops):
        if hop is None:
            return peer  # a malformed chain: believe only what we saw
        if not any(hop in n for n in trusted):
            return str(hop)
    return str(hops[0]) if hops else peer


def public_limiter(request: Request) -> SharedRateLimiter:
    """The app's limiter, built from its settings by `sav.api.app.fill_context`."""
    return request.app.ctx.public_limiter  # type: ignore[no-any-return]


def client_key(request: Request) -> str:
    trusted: tuple[Network, ...] = request.app.ctx.trusted_proxies
    return client_ip(request.ip or "unknown", request.headers.get("x-forwarded-for"), trusted)


async def enforce_public_rate_limit(request: Request) -> None:
    """Request middleware of the public blueprint: 429 with Retry-After when exceeded;
    the quota is kept for `add_rate_limit_headers`."""
    quota = await public_limiter(request).take(client_key(request))
    request.ctx.rate_limit = quota
    if quota is not None and not quota.allowed:
        seconds = quota.retry_after
        raise ApiError(429, "rate_limited", "too many requests, retry later",
                       {"retry_after_seconds": seconds},
                       headers={"Retry-After": str(seconds), **quota.headers()})


async def add_rate_limit_headers(request: Request, response: HTTPResponse) -> None:
    """Response middleware of the public blueprint: the client's quota on every answer."""
    quota: Quota | None = getattr(request.ctx, "rate_limit", None)
    if quota is not None:
        response.headers.update(quota.headers())

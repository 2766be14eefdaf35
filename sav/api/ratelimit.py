"""Per-client sliding-window rate limiting for the anonymous (`/public/`) routes.

In memory, per process: with N API processes a client gets at most N times the limit,
which is enough to blunt token guessing and ticket spam without a shared store.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from sanic import Request

from sav.api.errors import ApiError

# Beyond this many tracked clients, idle ones are swept so memory stays bounded.
SWEEP_THRESHOLD = 10_000


class SlidingWindowLimiter:
    """At most `limit` hits per key in any `window` seconds; `limit` <= 0 disables it."""

    def __init__(self, limit: int, window: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.hits: dict[str, deque[float]] = {}

    def hit(self, key: str) -> float | None:
        """Record a hit; returns None if allowed, else the seconds until one is allowed."""
        if self.limit <= 0:
            return None
        now = self.clock()
        recent = self.hits.setdefault(key, deque())
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if len(recent) >= self.limit:
            return recent[0] + self.window - now
        recent.append(now)
        if len(self.hits) > SWEEP_THRESHOLD:
            self.sweep(now)
        return None

    def sweep(self, now: float) -> None:
        idle = [key for key, times in self.hits.items() if not times or
                times[-1] <= now - self.window]
        for key in idle:
            del self.hits[key]


def public_limiter(request: Request) -> SlidingWindowLimiter:
    """The app's limiter, built from its settings by `sav.api.app.fill_context`."""
    return request.app.ctx.public_limiter  # type: ignore[no-any-return]


def client_key(request: Request) -> str:
    # `remote_addr` honours forwarded headers only when the proxy setup is configured,
    # so a client cannot pick a fresh key per request by sending its own header.
    return request.remote_addr or request.ip or "unknown"


async def enforce_public_rate_limit(request: Request) -> None:
    """Request middleware of the public blueprint: 429 with Retry-After when exceeded."""
    retry_after = public_limiter(request).hit(client_key(request))
    if retry_after is not None:
        seconds = max(1, math.ceil(retry_after))
        raise ApiError(429, "rate_limited", "too many requests, retry later",
                       {"retry_after_seconds": seconds},
                       headers={"Retry-After": str(seconds)})

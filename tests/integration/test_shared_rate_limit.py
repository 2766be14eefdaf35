"""The public rate limit holds across API replicas: two app instances (each with its
own services, as two `sav serve` processes) on one database share each client's budget,
and a client cannot buy a fresh budget with a forwarded-for header of its own (a header
from a trusted proxy is believed: tests/e2e/test_cluster.py, over real sockets). Every
answer of a limited route tells the client its quota (`RateLimit-Policy`, `RateLimit`)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from sav.api.app import create_app
from sav.api.ratelimit import RedisWindowCounters, SharedRateLimiter
from sav.bootstrap import Services, bootstrap
from sav.config import Settings
from tests.support.http import Client
from tests.support.ratelimit_headers import parse_rate_limit

REDIS_URL = (f"redis://{os.environ.get('SAV_TEST_REDIS_HOST', '127.0.0.1')}:"
             f"{os.environ.get('SAV_TEST_REDIS_PORT', '6379')}/0")


@pytest.fixture
def settings_env() -> dict[str, str]:
    return {"SAV_PUBLIC_RATE_LIMIT": "3", "SAV_PUBLIC_RATE_WINDOW_SECONDS": "600",
            "SAV_TRUSTED_PROXIES": "10.0.0.0/8", "SAV_CORS_ORIGINS": "https://shop.example.com"}


@pytest.fixture
async def replicas(settings: Settings) -> AsyncIterator[tuple[Client, Client]]:
    first, second = bootstrap(settings), bootstrap(settings)
    yield Client(create_app(settings, first)), Client(create_app(settings, second))
    await second.aclose()
    await first.aclose()


async def test_two_replicas_share_a_clients_budget(replicas: tuple[Client, Client]) -> None:
    one, two = replicas
    answers = [await client.get("/public/tickets/TICKET-19990101-001")
               for client in (one, two, one)]
    assert [a.status for a in answers] == [404, 404, 404]
    refused = await two.get("/public/tickets/TICKET-19990101-001")
    assert refused.status == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 600
    # The test client's peer is no trusted proxy: its header names no other client.
    spoofed = await one.get("/public/tickets/TICKET-19990101-001",
                            headers={"X-Forwarded-For": "203.0.113.2"})
    assert spoofed.status == 429


async def test_with_redis_url_the_budget_lives_in_redis() -> None:
    """Two processes' limiters on one Redis (the suite's, or its own throwaway one)."""
    url = REDIS_URL
    secret = uuid.uuid4().bytes  # buckets of this test only
    clock = FakeClock(10_000.0)
    counters = [RedisWindowCounters(url), RedisWindowCounters(url)]
    first, second = (SharedRateLimiter(2, 60.0, c, secret, clock) for c in counters)
    try:
        assert await first.hit("203.0.113.7") is None
        assert await second.hit("203.0.113.7") is None
        assert await first.hit("203.0.113.7") == 20.0  # the window ends at 10 020
        assert await second.hit("198.51.100.7") is None
        ttl = await counters[0].redis.ttl(f"sav:ratelimit:{first.bucket('203.0.113.7')}:166")
        assert 0 < ttl <= 120  # forgotten two windows later
        clock.now = 10_020.0
        assert await second.hit("203.0.113.7") is None
    finally:
        for c in counters:
            await c.close()


@pytest.mark.parametrize("counted_in", ["database", "redis", "memory"])
async def test_every_answer_of_a_limited_route_tells_the_quota(
        settings: Settings, services: Services, counted_in: str) -> None:
    """2xx, 404 and 429 alike carry RateLimit-Policy and RateLimit, wherever the hits are
    counted: the shared database (both profiles), Redis, or the process's own memory
    (the fallback); the 429 keeps its Retry-After, equal to the limit's `t`."""
    extra = {"redis_url": REDIS_URL} if counted_in == "redis" else {}
    client = Client(create_app(settings.model_copy(update=extra), services))
    limiter = client.app.ctx.public_limiter
    assert isinstance(limiter.counters, RedisWindowCounters) == (counted_in == "redis")
    if counted_in == "memory":
        limiter.counters = None
    limiter.secret = uuid.uuid4().bytes  # buckets of this test only (Redis outlives it)
    try:
        created = await client.post("/public/tickets", json={
            "email": "jo@example.com", "subject": "Broken lid", "description": "Lid"},
            headers={"Origin": "https://shop.example.com"})
        assert created.status == 201
        # A browser on an allowed origin may read them.
        exposed = created.headers["access-control-expose-headers"].split(", ")
        assert {"RateLimit", "RateLimit-Policy"} <= set(exposed)
        first = parse_rate_limit(created.headers)
        assert (first["q"], first["w"], first["r"]) == (3, 600, 2)
        assert 0 < first["t"] <= 600
        missing = await client.get("/public/tickets/TICKET-19990101-001")
        assert missing.status == 404 and parse_rate_limit(missing.headers)["r"] == 1
        await client.get("/public/tickets/TICKET-19990101-001")
        refused = await client.get("/public/tickets/TICKET-19990101-001")
        assert refused.status == 429
        quota = parse_rate_limit(refused.headers)
        assert quota["r"] == 0 and quota["t"] == int(refused.headers["retry-after"]) >= 1
        # Routes without a limit say nothing of one.
        assert "ratelimit" not in {k.lower() for k in (await client.get("/health")).headers}
    finally:
        await client.aclose()


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

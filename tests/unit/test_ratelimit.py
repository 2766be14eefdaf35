"""The public routes' rate limit: fixed windows counted in a shared store (SQLite here,
MariaDB in tests/integration/test_shared_rate_limit.py), the per-process fallback, and
who the client is behind trusted proxies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sav.api.ratelimit import (
    Quota,
    RedisWindowCounters,
    SharedRateLimiter,
    SlidingWindowLimiter,
    SqlWindowCounters,
    build_public_limiter,
    client_ip,
    trusted_networks,
)
from sav.eventstore.db import build_engine, create_store_schema
from tests.support.ratelimit_headers import parse_rate_limit

SECRET = b"test-signing-secret"


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """The event store's schema on a SQLite file, reached as the API reaches it."""
    path = tmp_path / "sav.sqlite3"
    sync = build_engine(f"sqlite:///{path}")
    create_store_schema(sync)
    sync.dispose()
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    yield engine
    await engine.dispose()


async def test_limit_per_fixed_window_then_retry_after_its_end(store: AsyncEngine) -> None:
    clock = FakeClock(1000.0)  # the 60 s window [960, 1020)
    limiter = SharedRateLimiter(3, 60.0, SqlWindowCounters(store), SECRET, clock)
    assert [await limiter.hit("1.2.3.4") for _ in range(3)] == [None, None, None]
    clock.now = 1010.0
    assert await limiter.hit("1.2.3.4") == 10.0
    assert await limiter.hit("5.6.7.8") is None  # budgets are per client
    clock.now = 1020.0
    assert await limiter.hit("1.2.3.4") is None  # a new window


async def test_two_processes_share_one_budget(store: AsyncEngine, tmp_path: Path) -> None:
    other = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'sav.sqlite3'}")
    clock = FakeClock()
    first = SharedRateLimiter(2, 60.0, SqlWindowCounters(store), SECRET, clock)
    second = SharedRateLimiter(2, 60.0, SqlWindowCounters(other), SECRET, clock)
    assert await first.hit("ip") is None
    assert await second.hit("ip") is None
    assert await first.hit("ip") is not None
    assert await second.hit("ip") is not None
    await other.dispose()


async def test_old_windows_are_deleted_and_addresses_never_stored(store: AsyncEngine) -> None:
    clock = FakeClock(0.0)
    limiter = SharedRateLimiter(5, 10.0, SqlWindowCounters(store), SECRET, clock)
    for now in (1.0, 11.0, 21.0, 31.0):
        clock.now = now
        await limiter.hit("203.0.113.9")
    async with store.connect() as conn:
        rows = (await conn.exec_driver_sql(
            "SELECT bucket, slot, hits FROM rate_limit_windows ORDER BY slot")).all()
    assert [(slot, hits) for _, slot, hits in rows] == [(2, 1), (3, 1)]
    assert all("203.0.113.9" not in bucket for bucket, _, _ in rows)


async def test_a_failing_store_falls_back_to_a_limit_per_process(tmp_path: Path) -> None:
    # A database without the table: every count fails, the public route must not.
    empty = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")
    limiter = SharedRateLimiter(1, 60.0, SqlWindowCounters(empty), SECRET)
    assert await limiter.hit("ip") is None
    assert await limiter.hit("ip") is not None
    await empty.dispose()


async def test_redis_when_configured_else_the_database(store: AsyncEngine) -> None:
    with_redis = build_public_limiter(3, 60.0, SECRET, "redis://127.0.0.1:1/0", store)
    assert isinstance(with_redis.counters, RedisWindowCounters)
    await with_redis.close()
    assert isinstance(build_public_limiter(3, 60.0, SECRET, "", store).counters,
                      SqlWindowCounters)
    assert build_public_limiter(3, 60.0, SECRET, "", None).counters is None


async def test_zero_disables_it() -> None:
    assert await SharedRateLimiter(0, 60.0, None, SECRET).hit("ip") is None


TRUSTED = trusted_networks(("10.0.0.0/8", "192.0.2.7"))


@pytest.mark.parametrize(("peer", "forwarded", "client"), [
    ("198.51.100.4", "203.0.113.9", "198.51.100.4"),  # untrusted peer: header ignored
    ("10.1.2.3", None, "10.1.2.3"),  # a trusted proxy with no header
    ("10.1.2.3", "203.0.113.9", "203.0.113.9"),  # the ingress names the client
    ("10.1.2.3", "1.1.1.1, 203.0.113.9, 192.0.2.7", "203.0.113.9"),  # spoofed left part
    ("10.1.2.3", "203.0.113.9, not-an-ip", "10.1.2.3"),  # malformed: believe the peer
    ("10.1.2.3", "10.9.9.9, 192.0.2.7", "10.9.9.9"),  # only proxies: the left-most
    ("10.1.2.3", "2001:db8::1", "2001:db8::1"),
])
def test_forwarded_for_is_believed_only_from_trusted_proxies(
        peer: str, forwarded: str | None, client: str) -> None:
    assert client_ip(peer, forwarded, TRUSTED) == client


def test_no_trusted_proxy_by_default() -> None:
    assert client_ip("127.0.0.1", "203.0.113.9", trusted_networks(())) == "127.0.0.1"


def test_the_fallback_window_slides() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 60.0, clock)
    limiter.hit("ip")
    clock.now += 30
    limiter.hit("ip")
    clock.now += 31  # the first hit left the window, the second has not
    assert limiter.hit("ip") is None
    assert limiter.hit("ip") is not None


def test_the_fallback_refuses_without_extending_the_wait_and_sweeps_idle_clients() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 10.0, clock)
    limiter.hit("ip")
    for _ in range(5):
        limiter.hit("ip")
    clock.now += 10
    assert limiter.hit("ip") is None
    clock.now += 20
    limiter.sweep(clock.now)
    assert "ip" not in limiter.hits


async def test_the_quota_counts_down_within_the_fixed_window(store: AsyncEngine) -> None:
    clock = FakeClock(1000.0)  # the 60 s window [960, 1020): 20 s left
    limiter = SharedRateLimiter(2, 60.0, SqlWindowCounters(store), SECRET, clock)
    first, second, refused = [await limiter.take("ip") for _ in range(3)]
    assert first == Quota(2, 60.0, 1, 20.0, True)
    assert second is not None and (second.remaining, second.allowed) == (0, True)
    assert refused is not None and (refused.remaining, refused.allowed) == (0, False)
    assert refused.retry_after == 20
    assert parse_rate_limit(refused.headers()) == {"q": 2, "w": 60, "r": 0, "t": 20}
    assert await SharedRateLimiter(0, 60.0, None, SECRET).take("ip") is None


def test_the_in_memory_quota_frees_a_hit_when_the_oldest_leaves_the_window() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 60.0, clock)
    assert limiter.take("ip") == Quota(2, 60.0, 1, 60.0, True)
    clock.now += 15
    second = limiter.take("ip")
    assert second == Quota(2, 60.0, 0, 45.0, True)  # the first hit leaves in 45 s
    clock.now += 5
    refused = limiter.take("ip")
    assert refused == Quota(2, 60.0, 0, 40.0, False)
    assert parse_rate_limit(refused.headers()) == {"q": 2, "w": 60, "r": 0, "t": 40}


def test_headers_round_up_fractions_and_never_go_negative() -> None:
    headers = Quota(30, 60.0, 7, 16.2, True).headers()
    assert headers == {"RateLimit-Policy": '"public";q=30;w=60',
                       "RateLimit": '"public";r=7;t=17'}
    assert Quota(30, 60.0, 0, -0.5, False).headers()["RateLimit"] == '"public";r=0;t=0'
    assert Quota(30, 60.0, 0, 0.2, False).retry_after == 1

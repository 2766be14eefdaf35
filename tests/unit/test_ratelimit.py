"""The public routes' sliding-window limiter, on a fake clock."""

from __future__ import annotations

from sav.api.ratelimit import SlidingWindowLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limit_per_window_then_retry_after() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(3, 60.0, clock)
    assert [limiter.hit("1.2.3.4") for _ in range(3)] == [None, None, None]
    clock.now += 10
    assert limiter.hit("1.2.3.4") == 50.0
    assert limiter.hit("5.6.7.8") is None  # budgets are per client


def test_window_slides_rather_than_resets() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 60.0, clock)
    limiter.hit("ip")
    clock.now += 30
    limiter.hit("ip")
    clock.now += 31  # the first hit left the window, the second has not
    assert limiter.hit("ip") is None
    assert limiter.hit("ip") is not None


def test_refused_hits_do_not_extend_the_wait() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 10.0, clock)
    limiter.hit("ip")
    for _ in range(5):
        limiter.hit("ip")
    clock.now += 10
    assert limiter.hit("ip") is None


def test_zero_disables_and_idle_clients_are_swept() -> None:
    assert SlidingWindowLimiter(0, 60.0).hit("ip") is None
    clock = FakeClock()
    limiter = SlidingWindowLimiter(5, 1.0, clock)
    limiter.hit("old")
    clock.now += 2
    limiter.sweep(clock.now)
    assert "old" not in limiter.hits

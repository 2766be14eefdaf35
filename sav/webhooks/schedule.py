"""When a failed delivery is tried again: exponential backoff with full jitter on the
upper half, from a few seconds (the first retry comes within 10 s) growing by 4x per
attempt up to hours, until the retry window (3 days by default) is over."""

from __future__ import annotations

import random
from collections.abc import Callable

FIRST_RETRY_S = 5.0
GROWTH = 4.0
LONGEST_WAIT_S = 8 * 3600.0
WINDOW_S = 3 * 24 * 3600.0


def retry_delay(attempts: int, first: float = FIRST_RETRY_S,
                jitter: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds before the next attempt after `attempts` failed ones (1 or more): between
    half and all of first * 4^(attempts-1), capped. Jitter keeps the retries of many
    deliveries that failed together (an endpoint's outage) from coming back together."""
    ceiling = min(first * GROWTH ** max(0, attempts - 1), LONGEST_WAIT_S)
    return jitter(ceiling / 2, ceiling)


def next_attempt(now: float, created: float, attempts: int, first: float = FIRST_RETRY_S,
                 window: float = WINDOW_S) -> float | None:
    """When to try again after `attempts` failures of a delivery first tried at
    `created`; None once the window is over (the delivery has failed for good)."""
    at = now + retry_delay(attempts, first)
    if at > created + window:
        return None
    return at

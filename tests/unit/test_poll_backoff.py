"""The idle back-off of polling workers (issue 21): woken at once, else ever less often."""

from __future__ import annotations

import itertools

from sav.workers.threads import Backoff


def test_idle_polls_back_off_to_the_ceiling_and_work_or_a_wake_resets_them() -> None:
    now = {"t": 0.0}
    found = {"n": 0}
    polls: list[float] = []

    def step() -> int:
        polls.append(now["t"])
        return found["n"]

    backoff = Backoff(step, floor=1.0, ceiling=8.0, clock=lambda: now["t"])
    for _ in range(100):  # a leader loop calling every second, nothing to do
        backoff()
        now["t"] += 1.0
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    assert gaps[:4] == [2.0, 4.0, 8.0, 8.0]
    assert set(gaps[2:]) == {8.0}
    backoff.wake()
    before = len(polls)
    backoff()
    assert len(polls) == before + 1  # woken: polls at once
    found["n"] = 3
    backoff()  # not due yet, not woken: skipped
    assert len(polls) == before + 1
    now["t"] += 8.0
    assert backoff() == 3
    now["t"] += 1.0
    backoff()
    assert len(polls) == before + 3  # after work: every floor again

"""The clock every domain event reads its timestamp from; tests move it instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eventsourcing.domain import Aggregate

_offset = timedelta(0)
_frozen: datetime | None = None


def now() -> datetime:
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC) + _offset


def travel(delta: timedelta) -> None:
    """Move the clock forward by `delta` (tests)."""
    global _offset
    _offset += delta


def freeze(at: datetime | None) -> None:
    """Pin the clock at `at`, or release it with None (tests)."""
    global _frozen
    _frozen = at


def reset() -> None:
    global _offset, _frozen
    _offset = timedelta(0)
    _frozen = None


class ClockedEvent(Aggregate.Event):
    """Base of every SAV event class: its timestamp comes from this clock."""

    @staticmethod
    def create_timestamp() -> datetime:
        return now()

"""Work a read model defers to the end of the projector's batch, in its transaction.

The projector opens a `Batch` around the events of one transaction; a handler that
would rather write once per batch than once per event (the statistics sums: many events
touch the same few cells) keeps its pending writes in the batch's state and names the
function that writes them. The projector calls those after the last event, before the
tracking row commits with them: the read model stays exactly-once.

A handler called outside a projector's batch (no `current` batch) writes at once.

`execute_together` (`sav.eventstore.db`) sends a flush's few statements to MariaDB in
one round trip (a create's statistics: five statements, issue 21).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection

from sav.eventstore.db import execute_together

__all__ = ["Batch", "batch", "current", "execute_together"]

S = TypeVar("S")
_KEY = "sav.projection_batch"


class Batch:
    def __init__(self) -> None:
        self._states: dict[str, Any] = {}
        self._flushes: list[Callable[[Connection], None]] = []

    def state(self, name: str, make: Callable[[], S],
              flush: Callable[[Connection, S], None]) -> S:
        """This batch's state called `name` (made on first use); `flush(conn, state)`
        runs once at the end of the batch, in the order the states were first used."""
        if name not in self._states:
            state = self._states[name] = make()
            self._flushes.append(lambda conn: flush(conn, state))
        return self._states[name]  # type: ignore[no-any-return]

    def flush(self, conn: Connection) -> None:
        for flush in self._flushes:
            flush(conn)
        self._flushes.clear()
        self._states.clear()


@contextmanager
def batch(conn: Connection) -> Iterator[Batch]:
    """A batch on `conn` for the events applied inside; flushed on a normal exit (the
    caller commits after), dropped on an error (the caller rolls back)."""
    opened = Batch()
    conn.info[_KEY] = opened  # the pooled connection's own dict: one thread at a time
    try:
        yield opened
        opened.flush(conn)
    finally:
        conn.info.pop(_KEY, None)


def current(conn: Connection) -> Batch | None:
    found: Batch | None = conn.info.get(_KEY)
    return found


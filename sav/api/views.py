"""Rendered ticket views, kept while this process's projector is the one applying
events, so `GET /tickets/{id}` answers from memory.

A view is dropped when the projector applies an event of its ticket, in the projector's
thread and before the position it reached is announced: a request released by
read-your-writes never finds a view older than its write. A view rendered from a read
that raced with such an event is not kept (the generation moved meanwhile). While the
projector runs in another process nothing is cached: this process could not know when
a view went stale.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

MAX_VIEWS = 20_000


@dataclass(frozen=True, slots=True)
class TicketView:
    """One caller class's rendering of a ticket, with what visibility is decided on."""

    version: int
    user_id: str | None
    assigned_to: str | None
    status: str
    body: bytes
    # It lists linked tickets, whose status changes without an event of this ticket:
    # such a view is not kept (issue 26).
    linked: bool = False
    # The ETag of `body` (`sav.api.conventions.representation_tag`), hashed once when
    # rendered rather than on every request that a kept view answers.
    tag: str | None = None


class TicketViews:
    def __init__(self, max_views: int = MAX_VIEWS) -> None:
        self.max_views = max_views
        self.enabled = False
        self.generation = 0
        self._views: OrderedDict[tuple[str, bool], TicketView] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, ticket_id: str, staff: bool) -> TicketView | None:
        if not self.enabled:
            return None
        with self._lock:
            view = self._views.get((ticket_id, staff))
            if view is not None:
                self._views.move_to_end((ticket_id, staff))
            return view

    def put(self, ticket_id: str, staff: bool, view: TicketView, generation: int) -> None:
        """Keep `view`, read when `generation` was current, unless it is stale now."""
        with self._lock:
            if not self.enabled or generation != self.generation:
                return
            self._views[(ticket_id, staff)] = view
            if len(self._views) > self.max_views:
                self._views.popitem(last=False)

    def invalidate(self, ticket_ids: Iterable[str]) -> None:
        """The projector applied events of these tickets (called before it announces
        its new position)."""
        with self._lock:
            self.generation += 1
            for ticket_id in ticket_ids:
                self._views.pop((ticket_id, True), None)
                self._views.pop((ticket_id, False), None)

    def follow_local_projector(self, leading: bool) -> None:
        """Cache only while the projector of this process applies every event."""
        with self._lock:
            self.generation += 1
            self._views.clear()
            self.enabled = leading

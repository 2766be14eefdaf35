"""Live ticket streams: each new event of a ticket as its history entry, to every reader
of that ticket in this process, from one tailer.

The tailer (`TicketTailer`) waits on the store's head like `GET /events` does
(`sav.api.events.StoreHead`: one small query per interval while anyone waits), and on
each move reads the new events once, keeps those of the tickets someone follows, folds
each such ticket once (its `PastTicket`, kept while followed) and fans the entries out:
one read and one fold per new position, however many streams are open. Each entry is
framed as a Server-Sent Event once for staff and once for customers; a subscriber only
picks its side. Who may still see the ticket after each event travels with it, so a
stream whose reader loses the ticket ends without a query.

A subscriber registers before it reads its catch-up (`catch_up`), and the tailer starts
from the head as it was before that read: an entry is in the catch-up, or delivered
live, or both (then dropped by version), never neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

import orjson
from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from sav.events.privacy import Erasure
from sav.eventstore.recorder import SqlApplicationRecorder
from sav.history.entries import customer_changes, entry, event_changes
from sav.history.past import PastTicket

log = logging.getLogger("sav.live")

BATCH = 500  # events read per wake-up at most (a backlog takes several)
QUEUE_LIMIT = 2000  # items waiting for one slow client: beyond, its stream ends
ERASED_TOPIC = get_topic(Erasure.SubjectErased)
Call = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Reach:
    """What deciding who may see a ticket needs (`sav.commands.policy.can_see`)."""

    user_id: str | None
    assigned_to: str | None
    status: str
    deleted: bool


@dataclass(frozen=True, slots=True)
class LiveItem:
    """One event of a followed ticket: its SSE message per side (None: that side sees
    nothing of it), the ticket's reach after it, and whether streams end with it (the
    ticket was erased)."""

    version: int
    staff: bytes | None
    customer: bytes | None
    reach: Reach | None
    final: bool = False


@dataclass(frozen=True, slots=True)
class PresenceItem:
    """Who is looking at the ticket now: `(viewer id, since)`, oldest first."""

    viewers: tuple[tuple[str, str], ...]


def sse_entry(history_entry: dict[str, Any]) -> bytes:
    return b"id: %d\ndata: %s\n\n" % (history_entry["position"], orjson.dumps(history_entry))


def sse_presence(viewers: list[dict[str, str]]) -> bytes:
    """No `id:`: a presence event leaves the client's Last-Event-ID where it was."""
    return b"event: presence\ndata: %s\n\n" % orjson.dumps({"viewers": viewers})


def reach_of(past: PastTicket) -> Reach | None:
    row = past.ticket
    if row is None:
        return None
    return Reach(row.user_id, row.assigned_to, row.status, bool(row.is_deleted))


def live_item(past: PastTicket, record: Notification, event: Any) -> LiveItem:
    """Fold `event` into `past` and frame its history entry for both sides."""
    changes = event_changes(event, past.apply(event, record.id))
    shown = customer_changes(past, event, changes)
    return LiveItem(record.originator_version, sse_entry(entry(record, event, changes)),
                    None if shown is None else sse_entry(entry(record, event, shown)),
                    reach_of(past))


def _recorder(app: Application[Any]) -> SqlApplicationRecorder:
    if not isinstance(app.recorder, SqlApplicationRecorder):
        raise TypeError("live streams read the SQL event store")
    return app.recorder


def ticket_events(app: Application[Any], ticket_id: UUID, until_version: int | None = None
                  ) -> Iterator[tuple[Notification, Any]]:
    """The ticket's events in version order (up to `until_version`), read in batches."""
    recorder, after = _recorder(app), 0
    while until_version is None or after < until_version:
        size = BATCH if until_version is None else min(BATCH, until_version - after)
        records = recorder.select_stream_notifications(ticket_id, gt=after, limit=size)
        for record in records:
            yield record, app.mapper.to_domain_event(record)
        if len(records) < size:
            return
        after = records[-1].originator_version


@dataclass(frozen=True)
class CatchUp:
    """What a new stream sends first, and where it then stands."""

    messages: list[bytes]
    version: int
    reach: Reach | None


def catch_up(app: Application[Any], ticket_id: UUID, staff: bool, after_position: int | None
             ) -> CatchUp:
    """The entries after `after_position` (none when None: the stream starts now) as SSE
    messages for one side, and the ticket's version and reach after its last event. The
    fold runs from the stream's start, as the history's does."""
    past, messages = PastTicket(), []
    for record, event in ticket_events(app, ticket_id):
        item = live_item(past, record, event)
        message = item.staff if staff else item.customer
        if after_position is not None and record.id > after_position and message is not None:
            messages.append(message)
    return CatchUp(messages, past.version, reach_of(past))


class Subscription:
    """One open stream: its ticket, its side, and what waits to be sent."""

    def __init__(self, ticket_id: str, staff: bool) -> None:
        self.ticket_id = ticket_id
        self.staff = staff
        self.version = 0  # the last version sent (set once the catch-up is read)
        self.items: deque[LiveItem | PresenceItem] = deque()
        self.overflowed = False
        self.closed = False
        self._ready = asyncio.Event()

    def put(self, item: LiveItem | PresenceItem) -> None:
        if len(self.items) >= QUEUE_LIMIT:
            self.overflowed = True  # the client resumes with Last-Event-ID
        else:
            self.items.append(item)
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def wait(self, timeout: float) -> list[LiveItem | PresenceItem]:
        """What arrived, waiting up to `timeout` seconds for something."""
        if not self.items and not self.closed:
            # `asyncio.timeout`, not `wait_for`: no task per wait (thousands of streams).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._ready.wait()
        self._ready.clear()
        taken = list(self.items)
        self.items.clear()
        return taken


class Head(Protocol):
    """The store's head as `sav.api.events.StoreHead` polls it."""

    position: int
    closed: bool

    async def wait_past(self, position: int, timeout: float) -> bool: ...


class Viewers(Protocol):
    async def viewers(self, ticket_ids: list[str]) -> dict[str, list[tuple[str, float]]]: ...


@dataclass
class _Followed:
    subscriptions: set[Subscription]
    past: PastTicket | None = None
    version: int = 0
    viewers: tuple[tuple[str, str], ...] | None = None


class TicketTailer:
    """The process's one reader of new events for live streams (see the module doc)."""

    def __init__(self, app: Application[Any], call: Call, head: Head,
                 presence: Viewers | None = None, presence_seconds: float = 1.0,
                 idle_seconds: float = 15.0) -> None:
        self.app = app
        self.call = call
        self.head = head
        self.presence = presence
        self.presence_seconds = presence_seconds
        self.idle_seconds = idle_seconds
        self.position = 0
        self.closed = False
        self.wakeups = 0  # reads of new events (one per move of the head, per batch)
        self._followed: dict[str, _Followed] = {}
        self._task: asyncio.Task[None] | None = None
        self._presence_task: asyncio.Task[None] | None = None
        self._presence_nudged = asyncio.Event()
        self._starting: asyncio.Lock = asyncio.Lock()

    @property
    def streams(self) -> int:
        return sum(len(f.subscriptions) for f in self._followed.values())

    async def subscribe(self, subscription: Subscription) -> None:
        """Follow the subscription's ticket from now on: call before reading its catch-up."""
        async with self._starting:
            if self._task is None or self._task.done():
                # Start from the head as it is before the subscriber's catch-up is read.
                self.position = await self.call(lambda: _recorder(self.app)
                                                .max_notification_id() or 0)
                self._task = asyncio.get_running_loop().create_task(self._tail())
            followed = self._followed.setdefault(subscription.ticket_id, _Followed(set()))
            followed.subscriptions.add(subscription)
            if subscription.staff and self.presence is not None and (
                    self._presence_task is None or self._presence_task.done()):
                self._presence_task = asyncio.get_running_loop().create_task(
                    self._watch_presence())

    def unsubscribe(self, subscription: Subscription) -> None:
        followed = self._followed.get(subscription.ticket_id)
        if followed is None:
            return
        followed.subscriptions.discard(subscription)
        if not followed.subscriptions:
            del self._followed[subscription.ticket_id]

    def nudge_presence(self) -> None:
        """Someone marked a ticket as viewed here: look again now, not at the next tick."""
        self._presence_nudged.set()

    def close(self) -> None:
        """The server stops: every stream ends."""
        self.closed = True
        for followed in list(self._followed.values()):
            for subscription in followed.subscriptions:
                subscription.close()
        self._presence_nudged.set()

    async def _tail(self) -> None:
        while self._followed and not self.closed and not self.head.closed:
            try:
                if not await self.head.wait_past(self.position, self.idle_seconds):
                    continue
                self.wakeups += 1
                states = {tid: (f.past, f.version) for tid, f in self._followed.items()}
                position, items, states = await self.call(self._read, self.position,
                                                          self.head.position, states)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("live streams: cannot read new events", exc_info=True)
                await asyncio.sleep(self.idle_seconds / 15)
                continue
            self.position = position
            self._deliver(items, states)
        if self.head.closed:
            self.close()

    def _deliver(self, items: dict[str, list[LiveItem]],
                 states: dict[str, tuple[PastTicket | None, int]]) -> None:
        for ticket_id, ticket_items in items.items():
            followed = self._followed.get(ticket_id)
            if followed is None:
                continue  # the last reader left meanwhile
            followed.past, followed.version = states.get(ticket_id, (None, 0))
            for subscription in followed.subscriptions:
                for item in ticket_items:
                    subscription.put(item)

    def _read(self, after: int, until: int,
              states: dict[str, tuple[PastTicket | None, int]]
              ) -> tuple[int, dict[str, list[LiveItem]], dict[str, tuple[PastTicket | None, int]]]:
        """On the pool: the events after `after` (up to `until`), as items of the followed
        tickets; the position read up to and the tickets' folds after them."""
        records = _recorder(self.app).select_notifications(after, BATCH, until,
                                                           inclusive_of_start=False)
        items: dict[str, list[LiveItem]] = {}
        for record in records:
            ticket_id = str(record.originator_id)
            if ticket_id in states:
                items.setdefault(ticket_id, []).append(self._item(record, ticket_id, states))
            elif record.topic == ERASED_TOPIC:
                erased: Any = self.app.mapper.to_domain_event(record)
                for erased_id in set(erased.ticket_ids) & states.keys():
                    items.setdefault(erased_id, []).append(LiveItem(0, None, None, None, True))
        position = records[-1].id if len(records) == BATCH else max(until, after)
        return position, items, states

    def _item(self, record: Notification, ticket_id: str,
              states: dict[str, tuple[PastTicket | None, int]]) -> LiveItem:
        past, version = states[ticket_id]
        if past is None or version != record.originator_version - 1:
            # First event seen of this ticket: its fold so far, from the store.
            past = PastTicket()
            for earlier_record, earlier in ticket_events(self.app, UUID(ticket_id),
                                                         record.originator_version - 1):
                past.apply(earlier, earlier_record.id)
        event = self.app.mapper.to_domain_event(record)
        item = live_item(past, record, event)
        states[ticket_id] = (past, record.originator_version)
        return item

    async def _watch_presence(self) -> None:
        """While staff streams are open: who views their tickets, one query per tick for
        all of them; a change goes to the staff streams of that ticket."""
        assert self.presence is not None
        while not self.closed:
            watched = [tid for tid, f in self._followed.items()
                       if any(s.staff for s in f.subscriptions)]
            if not watched:
                return
            try:
                found = await self.presence.viewers(watched)
            except Exception:
                log.warning("live streams: cannot read who views tickets", exc_info=True)
                found = None
            for ticket_id in watched if found is not None else ():
                assert found is not None
                viewers = tuple((viewer, since_iso(since))
                                for viewer, since in found.get(ticket_id, []))
                followed = self._followed.get(ticket_id)
                if followed is None or followed.viewers == viewers:
                    continue
                followed.viewers = viewers
                for subscription in followed.subscriptions:
                    if subscription.staff:
                        subscription.put(PresenceItem(viewers))
            self._presence_nudged.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._presence_nudged.wait(), self.presence_seconds)


def since_iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat()

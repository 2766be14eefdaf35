"""The SAV application: the event-sourced ticket store and the command runner."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate
from eventsourcing.persistence import IntegrityError

from sav.commands.numbers import MemoryTicketNumbers, SqlTicketNumbers, TicketNumbers
from sav.events.errors import ConflictError, NotFoundError, PreconditionFailedError
from sav.events.ticket import Ticket
from sav.eventstore.recorder import SqlApplicationRecorder
from sav.sla.config import ConfigCache, follow_sla
from sav.sla.rules import key_of as sla_key

T = TypeVar("T")
MAX_ATTEMPTS = 16
RETRY_JITTER_S = 0.002
LOAD_LOCK_STRIPES = 64
SNAPSHOT_INTERVAL = 100


# Picks the agent a new ticket goes to (None: nobody available). The bootstrap sets
# one on the application when AUTO_ASSIGN=true; the query lives on the read side.
AgentPicker = Callable[[], str | None]


@dataclass(frozen=True)
class Outcome:
    """What a command did: the ticket's new version and the last global position it wrote."""

    ticket_id: UUID
    version: int
    position: int | None


@dataclass(frozen=True)
class CreatedTicket(Outcome):
    ticket_number: str
    access_token: str | None = None  # public tickets: shown once, only its hash is stored
    # The creation's domain events with their positions: the API answers with the
    # ticket they make (sav.history.past), not with a read of what was projected.
    recorded: tuple[tuple[Any, int], ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class PostedMessage(Outcome):
    message_id: str


@dataclass(frozen=True)
class MarkedRead(Outcome):
    marked: int


@dataclass(frozen=True)
class AddedAttachments(Outcome):
    attachment_ids: list[str]


@dataclass(frozen=True)
class RemovedAttachment(Outcome):
    attachment_id: str
    file_path: str


class SavApplication(Application[UUID]):
    """Event-sourced store of tickets and agents.

    Without a database URL it runs on eventsourcing's in-memory store (unit tests).
    """

    name = "sav"
    # A ticket loads from its latest snapshot plus at most this many events.
    snapshotting_intervals: ClassVar[dict[Any, int]] = {Ticket: SNAPSHOT_INTERVAL}

    def __init__(self, database_url: str | None = None, ticket_prefix: str = "TICKET") -> None:
        env = {
            "TRANSCODER_TOPIC": "sav.eventstore.transcoder:OrjsonTranscoder",
            # Personal fields are encrypted per data subject (issue 12, sav.privacy).
            "MAPPER_TOPIC": "sav.eventstore.transcoder:PrivacyMapper",
            "AGGREGATE_CACHE_MAXSIZE": "2000",
            "PERSISTENCE_MODULE": "eventsourcing.popo",
        }
        if database_url:
            env["PERSISTENCE_MODULE"] = "sav.eventstore.factory"
            env["SAV_DATABASE_URL"] = database_url
        super().__init__(env)
        self.ticket_prefix = ticket_prefix
        self.pick_agent: AgentPicker | None = None
        self.sla_config = ConfigCache()  # what new tickets are matched with (sav.sla)
        # The repository fast-forwards a cached aggregate in place and then copies it;
        # two threads loading one ticket must not do both at once (the copy would see
        # a dict change size under it). Striped, so other tickets never wait.
        self._load_locks = [threading.Lock() for _ in range(LOAD_LOCK_STRIPES)]
        self.numbers: TicketNumbers = (
            SqlTicketNumbers(self.recorder)
            if isinstance(self.recorder, SqlApplicationRecorder)
            else MemoryTicketNumbers()
        )

    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        """Everything a command writes inside this block commits once, together."""
        if isinstance(self.recorder, SqlApplicationRecorder):
            with self.recorder.transaction():
                yield
        else:
            yield

    def on_append(self, listener: Callable[[int], None]) -> None:
        if isinstance(self.recorder, SqlApplicationRecorder):
            self.recorder.on_append(listener)

    def get_ticket(self, ticket_id: UUID, include_deleted: bool = False) -> Ticket:
        try:
            with self._load_locks[hash(ticket_id) % LOAD_LOCK_STRIPES]:
                ticket: Any = self.repository.get(ticket_id)
        except AggregateNotFoundError:
            raise NotFoundError("ticket not found") from None
        if not isinstance(ticket, Ticket) or (ticket.deleted and not include_deleted):
            raise NotFoundError("ticket not found")
        return ticket

    def take_snapshot(self, aggregate_id: UUID, version: int | None = None,
                      projector_func: Any = project_aggregate) -> None:
        """A snapshot of this version already stored is this same state. Not an error:
        the append before it committed, and change_ticket would retry (apply it twice)."""
        with suppress(IntegrityError):
            super().take_snapshot(aggregate_id, version, projector_func)

    def record(self, *aggregates: Any) -> int | None:
        """Save pending events; returns the last global position written."""
        recorded = self.record_events(*aggregates)
        return recorded[-1][1] if recorded else None

    def record_events(self, *aggregates: Any) -> list[tuple[Any, int]]:
        """Save pending events; returns each domain event with its global position."""
        return [(r.domain_event, r.notification.id) for r in self.save(*aggregates)]

    def change_ticket(
        self,
        ticket_id: UUID,
        change: Callable[[Ticket], T],
        expected_version: int | None = None,
        check: Callable[[Ticket], None] | None = None,
        include_deleted: bool = False,
    ) -> tuple[Ticket, T, int | None]:
        """Load, apply `change`, append; retry on a concurrent append (no lost update).

        With `expected_version` (If-Match) a concurrent change is a 412 instead; `check`
        (the caller may see the ticket) runs first, so a stranger learns nothing from it.
        """
        for attempt in range(MAX_ATTEMPTS):
            ticket = self.get_ticket(ticket_id, include_deleted)
            if check is not None:
                check(ticket)
            if expected_version is not None and ticket.version != expected_version:
                raise PreconditionFailedError(
                    "the ticket has changed", {"current_version": ticket.version}
                )
            matched_on = sla_key(ticket)
            result = change(ticket)
            # Service levels follow the change, in the same append (sav.sla.rules).
            follow_sla(self, ticket, rematch=sla_key(ticket) != matched_on)
            try:
                position = self.record(ticket)
            except IntegrityError:
                if expected_version is not None:
                    raise PreconditionFailedError("the ticket has changed") from None
                # Writers that collided retry at different moments, not in lockstep.
                time.sleep(random.uniform(0, RETRY_JITTER_S * (attempt + 1)))
                continue
            return ticket, result, position
        raise ConflictError("too many concurrent changes to this ticket, retry")

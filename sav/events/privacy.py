"""The Erasure aggregate: the permanent record that a data subject was erased (issue 12).

It never carries the erased data itself: the subject's kind, the user id when the
subject is a user (ids are not personal data here; an e-mail address is, so an erasure
by e-mail records no address), and the tickets whose personal fields became unreadable.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from sav.events import clock


class Erasure(Aggregate):
    class Event(clock.ClockedEvent):
        actor: dict[str, Any]

    class SubjectErased(Event, Aggregate.Created):
        subject_kind: str  # "user" or "email"
        user_id: str | None
        ticket_ids: list[str]
        keys_destroyed: int

    @event(SubjectErased)
    def __init__(self, id: UUID, subject_kind: str, user_id: str | None,
                 ticket_ids: list[str], keys_destroyed: int, actor: dict[str, Any]) -> None:
        self.subject_kind = subject_kind
        self.user_id = user_id
        self.ticket_ids = list(ticket_ids)
        self.keys_destroyed = keys_destroyed

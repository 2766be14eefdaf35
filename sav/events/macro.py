"""The macros' aggregate (issue 26): the agents' canned responses with actions.

The macros are one stream with a fixed id, like the SLA policies (`sav.events.sla`):
there are a few dozen of them at most, the API lists them all, and reading one stream
through the repository's cache needs no read table to keep in step. Who created,
changed or deleted a macro, and when, is kept as permanent, past-tense events and
published (`macro.created`, `macro.updated`, `macro.deleted`). A macro's content is the
support team's text, not personal data; the message a macro renders on a ticket is an
ordinary `Ticket.MessagePosted` (sealed like every message), and its use is recorded on
the ticket as `Ticket.MacroApplied` in the same append.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from sav.events import clock
from sav.events.errors import NotFoundError

MACROS_ID = uuid5(NAMESPACE_URL, "sav:macros")


class Macros(Aggregate):
    class Event(clock.ClockedEvent):
        actor: dict[str, Any]

    class Created(Event, Aggregate.Created):
        """The first macro ever created."""

        macro_id: str
        macro: dict[str, Any]

    class MacroCreated(Event):
        macro_id: str
        macro: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.remember(self.macro_id, self.macro, self.actor, self.timestamp)

    class MacroChanged(Event):
        """A macro replaced: `macro` is all of it (title, content, is_internal, actions)."""

        macro_id: str
        macro: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.macros[self.macro_id] = {
                **aggregate.macros[self.macro_id], **self.macro,
                "updated_at": self.timestamp.isoformat(), "updated_by": self.actor.get("id")}

    class MacroDeleted(Event):
        macro_id: str

        def apply(self, aggregate: Any) -> None:
            del aggregate.macros[self.macro_id]

    @event(Created)
    def __init__(self, id: UUID, macro_id: str, macro: dict[str, Any],
                 actor: dict[str, Any]) -> None:
        self.macros: dict[str, dict[str, Any]] = {}
        self.remember(macro_id, macro, actor, self.created_on)

    def remember(self, macro_id: str, macro: dict[str, Any], actor: dict[str, Any],
                 at: datetime) -> None:
        self.macros[macro_id] = {**macro, "created_at": at.isoformat(),
                                 "updated_at": at.isoformat(), "created_by": actor.get("id"),
                                 "updated_by": actor.get("id")}

    def get(self, macro_id: str) -> dict[str, Any]:
        found = self.macros.get(macro_id)
        if found is None:
            raise NotFoundError("macro not found")
        return found

    def create(self, macro_id: str, macro: dict[str, Any], actor: dict[str, Any]) -> None:
        self.trigger_event(Macros.MacroCreated, macro_id=macro_id, macro=macro, actor=actor)

    def change(self, macro_id: str, macro: dict[str, Any], actor: dict[str, Any]) -> None:
        current = self.get(macro_id)
        if any(current.get(name) != value for name, value in macro.items()):
            self.trigger_event(Macros.MacroChanged, macro_id=macro_id, macro=macro,
                               actor=actor)

    def delete(self, macro_id: str, actor: dict[str, Any]) -> None:
        self.get(macro_id)
        self.trigger_event(Macros.MacroDeleted, macro_id=macro_id, actor=actor)


# Every class of the macros' stream (catalog, routing and the read models).
MACRO_EVENTS: tuple[type, ...] = (
    Macros.Created, Macros.MacroCreated, Macros.MacroChanged, Macros.MacroDeleted)

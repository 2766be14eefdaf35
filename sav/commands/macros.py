"""Macros (issue 26): admins keep the catalog, agents apply a macro to a ticket.

The catalog is one stream (`sav.events.macro`), read through the repository's cache.
Applying a macro is one command on the ticket: its actions and its rendered message
are decided on one loaded ticket and saved in one append, with `Ticket.MacroApplied`
(the statistics count it). A rule that refuses any step (an invalid transition, a
closed ticket) raises before anything is saved, so the ticket is left as it was.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from sav.commands.actor import Actor
from sav.commands.admin_streams import require_admin, save_retrying
from sav.commands.app import PostedMessage, SavApplication
from sav.commands.policy import command_handler, require_staff, require_visible
from sav.commands.tickets import NOT_BLANK, Tag, short_tags
from sav.events.errors import ConflictError, NotFoundError
from sav.events.macro import MACROS_ID, Macros
from sav.events.rules import Priority, Status
from sav.events.ticket import Ticket
from sav.sla.config import get_aggregate

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
PLACEHOLDERS = ("ticket.number", "ticket.subject", "customer.name", "customer.email",
                "agent.name")
# The statuses a macro may set, and the ticket's command for each. `assigned` is not
# one: a macro takes the ticket with `assign_to_me`.
MACRO_STATUSES = (Status.OPEN, Status.IN_PROGRESS, Status.WAITING, Status.RESOLVED,
                  Status.CLOSED)
MAX_MACROS = 1000


class MacroActions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Annotated[str | None, WithJsonSchema({"anyOf": [
        {"type": "string", "enum": list(MACRO_STATUSES)}, {"type": "null"}]})] = Field(
        default=None, description="one of " + ", ".join(MACRO_STATUSES))
    priority: Priority | None = None
    add_tags: list[Tag] | None = Field(default=None, max_length=50)
    remove_tags: list[Tag] | None = Field(default=None, max_length=50)
    assign_to_me: bool = Field(default=False, strict=True)  # `0`, `"true"` refused

    _tags = field_validator("add_tags", "remove_tags")(short_tags)

    @field_validator("status")
    @classmethod
    def _known_status(cls, value: str | None) -> str | None:
        if value is not None and value not in MACRO_STATUSES:
            raise ValueError("status must be one of " + ", ".join(MACRO_STATUSES)
                             + " (a macro takes a ticket with assign_to_me)")
        return value


class MacroBody(BaseModel):
    """`POST /macros`, `PUT /macros/{id}`: all of a macro."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)
    content: str = Field(min_length=1, max_length=50_000, pattern=NOT_BLANK, description=(
        "the message; may use " + ", ".join("{{" + p + "}}" for p in PLACEHOLDERS)))
    is_internal: bool = Field(default=False, strict=True,
                              description="posted as an internal note")
    actions: MacroActions = Field(default_factory=MacroActions)

    @field_validator("content")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        unknown = sorted({name for name in PLACEHOLDER.findall(value)
                          if name not in PLACEHOLDERS})
        if unknown:
            raise ValueError("unknown placeholder " + ", ".join(
                "{{" + name + "}}" for name in unknown) + "; known: " + ", ".join(
                "{{" + p + "}}" for p in PLACEHOLDERS))
        return value

    def stored(self) -> dict[str, Any]:
        body = self.model_dump(mode="json")
        body["actions"] = {k: v for k, v in body["actions"].items()
                           if v is not None and v is not False}
        return body


def render(content: str, ticket: Ticket, actor: Actor) -> str:
    """The content with each placeholder replaced (an unknown value reads as empty)."""
    values = {"ticket.number": ticket.ticket_number, "ticket.subject": ticket.subject,
              "customer.name": ticket.contact_name, "customer.email": ticket.contact_email,
              "agent.name": actor.name or actor.user_id}
    return PLACEHOLDER.sub(lambda match: str(values.get(match.group(1)) or ""), content)


def macro_json(macro_id: str, macro: dict[str, Any]) -> dict[str, Any]:
    return {"id": macro_id, "title": macro["title"], "content": macro["content"],
            "is_internal": macro["is_internal"], "actions": dict(macro["actions"]),
            "created_at": macro["created_at"], "updated_at": macro["updated_at"],
            "created_by": macro.get("created_by"), "updated_by": macro.get("updated_by")}


def all_macros(app: SavApplication) -> list[dict[str, Any]]:
    """Every macro, by title."""
    found = get_aggregate(app, MACROS_ID)
    macros = {} if found is None else found.macros
    return sorted((macro_json(k, v) for k, v in macros.items()),
                  key=lambda m: (m["title"].lower(), m["id"]))


def one_macro(app: SavApplication, macro_id: str) -> dict[str, Any]:
    found = get_aggregate(app, MACROS_ID)
    if found is None:
        raise NotFoundError("macro not found")
    return macro_json(macro_id, found.get(macro_id))


@command_handler
def create_macro(app: SavApplication, actor: Actor, body: MacroBody) -> dict[str, Any]:
    require_admin(actor, "macros")
    macro_id, stored = str(uuid4()), body.stored()

    def change() -> tuple[Any, str]:
        found = get_aggregate(app, MACROS_ID)
        if found is None:
            return Macros(id=MACROS_ID, macro_id=macro_id, macro=stored,
                          actor=actor.who.ref()), macro_id
        if len(found.macros) >= MAX_MACROS:
            raise ConflictError(f"at most {MAX_MACROS} macros")
        found.create(macro_id, stored, actor=actor.who.ref())
        return found, macro_id

    save_retrying(app, change)
    return one_macro(app, macro_id)


@command_handler
def replace_macro(app: SavApplication, actor: Actor, macro_id: str, body: MacroBody
                  ) -> dict[str, Any]:
    require_admin(actor, "macros")
    stored = body.stored()

    def change() -> tuple[Any, None]:
        found = get_aggregate(app, MACROS_ID)
        if found is None:
            raise NotFoundError("macro not found")
        found.change(macro_id, stored, actor=actor.who.ref())
        return found, None

    save_retrying(app, change)
    return one_macro(app, macro_id)


@command_handler
def delete_macro(app: SavApplication, actor: Actor, macro_id: str) -> None:
    require_admin(actor, "macros")

    def change() -> tuple[Any, None]:
        found = get_aggregate(app, MACROS_ID)
        if found is None:
            raise NotFoundError("macro not found")
        found.delete(macro_id, actor=actor.who.ref())
        return found, None

    save_retrying(app, change)


def _set_status(ticket: Ticket, status: str, actor: Actor) -> None:
    """The ticket's own command for `status` (its lifecycle rules apply: 409)."""
    if ticket.status == status:
        return
    who = actor.who
    if status == Status.IN_PROGRESS:
        ticket.start(by=who)
    elif status == Status.WAITING:
        ticket.wait(by=who)
    elif status == Status.RESOLVED:
        ticket.resolve(None, by=who)
    elif status == Status.CLOSED:
        ticket.close(by=who)
    elif status == Status.OPEN:
        ticket.reopen(by=who)


def apply_to(ticket: Ticket, macro_id: str, macro: dict[str, Any], actor: Actor) -> str:
    """Every step of the macro on the loaded ticket (nothing is saved here): take it,
    set priority and tags, post the rendered message, move the status, record the use.
    Returns the message's id."""
    actions = macro.get("actions") or {}
    who = actor.who
    if actions.get("assign_to_me") and ticket.assigned_to != actor.user_id:
        ticket.assign(str(actor.user_id), by=who)
    changes: dict[str, Any] = {}
    if actions.get("priority"):
        changes["priority"] = actions["priority"]
    if actions.get("add_tags") or actions.get("remove_tags"):
        removed = set(actions.get("remove_tags") or ())
        tags = [tag for tag in ticket.tags if tag not in removed]
        tags += [tag for tag in actions.get("add_tags") or () if tag not in tags]
        changes["tags"] = tags
    if changes:
        ticket.update(changes, by=who)
    message_id = str(uuid4())
    ticket.post_message(message_id=message_id, user_id=actor.user_id, role=actor.role,
                        author_name=actor.name, author_email=actor.email,
                        content=render(macro["content"], ticket, actor),
                        is_internal=bool(macro.get("is_internal")))
    if actions.get("status"):
        _set_status(ticket, actions["status"], actor)
    ticket.trigger_event(Ticket.MacroApplied, macro_id=macro_id, title=macro["title"],
                         actor=who.ref())
    return message_id


@command_handler
def apply_macro(app: SavApplication, actor: Actor, ticket_id: UUID, macro_id: str
                ) -> PostedMessage:
    """Apply a macro (staff): its message and actions in one append, or nothing."""
    require_staff(actor, "apply macros")
    found = get_aggregate(app, MACROS_ID)
    if found is None:
        raise NotFoundError("macro not found")
    macro = dict(found.get(macro_id))

    def change(ticket: Ticket) -> str:
        require_visible(ticket, actor)
        return apply_to(ticket, macro_id, macro, actor)

    ticket, message_id, position = app.change_ticket(
        ticket_id, change, check=lambda ticket: require_visible(ticket, actor))
    return PostedMessage(ticket.id, ticket.version, position, message_id)

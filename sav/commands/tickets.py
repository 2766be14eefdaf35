"""Ticket commands: create, update, assign, start, wait, resolve, close, reopen, delete."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID, uuid4

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    create_model,
    field_validator,
    model_validator,
)

from sav.commands.actor import Actor
from sav.commands.app import CreatedTicket, Outcome, SavApplication
from sav.commands.automations import assign_on_create
from sav.commands.emails import Email
from sav.commands.numbers import format_ticket_number
from sav.commands.policy import (
    command_handler,
    require_owner_or_staff,
    require_staff,
    require_visible,
)
from sav.events import clock
from sav.events.errors import PermissionDeniedError
from sav.events.fields import CUSTOMER_SETTABLE, REQUIRED_SETTABLE, SETTABLE
from sav.events.rules import Priority, Role, Source, Status
from sav.events.ticket import Ticket
from sav.sla.config import current_config, follow_sla

# Who may set which field, and which `null` cannot clear: declared in sav.events.fields.
CUSTOMER_EDITABLE = CUSTOMER_SETTABLE
NOT_NULLABLE = {*REQUIRED_SETTABLE, "status"}
# Text that must say something: white space alone is refused (it is stripped first).
# A pattern, so that /openapi.json says it too (JSON Schema patterns search, like this):
# a character that `str.strip` keeps, spelt out (`\S` differs between regex engines:
# U+001F and U+0085 are white space to Python, not to ECMA-262 and Rust).
NOT_BLANK = (r"[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f"
             r"\u205f\u3000]")
# One tag, as `short_tags` checks it (documented per item).
Tag = Annotated[str, Field(min_length=1, max_length=64, pattern=NOT_BLANK)]
METADATA_MAX_DEPTH = 16
METADATA_MAX_BYTES = 64 * 1024


def _depth(value: Any, limit: int) -> int:
    if limit < 0:
        return 1  # deeper than anyone asks: stop counting
    if isinstance(value, dict):
        return 1 + max((_depth(v, limit - 1) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v, limit - 1) for v in value), default=0)
    return 0


def bounded_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Metadata is free-form JSON, within limits every event encoder can store."""
    if value is None:
        return None
    if _depth(value, METADATA_MAX_DEPTH) > METADATA_MAX_DEPTH:
        raise ValueError(f"metadata may nest at most {METADATA_MAX_DEPTH} levels")
    if len(orjson.dumps(value)) > METADATA_MAX_BYTES:
        raise ValueError(f"metadata may be at most {METADATA_MAX_BYTES} bytes of JSON")
    return value


def short_tags(tags: list[str] | None) -> list[str] | None:
    if tags is None:
        return None
    if any(not tag.strip() or len(tag) > 64 for tag in tags):
        raise ValueError("tags must be non-empty strings of at most 64 characters")
    return [tag.strip() for tag in tags]


class Settable(StrEnum):
    """The statuses `PUT /tickets/{id}` may set (others have commands of their own)."""

    IN_PROGRESS = Status.IN_PROGRESS.value
    WAITING = Status.WAITING.value


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# What only staff may set when opening a ticket, as with PUT (issue 19): a customer's
# ticket is routed and labelled by the support team.
STAFF_ONLY_AT_CREATION = frozenset({"tags", "source"})


class CreateTicket(Command):
    subject: str = Field(min_length=1, max_length=255, pattern=NOT_BLANK)
    description: str = Field(min_length=1, max_length=50_000, pattern=NOT_BLANK)
    priority: Priority = Priority.NORMAL
    category: str | None = Field(default=None, max_length=64)
    source: Source = Source.WEB
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    metadata: dict[str, Any] = Field(default_factory=dict)
    user_id: str | None = Field(default=None, max_length=64)
    contact_email: Email | None = None
    contact_name: str | None = Field(default=None, max_length=255)

    _metadata = field_validator("metadata")(bounded_metadata)
    _tags = field_validator("tags")(short_tags)


class UpdateChecks(Command):
    """What an update body checks, whichever fields are declared settable."""

    _metadata = field_validator("metadata", check_fields=False)(bounded_metadata)
    _tags = field_validator("tags", check_fields=False)(short_tags)

    @model_validator(mode="after")
    def _required_fields_are_not_null(self) -> UpdateChecks:
        """`null` clears only nullable fields (category, internal_notes)."""
        nulled = sorted(name for name in self.model_fields_set
                        if name in NOT_NULLABLE and getattr(self, name) is None)
        if nulled:
            raise ValueError(f"{', '.join(nulled)} cannot be null")
        return self


def not_null_schema(schema: dict[str, Any]) -> None:
    """A field's JSON schema without its `null` option (and so without a null default)."""
    options = schema.pop("anyOf", None) or []
    kept = [option for option in options if option != {"type": "null"}]
    if len(kept) == 1:
        schema.update(kept[0])
    elif kept:
        schema["anyOf"] = kept
    schema.pop("default", None)


if TYPE_CHECKING:
    UpdateTicket = UpdateChecks
else:
    # `PUT /tickets/{id}`: every settable field (sav.events.fields), then a transition.
    UpdateTicket = create_model(
        "UpdateTicket", __base__=UpdateChecks,
        # `null` only where it clears something: the document says the others are not
        # nullable (the validator above names them all when they are).
        **{f.name: ((list[Tag] if f.name == "tags" else f.type) | None, Field(
            default=None, **f.limits,
            **({"pattern": NOT_BLANK} if f.limits.get("min_length") else {}),
            json_schema_extra=not_null_schema if f.name in NOT_NULLABLE else None))
           for f in SETTABLE},
        status=(Settable | None, Field(None, json_schema_extra=not_null_schema)))


def _listed(names: list[str]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]


CUSTOMER_EDITS = _listed([f.name for f in SETTABLE if f.name in CUSTOMER_EDITABLE])


class AssignTicket(Command):
    agent_id: str = Field(min_length=1, max_length=64, pattern=NOT_BLANK)


class ResolveTicket(Command):
    resolution: str | None = Field(default=None, max_length=50_000)


class ReasonBody(Command):
    reason: str | None = Field(default=None, max_length=2000)


def hash_access_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@command_handler
def create_ticket(
    app: SavApplication,
    actor: Actor,
    cmd: CreateTicket,
    *,
    ticket_id: UUID | None = None,
    with_access_token: bool = False,
    origin: dict[str, Any] | None = None,
    locale: str | None = None,
) -> CreatedTicket:
    """Open a ticket. Customers open their own; staff may open one for a user or contact.

    With `with_access_token` (public tickets) an unguessable token is returned once and
    only its hash is stored. `locale`: the language of the ticket's mail, when the
    request said one (Accept-Language, a mail's Content-Language), in the same append.
    """
    if not actor.is_staff and cmd.user_id not in (None, actor.user_id):
        raise PermissionDeniedError("customers open tickets for themselves only")
    staff_only = sorted(STAFF_ONLY_AT_CREATION & cmd.model_fields_set)
    if staff_only and not actor.is_staff:
        raise PermissionDeniedError(f"only agents and admins set {_listed(staff_only)}",
                                    {"fields": staff_only})
    user_id = cmd.user_id if actor.is_staff else actor.user_id
    now = clock.now()
    token = secrets.token_urlsafe(32) if with_access_token else None
    # Read before the number: its counter row stays locked until the commit (issue 21).
    sla_config = current_config(app)
    with app.unit_of_work():  # the number and the append commit together
        number = format_ticket_number(
            app.ticket_prefix, now, app.numbers.next(now.strftime("%Y%m%d"))
        )
        ticket = Ticket(
            id=ticket_id or uuid4(),
            ticket_number=number,
            subject=cmd.subject,
            description=cmd.description,
            priority=str(cmd.priority),
            category=cmd.category,
            source=str(cmd.source),
            user_id=user_id,
            contact_email=cmd.contact_email or (actor.email if not actor.is_staff else None),
            contact_name=cmd.contact_name or (actor.name if not actor.is_staff else None),
            tags=cmd.tags,
            metadata=cmd.metadata,
            created_by=actor.label,
            access_token_hash=hash_access_token(token) if token else None,
            origin=origin,
            actor=actor.who.ref(),
        )
        if locale is not None and locale != getattr(ticket, "locale", None):
            ticket.update({"locale": locale}, by=actor.who)
        assign_on_create(app, ticket)  # AUTO_ASSIGN: recorded in the same append.
        follow_sla(app, ticket, rematch=True, config=sla_config)  # its service levels
        recorded = app.record_events(ticket)
    return CreatedTicket(ticket.id, ticket.version, recorded[-1][1] if recorded else None,
                         number, token, tuple(recorded))


@command_handler
def update_ticket(
    app: SavApplication,
    actor: Actor,
    ticket_id: UUID,
    cmd: UpdateTicket,
    expected_version: int | None = None,
) -> Outcome:
    changes = cmd.model_dump(exclude_unset=True, mode="json")

    def change(ticket: Ticket) -> None:
        if not actor.is_staff:
            forbidden = set(changes) - CUSTOMER_EDITABLE
            if forbidden:
                raise PermissionDeniedError(
                    f"customers may only edit {CUSTOMER_EDITS}",
                    {"fields": sorted(forbidden)},
                )
            if ticket.status != Status.OPEN:
                raise PermissionDeniedError("customers may only edit open tickets")
        ticket.update(changes, by=actor.who)

    return _run(app, actor, ticket_id, change, expected_version)


@command_handler
def assign_ticket(
    app: SavApplication, actor: Actor, ticket_id: UUID, cmd: AssignTicket,
    expected_version: int | None = None,
) -> Outcome:
    return _run(app, actor, ticket_id, lambda ticket: ticket.assign(cmd.agent_id, by=actor.who),
                expected_version, staff_only="assign tickets")


@command_handler
def start_ticket(
    app: SavApplication, actor: Actor, ticket_id: UUID, expected_version: int | None = None
) -> Outcome:
    return _run(app, actor, ticket_id, lambda ticket: ticket.start(by=actor.who),
                expected_version, staff_only="start work on tickets")


@command_handler
def wait_on_customer(
    app: SavApplication, actor: Actor, ticket_id: UUID, expected_version: int | None = None
) -> Outcome:
    return _run(app, actor, ticket_id, lambda ticket: ticket.wait(by=actor.who),
                expected_version, staff_only="put tickets on hold for the customer")


@command_handler
def resolve_ticket(
    app: SavApplication, actor: Actor, ticket_id: UUID, cmd: ResolveTicket,
    expected_version: int | None = None,
) -> Outcome:
    return _run(app, actor, ticket_id,
                lambda ticket: ticket.resolve(cmd.resolution, by=actor.who),
                expected_version, staff_only="resolve tickets")


@command_handler
def close_ticket(
    app: SavApplication, actor: Actor, ticket_id: UUID, cmd: ReasonBody | None = None,
    expected_version: int | None = None,
) -> Outcome:
    reason = cmd.reason if cmd else None
    return _run(app, actor, ticket_id, lambda ticket: ticket.close(by=actor.who, reason=reason),
                expected_version, owner_or_staff="close this ticket")


@command_handler
def reopen_ticket(
    app: SavApplication, actor: Actor, ticket_id: UUID, cmd: ReasonBody | None = None,
    expected_version: int | None = None,
) -> Outcome:
    reason = cmd.reason if cmd else None
    return _run(app, actor, ticket_id, lambda ticket: ticket.reopen(by=actor.who, reason=reason),
                expected_version, owner_or_staff="reopen this ticket")


@command_handler
def delete_ticket(
    app: SavApplication, actor: Actor, ticket_id: UUID, expected_version: int | None = None
) -> Outcome:
    """Soft delete (GDPR): admins, or the customer who owns the ticket."""

    def change(ticket: Ticket) -> None:
        owner = actor.role == Role.CUSTOMER and ticket.user_id == actor.user_id
        if not (actor.is_admin or owner):
            raise PermissionDeniedError("only admins or the ticket's owner may delete it")
        ticket.delete(by=actor.who)

    return _run(app, actor, ticket_id, change, expected_version)


@command_handler
def unassign_ticket(
    app: SavApplication, actor: Actor, ticket_id: UUID, expected_version: int | None = None
) -> Outcome:
    """Take a ticket back from its agent (staff): nobody has it, it is open again."""
    return _run(app, actor, ticket_id, lambda ticket: ticket.unassign(by=actor.who),
                expected_version, staff_only="unassign tickets")


@command_handler
def restore_ticket(
    app: SavApplication, actor: Actor, ticket_id: UUID, expected_version: int | None = None
) -> Outcome:
    """Undo a soft delete (admins only: a deleted ticket is nobody else's to see)."""
    if not actor.is_admin:
        raise PermissionDeniedError("only admins may restore tickets")
    return _run(app, actor, ticket_id, lambda ticket: ticket.restore(by=actor.who),
                expected_version, include_deleted=True)


def _run(
    app: SavApplication, actor: Actor, ticket_id: UUID, change: Callable[[Ticket], None],
    expected_version: int | None, *, staff_only: str | None = None,
    owner_or_staff: str | None = None, include_deleted: bool = False,
) -> Outcome:
    """Load the ticket, refuse a caller who may not see it (404, before anything else:
    a stranger learns nothing) and, naming what they would do, one who is not staff
    (`staff_only`) or neither staff nor the ticket's owner (`owner_or_staff`) (403),
    then apply `change` and append (`change_ticket`: retried, no lost update)."""

    def checked(ticket: Ticket) -> None:
        if staff_only is not None:
            require_staff(actor, staff_only)
        if owner_or_staff is not None:
            require_owner_or_staff(ticket, actor, owner_or_staff)
        change(ticket)

    ticket, _, position = app.change_ticket(
        ticket_id, checked, expected_version, check=lambda ticket: require_visible(ticket, actor),
        include_deleted=include_deleted)
    return Outcome(ticket.id, ticket.version, position)

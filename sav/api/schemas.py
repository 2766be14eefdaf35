"""The shapes the API answers, as pydantic models: `/openapi.json` documents them (routes
name theirs with `sav.api.openapi.responds`) and the fuzz test checks every answer
against them. Routes build plain dicts; these models only describe them.

Personal fields are nullable (an erased subject's tickets keep `null` there) and every
object may gain fields: a client must ignore what it does not know. A ticket's shapes
derive from its declared fields (`sav.events.fields`): the full one from the fields the
staff see, the public one as a view of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, WithJsonSchema, create_model

from sav.commands.tickets import NOT_BLANK
from sav.events.fields import Seen, TicketField, seen_by
from sav.events.rules import Priority, Status
from sav.projections.agents import AGENT_CURSOR_MAX_LENGTH, AGENT_CURSOR_PATTERN
from sav.projections.cursors import CURSOR_PATTERN
from sav.projections.ticket_queries import PUBLIC_VIEW


class Shape(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- errors ------------------------------------------------------------------------


class ErrorDetail(Shape):
    field: str = Field(description="the field, parameter or header at fault")
    message: str


class ErrorBody(Shape):
    code: str = Field(description="snake_case, stable: what a client branches on",
                      examples=["validation_failed"])
    message: str = Field(description="for humans; may change")
    details: list[ErrorDetail] | None = Field(
        None, description="what was wrong, one entry per field (validation errors)")


class Error(Shape):
    """Every error answer: `{"error": {"code", "message", "details"}}`."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{"error": {
        "code": "validation_failed", "message": "the request is not valid",
        "details": [{"field": "priority", "message": "Input should be 'low', 'normal', "
                     "'high' or 'urgent'"}]}}]})

    error: ErrorBody


# -- tickets -----------------------------------------------------------------------


class Actor(Shape):
    id: str | None
    role: str | None


def response_field(f: TicketField) -> tuple[Any, Any]:
    """A declared ticket field in a response model: nullable when it may be null, and
    left out for callers who do not see it (staff-only) or when it has a default."""
    info: dict[str, Any] = {}
    if f.doc is not None:
        info["description"] = f.doc
    if f.example is not None:
        info["examples"] = [f.example]
    optional = f.seen == Seen.STAFF or f.default is not None
    return (f.type | None if f.nullable else f.type), Field(
        f.default if optional else ..., **info)


def view_of(model: type[BaseModel], names: Iterable[str]) -> dict[str, Any]:
    """Fields of `model`, as `create_model` takes them: a view is a projection of the
    full shape, never a copy of it."""
    return {name: (model.model_fields[name].annotation, model.model_fields[name])
            for name in names}


class TicketLink(Shape):
    """A link to another ticket (issue 26), with that ticket's number and status now."""

    ticket_id: str
    kind: str = Field(description="related, parent, child, duplicate_of, duplicated_by "
                      "or merged_from")
    ticket_number: str
    status: str
    created_at: datetime


LINKS_FIELD = (list[TicketLink], Field(description="the linked tickets (empty when none): "
                                       "staff see all, customers and token holders those "
                                       "of the same customer"))

if TYPE_CHECKING:
    Ticket = Shape
else:
    Ticket = create_model(
        "Ticket", __base__=Shape,
        __doc__="A ticket as the caller's side sees it (`internal_notes` for staff only).",
        **{f.name: response_field(f) for f in seen_by(Seen.STAFF)}, links=LINKS_FIELD)


class Message(Shape):
    id: str
    ticket_id: str
    user_id: str | None
    author_name: str | None
    author_email: str | None
    content: str | None
    is_internal: bool
    is_read: bool = Field(description="read by the other side")
    read_at: datetime | None
    created_at: datetime
    updated_at: datetime | None


class Attachment(Shape):
    id: str
    ticket_id: str
    message_id: str | None
    user_id: str | None
    file_name: str | None
    file_path: str | None
    file_url: str = Field(description="the download route (answers a presigned URL)")
    file_type: str | None
    file_size: int
    mime_type: str
    scanned: bool = Field(description="a virus scanner (clamd) found the file clean; false "
                          "when none is configured or it was down with "
                          "SAV_CLAMAV_FAIL_OPEN")
    created_at: datetime
    updated_at: datetime | None


class Viewer(Shape):
    id: str = Field(description="a staff member looking at the ticket")
    since: datetime = Field(description="since when (marks less than 30 s apart)")


class TicketDetails(Ticket):
    """`GET /tickets/{id}`: the ticket with its latest visible messages and attachments."""

    messages: list[Message]
    messages_truncated: bool = Field(description="earlier messages exist: see "
                                     "messages_url")
    attachments: list[Attachment]
    messages_url: str | None = Field(description="the paginated conversation (null in a "
                                     "past view: that route shows the present)")
    viewers: list[Viewer] | None = Field(None, description="staff views only: who else "
                                         "looked at it in the last 30 s (`POST .../viewing`)")


if TYPE_CHECKING:
    PublicTicket = Shape
else:
    PublicTicket = create_model(
        "PublicTicket", __base__=Shape,
        __doc__="What an access-token holder sees: no assignee, tags, metadata or "
                "internal notes.",
        **view_of(Ticket, (f.name for f in PUBLIC_VIEW)),
        messages=(list[Message], ...), messages_truncated=(bool, ...),
        attachments=(list[Attachment], ...), links=LINKS_FIELD,
        messages_url=(str | None, Field(None, description="always null: token holders have "
                                  "the latest messages only")),
        access_token=(str | None, Field(None, description="only in the answer to the "
                                        "creation: keep it, it is shown once")))


class CursorPagination(Shape):
    limit: int
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; "
                                    "null on the last page")


class TicketPage(Shape):
    data: list[Ticket]
    pagination: CursorPagination


class MessagePage(Shape):
    data: list[Message]
    pagination: CursorPagination


class AttachmentPage(Shape):
    data: list[Attachment]
    pagination: CursorPagination


class Attachments(Shape):
    """Several files uploaded at once."""

    data: list[Attachment]


class DownloadLink(Shape):
    url: str = Field(description="presigned, valid for one hour")
    expires_at: datetime


class Deleted(Shape):
    success: Literal[True]
    message: str
    id: str


class Marked(Shape):
    success: Literal[True]
    marked: int = Field(description="messages newly marked read")


class UnreadCount(Shape):
    count: int


# -- history, statistics, roster, feed ----------------------------------------------


class HistoryEntry(Shape):
    position: int = Field(description="global position in the event store")
    version: int = Field(description="the ticket's version after this event")
    type: str = Field(description="routing key of the event", examples=["ticket.assigned"])
    occurred_at: datetime
    actor: Actor
    changes: dict[str, Any]


class HistoryPage(Shape):
    data: list[HistoryEntry]
    pagination: CursorPagination


class Satisfaction(Shape):
    average: float | None
    count: int


class Workload(Shape):
    agent_id: str
    open: int


class Period(Shape):
    period: str = Field(description="the UTC day, or the Monday of the ISO week")
    total: int
    resolved: int
    escalated: int
    avg_first_response_seconds: float | None
    avg_resolution_seconds: float | None


class SlaCompliance(Shape):
    met: int
    breached: int
    compliance: float | None = Field(description="met / (met + breached), 0-1; null "
                                     "before any was decided")


class SlaFigures(Shape):
    first_response: SlaCompliance
    resolution: SlaCompliance


class MacroUses(Shape):
    macro_id: str
    title: str
    uses: int


class MacroFigures(Shape):
    applied: int
    by_macro: list[MacroUses]


class Statistics(Shape):
    total: int
    by_status: dict[str, int]
    by_priority: dict[str, int]
    avg_first_response_seconds: float | None
    avg_resolution_seconds: float | None
    satisfaction: Satisfaction
    escalation_rate: float | None
    agent_workload: list[Workload]
    group_by: Literal["day", "week"] | None = None
    series: list[Period] | None = Field(None, description="with `group_by` only")
    sla: SlaFigures | None = Field(None, description="service levels, service-wide (staff "
                                   "only): met and breached per metric")
    macros: MacroFigures | None = Field(None, description="macro uses, service-wide (staff "
                                        "only), most used first")


class Agent(Shape):
    agent_id: str
    name: str | None
    email: str | None
    active: bool
    open_tickets: int
    created_at: datetime | None
    updated_at: datetime | None


class AgentPage(Shape):
    data: list[Agent]
    pagination: CursorPagination


class FeedEntry(Shape):
    """The message published to RabbitMQ (see `/asyncapi.json`) with its position."""

    position: int
    message_id: str
    event: str = Field(examples=["ticket.created"])
    timestamp: datetime
    data: dict[str, Any]


class FeedPagination(Shape):
    limit: int
    next_after: int = Field(description="pass as `after` for the next page")


class FeedPage(Shape):
    data: list[FeedEntry]
    pagination: FeedPagination


class Health(Shape):
    status: Literal["ok"]
    service: str


class ProjectionLag(Shape):
    position: int
    head: int
    lag_events: int
    stalled_seconds: float = Field(description="how long the oldest waiting event has "
                                   "waited while the projector did not advance")
    stalled: bool = Field(description="stalled_seconds > SAV_PROJECTION_STALL_SECONDS: "
                          "`status` is then `degraded` (503)")


class Readiness(Shape):
    status: str = Field(examples=["ok", "degraded"])
    database: str
    storage: str
    projection_position: int | None
    projection: ProjectionLag | None = None


# -- query strings read by hand (documented with `openapi.documents_query`) ---------


def listed(values: Iterable[str]) -> str:
    """The pattern of one of `values` or several, comma-separated (`open,assigned`)."""
    one = "|".join(values)
    return f"^(?:{one})(?:,(?:{one}))*$"


# Patterns only in the document: the routes check the same (`sav.projections.cursors`,
# `sav.api.tickets`), and pydantic's regex engine would read `$` otherwise.
STATUS_LIST = listed(status.value for status in Status)
PRIORITY_LIST = listed(priority.value for priority in Priority)


class PageQuery(BaseModel):
    limit: int = Field(20, ge=1, le=100, description="items per page (1-100)")
    cursor: str | None = Field(None, description="where the page starts: the previous "
                               "page's `pagination.next_cursor` (opaque; its pattern is "
                               "exact: nothing else is accepted)",
                               json_schema_extra={"pattern": CURSOR_PATTERN})


class MessagePageQuery(PageQuery):
    limit: int = Field(50, ge=1, le=100, description="messages per page (1-100)")


class TicketListQuery(PageQuery):
    status: str | None = Field(None, description="one status or several, comma-separated "
                               "(e.g. `open,assigned`)", examples=["open"],
                               json_schema_extra={"pattern": STATUS_LIST})
    priority: str | None = Field(None, description="one priority or several, comma-separated",
                                 examples=["high,urgent"],
                                 json_schema_extra={"pattern": PRIORITY_LIST})
    assigned_to: str | None = Field(None, description="an agent's user id")
    category: str | None = None
    q: str | None = Field(None, description="full-text search in subject and description")
    user_id: str | None = Field(None, description="the customer's user id (staff)")
    tag: list[Annotated[str, Field(pattern=NOT_BLANK)]] | None = Field(
        None, description="tickets carrying this tag; repeat it "
                                  "(`tag=a&tag=b`): every one must be there",
                                  examples=[["lamp"]])
    created_after: AwareDatetime | None = Field(
        None, description="created strictly after this RFC 3339 date-time (with offset)",
        examples=["2026-12-01T00:00:00Z"])
    created_before: AwareDatetime | None = Field(
        None, description="created strictly before this RFC 3339 date-time (with offset)",
        examples=["2026-12-31T00:00:00Z"])
    deleted: Literal["true", "false"] | None = Field(
        None, description="`true`: the soft-deleted tickets instead (admins only)")
    sla: Literal["breached", "at_risk"] | None = Field(
        None, description="staff: tickets with a broken service level, or whose next due "
        "time is within the hour")
    sort: Literal["sla_due"] | None = Field(
        None, description="staff: `sla_due` lists the earliest running due time first "
        "(tickets without one last); newest first otherwise")


class AgentListQuery(PageQuery):
    cursor: str | None = Field(None, description="where the page starts: the previous "
                               "page's `pagination.next_cursor` (opaque; its pattern is "
                               "exact: nothing else is accepted)", json_schema_extra={
                                   "pattern": AGENT_CURSOR_PATTERN,
                                   "maxLength": AGENT_CURSOR_MAX_LENGTH})
    active: Literal["true", "false"] | None = Field(None, description="only (in)active agents")


# A full-date, or a date-time (without an offset: UTC), as `statistics.parse_bound` reads.
DAY_OR_MOMENT = WithJsonSchema({"anyOf": [{"type": "string", "format": "date"},
                                          {"type": "string", "format": "date-time"},
                                          {"type": "null"}]})


class StatisticsQuery(BaseModel):
    from_: Annotated[str | None, DAY_OR_MOMENT] = Field(
        None, alias="from", description="tickets created from this date or RFC 3339 "
        "date-time (without an offset: UTC); not after `to`", examples=["2026-11-01"])
    to: Annotated[str | None, DAY_OR_MOMENT] = Field(
        None, description="tickets created up to this date (that whole day) or date-time",
        examples=["2026-11-30"])
    group_by: Literal["day", "week"] | None = Field(None, description="add a `series` per UTC "
                                                    "day or ISO week")


class AccessTokenQuery(BaseModel):
    token: str | None = Field(None, description="the access token, if not in `X-Access-Token`")


class SignedLinkQuery(BaseModel):
    expires: str = Field(description="expiry (Unix time) of the signed link")
    signature: str = Field(description="the link's signature")

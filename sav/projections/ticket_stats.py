"""The statistics read model: what each ticket counts for, and the sums per cell.

`GET /tickets/statistics` used to scan `support_tickets` three times per request. Here
the projector keeps the sums instead, so a request reads a few rows, not every ticket:

- `ticket_stats_contributions`, one row per ticket: the cell it counts in (creation
  day, status, priority, assignee) and what it adds there (first-response and
  resolution durations, rating, escalated). The handlers need it to take a ticket out
  of its old cell when it moves.
- Sums per cell, one table per question. `ticket_stats_totals` (status, priority)
  answers an admin's undated request in O(1) (summing a year of daily rows already
  takes MariaDB 5-18 ms); `ticket_stats_by_assignee` (assignee, status, priority;
  '' = unassigned, as a key cannot be NULL) an agent's (theirs and the open pool's)
  and everyone's open workload; `ticket_stats_daily` (day, status, priority) and
  `ticket_stats_by_assignee_day` (assignee, day, status, priority) dated requests and
  series, in O(days).

Exact: every measure is an integer (counts, microseconds, rating points), so sums never
drift, and averages are divided once, at read time. A ticket moving subtracts from its
old cell and adds to its new one, so a cell it empties stays as a row of zeros
(deleting it would cost a statement per move). A cell with no tickets is no cell:
readers skip it, `rebuild` (what bulk replay uses) leaves none, and `sav replay --check`
ignores it, so the rows with tickets are the same however the events were projected.

On an event that can move a ticket's figures, the handler reads the ticket's row (the
`tickets` handler ran just before, in the same transaction: `DEPENDS_ON` tells the
registry) joined with its stored contribution, and adds new minus old to each cell.
The contributions and the deltas wait in memory until the end of the projector's
batch (`Pending`), then go out as one executemany per table, in the batch's
transaction. The projector is the only writer, so plain statements suffice.
Customers' statistics are not kept here: `statistics` counts their few tickets directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Connection,
    Date,
    Index,
    Integer,
    String,
    Table,
    bindparam,
    cast,
    false,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects import mysql, sqlite

from sav.events.agent import Agent
from sav.events.macro import MACRO_EVENTS
from sav.events.privacy import Erasure
from sav.events.rules import is_first_response
from sav.events.sla import CONFIG_EVENTS
from sav.events.ticket import STATUS_AFTER, Ticket
from sav.events.webhook import Webhook
from sav.eventstore.schema import Identifier
from sav.projections import batch, sla_stats
from sav.projections.batch import execute_together
from sav.projections.schema import Handlers, ignored, naive_utc, read_metadata
from sav.projections.tickets import support_tickets

MEASURES = ("tickets", "responded", "response_us", "resolved", "resolution_us", "rated",
            "rating_points", "escalated")
Tally = dict[str, int]


def _cell(name: str, *keys: Column[Any], index: tuple[str, ...] = ()) -> Table:
    return Table(name, read_metadata, *keys,
                 *(Column(m, BigInteger, nullable=False) for m in MEASURES),
                 *([Index(f"ix_{name}_{'_'.join(index)}", *index)] if index else []),
                 mysql_engine="InnoDB")


def _key(name: str, type_: Any) -> Column[Any]:
    return Column(name, type_, primary_key=True)


contributions = Table(
    "ticket_stats_contributions",
    read_metadata,
    Column("ticket_id", Identifier(36), primary_key=True),
    Column("day", Date, nullable=False),
    Column("status", String(32), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("assignee", Identifier(64), nullable=False),
    Column("is_deleted", Boolean, nullable=False),
    Column("response_us", BigInteger),
    Column("resolution_us", BigInteger),
    Column("rating", Integer),
    Column("escalated", Boolean, nullable=False),
    mysql_engine="InnoDB",
)
totals = _cell("ticket_stats_totals", _key("status", String(32)), _key("priority", String(16)))
by_assignee = _cell("ticket_stats_by_assignee", _key("assignee", Identifier(64)),
                    _key("status", String(32)), _key("priority", String(16)))
daily = _cell("ticket_stats_daily", _key("day", Date), _key("status", String(32)),
              _key("priority", String(16)))
# The index covers the admin's dated workload query (open tickets per assignee).
by_assignee_day = _cell("ticket_stats_by_assignee_day", _key("assignee", Identifier(64)),
                        _key("day", Date), _key("status", String(32)),
                        _key("priority", String(16)),
                        index=("day", "status", "assignee", "tickets"))

Cell = tuple[Table, tuple[Any, ...]]


@dataclass(frozen=True)
class Contribution:
    day: date
    status: str
    priority: str
    assignee: str
    is_deleted: bool
    response_us: int | None
    resolution_us: int | None
    rating: int | None
    escalated: bool

    @classmethod
    def of_ticket(cls, row: Any) -> Contribution:
        return cls(
            day=row.created_at.date(), status=row.status, priority=row.priority,
            assignee=row.assigned_to or "", is_deleted=bool(row.is_deleted),
            response_us=_micros(row.created_at, row.first_response_at),
            resolution_us=_micros(row.created_at, row.resolved_at),
            rating=row.satisfaction_rating, escalated=row.escalated_at is not None,
        )

    def cells(self) -> dict[Cell, Tally]:
        if self.is_deleted:
            return {}
        measures = {
            "tickets": 1, "responded": int(self.response_us is not None),
            "response_us": self.response_us or 0,
            "resolved": int(self.resolution_us is not None),
            "resolution_us": self.resolution_us or 0,
            "rated": int(self.rating is not None), "rating_points": self.rating or 0,
            "escalated": int(self.escalated),
        }
        return {(totals, (self.status, self.priority)): measures,
                (by_assignee, (self.assignee, self.status, self.priority)): measures,
                (daily, (self.day, self.status, self.priority)): measures,
                (by_assignee_day, (self.assignee, self.day, self.status, self.priority)):
                    measures}


def _micros(start: datetime, end: datetime | None) -> int | None:
    return None if end is None else (end - start) // timedelta(microseconds=1)


# -- projector handlers -----------------------------------------------------------

t = support_tickets.c
_OLD = [c.label(f"old_{c.name}") for c in contributions.c if c.name != "ticket_id"]
_TICKET_AND_CONTRIBUTION = (
    select(t.created_at, t.status, t.priority, t.assigned_to, t.is_deleted,
           t.first_response_at, t.resolved_at, t.satisfaction_rating, t.escalated_at, *_OLD)
    .select_from(support_tickets.outerjoin(contributions, contributions.c.ticket_id == t.id))
    .where(t.id == bindparam("id"))
)


def _stored(row: Any) -> Contribution | None:
    if row.old_day is None:
        return None
    return Contribution(**{name: getattr(row, f"old_{name}")
                           for name in Contribution.__dataclass_fields__})


def on_created(conn: Connection, event: Ticket.Created, position: int) -> None:
    """The new row holds exactly the event's fields: no need to read it back."""
    created = naive_utc(event.timestamp)
    assert created is not None
    _store(conn, str(event.originator_id), None, Contribution(
        day=created.date(), status=STATUS_AFTER[Ticket.Created].value,
        priority=event.priority, assignee="", is_deleted=False, response_us=None,
        resolution_us=None, rating=None, escalated=False))


def on_changed(conn: Connection, event: Ticket.Event, position: int) -> None:
    ticket_id = str(event.originator_id)
    row = conn.execute(_TICKET_AND_CONTRIBUTION, {"id": ticket_id}).one()
    pending = _pending(conn)
    old = (pending.contributions[ticket_id][1] if pending and ticket_id in pending.contributions
           else _stored(row))
    new = Contribution.of_ticket(row)
    if new != old:
        _store(conn, ticket_id, old, new)


def on_updated(conn: Connection, event: Ticket.Updated, position: int) -> None:
    if "priority" in event.changes:
        on_changed(conn, event, position)


def on_message_posted(conn: Connection, event: Ticket.MessagePosted, position: int) -> None:
    if is_first_response(event.author_role, event.is_internal):
        on_changed(conn, event, position)


@dataclass
class Pending:
    """A projector batch's writes, done once at its end (`sav.projections.batch`): the
    contribution of each ticket touched (and whether the table already had a row for
    it) and the sum of the deltas per cell, so a batch costs one executemany per table
    instead of five statements per event."""

    contributions: dict[str, tuple[bool, Contribution]] = field(default_factory=dict)
    cells: dict[Cell, Tally] = field(default_factory=dict)

    def add(self, ticket_id: str, old: Contribution | None, new: Contribution) -> None:
        stored = self.contributions[ticket_id][0] if ticket_id in self.contributions else (
            old is not None)
        self.contributions[ticket_id] = (stored, new)
        for cell, delta in _difference(old, new).items():
            tally = self.cells.setdefault(cell, dict.fromkeys(MEASURES, 0))
            for name, value in delta.items():
                tally[name] += value

    def write(self, conn: Connection) -> None:
        inserts = [{"ticket_id": ticket_id, **_values(new)}
                   for ticket_id, (stored, new) in self.contributions.items() if not stored]
        updates = [{"key_ticket_id": ticket_id, **_values(new)}
                   for ticket_id, (stored, new) in self.contributions.items() if stored]
        changes: dict[str, list[dict[str, Any]]] = {}
        for (table, key), delta in self.cells.items():
            if any(delta.values()):  # a batch's moves may cancel out
                changes.setdefault(table.name, []).append(
                    dict(zip(_CELL_KEYS[table.name], key, strict=True)) | delta)
        dialect = "sqlite" if conn.dialect.name == "sqlite" else "mysql"
        # One round trip on MariaDB for a command's own few rows (issue 21).
        execute_together(conn, [(_INSERT_CONTRIBUTION, inserts),
                                (_UPDATE_CONTRIBUTION, updates),
                                *((_UPSERT[name][dialect], rows)
                                  for name, rows in changes.items())])


def _pending(conn: Connection) -> Pending | None:
    opened = batch.current(conn)
    return None if opened is None else opened.state(
        "ticket_stats", Pending, lambda conn, pending: pending.write(conn))


def _store(conn: Connection, ticket_id: str, old: Contribution | None,
           new: Contribution) -> None:
    pending = _pending(conn)
    if pending is not None:
        pending.add(ticket_id, old, new)
        return
    alone = Pending()  # outside a projector's batch: written at once
    alone.add(ticket_id, old, new)
    alone.write(conn)


def _difference(old: Contribution | None, new: Contribution) -> dict[Cell, Tally]:
    deltas: dict[Cell, Tally] = {}
    for sign, contribution in ((-1, old), (1, new)):
        for cell, measures in (contribution.cells() if contribution else {}).items():
            delta = deltas.setdefault(cell, dict.fromkeys(measures, 0))
            for name, value in measures.items():
                delta[name] += sign * value
    return {cell: delta for cell, delta in deltas.items() if any(delta.values())}


def _upserts(table: Table) -> dict[str, Any]:
    """Add the given measures to a cell, creating it first if need be. Built once:
    building SQLAlchemy statements per event made the projector ten times slower."""
    measures = [c for c in table.c if not c.primary_key]
    lite, my = sqlite.insert(table), mysql.insert(table)
    return {
        "sqlite": lite.on_conflict_do_update(
            index_elements=list(table.primary_key),
            set_={c.name: c + lite.excluded[c.name] for c in measures}),
        "mysql": my.on_duplicate_key_update({c.name: c + my.inserted[c.name]
                                             for c in measures}),
    }


CELL_TABLES = (totals, by_assignee, daily, by_assignee_day)
_CELL_KEYS = {table.name: tuple(c.name for c in table.primary_key) for table in CELL_TABLES}
_FIELDS = tuple(Contribution.__dataclass_fields__)


def _values(contribution: Contribution) -> dict[str, Any]:
    """The contribution's columns (`asdict` without its deep copies: plain values)."""
    return {name: getattr(contribution, name) for name in _FIELDS}


_UPSERT = {table.name: _upserts(table) for table in CELL_TABLES}
_INSERT_CONTRIBUTION = contributions.insert()
_UPDATE_CONTRIBUTION = contributions.update().where(
    contributions.c.ticket_id == bindparam("key_ticket_id"))


HANDLERS: Handlers = {
    Ticket.Created: on_created,
    Ticket.Updated: on_updated,
    Ticket.Assigned: on_changed,
    Ticket.Started: on_changed,
    Ticket.MarkedWaitingOnCustomer: on_changed,
    Ticket.Resolved: on_changed,
    Ticket.Reopened: on_changed,
    Ticket.Closed: on_changed,
    Ticket.Deleted: on_changed,
    Ticket.Unassigned: on_changed,
    Ticket.Restored: on_changed,
    Ticket.MessagePosted: on_message_posted,
    Ticket.SatisfactionRated: on_changed,
    Ticket.Escalated: on_changed,
    # Customers' figures are counted from support_tickets, so the owner does not matter.
    **ignored(Ticket.LinkedToUser, Ticket.MessageEdited, Ticket.MessageRemoved,
              Ticket.MessagesRead, Ticket.AttachmentAdded, Ticket.AttachmentRemoved,
              Ticket.SurveyRequested, Agent.Registered, Agent.Changed,
              Erasure.SubjectErased,  # an erasure leaves ids, statuses and counts
              Webhook.Created, Webhook.Updated, Webhook.Paused,
              Webhook.Resumed, Webhook.Disabled, Webhook.Deleted,
              *sla_stats.IGNORED, *CONFIG_EVENTS,
              *MACRO_EVENTS, Ticket.MacroApplied,  # uses: sav.projections.macro_uses
              Ticket.Linked, Ticket.Unlinked, Ticket.Merged),  # its Closed counts
    **sla_stats.HANDLERS,  # met and breached service levels (sav.projections.sla_stats)
}
# The handlers read the ticket's row as the `tickets` handler just left it.
DEPENDS_ON = ("tickets",)


# -- SQL shared with the statistics recount --------------------------------------


def micros_between(dialect: str, start: Any, end: Any) -> ColumnElement[Any]:
    """Exact integer microseconds from `start` to `end` (NULL when either is NULL)."""
    if dialect != "sqlite":
        return func.timestampdiff(literal_column("MICROSECOND"), start, end)
    # SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff'; julianday() is a double (about 40 µs
    # apart at today's dates), so whole seconds and the fraction are taken apart.
    def seconds(at: Any) -> Any:
        return cast(func.strftime("%s", func.substr(at, 1, 19)), BigInteger)

    def fraction(at: Any) -> Any:
        return cast(func.substr(at, 21, 6), BigInteger)

    return (seconds(end) - seconds(start)) * 1_000_000 + fraction(end) - fraction(start)


# -- rebuild ------------------------------------------------------------------------


def rebuild(conn: Connection) -> None:
    """Recompute every statistics table from `support_tickets` in a few set-based
    statements: what the handlers maintain one event at a time (for bulk replay)."""
    for table in (*CELL_TABLES, contributions):
        conn.execute(table.delete())
    micros = micros_between(conn.dialect.name, t.created_at, t.first_response_at)
    resolution = micros_between(conn.dialect.name, t.created_at, t.resolved_at)
    conn.execute(contributions.insert().from_select(
        [c.name for c in contributions.c],
        select(t.id, func.date(t.created_at), t.status, t.priority,
               func.coalesce(t.assigned_to, ""), t.is_deleted, micros, resolution,
               t.satisfaction_rating, t.escalated_at.is_not(None))))
    c = contributions.c
    live = c.is_deleted == false()
    measures = [func.count(), func.count(c.response_us), func.coalesce(func.sum(c.response_us), 0),
                func.count(c.resolution_us), func.coalesce(func.sum(c.resolution_us), 0),
                func.count(c.rating), func.coalesce(func.sum(c.rating), 0),
                func.sum(cast(c.escalated, Integer))]
    for table in CELL_TABLES:
        keys = [c[column.name] for column in table.primary_key]
        conn.execute(table.insert().from_select(
            [col.name for col in table.c], select(*keys, *measures).where(live).group_by(*keys)))
    sla_stats.rebuild(conn)

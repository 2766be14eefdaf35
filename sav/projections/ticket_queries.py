"""Queries on the `support_tickets` read model: visibility, lookup, lists, search, JSON."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy import and_, bindparam, false, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from sav.commands.actor import Actor
from sav.commands.policy import AGENT_POOL_EXCLUDES
from sav.events.errors import RuleViolationError
from sav.events.fields import Seen, Store, TicketField, seen_by
from sav.events.rules import Priority, Status
from sav.projections.cursors import keyset_page, keyset_union_page
from sav.projections.schema import iso
from sav.projections.search import searched
from sav.projections.sla_queries import sla_due_page, sla_filter
from sav.projections.tickets import support_tickets

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}(-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}$")


def visible_to(actor: Actor, deleted: bool = False) -> ColumnElement[bool]:
    """SQL form of `sav.commands.policy.can_see`, plus soft-delete (`deleted`: only the
    soft-deleted ones instead)."""
    t = support_tickets.c
    alive = t.is_deleted == (sa.true() if deleted else false())
    if actor.sees_every_ticket:
        return alive
    if actor.role == "agent":
        return and_(alive, or_(*queue_halves(actor)))
    if actor.user_id is None:
        return and_(alive, false())
    return and_(alive, t.user_id == actor.user_id)


def queue_halves(actor: Actor) -> list[ColumnElement[bool]]:
    """An agent's queue, in two disjoint halves: their tickets and the unassigned pool."""
    t = support_tickets.c
    return [t.assigned_to == actor.user_id,
            and_(t.assigned_to.is_(None), t.status.notin_(AGENT_POOL_EXCLUDES))]


# Hot-path statements built once: SQLAlchemy then reuses their cache key and SQL.
_LIVE = support_tickets.c.is_deleted == false()
_BY_ID = select(support_tickets).where(support_tickets.c.id == bindparam("ref"), _LIVE)
_BY_NUMBER = select(support_tickets).where(
    support_tickets.c.ticket_number == bindparam("ref"), _LIVE)


_ANY_BY_ID = select(support_tickets).where(support_tickets.c.id == bindparam("ref"))
_ANY_BY_NUMBER = select(support_tickets).where(
    support_tickets.c.ticket_number == bindparam("ref"))


async def find_ticket(conn: AsyncConnection, id_or_number: str,
                      include_deleted: bool = False) -> Any:
    """A live ticket row by UUID or ticket number (soft-deleted ones too with
    `include_deleted`), or None."""
    if UUID_RE.match(id_or_number):
        by_id = _ANY_BY_ID if include_deleted else _BY_ID
        result = await conn.execute(by_id, {"ref": str(UUID(id_or_number))})
    else:
        by_number = _ANY_BY_NUMBER if include_deleted else _BY_NUMBER
        result = await conn.execute(by_number, {"ref": id_or_number})
    return result.first()


def _split(value: str | None, allowed: set[str], name: str) -> list[str] | None:
    if not value:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise RuleViolationError(f"unknown {name}: {', '.join(bad)}", {"field": name})
    return items


def has_tag(dialect: str, tag: str) -> ColumnElement[bool]:
    """The ticket's `tags` (a JSON array) holds `tag`, exactly."""
    if dialect == "sqlite":
        return sa.exists(select(sa.literal_column("1")).select_from(
            sa.func.json_each(support_tickets.c.tags).table_valued("value").alias("tag")
        ).where(sa.literal_column("tag.value") == tag))
    return sa.func.json_contains(support_tickets.c.tags, sa.func.json_quote(tag)) == 1


async def list_tickets(
    conn: AsyncConnection, actor: Actor, filters: dict[str, str | None], limit: int,
    cursor: str | None, *, tags: tuple[str, ...] = (), created_after: datetime | None = None,
    created_before: datetime | None = None, deleted: bool = False,
    sla: str | None = None, sort: str | None = None, now: datetime | None = None,
) -> tuple[list[Any], str | None]:
    """A page of the tickets the caller may see; `tags` must all be on a ticket;
    `created_after`/`created_before` are exclusive bounds (naive UTC)."""
    t = support_tickets.c
    query = select(support_tickets).where(visible_to(actor, deleted))
    statuses = _split(filters.get("status"), set(Status), "status")
    priorities = _split(filters.get("priority"), set(Priority), "priority")
    if statuses:
        query = query.where(t.status.in_(statuses))
    if priorities:
        query = query.where(t.priority.in_(priorities))
    if filters.get("assigned_to"):
        assignee = filters["assigned_to"]
        query = query.where(t.assigned_to.is_(None) if assignee == "none" else
                            t.assigned_to == assignee)
    for tag in tags:
        query = query.where(has_tag(conn.dialect.name, tag))
    if created_after is not None:
        query = query.where(t.created_at > created_after)
    if created_before is not None:
        query = query.where(t.created_at < created_before)
    if filters.get("category"):
        query = query.where(t.category == filters["category"])
    if filters.get("user_id") and actor.sees_internal:
        query = query.where(t.user_id == filters["user_id"])
    if sla is not None:  # service levels (staff): sav.projections.sla_queries
        query = query.where(sla_filter(sla, now or datetime.now(UTC)))
    key: ColumnElement[Any] = t.seq
    if filters.get("q"):  # newest matches first, a page at a time (sav.projections.search)
        query, key = await searched(conn, query, filters["q"] or "", _owner(actor, filters))
    if sort == "sla_due":
        return await sla_due_page(conn, query, limit, cursor)
    if actor.role == "agent" and key is t.seq:
        # Each half read through its own (assigned_to, seq) index and merged: the OR as
        # one condition makes MariaDB read and sort the agent's every ticket.
        return await keyset_union_page(conn, [query.where(half) for half in queue_halves(
            actor)], key, limit, cursor, descending=True)
    return await keyset_page(conn, query, key, limit, cursor, descending=True)


def _owner(actor: Actor, filters: dict[str, str | None]) -> str | None:
    """The one customer whose tickets a list is narrowed to: the caller, a customer, or
    the `user_id` filter staff gave."""
    if not actor.sees_every_ticket and actor.role != "agent":
        return actor.user_id
    return filters.get("user_id") if actor.sees_internal else None


def _shown(f: TicketField, value: Any) -> Any:
    if f.store == Store.TIME:
        return iso(value)
    if f.store == Store.JSON:
        return value or f.empty
    if f.store == Store.BOOL:
        return bool(value)
    return value


_VIEWS = {staff: seen_by(Seen.STAFF if staff else Seen.CUSTOMER) for staff in (True, False)}


def ticket_json(row: Any, actor: Actor | None) -> dict[str, Any]:
    """API shape of a ticket row: the declared fields the caller's side sees (internal
    notes only for staff and analysts); an erased subject's personal fields empty."""
    fields = _VIEWS[actor is not None and actor.sees_internal]
    data = {f.name: _shown(f, getattr(row, f.name)) for f in fields}
    if data["erased"]:  # issue 12: the subject's personal fields are gone
        data.update({f.name: f.empty for f in fields if f.personal})
    return data


# What an access-token holder sees, its times last (the shape it always had).
PUBLIC_VIEW = tuple(sorted(seen_by(Seen.PUBLIC), key=lambda f: f.store == Store.TIME))


def public_ticket_json(row: Any) -> dict[str, Any]:
    """The public (access-token) shape of a ticket row, as stored; an erased subject's
    personal fields empty, as in every other view."""
    data = {f.name: _shown(f, getattr(row, f.name)) for f in PUBLIC_VIEW}
    if data["erased"]:
        data.update({f.name: f.empty for f in PUBLIC_VIEW if f.personal})
    return data

"""Queries on the `support_tickets` read model: visibility, lookup, lists, search, JSON."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from sqlalchemy import and_, bindparam, false, or_, select, text, true
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from sav.commands.actor import Actor
from sav.commands.policy import AGENT_POOL_EXCLUDES
from sav.events.errors import RuleViolationError
from sav.events.fields import Seen, Store, TicketField, seen_by
from sav.events.rules import Priority, Status
from sav.projections.cursors import keyset_page
from sav.projections.schema import iso
from sav.projections.tickets import support_tickets

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}(-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}$")


def visible_to(actor: Actor) -> ColumnElement[bool]:
    """SQL form of `sav.commands.policy.can_see`, plus soft-delete."""
    t = support_tickets.c
    alive = t.is_deleted == false()
    if actor.sees_every_ticket:
        return alive
    if actor.role == "agent":
        pool = and_(t.assigned_to.is_(None), t.status.notin_(AGENT_POOL_EXCLUDES))
        return and_(alive, or_(t.assigned_to == actor.user_id, pool))
    if actor.user_id is None:
        return and_(alive, false())
    return and_(alive, t.user_id == actor.user_id)


# Hot-path statements built once: SQLAlchemy then reuses their cache key and SQL.
_LIVE = support_tickets.c.is_deleted == false()
_BY_ID = select(support_tickets).where(support_tickets.c.id == bindparam("ref"), _LIVE)
_BY_NUMBER = select(support_tickets).where(
    support_tickets.c.ticket_number == bindparam("ref"), _LIVE)


async def find_ticket(conn: AsyncConnection, id_or_number: str) -> Any:
    """A live ticket row by UUID or ticket number, or None."""
    if UUID_RE.match(id_or_number):
        result = await conn.execute(_BY_ID, {"ref": str(UUID(id_or_number))})
    else:
        result = await conn.execute(_BY_NUMBER, {"ref": id_or_number})
    return result.first()


def _split(value: str | None, allowed: set[str], name: str) -> list[str] | None:
    if not value:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise RuleViolationError(f"unknown {name}: {', '.join(bad)}", {"field": name})
    return items


# InnoDB does not index words shorter than innodb_ft_min_token_size (3 by default).
MIN_INDEXED_WORD = 3


def fulltext_clause(dialect: str, q: str) -> ColumnElement[bool]:
    """Every word of `q` must match, by the same rule on both profiles: words of 3+
    characters as word prefixes through the full-text index (FTS5 / InnoDB FULLTEXT),
    shorter ones as substrings of the subject or description."""
    words = re.findall(r"\w+", q)
    t = support_tickets.c
    clauses: list[ColumnElement[bool]] = [
        or_(t.subject.contains(w, autoescape=True), t.description.contains(w, autoescape=True))
        for w in words if len(w) < MIN_INDEXED_WORD
    ]
    indexed = [w for w in words if len(w) >= MIN_INDEXED_WORD]
    if indexed and dialect == "sqlite":
        match = " ".join('"' + w.replace('"', '""') + '"*' for w in indexed)
        clauses.append(t.id.in_(
            select(text("ticket_id")).select_from(text("support_tickets_fts")).where(
                text("support_tickets_fts MATCH :fts_q").bindparams(fts_q=match))))
    elif indexed:
        boolean = " ".join(f"+{w}*" for w in indexed)
        against = text("MATCH (support_tickets.subject, support_tickets.description) "
                       "AGAINST (:ft_q IN BOOLEAN MODE)").bindparams(ft_q=boolean)
        clauses.append(against)  # type: ignore[arg-type]
    return and_(*clauses) if clauses else true()


async def list_tickets(
    conn: AsyncConnection, actor: Actor, filters: dict[str, str | None], limit: int,
    cursor: str | None,
) -> tuple[list[Any], str | None]:
    t = support_tickets.c
    query = select(support_tickets).where(visible_to(actor))
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
    if filters.get("category"):
        query = query.where(t.category == filters["category"])
    if filters.get("user_id") and actor.sees_internal:
        query = query.where(t.user_id == filters["user_id"])
    if filters.get("q"):
        query = query.where(fulltext_clause(conn.dialect.name, filters["q"] or ""))
    return await keyset_page(conn, query, t.seq, limit, cursor, descending=True)


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

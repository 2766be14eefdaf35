"""The write path's shortcuts (issue 21), on both profiles, and why they stay true: the
SLA configuration kept between commands (read again when another process changed it),
the subject's data key (forgotten when the subject is erased), pooled MySQL connections
pinged only after sitting idle (a dead one is still replaced), and a flush's statements
sent together (written as one by one, failing like one), and the answer to a create
made from the command's own events (what a read then shows)."""

from __future__ import annotations

from uuid import UUID

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    bindparam,
    create_engine,
    select,
    text,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool

from sav.bootstrap import Services, bootstrap
from sav.commands import tickets as commands
from sav.commands.actor import Actor
from sav.config import Settings
from sav.eventstore.db import engine_for, ping_when_idle
from sav.eventstore.recorder import SqlApplicationRecorder
from sav.privacy.erasure import EraseSubject, erase_subject
from sav.privacy.keys import privacy_streams
from sav.projections.batch import execute_together
from sav.projections.runner import InlineProjection
from sav.projections.tickets import support_tickets
from sav.sla.commands import PolicyBody, delete_policy, put_policy
from tests.support.http import ADMIN as HTTP_ADMIN
from tests.support.http import AGENT as HTTP_AGENT
from tests.support.http import CUSTOMER as HTTP_CUSTOMER
from tests.support.http import Client

CUSTOMER = Actor("cache-customer", "customer", "cache@example.com")
ADMIN = Actor("cache-admin", "admin")


def create(services: Services, subject: str = "Where is my parcel") -> UUID:
    return commands.create_ticket(services.app, CUSTOMER, commands.CreateTicket(
        subject=subject, description="It never arrived.", priority="high")).ticket_id


def policy_of(services: Services, ticket_id: UUID) -> str | None:
    state = getattr(services.app.get_ticket(ticket_id), "sla_state", None) or {}
    return state.get("policy")


def test_a_policy_changed_by_another_process_applies_to_the_next_create(
        settings: Settings) -> None:
    """Two applications on one store, each with its own cache: what one puts or deletes,
    the other's very next create is matched with."""
    writer, other = bootstrap(settings), bootstrap(settings)
    try:
        assert policy_of(writer, create(writer)) is None  # cached: no policies
        put_policy(other.app, ADMIN, "urgent", PolicyBody(
            priority=["high"], first_response_minutes=30, resolution_minutes=600))
        assert policy_of(writer, create(writer)) == "urgent"
        put_policy(other.app, ADMIN, "first", PolicyBody(
            position=-1, first_response_minutes=5, resolution_minutes=60))
        assert policy_of(writer, create(writer)) == "first"
        delete_policy(other.app, ADMIN, "first")
        delete_policy(other.app, ADMIN, "urgent")
        assert policy_of(writer, create(writer)) is None
    finally:
        other.close()
        writer.close()


def test_a_ticket_opened_after_its_subject_was_erased_gets_a_new_key(
        settings: Settings) -> None:
    """The subject's key is kept between creates; erasing the subject forgets it, so the
    next ticket is sealed with a new key and reads back whole."""
    services = bootstrap(settings)
    try:
        before = [create(services, f"Ticket {n}") for n in range(3)]  # the key is cached
        erased = erase_subject(services.app, ADMIN, EraseSubject(user_id=CUSTOMER.user_id))
        assert {str(ticket_id) for ticket_id in before} <= set(erased.ticket_ids)
        after = create(services, "After the erasure")
        reader = bootstrap(settings)  # no cached aggregate: decoded from the store
        try:
            assert reader.app.get_ticket(after).subject == "After the erasure"
            assert reader.app.get_ticket(before[0]).subject != "Ticket 0"
        finally:
            reader.close()
    finally:
        services.close()


def test_a_connection_killed_while_idle_is_replaced(settings: Settings) -> None:
    """MySQL only: a pooled connection the server dropped fails its ping and is replaced
    without an error; without the ping (idle for less than the bound) the same use fails."""
    if not settings.is_mysql:
        pytest.skip("SQLite connections do not go stale")

    engine_for(settings.database_url)  # creates the database

    def killed_then_used(idle_seconds: float) -> int:
        engine = ping_when_idle(create_engine(settings.database_url, pool_size=1,
                                              max_overflow=0), idle_seconds)
        try:
            with engine.connect() as conn:
                victim = conn.execute(text("SELECT CONNECTION_ID()")).scalar_one()
            with create_engine(settings.database_url, poolclass=NullPool).connect() as killer:
                killer.execute(text(f"KILL CONNECTION {int(victim)}"))
            with engine.connect() as conn:
                return int(conn.execute(text("SELECT CONNECTION_ID()")).scalar_one())
        finally:
            engine.dispose()

    assert killed_then_used(0.0) > 0  # pinged (idle "long enough"), replaced
    with pytest.raises(sa_exc.OperationalError):
        killed_then_used(3600.0)  # not pinged: the dead connection fails its statement


def test_statements_sent_together_write_all_and_fail_like_one(settings: Settings) -> None:
    """A flush's statements in one round trip (MariaDB) write what they write one by
    one, and an error in any of them is SQLAlchemy's IntegrityError, as from `execute`."""
    engine = engine_for(settings.database_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE together_test (id INTEGER PRIMARY KEY, n INTEGER)"))
    try:
        table = Table("together_test", MetaData(), Column("id", Integer, primary_key=True),
                      Column("n", Integer))
        bump = table.update().where(table.c.id == bindparam("key")).values(
            n=table.c.n + bindparam("by"))
        with engine.begin() as conn:
            execute_together(conn, [(table.insert(), [{"id": 1, "n": 1}, {"id": 2, "n": 5}]),
                                    (bump, [{"key": 1, "by": 10}]),
                                    (table.delete(), [])])
            assert conn.execute(select(table.c.n).order_by(table.c.id)).scalars().all() == [
                11, 5]
        with pytest.raises(sa_exc.IntegrityError), engine.begin() as conn:
            execute_together(conn, [(bump, [{"key": 2, "by": 1}]),
                                    (table.insert(), [{"id": 1, "n": 0}]),
                                    (bump, [{"key": 1, "by": 1}])])
        with engine.connect() as conn:  # all rolled back
            assert conn.execute(select(table.c.n).order_by(table.c.id)).scalars().all() == [
                11, 5]
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE together_test"))


async def test_a_create_answers_the_ticket_a_read_then_shows(client: Client) -> None:
    """`POST /tickets` answers from the command's own events (no read of the ticket):
    the same body and version ETag as `GET /tickets/{id}` right after, for each side, with the
    fields only staff set, a matched service level and the request's language."""
    response = await client.put("/sla/policies/urgent", as_=HTTP_ADMIN, json={
        "priority": ["high"], "first_response_minutes": 30, "resolution_minutes": 600})
    assert response.status == 201, response.json
    cases = [
        (HTTP_CUSTOMER, {}),
        (HTTP_CUSTOMER, {"priority": "high", "category": "billing", "contact_name": "Ann",
                         "metadata": {"order": {"lines": [1, 2]}, "_type_": "kept"}}),
        (HTTP_AGENT, {"priority": "high", "user_id": "cust-1", "tags": ["vip", "phone"],
                      "source": "phone", "contact_email": "ann@example.com"}),
        (HTTP_ADMIN, {"priority": "low", "contact_email": "bob@example.com"}),
    ]
    for who, fields in cases:
        created = await client.post("/tickets", as_=who, headers={"Accept-Language": "fr"},
                                    json={"subject": "Parcel", "description": "Lost.",
                                          **fields})
        assert created.status == 201, created.json
        read = await client.get(f"/tickets/{created.json['id']}", as_=who)
        assert read.status == 200, read.json
        shown = {k: v for k, v in read.json.items() if k != "viewers"}  # staff reads only
        assert created.json == shown, fields
        # GET's ETag adds a digest of the body after the version (`If-Match` reads it).
        assert created.headers["etag"].strip('"') == read.headers["etag"].strip('"').split(
            "-")[0]


def test_a_failed_inline_projection_keeps_the_commands_own_rows(settings: Settings) -> None:
    """The inline projection's savepoint is opened after the append's own rows (events,
    the new ticket's data-key row, sent in one round trip): rolling back to it keeps
    them, so the ticket is still found by its subject's erasure."""
    services = bootstrap(settings)
    try:
        recorder = services.app.recorder
        assert isinstance(recorder, SqlApplicationRecorder)
        recorder.project_inline(InlineProjection(services.app.mapper))
        create(services)  # projected, and the subject's key is known from now on
        with services.engine.begin() as conn:
            conn.execute(text("DROP TABLE ticket_stats_totals"))  # the projection fails
        failed = create(services, "Not projected")
        with services.engine.connect() as conn:
            assert conn.execute(select(privacy_streams.c.key_id).where(
                privacy_streams.c.stream_id == str(failed))).all()
            assert not conn.execute(select(support_tickets.c.id).where(
                support_tickets.c.id == str(failed))).all()
        erased = erase_subject(services.app, ADMIN, EraseSubject(user_id=CUSTOMER.user_id))
        assert str(failed) in erased.ticket_ids
    finally:
        services.close()

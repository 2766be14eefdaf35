"""Schema migrations on both profiles: a database made by the code of commit 45faf28
(the committed fixture: its DDL and the rows its API wrote) is refused until
`sav db upgrade`, then upgraded to head and served; an empty database starts at head;
the revisions alone build exactly the tables the code defines."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.command import upgrade
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from sav.api.app import create_app
from sav.bootstrap import bootstrap
from sav.cli.main import main
from sav.cli.ops import cmd_db_current, cmd_db_upgrade
from sav.config import Settings
from sav.eventstore.db import build_engine, engine_for
from sav.migrations import (
    BASELINE,
    SchemaOutdatedError,
    _config,
    current_revision,
    head_revision,
    include_object,
    target_metadata,
)
from sav.projections.tickets import FTS_PREFIXES
from sav.workers.inprocess import start_projector
from tests.support.http import ADMIN, AGENT, CUSTOMER, Client

FIXTURES = Path(__file__).parents[1] / "fixtures"


def load_baseline(settings: Settings) -> None:
    """Create the database exactly as the code of commit 45faf28 left it."""
    dump = (FIXTURES / f"schema-{BASELINE}-{'mysql' if settings.is_mysql else 'sqlite'}.sql")
    if not settings.is_mysql:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(settings.data_dir / "sav.sqlite3")
        db.executescript(dump.read_text())
        db.close()
        return
    engine = build_engine(settings.database_url)  # creates the empty database
    statement: list[str] = []
    with engine.begin() as conn:
        for line in dump.read_text().splitlines():
            if line.startswith("--") or not line.strip():
                continue
            statement.append(line)
            if line.endswith(";"):
                conn.exec_driver_sql("\n".join(statement))
                statement = []
    engine.dispose()


def differences(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": include_object, "compare_type": True})
        return list(compare_metadata(context, target_metadata()))


def assert_full_text_prefixes(engine: Engine) -> None:
    """SQLite's full-text table has its prefix index (migration 0019, or made at head)."""
    if engine.dialect.name != "sqlite":
        return  # MariaDB searches its own rows (support_ticket_words)
    with engine.connect() as conn:
        ddl = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE name = 'support_tickets_fts'").scalar()
    assert f"prefix='{FTS_PREFIXES}'" in str(ddl)


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


async def test_a_baseline_database_is_refused_then_upgraded_and_its_data_served(
        settings: Settings) -> None:
    load_baseline(settings)
    engine = engine_for(settings.database_url)
    before = tables(engine)

    with pytest.raises(SchemaOutdatedError, match=r"run `sav db upgrade`") as refused:
        bootstrap(settings)
    assert f"unversioned (baseline {BASELINE})" in str(refused.value)
    assert tables(engine) == before  # the refusal created nothing

    assert cmd_db_current(settings, argparse.Namespace()) == 1
    assert cmd_db_upgrade(settings, argparse.Namespace()) == 0
    engine = engine_for(settings.database_url)
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
    assert differences(engine) == []
    assert cmd_db_current(settings, argparse.Namespace()) == 0
    assert_full_text_prefixes(engine)

    services = bootstrap(settings)
    start_projector(services)
    try:
        client = Client(create_app(settings, services))
        listed = await client.get("/tickets", as_=CUSTOMER)
        assert listed.status == 200, listed
        by_subject = {t["subject"]: t for t in listed.json["data"]}
        assert set(by_subject) == {"Printer on fire", "Invoice missing"}
        printer = by_subject["Printer on fire"]
        assert (printer["status"], printer["priority"], printer["tags"]) == (
            "in_progress", "high", ["printer"])
        detail = await client.get(f"/tickets/{printer['id']}", as_=CUSTOMER)
        assert [m["content"] for m in detail.json["messages"]] == ["We are on it"]
        found = await client.get("/tickets?q=printer", as_=AGENT)  # the full-text index
        assert [t["id"] for t in found.json["data"]] == [printer["id"]]
        agents = await client.get("/agents", as_=ADMIN)
        assert [a["agent_id"] for a in agents.json["data"]] == ["agent-1"]

        # Writing goes on from the old rows: events append after them, numbers go on.
        created = await client.post("/tickets", as_=CUSTOMER, json={
            "subject": "After the upgrade", "description": "Still works",
            "priority": "normal"})
        assert created.status == 201, created
        numbers = {t["ticket_number"] for t in by_subject.values()}
        assert created.json["ticket_number"] not in numbers
        reply = await client.post(f"/tickets/{printer['id']}/messages", as_=CUSTOMER,
                                  json={"content": "Thanks"})
        assert reply.status == 201, reply
    finally:
        await services.aclose()


def cli_env(settings: Settings) -> dict[str, str]:
    return {"SAV_DATA_DIR": str(settings.data_dir), "DB_CONNECTION": settings.db_connection,
            "DB_HOST": settings.db_host, "DB_PORT": str(settings.db_port),
            "DB_DATABASE": settings.db_database, "DB_USERNAME": settings.db_username,
            "DB_PASSWORD": settings.db_password,
            "SAV_MASTER_KEY": settings.privacy_master_key()}


def test_every_command_refuses_an_old_schema_with_the_fix_in_its_message(
        settings: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    load_baseline(settings)
    for name, value in cli_env(settings).items():
        monkeypatch.setenv(name, value)
    assert main(["jobs", "run", "metrics"]) == 3
    assert "run `sav db upgrade`" in capsys.readouterr().err
    assert main(["db", "upgrade"]) == 0
    assert main(["jobs", "run", "metrics"]) == 0


def test_a_database_migrated_by_a_newer_version_still_runs(settings: Settings) -> None:
    """Revisions only add: after a rollback the previous version runs on the newer schema."""
    bootstrap(settings).close()
    engine = engine_for(settings.database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    bootstrap(settings).close()
    assert cmd_db_current(settings, argparse.Namespace()) == 0
    assert cmd_db_upgrade(settings, argparse.Namespace()) == 0  # nothing to do


def test_an_empty_database_starts_at_head(settings: Settings) -> None:
    services = bootstrap(settings)
    try:
        with services.engine.connect() as conn:
            assert current_revision(conn) == head_revision()
        assert differences(services.engine) == []
        assert_full_text_prefixes(services.engine)
    finally:
        services.close()
    assert cmd_db_upgrade(settings, argparse.Namespace()) == 0  # already at head


def test_the_revisions_alone_build_the_tables_the_code_defines(settings: Settings) -> None:
    """From nothing, through the baseline and every revision (not create_all)."""
    engine = build_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            upgrade(_config(conn), "head")
        assert "support_tickets" in tables(engine)
        assert differences(engine) == []
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM support_tickets")).scalar() == 0
    finally:
        engine.dispose()

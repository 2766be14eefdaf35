"""Schema migrations (Alembic): the database's revision must be this code's head.

- An empty database gets the schema at head (`create_all` + stamp head) from any `sav`
  command, so the embedded default and a restore into a fresh database need no step.
- A database at an older revision, or an unversioned one made by the code before
  migrations existed (commit 45faf28, treated as the baseline revision), makes every
  command but `sav db upgrade` refuse to start: `SchemaOutdatedError` names the command.
- `sav db upgrade` stamps an unversioned baseline database, then runs the revisions
  in `sav/migrations/versions/` (SQLite alters in batch mode, i.e. by table copy).

Every revision after the baseline is the difference between the previous schema and the
table definitions in code; a test upgrades the baseline fixture and compares the result
with the metadata (Alembic's autogenerate comparison), so a column added without its
revision fails the suite.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Any

from alembic.command import stamp, upgrade
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, inspect

from sav.eventstore.db import schema_lock
from sav.eventstore.galera import LOCK_TABLE  # Galera's cluster-wide locks (not versioned)

log = logging.getLogger("sav.migrations")

BASELINE = "45faf28"
VERSION_TABLE = "alembic_version"
# Tables every database made by the baseline code has (an unversioned database with
# these is taken for the baseline; one without them is not ours).
BASELINE_TABLES = frozenset({
    "stored_events", "snapshots", "event_sequence", "projection_tracking", "worker_leases",
    "idempotency_keys", "support_tickets", "ticket_messages", "ticket_attachments"})
# Objects made outside the metadata (registry.schema_hooks): FTS5's table and its
# shadow tables on SQLite, the FULLTEXT index on MySQL.
EXTRA_TABLE_PREFIX = "support_tickets_fts"
EXTRA_INDEXES = frozenset({"ft_tickets"})
# The privacy key tables (sav/privacy/keys.py) may live in a database of their own
# (SAV_KEYS_DB_*): their module creates them; they are not versioned here.
KEYS_TABLE_PREFIX = "privacy_"


def is_versioned(table: str) -> bool:
    return not table.startswith((EXTRA_TABLE_PREFIX, KEYS_TABLE_PREFIX, VERSION_TABLE,
                                 LOCK_TABLE))


class SchemaError(RuntimeError):
    """The database's schema is not the one this version of SAV runs on."""


class SchemaOutdatedError(SchemaError):
    """The database is at an older revision: `sav db upgrade` brings it to head."""


def target_metadata() -> list[MetaData]:
    from sav.api import tables  # noqa: F401  (idempotency_keys, rate_limit_windows)
    from sav.commands import numbers  # noqa: F401  (ticket_number_counters)
    from sav.eventstore.schema import metadata
    from sav.projections import registry  # noqa: F401  (imports every read table)
    from sav.projections.schema import read_metadata
    from sav.webhooks import (
        deliveries,  # noqa: F401  (webhook_positions, _deliveries)
        subscriptions,  # noqa: F401  (webhook_subscriptions)
    )
    from sav.workers import lease  # noqa: F401  (worker_leases)
    from sav.workers.scheduler import scheduler_metadata

    return [metadata, read_metadata, scheduler_metadata]


def include_object(obj: Any, name: str | None, type_: str, reflected: bool,
                   compare_to: Any) -> bool:
    if type_ == "table" and name and not is_versioned(name):
        return False
    if type_ == "index" and getattr(getattr(obj, "table", None), "name", "").startswith(
            KEYS_TABLE_PREFIX):
        return False
    return not (type_ == "index" and name in EXTRA_INDEXES)


@cache
def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    head = script_directory().get_current_head()
    assert head is not None
    return head


def _config(conn: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def is_known(revision: str) -> bool:
    return revision in {script.revision for script in script_directory().walk_revisions()}


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _state(conn: Connection) -> tuple[bool, str | None]:
    """(whether the database has SAV tables, its revision or None when unversioned)."""
    tables = {name for name in inspect(conn).get_table_names() if is_versioned(name)}
    revision = current_revision(conn)
    if revision is None and tables and not tables >= BASELINE_TABLES:
        raise SchemaError(
            "the database has tables but is not a SAV database (missing: "
            f"{', '.join(sorted(BASELINE_TABLES - tables))}); point DB_DATABASE elsewhere")
    return bool(tables), revision


def describe(revision: str | None) -> str:
    return f"revision {revision}" if revision else f"unversioned (baseline {BASELINE})"


def _create_at_head(conn: Connection) -> None:
    """Stamped first: MySQL commits each DDL statement, and a start interrupted halfway
    leaves a database at head whose missing tables the next start creates (create_all
    runs on every start), rather than an unversioned one taken for the baseline."""
    from sav.projections import registry

    stamp(_config(conn), "head")
    # One read of the table names instead of a `has_table` query per table (a new
    # database: only the schema lock's table and the version table exist).
    existing = set(inspect(conn).get_table_names())
    for metadata in target_metadata():
        missing = [table for table in metadata.sorted_tables if table.name not in existing]
        metadata.create_all(conn, tables=missing, checkfirst=False)
        existing.update(table.name for table in missing)
    for create in registry.schema_hooks():
        create(conn)


def ensure_schema(engine: Engine) -> None:
    """Create an empty database at head; refuse one at another revision."""
    head = head_revision()
    with schema_lock(engine) as conn:
        has_tables, revision = _state(conn)
        if not has_tables:
            _create_at_head(conn)
            return
        if revision is None and head == BASELINE:
            stamp(_config(conn), BASELINE)
            return
        if revision == head:
            return
    if revision is not None and not is_known(revision):
        # A newer version migrated it (a rolling upgrade, a rollback): revisions only
        # add (expand first, contract a release later), so this version still runs.
        log.warning("the database is at revision %s, newer than this version's head %s",
                    revision, head)
        return
    raise SchemaOutdatedError(
        f"the database schema is {describe(revision)}, this version of SAV needs revision "
        f"{head}: run `sav db upgrade` (with this version's settings) before starting it")


def upgrade_to_head(engine: Engine) -> tuple[str | None, str]:
    """`sav db upgrade`: (revision before, revision after)."""
    with schema_lock(engine) as conn:
        has_tables, revision = _state(conn)
        if not has_tables:
            _create_at_head(conn)
            return None, head_revision()
        if revision is not None and not is_known(revision):
            return revision, revision  # migrated by a newer version: nothing to do here
        if revision is None:
            stamp(_config(conn), BASELINE)
        upgrade(_config(conn), "head")
        return revision, head_revision()


def database_revision(engine: Engine) -> tuple[bool, str | None]:
    """`sav db current`: (whether the database has tables, its revision)."""
    with engine.connect() as conn:
        return _state(conn)

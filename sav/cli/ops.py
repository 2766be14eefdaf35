"""Operator subcommands: `sav db upgrade|current` and `sav events import FILE`
(registered by sav/cli/main.py; kept here so the CLI module stays small)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from sav.cli.parsing import add_command
from sav.cli.progress import progress
from sav.config import Settings


def add_db_parser(sub: Any) -> None:
    db = add_command(sub, "db", "database schema migrations (Alembic)",
                     "Database schema migrations (Alembic, sav/migrations/): `upgrade` "
                     "before a new\nversion starts, `current` to see whether it is needed.")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    add_command(
        db_sub, "upgrade", "bring the schema to this version's head (an empty database is "
                           "created at head; run before starting a new version)",
        "Bring the database's schema to this version's head revision (idempotent; an\n"
        "empty database is created at head). Run it once before a new version starts:\n"
        "revisions only add, so the running version keeps working meanwhile."
    ).set_defaults(handler=cmd_db_upgrade)
    add_command(
        db_sub, "current", "print the database's revision and this version's head; exit 1 "
                           "when `sav db upgrade` is needed",
        "Print the database's revision and this version's head. Exit 0 when they match\n"
        "(or the database is empty, or newer), 1 when `sav db upgrade` is needed: an\n"
        "init container can wait on it."
    ).set_defaults(handler=cmd_db_current)


def add_import_parser(events_sub: Any) -> None:
    restore = add_command(
        events_sub, "import", "restore a backup (`sav events export --format store`) into an "
                              "empty store, then rebuild the read model",
        "Restore a backup written by `sav events export --format store` into an empty\n"
        "database: the whole file is checked first (positions without a gap, the\n"
        "SAV_MASTER_KEY opens its keys), then the events are loaded, every read table\n"
        "rebuilt and the events marked as published. Exit 1 if the backup is refused.")
    restore.add_argument("file", help="the backup file (restore with the SAV_MASTER_KEY "
                                      "it was written with)")
    restore.add_argument("--until", type=int, metavar="POSITION",
                         help="restore the events up to this position only (a point in "
                              "the log); the default is every event")
    restore.set_defaults(handler=cmd_events_import)


def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from sav.eventstore.db import dispose_engine, engine_for
    from sav.migrations import describe, upgrade_to_head

    try:
        before, after = upgrade_to_head(engine_for(settings.database_url))
    finally:
        dispose_engine(settings.database_url)
    if before == after:
        print(f"database already at revision {after}")
    elif before is None:
        print(f"database upgraded to revision {after}")
    else:
        print(f"database upgraded from {describe(before)} to revision {after}")
    return 0


def cmd_db_current(settings: Settings, args: argparse.Namespace) -> int:
    from sav.eventstore.db import dispose_engine, engine_for
    from sav.migrations import database_revision, describe, head_revision, is_known

    try:
        has_tables, revision = database_revision(engine_for(settings.database_url))
    finally:
        dispose_engine(settings.database_url)
    head = head_revision()
    if not has_tables:
        print(f"database: empty (created at head on first use); head: {head}")
        return 0
    print(f"database: {describe(revision)}; head: {head}")
    if revision is not None and not is_known(revision):
        print("the database is newer than this version (it runs on it: revisions only add)")
        return 0
    if revision != head:
        print("run `sav db upgrade`", file=sys.stderr)
        return 1
    return 0


def cmd_events_import(settings: Settings, args: argparse.Namespace) -> int:
    from sav.bootstrap import bootstrap
    from sav.eventstore.backup import (
        RestoreError,
        check_empty,
        check_master_key,
        load_keys,
        load_records,
        mark_published,
        read_backup,
        restore_counters,
    )
    from sav.eventstore.db import create_store_schema, engine_for
    from sav.migrations import ensure_schema
    from sav.workers.projections import replay

    started = time.monotonic()
    try:
        backup = read_backup(Path(args.file), args.until)  # checked first
        check_master_key(settings.privacy_master_key(), backup)
        engine = engine_for(settings.database_url)
        ensure_schema(engine)
        create_store_schema(engine)
        check_empty(engine)
        load_keys(engine_for(settings.keys_database_url), backup)
    except (RestoreError, OSError) as error:
        print(f"sav events import: {error}", file=sys.stderr)
        return 1
    services = bootstrap(settings)
    try:
        with progress(backup.events, "import") as bar:
            restored = load_records(services.engine, backup, progress=bar.update)
        loaded = time.monotonic() - started
        with progress(restored.position, "replay") as bar:
            position = replay(services.app, services.engine, progress=bar.update,
                              phase=bar.set_description)
        restore_counters(services.engine)
        mark_published(services.engine, restored.position)
    except RestoreError as error:
        print(f"sav events import: {error}", file=sys.stderr)
        return 1
    finally:
        services.close()
    took = time.monotonic() - started
    print(f"restored {restored.events} events in {took:.1f} s "
          f"({restored.events / max(took, 1e-9):.0f} events/s; load {loaded:.1f} s, "
          f"replay {took - loaded:.1f} s); read model at position {position}; the publisher "
          f"starts after it (`sav worker publisher --from 0` publishes them again)")
    return 0

"""Alembic's environment for `sav db upgrade`: always run on a connection given by
sav.migrations (config.attributes["connection"]), never from an alembic.ini URL."""

from __future__ import annotations

from alembic import context

from sav.migrations import include_object, target_metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=target_metadata(),
    include_object=include_object,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by table copy
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

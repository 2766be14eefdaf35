"""The composition root: every service of a process is built here, once, from settings.

Entry points (the API app factory, the CLI, the in-process workers) call `bootstrap`
and hand each part only the services it uses. Nothing connects at import time.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sav.api.views import TicketViews
from sav.commands.app import SavApplication
from sav.commands.pool import CommandPool
from sav.config import Settings
from sav.eventstore.db import CONNECT_TIMEOUT_SECONDS, dispose_engine, engine_for
from sav.migrations import ensure_schema
from sav.privacy.setup import install as install_keys
from sav.privacy.setup import open_key_store
from sav.projections.position import ReadModelPosition
from sav.projections.runner import create_read_schema
from sav.storage import build_blob_store
from sav.storage.lifecycle import Storage
from sav.storage.scanner import Scanner, build_scanner
from sav.workers.threads import Background


@dataclass(frozen=True)
class Services:
    settings: Settings
    app: SavApplication
    engine: Engine
    read_engine: AsyncEngine
    commands: CommandPool
    read_model: ReadModelPosition
    storage: Storage
    background: Background
    views: TicketViews

    async def aclose(self) -> None:
        """Close everything, the async read engine included (needs the event loop)."""
        await self.storage.close()
        await self.read_engine.dispose()
        self.close()

    def close(self) -> None:
        self.background.close()
        self.commands.close()
        self.app.close()
        dispose_engine(self.settings.database_url)


def bootstrap(settings: Settings) -> Services:
    engine = engine_for(settings.database_url)
    # Before anything creates a table: an empty database is made at head, an older
    # schema refuses to start (SchemaOutdatedError names `sav db upgrade`).
    ensure_schema(engine)
    app = SavApplication(settings.database_url, settings.ticket_number_prefix)
    install_keys(app, open_key_store(settings))
    create_read_schema(engine)
    if settings.auto_assign:
        from sav.projections.agents import least_loaded_agent

        app.pick_agent = lambda: least_loaded_agent(engine)
    return Services(
        settings=settings,
        app=app,
        engine=engine,
        read_engine=read_engine(settings),
        commands=CommandPool(app, settings.command_threads),
        read_model=ReadModelPosition(engine, settings.read_your_writes_timeout),
        storage=Storage(build_blob_store(
            minio_endpoint=settings.minio_endpoint, access_key=settings.minio_access_key,
            secret_key=settings.minio_secret_key, bucket=settings.minio_bucket,
            region=settings.minio_region, data_dir=settings.data_dir,
            base_url=settings.public_base_url or f"http://127.0.0.1:{settings.app_port}",
            secret=settings.signing_secret(),
            public_endpoint=settings.minio_public_endpoint),
            scanner_for(settings)),
        background=Background(),
        views=TicketViews(),
    )


def scanner_for(settings: Settings) -> Scanner:
    """The virus scanner every upload passes (`NoScanner` when no clamd is set)."""
    return build_scanner(host=settings.clamav_host, port=settings.clamav_port,
                         socket_path=settings.clamav_socket, timeout=settings.clamav_timeout,
                         fail_open=settings.clamav_fail_open)


def read_engine(settings: Settings) -> AsyncEngine:
    # A pool as wide as the concurrency we serve: an overflow connection costs a
    # new thread (aiosqlite) or a new TCP connection (aiomysql) each time.
    return create_async_engine(
        settings.async_database_url, pool_size=20, max_overflow=20, hide_parameters=True,
        # MariaDB: each statement its own transaction. A route's reads then hold no
        # metadata locks between statements (a `sav replay` switch renames tables under
        # them: a held lock made that a deadlock) and a connection needs no ROLLBACK when
        # it goes back to the pool. Writes through this engine are single statements.
        **({} if not settings.is_mysql else {
            "pool_recycle": 3600, "pool_pre_ping": True, "isolation_level": "AUTOCOMMIT",
            "pool_reset_on_return": None, "skip_autocommit_rollback": True,
            "connect_args": {"connect_timeout": CONNECT_TIMEOUT_SECONDS}}),
    )

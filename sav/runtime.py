"""Wiring shared by the API and the workers: the application, engines, projector.

Nothing here connects at import time; `Runtime.build()` does, and `close()` undoes it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sav.commands.app import SavApplication
from sav.config import Settings
from sav.eventstore.db import dispose_engine, engine_for
from sav.eventstore.schema import tracking
from sav.projections.runner import READ_MODEL, Projector, create_read_schema

log = logging.getLogger("sav.runtime")
T = TypeVar("T")


@dataclass
class Runtime:
    settings: Settings
    app: SavApplication
    engine: Engine
    read_engine: AsyncEngine
    executor: ThreadPoolExecutor
    projector: Projector | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    background: list[Callable[[], Any]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        app = SavApplication(settings.database_url, settings.ticket_number_prefix)
        engine = engine_for(settings.database_url)
        create_read_schema(engine)
        read_engine = create_async_engine(
            settings.async_database_url,
            **({} if not settings.is_mysql else {"pool_size": 10, "pool_recycle": 3600,
                                                  "pool_pre_ping": True}),
        )
        executor = ThreadPoolExecutor(settings.command_threads, thread_name_prefix="sav-cmd")
        return cls(settings, app, engine, read_engine, executor)

    def start_projector(self) -> Projector:
        """Run the read-model projector in a thread of this process."""
        projector = Projector(self.app.recorder, self.app.mapper, self.engine)
        self.app.on_append(projector.wake)
        self.projector = projector
        self.spawn("sav-projector", lambda: projector.run_forever(self.stop))
        return projector

    def spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run synchronous eventsourcing/SQL work on the bounded command pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: fn(*args, **kwargs))

    async def wait_for_position(self, position: int | None) -> bool:
        """Read-your-writes: wait (bounded) until the read model reached `position`."""
        if position is None:
            return True
        deadline = time.monotonic() + self.settings.read_your_writes_timeout
        delay = 0.001
        while True:
            if await self.projected_position() >= position:
                return True
            if time.monotonic() >= deadline:
                log.warning("read model did not reach position %s in time", position)
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.02)

    async def projected_position(self) -> int:
        if self.projector is not None and self.projector.position:
            # In-process projector: its position is committed before it is published.
            return self.projector.position
        async with self.read_engine.connect() as conn:
            value = await conn.scalar(
                select(tracking.c.position).where(tracking.c.name == READ_MODEL)
            )
        return int(value or 0)

    def close(self) -> None:
        self.stop.set()
        for stopper in self.background:
            stopper()
        for thread in self.threads:
            thread.join(timeout=5)
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.app.close()
        dispose_engine(self.settings.database_url)

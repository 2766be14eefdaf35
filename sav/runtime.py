"""Wiring shared by the API and the workers: the application, engines, projector.

Nothing here connects at import time; `Runtime.build()` does, and `close()` undoes it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
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
from sav.storage import BlobStore, BlobStoreError, build_blob_store

log = logging.getLogger("sav.runtime")
STORAGE_PROBE_TIMEOUT_S = 3.0
STORAGE_RETRY_S = 5.0
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
    _waiters: list[tuple[int, asyncio.Future[None]]] = field(default_factory=list)
    _waiters_lock: threading.Lock = field(default_factory=threading.Lock)
    blobs: BlobStore | None = None
    # name -> async check, reported by GET /status.
    readiness_probes: dict[str, Callable[[], Awaitable[bool]]] = field(default_factory=dict)
    _blobs_started: bool = False
    _blobs_retry_at: float = 0.0
    _blobs_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        app = SavApplication(settings.database_url, settings.ticket_number_prefix)
        engine = engine_for(settings.database_url)
        create_read_schema(engine)
        # A pool as wide as the concurrency we serve: an overflow connection costs a
        # new thread (aiosqlite) or a new TCP connection (aiomysql) each time.
        read_engine = create_async_engine(
            settings.async_database_url, pool_size=20, max_overflow=20, hide_parameters=True,
            **({} if not settings.is_mysql else {"pool_recycle": 3600, "pool_pre_ping": True}),
        )
        executor = ThreadPoolExecutor(settings.command_threads, thread_name_prefix="sav-cmd")
        runtime = cls(settings, app, engine, read_engine, executor)
        runtime.blobs = build_blob_store(
            minio_endpoint=settings.minio_endpoint, access_key=settings.minio_access_key,
            secret_key=settings.minio_secret_key, bucket=settings.minio_bucket,
            region=settings.minio_region, data_dir=settings.data_dir,
            base_url=settings.public_base_url or f"http://127.0.0.1:{settings.app_port}",
            secret=settings.signing_secret())
        runtime.readiness_probes["storage"] = runtime.storage_ready
        if settings.auto_assign:
            from sav.commands.automations import enable_auto_assign
            from sav.projections.agents import least_loaded_agent

            enable_auto_assign(app, lambda: least_loaded_agent(engine))
        return runtime

    async def start_storage(self) -> bool:
        """Start the blob store once. A backend that is down does not stop the API:
        readiness reports it, and a later request tries again (at most every few
        seconds, so requests meanwhile fail fast with 503 instead of hanging)."""
        if self._blobs_started or self.blobs is None:
            return self.blobs is not None
        async with self._blobs_lock:  # concurrent first requests start it once
            if not self._blobs_started:
                if time.monotonic() < self._blobs_retry_at:
                    return False
                try:
                    await self.blobs.start()
                except BlobStoreError as error:
                    self._blobs_retry_at = time.monotonic() + STORAGE_RETRY_S
                    log.warning("attachment storage unavailable: %s", error)
                    return False
                self._blobs_started = True
        return True

    async def storage(self) -> BlobStore:
        """The started blob store, or BlobStoreError (503) if it cannot be reached."""
        if self.blobs is None or not await self.start_storage():
            raise BlobStoreError("attachment storage is unavailable")
        return self.blobs

    async def storage_ready(self) -> bool:
        """Readiness probe; bounded, as probes give up after a few seconds."""
        try:
            started = await asyncio.wait_for(self.start_storage(), STORAGE_PROBE_TIMEOUT_S)
        except TimeoutError:
            return False
        return started and self.blobs is not None and await self.blobs.ping()

    async def close_storage(self) -> None:
        if self.blobs is not None and self._blobs_started:
            self._blobs_started = False
            await self.blobs.close()

    def start_projector(self) -> Projector:
        """Run the read-model projector in a thread of this process."""
        projector = Projector(self.app.recorder, self.app.mapper, self.engine)
        self.app.on_append(projector.wake)
        projector.on_advance(self._release_waiters)
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
        if self.projector is not None:
            return await self._wait_for_local_projector(position)
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

    async def _wait_for_local_projector(self, position: int) -> bool:
        """The in-process projector wakes waiters when it advances: no polling."""
        assert self.projector is not None
        if self.projector.position >= position:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._waiters_lock:
            self._waiters.append((position, future))
        try:
            if self.projector.position >= position:  # advanced before we registered
                return True
            await asyncio.wait_for(future, self.settings.read_your_writes_timeout)
            return True
        except TimeoutError:
            log.warning("read model did not reach position %s in time", position)
            return False
        finally:
            with self._waiters_lock:
                self._waiters = [(p, f) for p, f in self._waiters if f is not future]

    def _release_waiters(self, position: int) -> None:
        """Called in the projector's thread after each committed advance."""
        with self._waiters_lock:
            ready = [f for p, f in self._waiters if p <= position]
            self._waiters = [(p, f) for p, f in self._waiters if p > position]
        for future in ready:
            future.get_loop().call_soon_threadsafe(_resolve, future)

    async def projected_position(self) -> int:
        if self.projector is not None and self.projector.position:
            # In-process projector: its position is committed before it is published.
            return self.projector.position
        async with self.read_engine.connect() as conn:
            value = await conn.scalar(
                select(tracking.c.position).where(tracking.c.name == READ_MODEL)
            )
        return int(value or 0)

    async def aclose(self) -> None:
        """Close everything, the async read engine included (needs the event loop)."""
        await self.close_storage()
        await self.read_engine.dispose()
        self.close()

    def close(self) -> None:
        self.stop.set()
        for stopper in self.background:
            stopper()
        for thread in self.threads:
            thread.join(timeout=5)
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.app.close()
        dispose_engine(self.settings.database_url)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)

"""The bridge from async callers to the synchronous command handlers.

eventsourcing is synchronous (docs/decisions/0002-event-store-and-global-ordering.md):
every command runs on a bounded thread pool, never on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Concatenate, ParamSpec, TypeVar

from sav.commands.app import SavApplication

P = ParamSpec("P")
T = TypeVar("T")


class CommandPool:
    def __init__(self, app: SavApplication, threads: int) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="sav-cmd")

    async def run(self, handler: Callable[Concatenate[SavApplication, P], T],
                  *args: P.args, **kwargs: P.kwargs) -> T:
        """`handler(app, *args, **kwargs)` on the pool."""
        return await self.call(handler, self.app, *args, **kwargs)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Any blocking call on the pool (event-store reads, for instance)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: fn(*args, **kwargs))

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

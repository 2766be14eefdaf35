"""Where the read model is, and waiting for it: read-your-writes, in one place.

The API waits (async) after each command; the scheduler and the consumers wait
(blocking, in their threads) before reading what a command just did. With a projector
in this process its advances wake the waiters; otherwise the tracking row is polled.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from sqlalchemy import Engine

from sav.eventstore.tracking import read_position

log = logging.getLogger("sav.read_model")
READ_MODEL = "read_model"
MIN_POLL_S = 0.001
MAX_POLL_S = 0.02


class ReadModelPosition:
    def __init__(self, engine: Engine, timeout: float, name: str = READ_MODEL) -> None:
        self.engine = engine
        self.timeout = timeout
        self.name = name
        self.local: int | None = None  # set once a projector runs in this process
        self._changed = threading.Condition()
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._pollers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}

    def advanced(self, position: int) -> None:
        """The in-process projector committed `position` (called from its thread)."""
        with self._changed:
            self.local = position
        self._release(position)

    def _release(self, position: int) -> bool:
        """Wake every waiter `position` satisfies; True if there was one."""
        with self._changed:
            ready = [f for p, f in self._waiters if p <= position]
            self._waiters = [(p, f) for p, f in self._waiters if p > position]
            self._changed.notify_all()
        for future in ready:
            future.get_loop().call_soon_threadsafe(_resolve, future)
        return bool(ready)

    def current(self) -> int:
        if self.local:
            return self.local
        return read_position(self.engine, self.name)

    async def wait(self, position: int | None) -> bool:
        """Wait (bounded) until the read model reached `position`; False on timeout.

        Without a projector in this process one poller per event loop reads the
        tracking row for every waiter, instead of a query per waiter."""
        if position is None:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._changed:
            if (self.local or 0) >= position:
                return True
            self._waiters.append((position, future))
        if self.local is None:
            self._ensure_poller()
        try:
            await asyncio.wait_for(future, self.timeout)
            return True
        except TimeoutError:
            log.warning("read model did not reach position %s in time", position)
            return False
        finally:
            with self._changed:
                self._waiters = [(p, f) for p, f in self._waiters if f is not future]

    def _ensure_poller(self) -> None:
        loop = asyncio.get_running_loop()
        poller = self._pollers.get(loop)
        if poller is None or poller.done():
            self._pollers[loop] = loop.create_task(self._poll())

    async def _poll(self) -> None:
        """Read the tracking row while anyone waits, releasing whoever it reached."""
        delay = MIN_POLL_S
        while self._waiters and self.local is None:
            reached = await asyncio.to_thread(read_position, self.engine, self.name)
            if self._release(reached):
                delay = MIN_POLL_S
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_POLL_S)

    def wait_blocking(self, position: int | None, timeout: float | None = None) -> bool:
        """`wait` for threads (scheduler, consumers)."""
        if position is None:
            return True
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while self.current() < position:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("read model did not reach position %s in time", position)
                return False
            with self._changed:
                self._changed.wait(min(remaining, MAX_POLL_S))
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)

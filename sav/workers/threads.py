"""Background threads of one process and the event that stops them."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Background:
    def __init__(self) -> None:
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self._wakers: list[Callable[[], None]] = []

    def on_stop(self, wake: Callable[[], None]) -> None:
        """`wake()` ends a thread's wait that does not watch `stop` (a poll interval)."""
        self._wakers.append(wake)

    def spawn(self, name: str, target: Callable[[threading.Event], None]) -> None:
        """Run `target(stop)` in a daemon thread."""
        thread = threading.Thread(target=target, args=(self.stop,), name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def close(self, timeout: float = 5.0) -> None:
        self.stop.set()
        for wake in self._wakers:
            wake()
        for thread in self.threads:
            thread.join(timeout=timeout)

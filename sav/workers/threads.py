"""Background threads of one process and the event that stops them."""

from __future__ import annotations

import threading
import time
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


class Backoff:
    """A polling step that runs at once when woken and otherwise ever less often while
    it finds nothing to do: `floor` seconds after work, doubling up to `ceiling`.

    Wrap the step a leader loop calls every `floor` seconds: skipped calls cost no query,
    so an idle process polls about once per `ceiling` instead of once per `floor`, and
    what other processes append is still seen within `ceiling`."""

    def __init__(self, step: Callable[[], int], floor: float, ceiling: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.step, self.floor, self.ceiling, self.clock = step, floor, ceiling, clock
        self.delay = floor
        self.due = 0.0
        self.woken = threading.Event()

    def wake(self, _position: object = None) -> None:
        self.woken.set()

    def __call__(self) -> int:
        now = self.clock()
        if not self.woken.is_set() and now < self.due:
            return 0
        self.woken.clear()
        done = self.step()
        self.delay = self.floor if done else min(self.delay * 2, self.ceiling)
        self.due = now + self.delay
        return done

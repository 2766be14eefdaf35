"""One probe of the store's head per process, for every tailer in it (issue 21).

The projector, the event log, the publisher, the mail sender and the webhooks sender
each follow the store from a position of their own. Instead of each polling for what
other processes appended, one thread of the process reads the head (one indexed
single-row read) and wakes them all when it moved: after a move it looks again soon
(`floor`), then ever less often up to `ceiling` while nothing moves. Appends of this
process wake the tailers directly (`SavApplication.on_append`) and tell the watch,
which then does not wake them a second time for the same positions.

Correctness never rests on a wake: each tailer reads from its own position, so a
missed or spurious wake only delays or repeats a read that finds nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from weakref import WeakKeyDictionary

from sav.commands.app import SavApplication

log = logging.getLogger("sav.workers")

FLOOR_S = 0.05
# What other processes append is seen within this (this process's appends at once).
CEILING_S = 1.0
# A tailer still reads on its own this often, should a wake be lost.
TAILER_IDLE_S = 60.0

Listener = Callable[[int], None]


class HeadWatch:
    def __init__(self, head: Callable[[], int | None], floor: float = FLOOR_S,
                 ceiling: float = CEILING_S) -> None:
        self.head = head
        self.floor, self.ceiling = floor, ceiling
        self.seen: int | None = None
        self.delay = floor
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def subscribe(self, listener: Listener) -> None:
        """`listener(head)` whenever the head moved past what was last seen."""
        with self._lock:
            self._listeners.append(listener)

    def appended(self, position: int) -> None:
        """A local append (its tailers were woken by it already)."""
        with self._lock:
            if self.seen is not None and position > self.seen:
                self.seen = position

    def probe(self) -> bool:
        """Read the head once; wake the listeners when it moved. Whether it moved."""
        head = self.head() or 0
        with self._lock:
            moved = self.seen is None or head > self.seen
            self.seen = head if self.seen is None else max(head, self.seen)
            listeners = list(self._listeners) if moved else []
        for listener in listeners:
            try:
                listener(head)
            except Exception:
                log.exception("waking a tailer failed")
        return moved

    def start(self, stop: threading.Event) -> None:
        """Run the probe in a thread of its own until `stop` (once; later calls no-op)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self.run, args=(stop,),
                                            name="sav-head-watch", daemon=True)
            self._thread.start()

    def step(self) -> float:
        """Probe once; the seconds until the next probe."""
        try:
            moved = self.probe()
        except Exception:
            log.warning("reading the store's head failed; retrying", exc_info=True)
            moved = False
        self.delay = self.floor if moved else min(self.delay * 2, self.ceiling)
        return self.delay

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            stop.wait(self.step())


_watches: WeakKeyDictionary[SavApplication, HeadWatch] = WeakKeyDictionary()
_watches_lock = threading.Lock()


def head_watch(app: SavApplication) -> HeadWatch:
    """The process's watch of `app`'s store (made once, told of the app's appends)."""
    with _watches_lock:
        watch = _watches.get(app)
        if watch is None:
            watch = _watches[app] = HeadWatch(app.recorder.max_notification_id)
            app.on_append(watch.appended)
        return watch


def watch_store(app: SavApplication, stop: threading.Event, listener: Listener) -> None:
    """Wake `listener` when other processes append to `app`'s store, until `stop`."""
    watch = head_watch(app)
    watch.subscribe(listener)
    watch.start(stop)

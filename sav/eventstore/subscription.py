"""`subscribe()` for the event store: a reader of the global order that blocks at its end.

Neither SQLite nor MySQL can push, so the subscription polls. Polling "after the last
position seen" is safe here because positions are gapless and become visible in order
(the append holds the sequence row until commit): no later event is read before an
earlier one commits. Appends made by this process wake it at once.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from eventsourcing.persistence import Notification, Subscription

if TYPE_CHECKING:
    from sav.eventstore.recorder import SqlApplicationRecorder

POLL_INTERVAL_S = 0.2
BATCH = 500


class PollingSubscription(Subscription["SqlApplicationRecorder"]):
    def __init__(self, recorder: SqlApplicationRecorder, gt: int | None = None,
                 topics: Sequence[str] = (), poll_interval: float = POLL_INTERVAL_S) -> None:
        super().__init__(recorder, gt, topics)
        self._poll_interval = poll_interval
        self._pending: deque[Notification] = deque()
        self._appended = threading.Event()
        recorder.on_append(self._wake)

    def _wake(self, _position: int) -> None:
        self._appended.set()

    def stop(self) -> None:
        super().stop()
        self._recorder.remove_listener(self._wake)
        self._appended.set()  # a reader blocked in __next__ returns

    def __next__(self) -> Notification:
        while not self._has_been_stopped:
            if self._pending:
                notification = self._pending.popleft()
                self._last_notification_id = notification.id
                return notification
            self._appended.clear()
            batch = self._recorder.select_notifications(
                self._last_notification_id or 0, BATCH, topics=self._topics,
                inclusive_of_start=False)
            if batch:
                self._pending.extend(batch)
            else:
                self._appended.wait(self._poll_interval)
        raise StopIteration

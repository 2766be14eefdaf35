"""What this process's mail channel did, for `/metrics`: inbound mail by outcome and
reason (an ignored auto-reply, a duplicate…) and mail handed to the relay."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector


class MailCounts(Collector):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inbound: Counter[tuple[str, str]] = Counter()
        self._sent = 0

    def received(self, outcome: str, reason: str | None) -> None:
        with self._lock:
            self._inbound[(outcome, reason or "")] += 1

    def sent(self) -> None:
        with self._lock:
            self._sent += 1

    def collect(self) -> Iterator[CounterMetricFamily]:
        with self._lock:
            inbound, sent = dict(self._inbound), self._sent
        family = CounterMetricFamily("sav_mail_inbound", "Inbound mail by outcome (created, "
                                     "threaded, duplicate, ignored) and why it was ignored",
                                     labels=["outcome", "reason"])
        for (outcome, reason), count in sorted(inbound.items()):
            family.add_metric([outcome, reason], count)
        yield family
        yield CounterMetricFamily("sav_mail_sent", "Mail handed to the SMTP relay",
                                  value=sent)


MAIL_COUNTS = MailCounts()  # one per process: the listener, the route and the sender

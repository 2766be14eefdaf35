"""Webhook figures for `/metrics`, read from the database at scrape time (every API
process reports the same shared state, whichever process sends): deliveries by status,
their latency, and per subscription its backlog, its lag and whether it is disabled."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from sav.webhooks.deliveries import PENDING, d, p
from sav.webhooks.subscriptions import w


@dataclass
class Endpoint:
    webhook_id: str
    active: bool
    disabled: bool  # by the sender (gone, failing), not paused by an admin
    backlog: int  # events not yet looked at, plus deliveries pending
    lag_seconds: float  # age of the oldest pending delivery


@dataclass
class WebhookSnapshot:
    by_status: dict[str, int] = field(default_factory=dict)
    duration_sum: float = 0.0
    duration_count: int = 0
    endpoints: list[Endpoint] = field(default_factory=list)


def webhook_snapshot(engine: Engine, head: int, now: float | None = None) -> WebhookSnapshot:
    now = time.time() if now is None else now
    snapshot = WebhookSnapshot()
    with engine.connect() as conn:
        snapshot.by_status = {str(status): int(count) for status, count in conn.execute(
            select(d.status, func.count()).group_by(d.status))}
        total, count = conn.execute(select(func.sum(d.last_duration), func.count(
            d.last_duration))).one()
        snapshot.duration_sum, snapshot.duration_count = float(total or 0.0), int(count)
        pending = {row.webhook_id: (int(row.n), float(row.oldest)) for row in conn.execute(
            select(d.webhook_id, func.count().label("n"), func.min(d.created_at).label(
                "oldest")).where(d.status == PENDING).group_by(d.webhook_id))}
        positions = {row.webhook_id: int(row.position) for row in conn.execute(
            select(p.webhook_id, p.position))}
        for row in conn.execute(select(w.id, w.active, w.disabled_reason,
                                       w.created_position)):
            position = positions.get(row.id, int(row.created_position))
            waiting, oldest = pending.get(row.id, (0, now))
            snapshot.endpoints.append(Endpoint(
                row.id, bool(row.active), row.disabled_reason is not None,
                max(0, head - position) + waiting, max(0.0, now - oldest)))
    return snapshot


class WebhookCollector(Collector):
    """Yields the latest `WebhookSnapshot` (taken right before a scrape)."""

    def __init__(self) -> None:
        self.snapshot: WebhookSnapshot | None = None

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        if snap is None:
            return
        statuses = GaugeMetricFamily("sav_webhook_deliveries", "Webhook deliveries in the "
                                     "log by status (pending, delivered, failed)",
                                     labels=["status"])
        for status in ("pending", "delivered", "failed"):
            statuses.add_metric([status], snap.by_status.get(status, 0))
        yield statuses
        yield SummaryMetricFamily("sav_webhook_delivery_duration_seconds", "Time the "
                                  "endpoints took to answer the last attempt of each "
                                  "delivery in the log", count_value=snap.duration_count,
                                  sum_value=snap.duration_sum)
        backlog = GaugeMetricFamily("sav_webhook_backlog", "Per subscription: events not "
                                    "yet sent (not yet read, or pending)",
                                    labels=["webhook_id"])
        lag = GaugeMetricFamily("sav_webhook_lag_seconds", "Per subscription: age of its "
                                "oldest pending delivery (0 when none)", labels=["webhook_id"])
        disabled = GaugeMetricFamily("sav_webhook_disabled", "Per subscription: 1 when the "
                                     "sender disabled it (410 Gone, or a delivery that failed "
                                     "for good)", labels=["webhook_id"])
        active = GaugeMetricFamily("sav_webhook_active", "Per subscription: 1 when deliveries "
                                   "are sent (0: paused or disabled)", labels=["webhook_id"])
        for endpoint in snap.endpoints:
            backlog.add_metric([endpoint.webhook_id], endpoint.backlog)
            lag.add_metric([endpoint.webhook_id], endpoint.lag_seconds)
            disabled.add_metric([endpoint.webhook_id], 1 if endpoint.disabled else 0)
            active.add_metric([endpoint.webhook_id], 1 if endpoint.active else 0)
        yield backlog
        yield lag
        yield disabled
        yield active

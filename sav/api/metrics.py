"""`GET /metrics`: Prometheus text format, one CollectorRegistry per app.

HTTP figures come from request/response middleware; event store, projection,
publisher and ticket figures are read from the database at scrape time (on the
command pool), so every API process reports the same shared state.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sanic import Blueprint, HTTPResponse, Request
from sanic.response import BaseHTTPResponse
from sqlalchemy import Engine

from sav.api import http
from sav.commands.app import SavApplication
from sav.events import clock
from sav.mail.metrics import MAIL_COUNTS
from sav.projections.metrics import StoreSnapshot, store_snapshot
from sav.storage.scanner import Scanner
from sav.webhooks.metrics import WebhookCollector, WebhookSnapshot, webhook_snapshot

bp = Blueprint("metrics")


class StoreCollector(Collector):
    """Yields the figures of the latest `StoreSnapshot` (taken right before a scrape)."""

    def __init__(self) -> None:
        self.snapshot: StoreSnapshot | None = None
        self.publishing_paused = False

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        if snap is None:
            return
        yield CounterMetricFamily("sav_events_appended", "Events appended to the event store "
                                  "(all processes; the store's head position)", value=snap.head)
        events = GaugeMetricFamily("sav_projection_lag_events", "Events recorded but not yet "
                                   "applied, per projector", labels=["projector"])
        seconds = GaugeMetricFamily("sav_projection_lag_seconds", "Age of the oldest event not "
                                    "yet applied, per projector (0 when caught up)",
                                    labels=["projector"])
        for name, lag in sorted(snap.projectors.items()):
            events.add_metric([name], lag.events)
            seconds.add_metric([name], lag.seconds)
        yield events
        yield seconds
        # No broker configured: publishing is paused by design, so no lag that grows
        # forever (and would page someone), a gauge that says so instead.
        yield GaugeMetricFamily("sav_publisher_paused", "1 while no broker is configured "
                                "(RABBITMQ_HOST unset): events wait in the store",
                                value=1 if self.publishing_paused else 0)
        if snap.publisher is not None and not self.publishing_paused:
            yield GaugeMetricFamily("sav_publisher_lag_events", "Events not yet confirmed by "
                                    "the broker", value=snap.publisher.events)
            yield GaugeMetricFamily("sav_publisher_lag_seconds", "Age of the oldest event not "
                                    "yet published", value=snap.publisher.seconds)
        tickets = GaugeMetricFamily("sav_tickets", "Tickets by status and priority "
                                    "(deleted excluded)", labels=["status", "priority"])
        for status, priority, count in sorted(snap.tickets):
            tickets.add_metric([status, priority], count)
        yield tickets
        yield CounterMetricFamily("sav_ticket_escalations", "Tickets escalated",
                                  value=snap.escalations)
        holders = GaugeMetricFamily("sav_lease_holder", "1 per live worker lease and its "
                                    "holder (a lease whose holder keeps changing is flapping)",
                                    labels=["lease", "owner"])
        for lease, owner in snap.leases:
            holders.add_metric([lease, owner], 1)
        yield holders


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("sav_http_requests", "HTTP requests by route and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("sav_http_request_duration_seconds", "HTTP request latency "
                                 "by route and status", ["method", "route", "status"],
                                 registry=self.registry)
        self.appends = Counter("sav_event_appends", "Append transactions committed by this "
                               "process", registry=self.registry)
        self.scans = Counter("sav_attachment_scans", "Uploaded files by virus scan outcome "
                             "(clean, infected, unscanned: clamd failed with fail-open, "
                             "error: clamd failed, upload refused)", ["result"],
                             registry=self.registry)
        self.store = StoreCollector()
        self.registry.register(self.store)
        self.webhooks = WebhookCollector()
        self.registry.register(self.webhooks)
        self.registry.register(MAIL_COUNTS)  # this process's mail channel (sav.mail)
        self.source: tuple[SavApplication, Engine] | None = None
        # The labelled children of `requests` and `latency` by (method, route pattern,
        # status): `labels()` each time was a measurable share of a cached read.
        self._http: dict[tuple[str, str | None, int], tuple[Counter, Histogram]] = {}

    def record_request(self, method: str, route: str | None, status: int,
                       seconds: float | None) -> None:
        """Count one request by route pattern (None: unmatched) and status; time it."""
        key = (method, route, status)
        children = self._http.get(key)
        if children is None:
            labels = (method, route_label(route), str(status))
            children = self._http[key] = (self.requests.labels(*labels),
                                          self.latency.labels(*labels))
        children[0].inc()
        if seconds is not None:
            children[1].observe(seconds)

    def watch(self, app: SavApplication, engine: Engine, publishing_paused: bool) -> None:
        """Count this process's appends to `app`; read the shared figures from `engine`."""
        app.on_append(self.on_append)
        self.source = (app, engine)
        self.store.publishing_paused = publishing_paused

    def read_store(self) -> StoreSnapshot | None:
        """The shared figures as of now (blocking: run it on the command pool)."""
        if self.source is None:
            return None
        app, engine = self.source
        return store_snapshot(engine, app.recorder, app.mapper, clock.now())

    def read_webhooks(self) -> WebhookSnapshot | None:
        """The webhook figures as of now (blocking: run it on the command pool)."""
        if self.source is None:
            return None
        app, engine = self.source
        return webhook_snapshot(engine, app.recorder.max_notification_id() or 0)

    def on_append(self, _position: int) -> None:
        self.appends.inc()

    def watch_scanner(self, scanner: Scanner) -> None:
        scanner.observers.append(lambda outcome: self.scans.labels(outcome).inc())


def route_label(route: str | None) -> str:
    """The route pattern, never the raw path (ids would explode the label set)."""
    if route is None:
        return "unmatched"
    return "/" + route.lstrip("/")


def api_metrics(request: Request) -> ApiMetrics:
    return request.app.ctx.metrics  # type: ignore[no-any-return]


async def start_timer(request: Request) -> None:
    request.ctx.metrics_started = time.perf_counter()


async def observe(request: Request, response: BaseHTTPResponse) -> None:
    """Response middleware: count and time the request by route pattern and status."""
    started = getattr(request.ctx, "metrics_started", None)
    route = getattr(request, "route", None)
    pattern = route.path if route is not None else None
    seconds = None if started is None else time.perf_counter() - started
    api_metrics(request).record_request(request.method, pattern, response.status, seconds)


@bp.get("/metrics")
async def metrics_route(request: Request) -> HTTPResponse:
    """Prometheus metrics (text exposition format)."""
    metrics = api_metrics(request)
    if metrics.read_store is not None:
        metrics.store.snapshot = await http.command_pool(request).call(metrics.read_store)
        metrics.webhooks.snapshot = await http.command_pool(request).call(
            metrics.read_webhooks)
    # No await from here until generated: scrapes don't interleave.
    return HTTPResponse(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)

"""Workers that `sav serve` runs inside the API process (unless SAV_INPROCESS_WORKERS=false).

An entry point: it receives the composed services and hands each worker its parts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sav.bootstrap import Services
from sav.eventstore.recorder import SqlApplicationRecorder
from sav.mail import worker as mail_worker
from sav.projections.runner import InlineProjection, Projector
from sav.webhooks import sender
from sav.workers import consumer, event_log, projections, publisher, scheduler
from sav.workers.head import TAILER_IDLE_S, watch_store
from sav.workers.lease import renew_through, run_while_leader
from sav.workers.projections import PROJECTOR_LEASE

WorkerFn = Callable[[threading.Event], None]


def start_projector(services: Services) -> Projector:
    """Project in a thread of this process while it holds the projector lease (one
    projector per database: `sav serve --workers N` runs one, not N racing). Appends of
    this process wake it; while it leads, its advances wake the requests waiting to read
    their writes, otherwise they follow the tracking row."""
    app, engine, read_model = services.app, services.engine, services.read_model
    projector = Projector(app.recorder, app.mapper, engine)
    # Appends of other processes wake it through the process's one probe of the store's
    # head (sav.workers.head); its own appends at once, and mostly project themselves.
    lead = {"now": False}
    # The projector follows what this process's commands projected, without a query,
    # and wakes only for the appends left to it.
    project_inline(services, lambda first, last, _streams: projector.projected_inline(
        first, last) if lead["now"] else None)

    def appended(position: int) -> None:
        if projector.position < position or not lead["now"]:
            projector.wake()

    app.on_append(appended)
    projector.on_applied(services.views.invalidate)
    # Rows written by another writer (a `sav replay` switch, another projector): drop
    # every view.
    projector.on_overtaken(lambda _position: services.views.follow_local_projector(True))
    projector.on_advance(read_model.advanced)

    def leading(now: bool) -> None:
        lead["now"] = now
        services.views.follow_local_projector(now)
        if now:
            projector.position = projector.read_position()
            read_model.advanced(projector.position)
        else:
            read_model.local = None

    def run(stop: threading.Event) -> None:
        watch_store(app, stop, projector.wake)
        run_while_leader(engine, PROJECTOR_LEASE, services.settings.worker_lease_ttl, stop,
                         projector.run_once, idle=TAILER_IDLE_S, wake=projector.wakeup,
                         on_change=leading)

    services.background.spawn("sav-projector", run)
    services.background.on_stop(projector.wake)
    return projector


def project_inline(services: Services,
                   follow: Callable[[int, int, set[str]], None] | None = None) -> None:
    """Commands of this process project their own events in their transaction while the
    read model is caught up and no other write waits (issue 21, decision 0130); until
    the process's background workers stop. `follow(first, last, streams)` hears of
    each projected append once it committed."""
    app = services.app
    if not isinstance(app.recorder, SqlApplicationRecorder):
        return
    inline = InlineProjection(app.mapper)
    inline.on_projected(lambda _first, _last, streams: services.views.invalidate(streams))
    if follow is not None:
        inline.on_projected(follow)
    recorder = app.recorder
    recorder.project_inline(inline)
    services.background.on_stop(lambda: recorder.project_inline(None))


KINDS = ("projections", "publisher", "consumer", "scheduler", "event-log", "webhooks", "mail")
BROKER_KINDS = ("publisher", "consumer")


def renew_leases_through_reader(services: Services) -> None:
    """Lease renewals in one autocommitted statement, through the store's reader."""
    recorder = services.app.recorder
    if isinstance(recorder, SqlApplicationRecorder):
        renew_through(services.engine, recorder.reader)


def start_inprocess_workers(services: Services) -> None:
    renew_leases_through_reader(services)
    start_projector(services)
    for name, worker in workers(services).items():
        if name == "projections":
            continue  # the projector above wakes on this process's appends
        if name in BROKER_KINDS and not services.settings.rabbitmq_host:
            continue
        services.background.spawn(f"sav-{name}", worker)


def workers(services: Services) -> dict[str, WorkerFn]:
    """`sav worker KIND` and the in-process threads: each kind with only what it uses."""
    app, engine, settings = services.app, services.engine, services.settings
    ttl = settings.worker_lease_ttl
    renew_leases_through_reader(services)
    jobs = scheduler.Jobs(app, engine, services.read_model, settings)
    return {
        "projections": lambda stop: projections.run(app, engine, ttl, stop),
        "publisher": lambda stop: publisher.run(app, engine, settings, stop),
        "consumer": lambda stop: consumer.run(app, services.read_model, settings, stop),
        "scheduler": lambda stop: scheduler.run(jobs, stop),
        "event-log": lambda stop: event_log.run(app, engine, ttl, stop),
        "webhooks": lambda stop: sender.run(app, engine, settings, stop),
        "mail": lambda stop: mail_worker.run(app, engine, settings, stop),
    }

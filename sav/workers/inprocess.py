"""Workers that `sav serve` runs inside the API process (unless SAV_INPROCESS_WORKERS=false).

An entry point: it receives the composed services and hands each worker its parts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sav.bootstrap import Services
from sav.projections.runner import Projector
from sav.workers import consumer, event_log, projections, publisher, scheduler

WorkerFn = Callable[[threading.Event], None]


def start_projector(services: Services) -> Projector:
    """Project in a thread of this process; appends wake it, its advances wake the
    requests waiting to read their writes."""
    projector = Projector(services.app.recorder, services.app.mapper, services.engine)
    services.app.on_append(projector.wake)
    projector.on_advance(services.read_model.advanced)
    services.read_model.advanced(projector.position)
    services.background.spawn("sav-projector", projector.run_forever)
    services.background.on_stop(projector.wake)
    return projector


KINDS = ("projections", "publisher", "consumer", "scheduler", "event-log")
BROKER_KINDS = ("publisher", "consumer")


def start_inprocess_workers(services: Services) -> None:
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
    jobs = scheduler.Jobs(app, engine, services.read_model, settings)
    return {
        "projections": lambda stop: projections.run(app, engine, ttl, stop),
        "publisher": lambda stop: publisher.run(app, engine, settings, stop),
        "consumer": lambda stop: consumer.run(app, services.read_model, settings, stop),
        "scheduler": lambda stop: scheduler.run(jobs, stop),
        "event-log": lambda stop: event_log.run(app, engine, ttl, stop),
    }

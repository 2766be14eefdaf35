"""The worker's own HTTP port (`SAV_WORKER_HEALTH_PORT`): `/health` and `/status`.

`/health` (liveness) is 200 while every worker thread of the process runs, 503 naming
the dead ones (the orchestrator restarts the process). `/status` says which jobs this
process holds now (its leases) and how far the projector and the publisher are behind;
503 when the database does not answer. A small standard-library server in a daemon
thread: it must answer even while the workers are busy or stuck.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from sqlalchemy import Engine

from sav.bootstrap import Services
from sav.commands.app import SavApplication
from sav.projections.lag import ReaderLag, reader_lag
from sav.projections.position import READ_MODEL
from sav.workers.lease import HELD, HeldLeases

log = logging.getLogger("sav.workers")

# Lease name → the job it stands for (other leases, e.g. a scheduler job's lock, are
# implementation details). The consumer holds no lease: the broker shares its queue out.
JOBS = {"projector:read_model": "projections", "publisher": "publisher",
        "consumer": "consumer", "scheduler": "scheduler", "projector:event_log": "event-log",
        "webhooks": "webhooks", "mail": "mail"}

# The job name → its tracking row.
READERS = {"projections": READ_MODEL, "publisher": "publisher"}

Lags = Callable[[], Mapping[str, ReaderLag]]


class WorkerHealth:
    """What `/health` and `/status` report, kept apart from HTTP so it is testable."""

    def __init__(self, kinds: list[str], threads: Mapping[str, threading.Thread],
                 lags: Lags, held: HeldLeases = HELD, service: str = "sav-worker") -> None:
        self.kinds = kinds
        self.threads = threads
        self.lags = lags
        self.held = held
        self.service = service

    def health(self) -> tuple[int, dict[str, Any]]:
        dead = sorted(kind for kind, thread in self.threads.items() if not thread.is_alive())
        if dead:
            return 503, {"status": "failing", "dead": dead}
        return 200, {"status": "ok", "service": self.service}

    def leases(self) -> list[str]:
        return sorted({JOBS[name] for name in self.held.names() if name in JOBS})

    def status(self) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {"status": "ok", "service": self.service, "kinds": self.kinds,
                                "leases": self.leases()}
        try:
            body["lag"] = {name: lag.as_json() for name, lag in self.lags().items()}
            body["database"] = "connected"
        except Exception:
            log.warning("worker status: the database does not answer", exc_info=True)
            body.update(status="degraded", database="unavailable", lag=None)
            return 503, body
        return 200, body


def serve_health(health: WorkerHealth, host: str, port: int) -> ThreadingHTTPServer:
    """Serve `health` on (host, port) in a daemon thread; `server.shutdown()` stops it."""
    routes = {"/health": health.health, "/status": health.status}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = routes.get(self.path.split("?", 1)[0])
            status, body = route() if route else (404, {"error": {
                "code": "not_found", "message": "only /health and /status here"}})
            raw = orjson.dumps(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # probes every few seconds: not worth a log line each

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="sav-worker-health",
                     daemon=True).start()
    return server


def reader_lags(app: SavApplication, engine: Engine) -> dict[str, ReaderLag]:
    """The lags that matter to clients: the read model's projector and the publisher."""
    return {job: reader_lag(engine, app.recorder, app.mapper, tracked)
            for job, tracked in READERS.items()}


def start_worker_health(services: Services, kinds: list[str]) -> ThreadingHTTPServer | None:
    """`sav worker`: serve its health on SAV_WORKER_HEALTH_HOST:PORT (None when the port
    is 0 or taken). Call after spawning the workers: their threads are named after their
    kinds."""
    settings = services.settings
    if not settings.worker_health_port:
        return None
    threads = {thread.name: thread for thread in services.background.threads
               if thread.name in kinds}
    health = WorkerHealth(kinds, threads, lambda: reader_lags(services.app, services.engine),
                          service=f"{settings.app_name}-worker")
    try:
        server = serve_health(health, settings.worker_health_host, settings.worker_health_port)
    except OSError as error:
        # The jobs matter more than their probe: run on, and say so loudly (a probe that
        # cannot connect restarts the process where one is configured).
        log.error("cannot serve /health on %s:%s (%s): set SAV_WORKER_HEALTH_PORT to a "
                  "free port, 0 turns it off", settings.worker_health_host,
                  settings.worker_health_port, error)
        return None
    log.info("serving /health and /status on %s:%s", settings.worker_health_host,
             settings.worker_health_port)
    return server

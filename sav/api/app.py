"""The Sanic app factory: blueprints, middleware, error map, what `app.ctx` holds, lifecycle."""

from __future__ import annotations

import itertools
from typing import Any

from sanic import Sanic

from sav.api import agents as agents_api
from sav.api import (
    attachments,
    auth,
    files,
    health,
    history,
    messages,
    public,
    satisfaction,
    tickets,
)
from sav.api import events as events_api
from sav.api import metrics as metrics_api
from sav.api.errors import SavErrorHandler
from sav.api.ratelimit import SlidingWindowLimiter
from sav.bootstrap import Services, bootstrap
from sav.config import Settings
from sav.projections.feed import EventFeed

_app_ids = itertools.count(1)

BLUEPRINTS = [health.bp, tickets.bp, messages.bp, public.bp, satisfaction.bp, attachments.bp,
              files.bp, agents_api.bp, metrics_api.bp, events_api.bp, history.bp]


def create_app(settings: Settings, services: Services | None = None) -> Sanic:
    """Build the API. Without `services` they are bootstrapped in `before_server_start`
    and closed in `after_server_stop`, so nothing connects here; tests pass theirs in."""
    # Sanic logs through the root logger, which `sav serve` configures for JSON lines.
    app = Sanic(f"sav_{next(_app_ids)}", error_handler=SavErrorHandler(),
                configure_logging=False)
    app.config.AUTO_EXTEND = False
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.REQUEST_MAX_SIZE = int(settings.max_attachment_bytes * 10 + 1024 * 1024)
    app.config.KEEP_ALIVE_TIMEOUT = 75
    for blueprint in BLUEPRINTS:
        app.blueprint(blueprint)
    app.register_middleware(auth.authenticate, "request")
    app.register_middleware(metrics_api.start_timer, "request", priority=100)
    app.register_middleware(metrics_api.observe, "response")
    owned = services is None
    fill_context(app, settings, services)

    @app.before_server_start
    async def start(app: Sanic, _: Any = None) -> None:
        if owned:
            fill_context(app, settings, started_services(settings))
        await app.ctx.services.storage.start()

    @app.after_server_stop
    async def stop(app: Sanic, _: Any = None) -> None:
        if app.ctx.remote_auth is not None:
            await app.ctx.remote_auth.close()
        if owned:
            await app.ctx.services.aclose()

    return app


def started_services(settings: Settings) -> Services:
    services = bootstrap(settings)
    if settings.inprocess_workers:
        from sav.workers.inprocess import start_inprocess_workers

        start_inprocess_workers(services)
    return services


def fill_context(app: Sanic, settings: Settings, services: Services | None) -> None:
    """Everything requests read from `app.ctx`, set here and nowhere else: by the factory
    (the JWT secret is generated before server processes fork), and again once the
    services are bootstrapped. Routes read it through the accessors of `sav.api.http`,
    `auth`, `metrics`, `ratelimit` and `events`. It outlives server start/stop cycles (ASGI
    lifespans: the remote-auth cache, the metrics) while the services do."""
    ctx = app.ctx
    ctx.settings = settings
    ctx.services = services  # what the app owns and closes; routes use the parts below
    if services is not None:
        ctx.reads = services.read_engine
        ctx.command_pool = services.commands
        ctx.read_model = services.read_model
        ctx.storage = services.storage
        ctx.views = services.views
        ctx.feed = EventFeed.of(services.app)
    ctx.store_head = events_api.new_store_head(app)
    ctx.jwt_secret = settings.jwt_secret() if settings.auth_mode == "jwt" else ""
    ctx.remote_auth = (auth.RemoteAuth(settings.auth_service_url)
                       if settings.auth_mode == "remote" else None)
    ctx.public_limiter = SlidingWindowLimiter(settings.public_rate_limit,
                                              settings.public_rate_window_seconds)
    ctx.metrics = metrics_api.ApiMetrics()
    if services is not None:
        ctx.metrics.watch(services.app, services.engine)

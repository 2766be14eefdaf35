"""The Sanic app factory: blueprints, middleware, error map, what `app.ctx` holds, lifecycle."""

from __future__ import annotations

import itertools
from functools import partial
from typing import Any

from sanic import Sanic

from sav.api import agents as agents_api
from sav.api import (
    attachments,
    auth,
    conventions,
    docs,
    files,
    health,
    history,
    messages,
    public,
    satisfaction,
    tickets,
)
from sav.api import bulk as bulk_api
from sav.api import events as events_api
from sav.api import inbound as inbound_api
from sav.api import links as links_api
from sav.api import live as live_api
from sav.api import macros as macros_api
from sav.api import metrics as metrics_api
from sav.api import privacy as privacy_api
from sav.api import sla as sla_api
from sav.api import webhooks as webhooks_api
from sav.api.connections import ConnectionCounts
from sav.api.errors import SavErrorHandler
from sav.api.idempotency import idempotent_posts
from sav.api.query import strict_lists
from sav.api.ratelimit import build_public_limiter, trusted_networks
from sav.bootstrap import Services, bootstrap
from sav.config import Settings
from sav.history.feed import EventFeed
from sav.projections.lag import reader_lag
from sav.projections.position import READ_MODEL

_app_ids = itertools.count(1)

BLUEPRINTS = [health.bp, tickets.bp, messages.bp, public.bp, satisfaction.bp, attachments.bp,
              files.bp, agents_api.bp, metrics_api.bp, events_api.bp, history.bp]
BLUEPRINTS.append(docs.bp)  # /docs, /asyncapi.json (sav.api.docs)
BLUEPRINTS.append(privacy_api.bp)  # /privacy/erasures (sav.api.privacy, issue 12)
BLUEPRINTS.append(webhooks_api.bp)  # /webhooks (sav.api.webhooks, issue 25)
BLUEPRINTS.append(live_api.bp)  # live streams, viewing (sav.api.live, issue 27)
BLUEPRINTS.append(sla_api.bp)  # /sla/calendar, /sla/policies (sav.api.sla, issue 23)
BLUEPRINTS.append(macros_api.bp)  # /macros, applying one (sav.api.macros, issue 26)
BLUEPRINTS.append(bulk_api.bp)  # POST /tickets/bulk (sav.api.bulk, issue 26)
BLUEPRINTS.append(links_api.bp)  # /tickets/{id}/links (sav.api.links, issue 26)
BLUEPRINTS.append(inbound_api.bp)  # /inbound/email (sav.api.inbound, issue 24)


def create_app(settings: Settings, services: Services | None = None) -> Sanic:
    """Build the API. Without `services` they are bootstrapped in `before_server_start`
    and closed in `after_server_stop`, so nothing connects here; tests pass theirs in."""
    # Sanic logs through the root logger, which `sav serve` configures for JSON lines.
    app = Sanic(f"sav_{next(_app_ids)}", error_handler=SavErrorHandler(),
                configure_logging=False)
    app.config.AUTO_EXTEND = False
    app.config.FALLBACK_ERROR_FORMAT = "json"
    # Every body is refused (413) beyond this before it is read: its Content-Length, or
    # as soon as a chunked body crosses it. Upload routes stream (`stream=True` lifts the
    # limit) and count their own larger one.
    app.config.REQUEST_MAX_SIZE = settings.max_json_body
    app.config.KEEP_ALIVE_TIMEOUT = 75
    for blueprint in BLUEPRINTS:
        app.blueprint(strict_lists(idempotent_posts(conventions.add_head(blueprint))))
    app.register_middleware(conventions.begin, "request", priority=200)
    app.register_middleware(conventions.finish, "response", priority=200)
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
        await app.ctx.public_limiter.close()
        if owned:
            await app.ctx.services.aclose()

    return app


def started_services(settings: Settings) -> Services:
    services = bootstrap(settings)
    if settings.inprocess_workers:
        from sav.workers.inprocess import start_inprocess_workers

        start_inprocess_workers(services)
    else:  # the workers run elsewhere; this process's commands still project themselves
        from sav.workers.inprocess import project_inline

        project_inline(services)
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
        ctx.projection_lag = partial(reader_lag, services.engine, services.app.recorder,
                                     services.app.mapper, READ_MODEL)
    ctx.store_head = events_api.new_store_head(app)
    ctx.jwt_secret = settings.jwt_secret() if settings.auth_mode == "jwt" else ""
    ctx.jwt_claims = (settings.auth_jwt_issuer, settings.auth_jwt_audience)
    ctx.remote_auth = (auth.RemoteAuth(settings.auth_service_url)
                       if settings.auth_mode == "remote" else None)
    ctx.public_limiter = build_public_limiter(
        settings.public_rate_limit, settings.public_rate_window_seconds,
        settings.signing_secret(), settings.redis_url,
        services.read_engine if services is not None else None)
    ctx.trusted_proxies = trusted_networks(settings.trusted_proxies)
    ctx.connection_counts = ConnectionCounts()  # sav.api.connections (`sav serve`)
    ctx.metrics = metrics_api.ApiMetrics()
    if services is not None:
        ctx.metrics.watch(services.app, services.engine,
                          publishing_paused=settings.rabbitmq_host is None)
        ctx.metrics.watch_scanner(services.storage.scanner)

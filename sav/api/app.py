"""The Sanic app factory: blueprints, auth middleware, error map, lifecycle."""

from __future__ import annotations

import itertools
from typing import Any

from sanic import Sanic

from sav.api import agents as agents_api
from sav.api import attachments, auth, files, health, messages, public, satisfaction, tickets
from sav.api import metrics as metrics_api
from sav.api.errors import SavErrorHandler
from sav.config import Settings
from sav.runtime import Runtime

_app_ids = itertools.count(1)

BLUEPRINTS = [health.bp, tickets.bp, messages.bp, public.bp, satisfaction.bp, attachments.bp,
              files.bp, agents_api.bp]


def create_app(settings: Settings, runtime: Runtime | None = None) -> Sanic:
    """Build the API. Connections are opened in `before_server_start`, not here,
    unless a ready `runtime` is passed in (tests share one)."""
    # Sanic logs through the root logger, which `sav serve` configures for JSON lines.
    app = Sanic(f"sav_{next(_app_ids)}", error_handler=SavErrorHandler(),
                configure_logging=False)
    app.config.AUTO_EXTEND = False
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.REQUEST_MAX_SIZE = int(settings.max_attachment_bytes * 10 + 1024 * 1024)
    app.config.KEEP_ALIVE_TIMEOUT = 75
    app.ctx.settings = settings
    app.ctx.runtime = runtime
    app.ctx.remote_auth = None
    app.ctx.remote_auth_cache = {}  # outlives a server start/stop cycle (ASGI lifespans)
    app.ctx.jwt_secret = settings.jwt_secret() if settings.auth_mode == "jwt" else ""
    for blueprint in BLUEPRINTS:
        app.blueprint(blueprint)
    app.register_middleware(auth.authenticate, "request")

    @app.before_server_start
    async def start(app: Sanic, _: Any = None) -> None:
        if app.ctx.runtime is None:
            app.ctx.runtime = Runtime.build(settings)
            app.ctx.owns_runtime = True
            if settings.inprocess_workers:
                from sav.workers.inprocess import start_inprocess_workers

                start_inprocess_workers(app.ctx.runtime)
        if settings.auth_mode == "remote":
            app.ctx.remote_auth = auth.RemoteAuth(settings.auth_service_url,
                                                  cache=app.ctx.remote_auth_cache)
        await app.ctx.runtime.start_storage()

    @app.after_server_stop
    async def stop(app: Sanic, _: Any = None) -> None:
        if app.ctx.remote_auth is not None:
            await app.ctx.remote_auth.close()
            app.ctx.remote_auth = None
        if getattr(app.ctx, "owns_runtime", False):
            await app.ctx.runtime.aclose()

    metrics_api.install(app)
    return app

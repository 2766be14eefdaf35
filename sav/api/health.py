"""Health, readiness and the OpenAPI document (built by `sav.api.openapi`)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sanic import Blueprint, HTTPResponse, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from sav.api import http
from sav.api.openapi import document_bytes
from sav.projections.lag import ReaderLag
from sav.storage.lifecycle import Storage

bp = Blueprint("health")
log = logging.getLogger("sav.api")


@bp.get("/health")
async def health_route(request: Request) -> HTTPResponse:
    """Liveness: the process serves requests."""
    return http.json({"status": "ok", "service": http.settings(request).app_name})


@bp.get("/status")
async def status_route(request: Request) -> HTTPResponse:
    """Readiness: the database and the blob store answer, and the projector is not stuck
    (it has not advanced for SAV_PROJECTION_STALL_SECONDS while events wait): 503
    `degraded` otherwise, since writes would only time out waiting for their read."""
    checks = {"database": await database_check(http.reads(request)),
              "storage": await storage_check(http.storage(request))}
    ok = all(value == "connected" for value in checks.values())
    body: dict[str, Any] = {**checks, "projection_position": None, "projection": None}
    lag = await projection_lag(request) if checks["database"] == "connected" else None
    if lag is None:
        body["database"] = "unavailable"
        ok = False
    else:
        stalled = bool(lag.events) and (
            lag.stalled_seconds > http.settings(request).projection_stall_seconds)
        body.update(projection_position=lag.position,
                    projection={**lag.as_json(), "stalled": stalled})
        ok = ok and not stalled
    body = {"status": "ok" if ok else "degraded", **body}
    headers = {} if ok else {"Retry-After": "5"}
    return http.json(body, status=200 if ok else 503, headers=headers)


async def projection_lag(request: Request) -> ReaderLag | None:
    """The read model's lag, or None when the event store cannot be read."""
    try:
        lag: ReaderLag = await asyncio.to_thread(request.app.ctx.projection_lag)
    except Exception:
        log.warning("status: cannot read the projection lag", exc_info=True)
        return None
    return lag


async def database_check(engine: AsyncEngine) -> str:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return "unavailable"
    return "connected"


async def storage_check(blobs: Storage) -> str:
    try:
        return "connected" if await blobs.ready() else "unavailable"
    except Exception:
        return "unavailable"


@bp.get("/openapi.json")
async def openapi_route(request: Request) -> HTTPResponse:
    """The OpenAPI 3.1 description of every route."""
    return HTTPResponse(document_bytes(request.app), content_type="application/json")

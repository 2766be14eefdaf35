"""Liveness, readiness, status and the OpenAPI document (built by `sav.api.openapi`).

Three questions, three routes, for three askers:

- `/health` (liveness: restart me?): the process answers at all.
- `/ready` (readiness: send me traffic?): this pod can serve, i.e. its process answers
  and reaches the database. Nothing shared by every pod beyond that: a stuck worker or a
  lagging projector must not take every API pod out of the Service at once (reads would
  go down with it); the blob store only matters to attachments.
- `/status` (operators, alerts): everything, the projector's lag included; 503
  `degraded` when something is wrong anywhere.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from pydantic import BaseModel
from sanic import Blueprint, HTTPResponse, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from sav.api import http
from sav.api.errors import ApiError
from sav.api.openapi import document_bytes, responds
from sav.eventstore.galera import SYNCED, node_state
from sav.projections.lag import ReaderLag
from sav.storage.lifecycle import Storage

bp = Blueprint("health")
log = logging.getLogger("sav.api")

# Below the probe's own timeout (k8s/deployment-api.yaml: 3 s), so a database that does
# not answer gives a clear 503 rather than a probe timeout.
READY_DATABASE_TIMEOUT = 2.0


class PodReadiness(BaseModel):
    status: Literal["ready"]
    database: Literal["connected"]


@bp.get("/health")
async def health_route(request: Request) -> HTTPResponse:
    """Liveness: the process serves requests; on a Galera cluster also its database node
    answers and is Synced (else 503: replace or drain this process, every request it
    takes would fail or wait)."""
    if await galera_node_down(request):
        raise ApiError(503, "dependency_unavailable",
                       "this process's database node is gone or not synced with its cluster",
                       headers={"Retry-After": "5"})
    return http.json({"status": "ok", "service": http.settings(request).app_name})


async def galera_node_down(request: Request) -> bool:
    """True when the database is a Galera node that is unreachable or not Synced. Which
    kind of server it is is learnt at the first answer (a plain server: never asked again)."""
    engine = http.reads(request)
    known: bool | None = getattr(request.app.ctx, "galera_node", None)
    if known is False or engine.dialect.name != "mysql":
        return False
    try:
        state = await asyncio.wait_for(galera_state(engine), READY_DATABASE_TIMEOUT)
    except Exception:
        return bool(known)  # unreachable: down, if it is a Galera node
    request.app.ctx.galera_node = state is not None
    return state is not None and state != SYNCED


async def galera_state(engine: AsyncEngine) -> int | None:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: node_state(sync))


@bp.get("/ready")
@responds(200, PodReadiness, description="this pod can serve: send it traffic")
@responds(503)
async def ready_route(request: Request) -> HTTPResponse:
    """Readiness of this pod: the process answers and reaches the database.

    Not the workers, the projector's lag or the blob store (see `/status`): those are
    shared by every pod, and taking them all out of the Service would stop reads too.
    """
    try:
        database = await asyncio.wait_for(database_check(http.reads(request)),
                                          READY_DATABASE_TIMEOUT)
    except TimeoutError:
        database = "unavailable"
    if database == "connected" and await galera_node_down(request):
        database = "unavailable"
    if database != "connected":
        raise ApiError(503, "dependency_unavailable", "the database is unavailable",
                       headers={"Retry-After": "5"})
    return http.json({"status": "ready", "database": database})


@bp.get("/status")
async def status_route(request: Request) -> HTTPResponse:
    """Readiness: the database, the blob store and the virus scanner (when one is
    configured) answer, and the projector is not stuck
    (it has not advanced for SAV_PROJECTION_STALL_SECONDS while events wait): 503
    `degraded` otherwise, since writes would only time out waiting for their read."""
    checks = {"database": await database_check(http.reads(request)),
              "storage": await storage_check(http.storage(request))}
    ok = all(value == "connected" for value in checks.values())
    scanner = await scanner_check(http.storage(request))
    ok = ok and scanner != "unavailable"
    body: dict[str, Any] = {**checks, "scanner": scanner, "projection_position": None,
                            "projection": None}
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


async def scanner_check(storage: Storage) -> str:
    """`off` (none configured: uploads stored unscanned), `connected` or `unavailable`
    (uploads get 503, or are stored unscanned with SAV_CLAMAV_FAIL_OPEN)."""
    if not storage.scanner.configured:
        return "off"
    return "connected" if await storage.scanner.ping() else "unavailable"


@bp.get("/openapi.json")
async def openapi_route(request: Request) -> HTTPResponse:
    """The OpenAPI 3.1 description of every route."""
    return HTTPResponse(document_bytes(request.app), content_type="application/json")

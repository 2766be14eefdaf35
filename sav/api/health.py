"""Health, readiness and the OpenAPI document."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from sanic import Blueprint, HTTPResponse, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from sav import __version__
from sav.api import http
from sav.api.auth import is_public
from sav.api.body import request_body
from sav.api.query import query_parameters
from sav.storage.lifecycle import Storage

bp = Blueprint("health")

_PARAM = re.compile(r"<(\w+)(?::[^>]*)?>")


@bp.get("/health")
async def health_route(request: Request) -> HTTPResponse:
    """Liveness: the process serves requests."""
    return http.json({"status": "ok", "service": http.settings(request).app_name})


@bp.get("/status")
async def status_route(request: Request) -> HTTPResponse:
    """Readiness: the database and the blob store answer."""
    checks = {"database": await database_check(http.reads(request)),
              "storage": await storage_check(http.storage(request))}
    ok = all(value == "connected" for value in checks.values())
    projected = await asyncio.to_thread(http.read_model(request).current) if ok else None
    body: dict[str, Any] = {"status": "ok" if ok else "degraded", **checks,
                            "projection_position": projected}
    return http.json(body, status=200 if ok else 503)


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
    return http.json(openapi_document(request.app))


def openapi_document(app: Any) -> dict[str, Any]:
    """Built from what the routes declare: paths, docstrings, query strings, request bodies."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for route in app.router.routes:
        path = "/" + _PARAM.sub(r"{\1}", route.path).lstrip("/")
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM.findall(route.path)
        ] + query_parameters(route.handler)
        declared = request_body(route.handler)
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            doc = (route.handler.__doc__ or route.name).strip().splitlines()[0]
            operation: dict[str, Any] = {
                "summary": doc,
                "operationId": route.name.replace(".", "_") + "_" + method.lower(),
                "parameters": params,
                "responses": {"200": {"description": "OK"},
                              "default": {"$ref": "#/components/responses/Error"}},
            }
            if not is_public(path):
                operation["security"] = [{"bearer": []}]
            if declared is not None:
                operation["requestBody"] = declared.openapi(schemas)
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "SAV ticket service", "version": __version__},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "bearerFormat": "JWT"}},
            "responses": {"Error": {"description": "Error envelope", "content": {
                "application/json": {"schema": {"type": "object", "properties": {
                    "error": {"type": "object", "properties": {
                        "code": {"type": "string"}, "message": {"type": "string"},
                        "details": {}}}}}}}}},
        },
    }

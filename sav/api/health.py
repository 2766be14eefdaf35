"""Health, readiness and the OpenAPI document."""

from __future__ import annotations

import re
from typing import Any

from sanic import Blueprint, HTTPResponse, Request
from sqlalchemy import text

from sav import __version__
from sav.api.auth import is_public
from sav.api.http import json, runtime

bp = Blueprint("health")

_PARAM = re.compile(r"<(\w+)(?::[^>]*)?>")


@bp.get("/health")
async def health_route(request: Request) -> HTTPResponse:
    """Liveness: the process serves requests."""
    return json({"status": "ok", "service": request.app.ctx.settings.app_name})


@bp.get("/status")
async def status_route(request: Request) -> HTTPResponse:
    """Readiness: the database (and the blob store, when configured) answer."""
    rt = runtime(request)
    checks: dict[str, str] = {}
    try:
        async with rt.read_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "connected"
    except Exception:
        checks["database"] = "unavailable"
    for name, probe in getattr(rt, "readiness_probes", {}).items():
        try:
            checks[name] = "connected" if await probe() else "unavailable"
        except Exception:
            checks[name] = "unavailable"
    ok = all(value == "connected" for value in checks.values())
    projected = await rt.projected_position() if ok else None
    body: dict[str, Any] = {"status": "ok" if ok else "degraded", **checks,
                            "projection_position": projected}
    return json(body, status=200 if ok else 503)


@bp.get("/openapi.json")
async def openapi_route(request: Request) -> HTTPResponse:
    """The OpenAPI 3.1 description of every route."""
    return json(openapi_document(request.app))


def openapi_document(app: Any) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes:
        path = "/" + _PARAM.sub(r"{\1}", route.path).lstrip("/")
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM.findall(route.path)
        ]
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
            model = getattr(route.handler, "sav_body_model", None)
            if model is not None and method in ("POST", "PUT"):
                operation["requestBody"] = {"required": True, "content": {
                    "application/json": {"schema": model.model_json_schema()}}}
            elif "attachments" in path and method == "POST":
                field = "files" if path.endswith("/multiple") else "file"
                operation["requestBody"] = {"required": True, "content": {
                    "multipart/form-data": {"schema": {"type": "object", "required": [field],
                                            "properties": {field: {"type": "string",
                                                                   "format": "binary"},
                                                           "message_id": {"type": "string"}}}}}}
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "SAV ticket service", "version": __version__},
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "bearerFormat": "JWT"}},
            "responses": {"Error": {"description": "Error envelope", "content": {
                "application/json": {"schema": {"type": "object", "properties": {
                    "error": {"type": "object", "properties": {
                        "code": {"type": "string"}, "message": {"type": "string"},
                        "details": {}}}}}}}}},
        },
    }

"""GDPR erasure routes (admins): `POST /privacy/erasures`, `GET /privacy/erasures/{id}`."""

from __future__ import annotations

import logging
from uuid import UUID

from pydantic import BaseModel
from sanic import Blueprint, HTTPResponse, Request

from sav.api import http
from sav.api.auth import current_actor
from sav.api.body import JsonBody, deferred_body
from sav.api.errors import ApiError
from sav.api.openapi import responds
from sav.commands.actor import Actor
from sav.privacy.erasure import (
    EraseSubject,
    delete_objects,
    erase_subject,
    erasure_status,
    key_store,
    purge_remnants,
)
from sav.storage.base import BlobStoreError

bp = Blueprint("privacy")
# Erasures whose database remnants this process purged (`purge_remnants`, once each).
PURGED: set[UUID] = set()
log = logging.getLogger("sav.privacy")


class ErasureStatus(BaseModel):
    id: str
    status: str


def require_admin(request: Request) -> Actor:
    actor = current_actor(request)
    if not actor.is_admin:
        raise ApiError(403, "forbidden", "only admins erase personal data")
    return actor


@bp.post("/privacy/erasures")
@responds(202, ErasureStatus, description="keys destroyed; read models follow")
@deferred_body(EraseSubject)
async def erase_route(request: Request, body: JsonBody[EraseSubject]) -> HTTPResponse:
    """Erase a data subject (`{"user_id"}` or `{"email"}`): their personal data becomes
    unreadable everywhere; poll the returned id until `done`."""
    actor = require_admin(request)
    cmd = body.parse(request)
    erased = await http.command_pool(request).run(erase_subject, actor, cmd)
    try:
        blobs = await http.storage(request).get()
        await delete_objects(blobs, erased.ticket_ids)
    except BlobStoreError:
        # The keys are gone and the erasure recorded; the objects stay until a retry of
        # the same erasure (idempotent) reaches the store. Said in the answer.
        log.warning("erasure %s: attachment objects not deleted (storage unavailable)",
                    erased.erasure_id)
        raise ApiError(503, "dependency_unavailable",
                       "personal data erased, attachment storage unreachable: retry the "
                       "same erasure to delete the files", {"id": str(erased.erasure_id)}
                       ) from None
    return http.json({"id": str(erased.erasure_id), "status": "pending"}, status=202)


@bp.get("/privacy/erasures/<erasure_id:str>")
@responds(200, ErasureStatus)
async def erasure_route(request: Request, erasure_id: str) -> HTTPResponse:
    """`pending` until every read model applied the erasure, then `done`."""
    require_admin(request)
    try:
        key = UUID(erasure_id)
    except ValueError:
        raise ApiError(404, "not_found", "no such erasure") from None
    pool, read_model = http.command_pool(request), http.read_model(request)
    status = await pool.call(lambda: erasure_status(pool.app, read_model.current(), key))
    if status is None:
        raise ApiError(404, "not_found", "no such erasure")
    if status == "done" and key not in PURGED:
        await pool.call(purge_remnants, read_model.engine, key_store(pool.app).engine)
        PURGED.add(key)
    return http.json({"id": str(key), "status": status})

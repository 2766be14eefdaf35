"""Attachment routes: upload (one or many), list, get, download URL, delete, by message."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from sanic import Blueprint, HTTPResponse, Request

from sav.api.auth import current_actor
from sav.api.errors import ApiError
from sav.api.http import (
    etag,
    idempotent,
    json,
    page,
    pagination,
    resolve_ticket_id,
    runtime,
    wait_until_visible,
)
from sav.api.uploads import read_upload_form
from sav.commands import attachments as commands
from sav.commands.actor import Actor
from sav.commands.policy import can_see
from sav.projections.attachments import (
    attachment_json,
    find_attachment,
    list_attachments,
    visible_attachments,
)
from sav.projections.ticket_queries import find_ticket

bp = Blueprint("attachments")

DOWNLOAD_URL_TTL_S = 3600
MAX_MESSAGE_ID_CHARS = 64


async def visible_ticket(request: Request, ticket_ref: str, actor: Actor) -> Any:
    """The ticket's read-model row, or 404 when missing or hidden from the caller."""
    ticket_id = await resolve_ticket_id(request, ticket_ref)
    async with runtime(request).read_engine.connect() as conn:
        row = await find_ticket(conn, str(ticket_id))
    if row is None or not can_see(actor, row.user_id, row.assigned_to, row.status):
        raise ApiError(404, "not_found", "ticket not found")
    return row


async def visible_attachment(request: Request, ticket_ref: str, attachment_id: str,
                             actor: Actor) -> Any:
    ticket = await visible_ticket(request, ticket_ref, actor)
    async with runtime(request).read_engine.connect() as conn:
        row = await find_attachment(conn, ticket.id, attachment_id, actor)
    if row is None:
        raise ApiError(404, "not_found", "attachment not found")
    return row


def message_id_of(value: str | None) -> str | None:
    if not value:
        return None
    if len(value) > MAX_MESSAGE_ID_CHARS:
        raise ApiError(422, "validation_failed", "message_id is too long",
                       [{"field": "message_id", "message": "too long"}])
    return value


async def upload(request: Request, ticket_ref: str, file_field: str,
                 max_files: int) -> HTTPResponse:
    actor = current_actor(request)
    rt = runtime(request)
    ticket_id = await resolve_ticket_id(request, ticket_ref)
    # Fail fast, before megabytes are read for a ticket the caller cannot attach to.
    await rt.call(commands.check_upload, rt.app, actor, ticket_id, None)
    max_bytes = rt.settings.max_attachment_bytes

    async def produce() -> HTTPResponse:
        form = await read_upload_form(request, file_field=file_field,
                                      text_fields={"message_id"}, max_files=max_files,
                                      max_file_bytes=max_bytes)
        message_id = message_id_of(form.fields.get("message_id")
                                   or request.args.get("message_id"))
        # Content sniffing of up to 10 files is CPU work: off the event loop.
        staged = await rt.call(commands.stage_files, form.files, max_bytes)
        outcome = await commands.upload_attachments(
            rt.call, rt.app, await rt.storage(), actor, ticket_id, message_id, staged)
        await wait_until_visible(rt, outcome.position, {"ticket_id": str(ticket_id)})
        created = await uploaded_rows(request, ticket_id, outcome.attachment_ids, actor)
        headers = etag(outcome.version)  # the ticket's new version, like every write
        if max_files == 1:
            return json(created[0], status=201, headers=headers)
        return json({"data": created}, status=201, headers=headers)

    return await idempotent(request, produce)


async def uploaded_rows(request: Request, ticket_id: UUID, ids: list[str],
                        actor: Actor) -> list[dict[str, Any]]:
    async with runtime(request).read_engine.connect() as conn:
        rows = {row.id: row for row in await visible_attachments(conn, str(ticket_id), actor)}
    return [attachment_json(rows[i]) for i in ids if i in rows]


@bp.post("/tickets/<ticket_ref:str>/attachments", stream=True)
async def upload_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """Upload one attachment (multipart field `file`, optional `message_id`)."""
    return await upload(request, ticket_ref, "file", 1)


@bp.post("/tickets/<ticket_ref:str>/attachments/multiple", stream=True)
async def upload_many_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """Upload several attachments at once (multipart field `files`, optional `message_id`)."""
    return await upload(request, ticket_ref, "files", commands.MAX_FILES_PER_UPLOAD)


@bp.get("/tickets/<ticket_ref:str>/attachments")
async def list_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """List a ticket's attachments the caller may see, oldest first."""
    actor = current_actor(request)
    limit, cursor = pagination(request)
    ticket = await visible_ticket(request, ticket_ref, actor)
    async with runtime(request).read_engine.connect() as conn:
        rows, next_cursor = await list_attachments(conn, ticket.id, actor, limit, cursor)
    return json(page([attachment_json(row) for row in rows], limit, next_cursor))


@bp.get("/tickets/<ticket_ref:str>/attachments/message/<message_id:str>")
async def by_message_route(request: Request, ticket_ref: str, message_id: str) -> HTTPResponse:
    """List the attachments of one message of the ticket."""
    actor = current_actor(request)
    limit, cursor = pagination(request)
    ticket = await visible_ticket(request, ticket_ref, actor)
    async with runtime(request).read_engine.connect() as conn:
        rows, next_cursor = await list_attachments(
            conn, ticket.id, actor, limit, cursor, message_id=message_id_of(message_id))
    return json(page([attachment_json(row) for row in rows], limit, next_cursor))


@bp.get("/tickets/<ticket_ref:str>/attachments/<attachment_id:str>")
async def get_route(request: Request, ticket_ref: str, attachment_id: str) -> HTTPResponse:
    """Get an attachment's metadata."""
    actor = current_actor(request)
    row = await visible_attachment(request, ticket_ref, attachment_id, actor)
    return json(attachment_json(row))


@bp.get("/tickets/<ticket_ref:str>/attachments/<attachment_id:str>/download")
async def download_route(request: Request, ticket_ref: str, attachment_id: str) -> HTTPResponse:
    """A presigned download URL for the attachment, valid for one hour."""
    actor = current_actor(request)
    row = await visible_attachment(request, ticket_ref, attachment_id, actor)
    blobs = await runtime(request).storage()
    # Taken before signing, so the URL never expires earlier than announced.
    expires_at = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(
        seconds=DOWNLOAD_URL_TTL_S)
    url = await blobs.presigned_url(row.file_path, DOWNLOAD_URL_TTL_S)
    return json({"url": url, "expires_at": expires_at.isoformat().replace("+00:00", "Z")})


@bp.delete("/tickets/<ticket_ref:str>/attachments/<attachment_id:str>")
async def delete_route(request: Request, ticket_ref: str, attachment_id: str) -> HTTPResponse:
    """Delete an attachment and its stored file (the uploader, agents and admins)."""
    actor = current_actor(request)
    row = await visible_attachment(request, ticket_ref, attachment_id, actor)
    rt = runtime(request)
    outcome = await commands.delete_attachment(
        rt.call, rt.app, await rt.storage(), actor, UUID(row.ticket_id), attachment_id)
    await wait_until_visible(rt, outcome.position, {"ticket_id": row.ticket_id})
    return json({"success": True, "message": "attachment deleted", "id": attachment_id},
                headers=etag(outcome.version))

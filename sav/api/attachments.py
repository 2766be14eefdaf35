"""Attachment routes: upload (one or many), list, get, download URL, delete, by message."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import unquote
from uuid import UUID

from sanic import Blueprint, HTTPResponse, Request

from sav.api import http, schemas
from sav.api.auth import current_actor
from sav.api.body import MultipartBody, multipart_body
from sav.api.errors import ApiError
from sav.api.openapi import PATH_SCHEMAS, documents_query, responds
from sav.commands import attachments as commands
from sav.commands.actor import Actor
from sav.projections.attachments import (
    attachment_json,
    find_attachment,
    list_attachments,
    visible_attachments,
)
from sav.projections.messages import find_message

bp = Blueprint("attachments")

DOWNLOAD_URL_TTL_S = 3600
MAX_MESSAGE_ID_CHARS = PATH_SCHEMAS["message_id"]["maxLength"]  # as documented


async def visible_attachment(request: Request, ticket_ref: str, attachment_id: str,
                             actor: Actor) -> Any:
    ticket = await http.visible_ticket(request, ticket_ref, actor)
    async with http.reads(request).connect() as conn:
        row = await find_attachment(conn, ticket.id, attachment_id, actor)
    if row is None:
        raise ApiError(404, "not_found", "attachment not found")
    return row


def message_id_of(value: str | None) -> str | None:
    """The path's message id, percent-decoded (the document's length is of the decoded
    value: Sanic hands path parameters over as they came)."""
    if not value:
        return None
    value = unquote(value)
    if len(value) > MAX_MESSAGE_ID_CHARS:
        raise ApiError(422, "validation_failed", "message_id is too long",
                       [{"field": "message_id", "message": "too long"}])
    return value


async def upload(request: Request, ticket_ref: str, form: MultipartBody) -> HTTPResponse:
    actor = current_actor(request)
    pool = http.command_pool(request)
    ticket_id = await http.resolve_ticket_id(request, ticket_ref)
    # Fail fast, before megabytes are read for a ticket the caller cannot attach to.
    await pool.run(commands.check_upload, actor, ticket_id, None)
    max_bytes = http.settings(request).max_attachment_bytes
    received = await form.read(request, max_bytes)
    message_id = message_id_of(received.fields.get("message_id")
                               or request.args.get("message_id"))
    # Content sniffing of up to 10 files is CPU work: off the event loop.
    staged = await pool.call(commands.stage_files, received.files, max_bytes)
    storage = http.storage(request)
    outcome = await commands.upload_attachments(
        pool.call, pool.app, await storage.get(), actor, ticket_id, message_id, staged,
        scanner=storage.scanner, field=form.file_field)
    await http.wait_until_visible(request, outcome.position, {"ticket_id": str(ticket_id)})
    created = await uploaded_rows(request, ticket_id, outcome.attachment_ids, actor)
    headers = http.etag(outcome.version)  # the ticket's new version, like every write
    if form.max_files == 1:
        return http.json(created[0], status=201, headers=headers)
    return http.json({"data": created}, status=201, headers=headers)


async def uploaded_rows(request: Request, ticket_id: UUID, ids: list[str],
                        actor: Actor) -> list[dict[str, Any]]:
    async with http.reads(request).connect() as conn:
        rows = {row.id: row for row in await visible_attachments(conn, str(ticket_id), actor)}
    return [attachment_json(rows[i]) for i in ids if i in rows]


@bp.post("/tickets/<ticket_ref:str>/attachments", stream=True)
@responds(201, schemas.Attachment, etag=True)
@multipart_body("file", max_files=1)
async def upload_route(request: Request, ticket_ref: str, form: MultipartBody) -> HTTPResponse:
    """Upload one attachment (multipart field `file`, optional `message_id`)."""
    return await upload(request, ticket_ref, form)


@bp.post("/tickets/<ticket_ref:str>/attachments/multiple", stream=True)
@responds(201, schemas.Attachments, etag=True)
@multipart_body("files", max_files=commands.MAX_FILES_PER_UPLOAD)
async def upload_many_route(request: Request, ticket_ref: str,
                            form: MultipartBody) -> HTTPResponse:
    """Upload several attachments at once (multipart field `files`, optional `message_id`)."""
    return await upload(request, ticket_ref, form)


@bp.get("/tickets/<ticket_ref:str>/attachments")
@responds(200, schemas.AttachmentPage)
@documents_query(schemas.PageQuery)
async def list_route(request: Request, ticket_ref: str) -> HTTPResponse:
    """List a ticket's attachments the caller may see, oldest first."""
    actor = current_actor(request)
    limit, cursor = http.pagination(request)
    ticket = await http.visible_ticket(request, ticket_ref, actor)
    async with http.reads(request).connect() as conn:
        rows, next_cursor = await list_attachments(conn, ticket.id, actor, limit, cursor)
    return http.json(http.page([attachment_json(row) for row in rows], limit, next_cursor))


@bp.get("/tickets/<ticket_ref:str>/attachments/message/<message_id:str>")
@responds(200, schemas.AttachmentPage)
@documents_query(schemas.PageQuery)
async def by_message_route(request: Request, ticket_ref: str, message_id: str) -> HTTPResponse:
    """List the attachments of one message of the ticket (404 when the message itself is:
    an internal note for a customer, a removed or unknown message)."""
    actor = current_actor(request)
    limit, cursor = http.pagination(request)
    ticket = await http.visible_ticket(request, ticket_ref, actor)
    async with http.reads(request).connect() as conn:
        # One answer for a message, whichever route asks: no empty list for a hidden one.
        wanted = message_id_of(message_id)
        if wanted is None or await find_message(conn, ticket.id, wanted, actor) is None:
            raise ApiError(404, "not_found", "message not found")
        rows, next_cursor = await list_attachments(conn, ticket.id, actor, limit, cursor,
                                                   message_id=wanted)
    return http.json(http.page([attachment_json(row) for row in rows], limit, next_cursor))


@bp.get("/tickets/<ticket_ref:str>/attachments/<attachment_id:str>")
@responds(200, schemas.Attachment)
async def get_route(request: Request, ticket_ref: str, attachment_id: str) -> HTTPResponse:
    """Get an attachment's metadata."""
    actor = current_actor(request)
    row = await visible_attachment(request, ticket_ref, attachment_id, actor)
    return http.json(attachment_json(row))


@bp.get("/tickets/<ticket_ref:str>/attachments/<attachment_id:str>/download")
@responds(200, schemas.DownloadLink)
async def download_route(request: Request, ticket_ref: str, attachment_id: str) -> HTTPResponse:
    """A presigned download URL for the attachment, valid for one hour."""
    actor = current_actor(request)
    row = await visible_attachment(request, ticket_ref, attachment_id, actor)
    if not row.file_path:  # erased with its subject (issue 12): the file is deleted too
        raise ApiError(404, "not_found", "the attachment's file was erased")
    blobs = await http.storage(request).get()
    # Taken before signing, so the URL never expires earlier than announced.
    expires_at = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(
        seconds=DOWNLOAD_URL_TTL_S)
    url = await blobs.presigned_url(row.file_path, DOWNLOAD_URL_TTL_S)
    return http.json({"url": url, "expires_at": expires_at.isoformat().replace("+00:00", "Z")})


@bp.delete("/tickets/<ticket_ref:str>/attachments/<attachment_id:str>")
@responds(200, schemas.Deleted, etag=True)
async def delete_route(request: Request, ticket_ref: str, attachment_id: str) -> HTTPResponse:
    """Delete an attachment and its stored file (the uploader, agents and admins)."""
    actor = current_actor(request)
    row = await visible_attachment(request, ticket_ref, attachment_id, actor)
    pool = http.command_pool(request)
    outcome = await commands.delete_attachment(
        pool.call, pool.app, await http.storage(request).get(), actor, UUID(row.ticket_id),
        attachment_id)
    await http.wait_until_visible(request, outcome.position, {"ticket_id": row.ticket_id})
    return http.json({"success": True, "message": "attachment deleted", "id": attachment_id},
                     headers=http.etag(outcome.version))

"""Attachment commands: upload (store the object, then record it) and delete.

The object store and the event store cannot share a transaction, so the order is
chosen to leave neither orphans nor dangling rows: an upload stores the object first
and records `AttachmentAdded` second, deleting the object if the append fails; a
delete records `AttachmentRemoved` first and deletes the object second.

Every upload, whatever its route, goes through `upload_attachments`, which has every
file scanned (`sav.storage.scanner`) before the first byte is stored: one infected file
rejects them all (docs/decisions/0110-virus-scanning.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from sav.commands.actor import Actor
from sav.commands.app import AddedAttachments, RemovedAttachment, SavApplication
from sav.commands.policy import command_handler, require_visible
from sav.events.errors import NotFoundError, PermissionDeniedError, RuleViolationError
from sav.events.ticket import Ticket
from sav.storage.base import BlobStore, BlobStoreError
from sav.storage.files import file_type_for, safe_file_name, sniff_content_type
from sav.storage.scanner import Scanner

log = logging.getLogger("sav.attachments")

MAX_FILES_PER_UPLOAD = 10

# Runs a synchronous command off the event loop (`CommandPool.call` in the API).
Call = Callable[..., Awaitable[Any]]


class AttachmentTooLargeError(RuleViolationError):
    """A file is over MAX_ATTACHMENT_SIZE_MB (413)."""

    code = "payload_too_large"


class UnsupportedFileTypeError(RuleViolationError):
    """The file's content is not on the allow-list, whatever its name says (415)."""

    code = "unsupported_file_type"


class InfectedFileError(RuleViolationError):
    """The virus scanner found a signature in a file (422; the details name it)."""

    code = "infected"


@dataclass(frozen=True)
class IncomingFile:
    """A file as the client sent it: untrusted name, raw bytes."""

    file_name: str
    data: bytes


@dataclass(frozen=True)
class StagedFile:
    """A file that passed validation, with its id, safe name and sniffed type."""

    attachment_id: str
    file_name: str
    mime_type: str
    data: bytes
    scanned: bool = False  # a virus scanner said it is clean

    def key(self, ticket_id: UUID) -> str:
        return f"tickets/{ticket_id}/{self.attachment_id}/{self.file_name}"


def stage_files(files: Sequence[IncomingFile], max_bytes: int) -> list[StagedFile]:
    """Validate every file before anything is stored: one bad file rejects them all."""
    if not files:
        raise RuleViolationError("no file was uploaded", {"field": "file"})
    if len(files) > MAX_FILES_PER_UPLOAD:
        raise RuleViolationError(f"at most {MAX_FILES_PER_UPLOAD} files per upload",
                                 {"field": "files"})
    return [_stage(incoming, max_bytes) for incoming in files]


def _stage(incoming: IncomingFile, max_bytes: int) -> StagedFile:
    name = safe_file_name(incoming.file_name)
    if len(incoming.data) > max_bytes:
        raise AttachmentTooLargeError(f"{name} is larger than {max_bytes} bytes",
                                      {"file_name": name, "max_bytes": max_bytes})
    if not incoming.data:
        raise RuleViolationError(f"{name} is empty", {"file_name": name})
    mime = sniff_content_type(incoming.data)
    if mime is None:
        raise UnsupportedFileTypeError(
            f"{name}: only images, PDF, office documents and plain text are accepted",
            {"file_name": name})
    return StagedFile(str(uuid4()), name, mime, incoming.data)


def require_can_attach(ticket: Ticket, actor: Actor, message_id: str | None) -> None:
    """Customers attach to their own tickets, staff to visible ones; never to a closed
    ticket; a `message_id` must be a message of this ticket the caller can see."""
    require_visible(ticket, actor)
    ticket.require_open_conversation()
    if message_id is not None:
        try:
            ticket.visible_message(message_id, actor.role)
        except NotFoundError:
            raise NotFoundError("message not found", {"field": "message_id"}) from None


@command_handler
def check_upload(app: SavApplication, actor: Actor, ticket_id: UUID,
                 message_id: str | None) -> None:
    """The same rules as the append, checked before any byte is stored."""
    require_can_attach(app.get_ticket(ticket_id), actor, message_id)


@command_handler
def record_attachments(app: SavApplication, actor: Actor, ticket_id: UUID,
                       message_id: str | None, staged: Sequence[StagedFile]
                       ) -> AddedAttachments:
    """Append one AttachmentAdded per file, all in one save (all or nothing)."""

    def change(ticket: Ticket) -> None:
        require_can_attach(ticket, actor, message_id)
        for item in staged:
            ticket.add_attachment({
                "attachment_id": item.attachment_id, "message_id": message_id,
                "user_id": actor.user_id, "file_name": item.file_name,
                "file_path": item.key(ticket_id), "file_type": file_type_for(item.mime_type),
                "file_size": len(item.data), "mime_type": item.mime_type,
                "scanned": item.scanned,
            }, by=actor.who)

    ticket, _, position = app.change_ticket(ticket_id, change)
    ids = [item.attachment_id for item in staged]
    return AddedAttachments(ticket.id, ticket.version, position, ids)


async def upload_attachments(call: Call, app: SavApplication, blobs: BlobStore, actor: Actor,
                             ticket_id: UUID, message_id: str | None,
                             staged: Sequence[StagedFile], *, scanner: Scanner,
                             field: str = "file") -> AddedAttachments:
    """Check, scan, store the objects, then record them; no orphan object on any failure.

    `scanner` is required so no upload path can skip it (`NoScanner` when none is
    configured); `field` names the form field in an `infected` error's details."""
    await call(check_upload, app, actor, ticket_id, message_id)
    staged = await scan_files(scanner, staged, actor, ticket_id, field)
    stored: list[str] = []
    try:
        for item in staged:
            key = item.key(ticket_id)
            stored.append(key)  # before put: a failed put may still have written
            await blobs.put(key, item.data, item.mime_type)
    except BaseException:
        await _discard(blobs, stored)
        raise
    append = asyncio.ensure_future(
        call(record_attachments, app, actor, ticket_id, message_id, staged))
    try:
        outcome: AddedAttachments = await asyncio.shield(append)
    except asyncio.CancelledError:
        # The client went away, but the append runs on in its thread: keep the
        # objects if it commits, so no row ever points at a deleted object.
        if not await _succeeded(append):
            await _discard(blobs, stored)
        raise
    except BaseException:
        await _discard(blobs, stored)
        raise
    return outcome


async def scan_files(scanner: Scanner, staged: Sequence[StagedFile], actor: Actor,
                     ticket_id: UUID, field: str) -> list[StagedFile]:
    """Every file scanned before any is stored: InfectedFileError on the first detection,
    ScannerUnavailableError (503) when clamd cannot answer and fail-open is off."""
    scanned = []
    for item in staged:
        verdict = await scanner.scan(item.data)
        if verdict.signature is not None:
            # Never the content (nor the client's name): the hash finds the file again.
            log.warning("upload refused: %s found in a file (sha256 %s, %d bytes) for "
                        "ticket %s by %s", verdict.signature,
                        hashlib.sha256(item.data).hexdigest(), len(item.data), ticket_id,
                        actor.label)
            raise InfectedFileError(f"{item.file_name} contains a virus ({verdict.signature})",
                                    {"field": field, "message": verdict.signature})
        scanned.append(dataclasses.replace(item, scanned=verdict.scanned))
    return scanned


async def _succeeded(task: asyncio.Future[Any]) -> bool:
    try:
        await task
    except Exception:
        return False
    return True


async def _discard(blobs: BlobStore, keys: Sequence[str]) -> None:
    for key in keys:
        try:
            await blobs.delete(key)
        except BlobStoreError:
            log.error("could not delete unrecorded attachment object %r", key, exc_info=True)


@command_handler
def remove_attachment_record(app: SavApplication, actor: Actor, ticket_id: UUID,
                             attachment_id: str) -> RemovedAttachment:
    """Append AttachmentRemoved: the uploader, or staff who can see the ticket."""

    def change(ticket: Ticket) -> str:
        require_visible(ticket, actor)
        found = ticket.attachment(attachment_id)
        if not actor.is_staff and found.user_id != actor.user_id:
            raise PermissionDeniedError("only the uploader or staff may delete an attachment")
        ticket.remove_attachment(attachment_id, by=actor.who)
        return found.file_path

    ticket, file_path, position = app.change_ticket(ticket_id, change)
    return RemovedAttachment(ticket.id, ticket.version, position, attachment_id, file_path)


async def delete_attachment(call: Call, app: SavApplication, blobs: BlobStore, actor: Actor,
                            ticket_id: UUID, attachment_id: str) -> RemovedAttachment:
    """Record the removal, then delete the object (a failed delete is logged, not undone)."""
    outcome: RemovedAttachment = await call(remove_attachment_record, app, actor, ticket_id,
                                            attachment_id)
    try:
        await blobs.delete(outcome.file_path)
    except BlobStoreError:
        log.error("attachment %s removed but its object %r could not be deleted",
                  attachment_id, outcome.file_path, exc_info=True)
    return outcome

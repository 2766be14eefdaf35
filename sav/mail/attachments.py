"""A mail's attachments through the same checks as an upload (type by content, size,
the virus scanner: `sav.commands.attachments`). A refused file is dropped and noted on
the ticket in an internal note; the mail itself still opens or continues the ticket."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from uuid import UUID, uuid4

from sav.commands.app import SavApplication
from sav.commands.attachments import (
    Call,
    IncomingFile,
    InfectedFileError,
    stage_files,
    upload_attachments,
)
from sav.commands.messages import PostMessage, post_message
from sav.events.errors import RuleViolationError
from sav.mail.inbound import MAIL_ACTOR
from sav.mail.parse import Attachment
from sav.storage.base import BlobStoreError
from sav.storage.lifecycle import Storage
from sav.storage.scanner import ScannerUnavailableError

log = logging.getLogger("sav.mail")
MAX_FILES = 10


async def attach(call: Call, app: SavApplication, storage: Storage | None, max_bytes: int,
                 ticket_id: UUID, message_id: str | None,
                 files: Sequence[Attachment]) -> list[str]:
    """Store each acceptable file on the ticket; the refused ones' reasons, noted."""
    refused: list[str] = []
    for index, item in enumerate(files):
        name = item.filename
        if index >= MAX_FILES:
            refused.append(f"{name}: at most {MAX_FILES} files per mail")
            continue
        try:
            staged = await call(stage_files, [IncomingFile(name, item.data)], max_bytes)
            if storage is None:
                raise BlobStoreError("no attachment storage")
            await upload_attachments(call, app, await storage.get(), MAIL_ACTOR, ticket_id,
                                     message_id, staged, scanner=storage.scanner,
                                     field="attachment")
        except (RuleViolationError, InfectedFileError) as error:
            refused.append(f"{name}: {error}")
        except (BlobStoreError, ScannerUnavailableError) as error:
            log.warning("mail: attachment %s of ticket %s not stored: %r", name, ticket_id,
                        error)
            refused.append(f"{name}: could not be stored or scanned ({error})")
    if refused:
        note = "Attachments of the customer's mail that were not kept:\n" + "\n".join(
            f"- {line}" for line in refused)
        await call(post_message, app, MAIL_ACTOR, ticket_id,
                   PostMessage(content=note[:50_000], is_internal=True), message_id=uuid4())
    return refused

"""Attachment commands: validation before anything is stored, who may attach and remove,
and the store-then-record order on the local-disk blob store (no orphan, no dangling row)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from sav.commands import attachments, messages
from sav.commands.actor import Actor
from sav.commands.app import SavApplication
from sav.commands.attachments import (
    MAX_FILES_PER_UPLOAD,
    AttachmentTooLargeError,
    IncomingFile,
    UnsupportedFileTypeError,
    stage_files,
)
from sav.events.errors import (
    NotFoundError,
    PermissionDeniedError,
    RuleViolationError,
    TicketClosedError,
)
from sav.storage.base import BlobStoreError
from sav.storage.local import LocalBlobStore
from sav.storage.scanner import NoScanner
from tests.support.domain import (
    ACTORS,
    ADMIN,
    AGENT,
    CUSTOMER,
    OTHER_CUSTOMER,
    attachment_ids_of,
    events_of,
    file_path_of,
    message_id_of,
    move,
    open_ticket,
    ticket_in,
)

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
TEXT = b"Order 42 arrived broken.\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(44) + b"PE\x00\x00"
LIMIT = 1024


def staged(*files: tuple[str, bytes]) -> list[attachments.StagedFile]:
    return stage_files([IncomingFile(name, data) for name, data in files], LIMIT)


# -- staging: every file is checked before any byte is stored -----------------------------


def test_a_file_is_typed_by_its_content_not_its_name() -> None:
    [item] = staged(("holiday.png", PDF))
    assert (item.mime_type, item.file_name) == ("application/pdf", "holiday.png")


def test_a_file_gets_a_harmless_name() -> None:
    [item] = staged(("../../etc/passwd.txt", TEXT))
    assert item.file_name == "passwd.txt"


def test_each_file_gets_its_own_id_and_key() -> None:
    first, second = staged(("a.pdf", PDF), ("a.pdf", PDF))
    assert first.attachment_id != second.attachment_id
    ticket_id = UUID(int=7)
    assert first.key(ticket_id) == f"tickets/{ticket_id}/{first.attachment_id}/a.pdf"


@pytest.mark.parametrize(("files", "error"), [
    ([], RuleViolationError),
    ([("a.pdf", PDF)] * (MAX_FILES_PER_UPLOAD + 1), RuleViolationError),
    ([("big.pdf", PDF + b"x" * LIMIT)], AttachmentTooLargeError),
    ([("empty.pdf", b"")], RuleViolationError),
    ([("setup.pdf", EXE)], UnsupportedFileTypeError),
    ([("ok.pdf", PDF), ("setup.exe", EXE)], UnsupportedFileTypeError),
])
def test_bad_uploads_are_refused_whole(files: list[tuple[str, bytes]],
                                       error: type[Exception]) -> None:
    with pytest.raises(error):
        staged(*files)


def test_the_size_limit_is_inclusive() -> None:
    data = PDF + b" " * (LIMIT - len(PDF))
    assert len(staged(("exact.pdf", data))) == 1


def test_too_large_and_unsupported_have_their_own_codes() -> None:
    assert AttachmentTooLargeError.code == "payload_too_large"
    assert UnsupportedFileTypeError.code == "unsupported_file_type"


# -- recording -------------------------------------------------------------------------------


def record(app: SavApplication, actor: Actor, ticket_id: UUID, message_id: str | None = None,
           files: tuple[tuple[str, bytes], ...] = (("invoice.pdf", PDF),)) -> Any:
    return attachments.record_attachments(app, actor, ticket_id, message_id, staged(*files))


def test_customer_attaches_to_own_ticket_in_one_append(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    version = app.get_ticket(ticket_id).version
    outcome = record(app, CUSTOMER, ticket_id,
                     files=(("invoice.pdf", PDF), ("notes.txt", TEXT)))
    assert len(attachment_ids_of(outcome)) == 2
    added = [e for e in events_of(app, ticket_id)
             if type(e).__qualname__ == "Ticket.AttachmentAdded"]
    assert [(e.file_type, e.mime_type) for e in added] == [
        ("pdf", "application/pdf"), ("text", "text/plain")]
    assert outcome.version == version + 2


@pytest.mark.parametrize(("who", "status", "error"), [
    ("other_customer", "open", NotFoundError),
    ("customer", "closed", TicketClosedError),
    ("admin", "closed", TicketClosedError),
])
def test_who_may_attach(app: SavApplication, who: str, status: str,
                        error: type[Exception]) -> None:
    ticket_id = ticket_in(app, status)
    with pytest.raises(error):
        record(app, ACTORS[who], ticket_id)


def test_an_attachment_may_belong_to_a_message_of_the_ticket(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    message_id = message_id_of(messages.post_message(
        app, CUSTOMER, ticket_id, messages.PostMessage(content="see attached")))
    record(app, CUSTOMER, ticket_id, message_id)
    with pytest.raises(NotFoundError):
        record(app, CUSTOMER, ticket_id, "no-such-message")


def test_customer_cannot_attach_to_an_internal_note(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    note = message_id_of(messages.post_message(
        app, AGENT, ticket_id, messages.PostMessage(content="staff", is_internal=True)))
    with pytest.raises(NotFoundError):
        record(app, CUSTOMER, ticket_id, note)
    record(app, AGENT, ticket_id, note)


# -- removing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("uploader", "remover", "error"), [
    ("customer", "customer", None),
    ("customer", "agent", None),
    ("customer", "admin", None),
    ("agent", "customer", PermissionDeniedError),
    ("agent", "admin", None),
])
def test_the_uploader_or_staff_remove_an_attachment(app: SavApplication, uploader: str,
                                                    remover: str,
                                                    error: type[Exception] | None) -> None:
    ticket_id = open_ticket(app)
    [attachment_id] = attachment_ids_of(record(app, ACTORS[uploader], ticket_id))
    if error is not None:
        with pytest.raises(error):
            attachments.remove_attachment_record(app, ACTORS[remover], ticket_id, attachment_id)
        return
    outcome = attachments.remove_attachment_record(app, ACTORS[remover], ticket_id,
                                                   attachment_id)
    assert file_path_of(outcome).endswith(f"/{attachment_id}/invoice.pdf")
    with pytest.raises(NotFoundError):
        attachments.remove_attachment_record(app, ADMIN, ticket_id, attachment_id)


def test_attachments_of_a_closed_ticket_are_final(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    [attachment_id] = attachment_ids_of(record(app, CUSTOMER, ticket_id))
    move(app, ticket_id, "close")
    with pytest.raises(TicketClosedError):
        attachments.remove_attachment_record(app, ADMIN, ticket_id, attachment_id)


def test_another_customer_cannot_remove_an_attachment(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    [attachment_id] = attachment_ids_of(record(app, CUSTOMER, ticket_id))
    with pytest.raises(NotFoundError):
        attachments.remove_attachment_record(app, OTHER_CUSTOMER, ticket_id, attachment_id)


# -- store then record, on local disk -----------------------------------------------------------


async def call(fn: Callable[..., Any], *args: Any) -> Any:
    """Stands in for the runtime's command pool: runs the command right here."""
    return fn(*args)


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


NO_SCANNER = NoScanner()


@pytest.fixture
async def blobs(tmp_path: Path) -> LocalBlobStore:
    store = LocalBlobStore(tmp_path / "blobs", "http://sav.test", b"signing-secret")
    await store.start()
    return store


async def test_upload_stores_the_object_then_records_it(app: SavApplication,
                                                        blobs: LocalBlobStore,
                                                        tmp_path: Path) -> None:
    ticket_id = open_ticket(app)
    items = staged(("invoice.pdf", PDF))
    outcome = await attachments.upload_attachments(call, app, blobs, CUSTOMER, ticket_id, None,
                                                   items, scanner=NO_SCANNER)
    assert attachment_ids_of(outcome) == [items[0].attachment_id]
    assert await blobs.read(items[0].key(ticket_id)) == PDF


async def test_a_refused_upload_stores_nothing(app: SavApplication, blobs: LocalBlobStore,
                                               tmp_path: Path) -> None:
    ticket_id = ticket_in(app, "closed")
    with pytest.raises(TicketClosedError):
        await attachments.upload_attachments(call, app, blobs, CUSTOMER, ticket_id, None,
                                             staged(("invoice.pdf", PDF)), scanner=NO_SCANNER)
    assert stored_files(tmp_path / "blobs") == []


async def test_a_failed_append_leaves_no_orphan_object(app: SavApplication,
                                                       blobs: LocalBlobStore,
                                                       tmp_path: Path) -> None:
    ticket_id = open_ticket(app)

    async def close_first(fn: Callable[..., Any], *args: Any) -> Any:
        if fn is attachments.record_attachments:  # the ticket closes while bytes upload
            move(app, ticket_id, "close")
        return fn(*args)

    with pytest.raises(TicketClosedError):
        await attachments.upload_attachments(close_first, app, blobs, CUSTOMER, ticket_id,
                                             None, staged(("a.pdf", PDF), ("b.txt", TEXT)),
                                             scanner=NO_SCANNER)
    assert stored_files(tmp_path / "blobs") == []


async def test_delete_records_the_removal_then_deletes_the_object(
        app: SavApplication, blobs: LocalBlobStore, tmp_path: Path) -> None:
    ticket_id = open_ticket(app)
    items = staged(("invoice.pdf", PDF))
    await attachments.upload_attachments(call, app, blobs, CUSTOMER, ticket_id, None, items,
                                         scanner=NO_SCANNER)
    outcome = await attachments.delete_attachment(call, app, blobs, CUSTOMER, ticket_id,
                                                  items[0].attachment_id)
    assert file_path_of(outcome) == items[0].key(ticket_id)
    assert stored_files(tmp_path / "blobs") == []


class UndeletableBlobStore(LocalBlobStore):
    async def delete(self, key: str) -> None:
        raise BlobStoreError("disk went read-only")


async def test_a_failed_object_delete_does_not_undo_the_removal(app: SavApplication,
                                                               tmp_path: Path) -> None:
    store = UndeletableBlobStore(tmp_path / "blobs", "http://sav.test", b"secret")
    await store.start()
    ticket_id = open_ticket(app)
    items = staged(("invoice.pdf", PDF))
    await attachments.upload_attachments(call, app, store, CUSTOMER, ticket_id, None, items,
                                         scanner=NO_SCANNER)
    await attachments.delete_attachment(call, app, store, CUSTOMER, ticket_id,
                                        items[0].attachment_id)
    with pytest.raises(NotFoundError):
        attachments.remove_attachment_record(app, ADMIN, ticket_id, items[0].attachment_id)

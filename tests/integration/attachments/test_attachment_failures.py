"""Attachment failures on both blob stores and both database profiles: limits while
streaming, and neither orphan objects nor events without an object."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import OperationalError

from sav.bootstrap import Services
from sav.commands.actor import Actor
from sav.commands.tickets import close_ticket
from sav.storage import BlobStoreError
from tests.support.attachments import (
    DEAD_S3,
    EXE,
    PDF,
    event_count,
    stored_keys,
    upload,
)
from tests.support.http import AGENT, CUSTOMER, Client, create_ticket


async def test_one_bad_file_rejects_the_whole_multiple_upload(client: Client,
                                                              services: Services) -> None:
    ticket = await create_ticket(client)
    before = event_count(services)
    files = [("files", ("a.pdf", PDF, "application/pdf")),
             ("files", ("b.pdf", EXE, "application/pdf"))]
    response = await client.post(f"/tickets/{ticket['id']}/attachments/multiple",
                                 as_=CUSTOMER, files=files)
    assert response.status == 415, response
    assert stored_keys(services, ticket["id"]) == [] and event_count(services) == before


async def test_oversized_file_is_413_nothing_stored_no_event(client: Client,
                                                             services: Services) -> None:
    ticket = await create_ticket(client)
    before = event_count(services)
    too_big = PDF + bytes(services.settings.max_attachment_bytes)
    response = await upload(client, ticket["id"], data=too_big)
    assert response.status == 413 and response.json["error"]["code"] == "payload_too_large"
    assert stored_keys(services, ticket["id"]) == [] and event_count(services) == before


async def test_oversized_stream_is_refused_before_it_ends(client: Client,
                                                          services: Services) -> None:
    ticket = await create_ticket(client)
    boundary = "sav-boundary"
    chunk = bytes(64 * 1024)
    total_chunks = 2 * services.settings.max_attachment_bytes // len(chunk)
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
               f"filename=\"big.pdf\"\r\n\r\n%PDF-1.4\n").encode()
        for _ in range(total_chunks):
            sent += 1
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await client.post(
        f"/tickets/{ticket['id']}/attachments", as_=CUSTOMER, content=body(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert response.status == 413
    assert sent < total_chunks * 0.6  # the rest of the body was never read
    assert stored_keys(services, ticket["id"]) == []


async def test_no_orphan_when_ticket_closes_during_upload(
        client: Client, services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    ticket = await create_ticket(client)
    blobs = await services.storage.get()
    real_put = blobs.put

    async def close_then_put(key: str, data: bytes, content_type: str) -> None:
        await services.commands.run(close_ticket, Actor(*AGENT), UUID(ticket["id"]))
        await real_put(key, data, content_type)

    monkeypatch.setattr(blobs, "put", close_then_put)
    before = event_count(services)
    response = await upload(client, ticket["id"])
    assert response.status == 409, response
    assert stored_keys(services, ticket["id"]) == []
    assert event_count(services) == before + 1  # only the close


async def test_no_orphan_when_the_append_fails(
        client: Client, services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    ticket = await create_ticket(client)

    def failing_record(*aggregates: Any) -> int | None:
        raise OperationalError("event store went away")

    monkeypatch.setattr(services.app, "record", failing_record)
    response = await upload(client, ticket["id"])
    assert response.status == 503, response
    assert stored_keys(services, ticket["id"]) == []


async def test_no_event_and_no_orphan_when_a_put_fails_midway(
        client: Client, services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    ticket = await create_ticket(client)
    blobs = await services.storage.get()
    real_put = blobs.put
    calls = 0

    async def second_put_fails(key: str, data: bytes, content_type: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise BlobStoreError("connection reset by the object store")
        await real_put(key, data, content_type)

    monkeypatch.setattr(blobs, "put", second_put_fails)
    before = event_count(services)
    files = [("files", (f"{n}.pdf", PDF, "application/pdf")) for n in range(3)]
    response = await client.post(f"/tickets/{ticket['id']}/attachments/multiple",
                                 as_=CUSTOMER, files=files)
    assert response.status == 503, response
    assert calls == 2 and event_count(services) == before
    assert stored_keys(services, ticket["id"]) == []


@pytest.mark.parametrize("settings_env", [DEAD_S3])
async def test_no_event_when_the_upload_fails(client: Client, services: Services) -> None:
    ticket = await create_ticket(client)
    before = event_count(services)
    response = await upload(client, ticket["id"])
    assert response.status == 503 and response.json["error"]["code"] == "dependency_unavailable"
    assert event_count(services) == before
    listed = await client.get(f"/tickets/{ticket['id']}/attachments", as_=CUSTOMER)
    assert listed.json["data"] == []
    status = await client.get("/status")
    assert status.status == 503 and status.json["storage"] == "unavailable"

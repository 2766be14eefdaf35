"""Uploads scanned by a real clamd (tests/support/clamd.py) before anything is stored,
on both profiles: local disk with SQLite, the S3 server with MariaDB.

EICAR is refused (422 `infected`, nothing stored, appended or listed, a metric and a
log line without the content), a clean file passes, one infected file of several
rejects them all; a stopped clamd gives 503 `scanner_unavailable` with Retry-After,
or with SAV_CLAMAV_FAIL_OPEN the file stored as `"scanned": false`."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from uuid import uuid4

import pytest

from sav.bootstrap import Services
from tests.integration.test_metrics import scrape, value
from tests.support.attachments import LOCAL, PDF, S3_KEYS, event_count, stored_keys, upload
from tests.support.clamd import SIGNATURE, Clamd, eicar, start_clamd
from tests.support.http import AGENT, CUSTOMER, Client, create_ticket

MULTIPLE = "/tickets/{id}/attachments/multiple"


@pytest.fixture(scope="module")
def clamd() -> Iterator[Clamd]:
    """One clamd for the module; 1 MiB streams at most (the limit is tested too)."""
    server = start_clamd(stream_max_length="1M")
    yield server
    server.stop()


@pytest.fixture
def own_clamd() -> Iterator[Clamd]:
    """A clamd for one test, which the test stops."""
    server = start_clamd()
    yield server
    server.stop()


@pytest.fixture
def silent_clamd() -> Iterator[int]:
    """A port that takes connections and never answers (a clamd stuck or overloaded)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


@pytest.fixture
def scanner() -> str:
    """Which scanner settings a test runs with (parametrized by the tests that differ)."""
    return "clamd"


@pytest.fixture
def settings_env(profile: str, scanner: str, request: pytest.FixtureRequest
                 ) -> dict[str, str]:
    """Local disk with SQLite, S3 (moto) with MariaDB; the scanner the test asks for."""
    if profile == "sqlite":
        env = dict(LOCAL)
    else:
        env = {"MINIO_ENDPOINT": request.getfixturevalue("s3_endpoint"), **S3_KEYS,
               "MINIO_BUCKET": f"sav-{uuid4().hex[:12]}"}
    if scanner == "clamd":
        env.update(request.getfixturevalue("clamd").env)
    elif scanner == "socket":
        env["SAV_CLAMAV_SOCKET"] = str(request.getfixturevalue("clamd").socket_path)
    elif scanner in ("own", "own_fail_open"):
        env.update(request.getfixturevalue("own_clamd").env)
        if scanner == "own_fail_open":
            env["SAV_CLAMAV_FAIL_OPEN"] = "true"
    elif scanner == "silent":
        env.update(SAV_CLAMAV_HOST="127.0.0.1", SAV_CLAMAV_TIMEOUT="0.5",
                   SAV_CLAMAV_PORT=str(request.getfixturevalue("silent_clamd")))
    return env


async def visible_attachments(client: Client, ticket_id: str) -> list[dict[str, object]]:
    listed = await client.get(f"/tickets/{ticket_id}/attachments", as_=AGENT)
    assert listed.status == 200, listed
    data: list[dict[str, object]] = listed.json["data"]
    return data


def assert_infected(response: object, field: str) -> None:
    assert response.status == 422, response  # type: ignore[attr-defined]
    error = response.json["error"]  # type: ignore[attr-defined]
    assert error["code"] == "infected"
    [detail] = error["details"]
    assert detail["field"] == field and detail["message"].startswith(SIGNATURE), detail


async def test_eicar_is_refused_and_nothing_is_stored(
        client: Client, services: Services, caplog: pytest.LogCaptureFixture) -> None:
    ticket = await create_ticket(client)
    before = event_count(services)
    with caplog.at_level(logging.WARNING, logger="sav.attachments"):
        response = await upload(client, ticket["id"], "invoice.txt", eicar())
    assert_infected(response, "file")
    assert stored_keys(services, ticket["id"]) == []
    assert event_count(services) == before
    assert await visible_attachments(client, ticket["id"]) == []
    [line] = [r.getMessage() for r in caplog.records if "upload refused" in r.getMessage()]
    assert SIGNATURE in line and ticket["id"] in line
    assert eicar().decode() not in line and "invoice.txt" not in line
    samples = await scrape(client)
    assert value(samples, "sav_attachment_scans_total", result="infected") == 1


async def test_a_clean_file_is_scanned_and_stored(client: Client, services: Services) -> None:
    ticket = await create_ticket(client)
    response = await upload(client, ticket["id"], "invoice.pdf", PDF)
    assert response.status == 201, response
    assert response.json["scanned"] is True
    assert stored_keys(services, ticket["id"]) == [response.json["file_path"]]
    [listed] = await visible_attachments(client, ticket["id"])
    assert listed["scanned"] is True
    samples = await scrape(client)
    assert value(samples, "sav_attachment_scans_total", result="clean") == 1


async def test_one_infected_file_rejects_the_whole_multiple_upload(
        client: Client, services: Services) -> None:
    ticket = await create_ticket(client)
    before = event_count(services)
    files = [("files", ("a.pdf", PDF, "application/pdf")),
             ("files", ("b.txt", eicar(), "text/plain")),
             ("files", ("c.log", b"2024-01-01 INFO fine\n", "text/plain"))]
    response = await client.post(MULTIPLE.format(id=ticket["id"]), as_=CUSTOMER, files=files)
    assert_infected(response, "files")
    assert stored_keys(services, ticket["id"]) == []
    assert event_count(services) == before
    assert await visible_attachments(client, ticket["id"]) == []
    clean = [files[0], files[2]]
    accepted = await client.post(MULTIPLE.format(id=ticket["id"]), as_=CUSTOMER, files=clean)
    assert accepted.status == 201, accepted
    assert [a["scanned"] for a in accepted.json["data"]] == [True, True]


@pytest.mark.parametrize("scanner", ["socket"])
async def test_the_unix_socket_is_used_when_set(client: Client, services: Services) -> None:
    ticket = await create_ticket(client)
    assert_infected(await upload(client, ticket["id"], "x.txt", eicar()), "file")
    clean = await upload(client, ticket["id"])
    assert clean.status == 201 and clean.json["scanned"] is True


async def test_a_file_over_clamds_stream_limit_is_not_stored(
        client: Client, services: Services) -> None:
    ticket = await create_ticket(client)
    big = b"a log line that repeats\n" * 50_000  # 1.2 MB, over the 1M StreamMaxLength
    response = await upload(client, ticket["id"], "big.log", big)
    assert response.status == 503 and response.json["error"]["code"] == "scanner_unavailable"
    assert stored_keys(services, ticket["id"]) == []


@pytest.mark.parametrize("scanner", ["own"])
async def test_a_stopped_clamd_gives_503_and_stores_nothing(
        client: Client, services: Services, own_clamd: Clamd) -> None:
    ticket = await create_ticket(client)
    assert (await upload(client, ticket["id"], "first.pdf")).status == 201
    status = await client.get("/status")
    assert status.json["scanner"] == "connected"
    own_clamd.stop()
    before = event_count(services)
    response = await upload(client, ticket["id"], "second.pdf")
    assert response.status == 503, response
    assert response.json["error"]["code"] == "scanner_unavailable"
    assert int({k.lower(): v for k, v in response.headers.items()}["retry-after"]) > 0
    assert len(stored_keys(services, ticket["id"])) == 1
    assert event_count(services) == before
    status = await client.get("/status")
    assert status.status == 503 and status.json["scanner"] == "unavailable"
    samples = await scrape(client)
    assert value(samples, "sav_attachment_scans_total", result="error") == 1


@pytest.mark.parametrize("scanner", ["silent"])
async def test_a_clamd_that_does_not_answer_in_time_gives_503(
        client: Client, services: Services) -> None:
    ticket = await create_ticket(client)
    before = event_count(services)
    response = await upload(client, ticket["id"], "invoice.pdf")
    assert response.status == 503, response
    assert response.json["error"]["code"] == "scanner_unavailable"
    assert "retry-after" in {k.lower() for k in response.headers}
    assert stored_keys(services, ticket["id"]) == []
    assert event_count(services) == before


@pytest.mark.parametrize("scanner", ["own_fail_open"])
async def test_fail_open_stores_the_file_unscanned(
        client: Client, services: Services, own_clamd: Clamd) -> None:
    ticket = await create_ticket(client)
    own_clamd.stop()
    response = await upload(client, ticket["id"], "invoice.pdf")
    assert response.status == 201, response
    assert response.json["scanned"] is False
    assert stored_keys(services, ticket["id"]) == [response.json["file_path"]]
    [listed] = await visible_attachments(client, ticket["id"])
    assert listed["scanned"] is False
    samples = await scrape(client)
    assert value(samples, "sav_attachment_scans_total", result="unscanned") == 1


@pytest.mark.parametrize("scanner", ["none"])
async def test_without_a_scanner_files_are_stored_unscanned(
        client: Client, services: Services) -> None:
    ticket = await create_ticket(client)
    response = await upload(client, ticket["id"], "invoice.pdf")
    assert response.status == 201 and response.json["scanned"] is False
    status = await client.get("/status")
    assert status.json["scanner"] == "off"

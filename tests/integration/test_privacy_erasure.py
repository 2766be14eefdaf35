"""GDPR erasure proof (issue 12), on both profiles: personal data seeded as unique markers
through the API (customer ticket, metadata, messages, an attachment's name, resolution,
satisfaction comment, the public form) and the `order.issue` consumer's command, the
subjects erased, then every place scanned:
raw bytes of every file under SAV_DATA_DIR (the SQLite database, its WAL, the key store,
the attachment files), every table of the MariaDB database, the ticket routes, history,
time travel, search, the export, and the read model after a fresh replay. Nothing of
theirs is found; another customer's data is untouched."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import inspect, text

from sav.bootstrap import Services
from sav.commands.platform import (
    message_key,
    open_issue_ticket,
    parse_message,
    platform_ticket_id,
)
from sav.config import Settings
from sav.privacy import erasure
from sav.storage import BlobStore, LocalBlobStore, S3BlobStore
from sav.workers.projections import check, replay
from tests.support.attachments import upload
from tests.support.http import ADMIN, AGENT, CUSTOMER, OTHER_CUSTOMER, Client, create_ticket


def marker(kind: str) -> str:
    """A unique word (letters only: full-text indexes keep it as one token)."""
    return f"zq{kind}" + "".join(chr(97 + int(c, 16) % 26) for c in uuid.uuid4().hex[:12])


@pytest.fixture(autouse=True)
def quick_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    # One process here: the key cache of others needs no waiting (the rule is tested apart).
    monkeypatch.setattr(erasure, "CACHE_SECONDS", 0.0)


async def seed_customer(client: Client, marks: dict[str, str]) -> dict[str, Any]:
    ticket = await create_ticket(client, subject=f"Parcel {marks['subject']}",
                                 description=f"card ends 4242 {marks['description']}",
                                 metadata={"address": marks["metadata"]})
    base = f"/tickets/{ticket['id']}"
    posted = await client.post(f"{base}/messages", as_=CUSTOMER,
                               json={"content": f"call me {marks['message']}"})
    assert posted.status == 201, posted
    assert (await upload(client, ticket["id"], f"{marks['file']}.pdf")).status == 201
    assert (await client.post(f"{base}/assign", as_=AGENT,
                              json={"agent_id": AGENT[0]})).status == 200
    reply = await client.post(f"{base}/messages", as_=AGENT,
                              json={"content": f"Dear {marks['reply']}"})
    assert reply.status == 201, reply
    resolved = await client.post(f"{base}/resolve", as_=AGENT,
                                 json={"resolution": f"sent to {marks['resolution']}"})
    assert resolved.status == 200, resolved
    rated = await client.post(f"{base}/satisfaction", as_=CUSTOMER,
                              json={"rating": 4, "comment": f"thanks {marks['comment']}"})
    assert rated.status == 200, rated
    return ticket


async def seed_consumer(services: Services, marks: dict[str, str]) -> None:
    """An `order.issue` from the platform, through the consumer's own command."""
    body = orjson.dumps({"user_id": CUSTOMER[0], "order_id": "o-42", "issue_type": "missing",
                         "customer_name": f"Jo {marks['consumer']}",
                         "description": f"leave it at {marks['consumer']}"})
    issue = parse_message("order.issue", body)
    ticket_id = platform_ticket_id("order.issue", message_key(None, body))
    outcome = await services.commands.call(open_issue_ticket, services.app, "order.issue",
                                           issue, ticket_id)
    assert outcome is not None and await services.read_model.wait(outcome.position)


async def seed_public(client: Client, marks: dict[str, str]) -> dict[str, Any]:
    response = await client.post("/public/tickets", json={
        "email": f"{marks['email']}@example.com", "name": f"Jo {marks['name']}",
        "subject": f"Hello {marks['public']}", "description": "my order is late"})
    assert response.status == 201, response
    return response.json  # type: ignore[no-any-return]


async def erase(client: Client, body: dict[str, str]) -> str:
    response = await client.post("/privacy/erasures", as_=ADMIN, json=body)
    assert response.status == 202, response
    assert response.json["status"] in {"pending", "done"}
    for _ in range(100):
        status = await client.get(f"/privacy/erasures/{response.json['id']}", as_=ADMIN)
        if status.json["status"] == "done":
            return str(response.json["id"])
        await asyncio.sleep(0.1)
    raise AssertionError("the erasure never became done")


async def api_text(client: Client, ticket: dict[str, Any]) -> bytes:
    """Every read route's answer about the ticket, as staff (who see the most)."""
    base = f"/tickets/{ticket['id']}"
    found = [await client.get(path, as_=ADMIN) for path in (
        base, f"{base}/messages", f"{base}/attachments", f"{base}/history",
        f"{base}?version=1", f"{base}?version=3")]
    found.append(await client.get("/events/export", as_=ADMIN))
    found.append(await client.get("/events?limit=500", as_=ADMIN))
    return b"\n".join(response.body for response in found)


def stored_bytes(settings: Settings, services: Services) -> bytes:
    """Raw bytes (and names) of every file under the data dir, then every row of every
    table of the MariaDB database."""
    chunks = [bytes(path) + path.read_bytes() for path in Path(settings.data_dir).rglob("*")
              if path.is_file()]
    if settings.is_mysql:
        with services.engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                rows = conn.execute(text(f"SELECT * FROM `{table}`")).all()
                chunks.extend(as_bytes(value) for row in rows for value in row)
            # InnoDB's FULLTEXT index keeps words of deleted text until it is rebuilt.
            conn.execute(text(f"SET GLOBAL innodb_ft_aux_table = "
                              f"'{settings.db_database}/support_tickets'"))
            for view in ("INNODB_FT_INDEX_TABLE", "INNODB_FT_INDEX_CACHE"):
                chunks.extend(str(word).encode() for word in conn.execute(
                    text(f"SELECT word FROM information_schema.{view}")).scalars())
    return b"\n".join(chunks)


def as_bytes(value: Any) -> bytes:
    # Every value whole (a Row's repr truncates long values).
    return bytes(value) if isinstance(value, bytes | bytearray) else str(value).encode()


async def test_erased_subjects_leave_nothing_readable(
        client: Client, services: Services, settings: Settings) -> None:
    mine = {k: marker(k[:3]) for k in ("subject", "description", "metadata", "message", "file",
                                       "reply", "resolution", "comment", "consumer")}
    public = {k: marker(k[:3]) for k in ("email", "name", "public")}
    keep = marker("keep")
    ticket = await seed_customer(client, mine)
    await seed_consumer(services, mine)
    anonymous = await seed_public(client, public)
    other = await create_ticket(client, as_=OTHER_CUSTOMER, subject=f"Mine {keep}")
    everything = [*mine.values(), *public.values()]
    # The event store never held them in clear, even before the erasure.
    with services.engine.connect() as conn:
        stored = b"".join(bytes(state) for state in conn.execute(
            text("SELECT state FROM stored_events")).scalars())
    assert not [m for m in everything if m.encode() in stored]

    refused = await client.post("/privacy/erasures", as_=CUSTOMER, json={"user_id": "cust-1"})
    assert refused.status == 403
    assert (await client.post("/privacy/erasures", as_=ADMIN, json={})).status == 422
    both = {"user_id": "cust-1", "email": "a@example.com"}
    assert (await client.post("/privacy/erasures", as_=ADMIN, json=both)).status == 422
    unknown = f"/privacy/erasures/{uuid.uuid4()}"
    assert (await client.get(unknown, as_=ADMIN)).status == 404
    assert (await client.get(unknown, as_=AGENT)).status == 403
    await erase(client, {"user_id": CUSTOMER[0]})
    await erase(client, {"email": f"{public['email']}@example.com"})

    seen = await client.get(f"/tickets/{ticket['id']}", as_=ADMIN)
    assert seen.json["erased"] is True and seen.json["subject"] is None
    assert seen.json["status"] == "resolved" and seen.json["satisfaction_rating"] == 4
    assert [m["content"] for m in seen.json["messages"]] == [None, None]
    listed = await client.get(f"/tickets?q={mine['subject']}", as_=ADMIN)
    assert listed.json["data"] == []
    leaks = await api_text(client, ticket) + await api_text(client, {"id": anonymous["id"]})
    leaks += stored_bytes(settings, services)
    assert [m for m in everything if m.encode() in leaks] == []

    kept = await client.get(f"/tickets/{other['id']}", as_=OTHER_CUSTOMER)
    assert kept.json["subject"] == f"Mine {keep}" and kept.json["erased"] is False

    assert check(services.app, services.engine).differences == []  # replay equals live
    replay(services.app, services.engine)
    again = await client.get(f"/tickets/{ticket['id']}", as_=ADMIN)
    assert again.json["erased"] is True and again.json["description"] is None
    after_replay = await api_text(client, ticket) + stored_bytes(settings, services)
    assert [m for m in everything if m.encode() in after_replay] == []
    assert keep.encode() in stored_bytes(settings, services)  # the scan does see plain data


@pytest.mark.parametrize("kind", ["s3", "local"])
async def test_an_erasure_deletes_every_object_of_its_tickets(
        kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store: BlobStore = (
        S3BlobStore(request.getfixturevalue("s3_endpoint"), "test-access", "test-secret",
                    f"sav-erase-{uuid.uuid4().hex[:10]}", "us-east-1")
        if kind == "s3" else LocalBlobStore(tmp_path / "blobs", "http://sav.test", b"s"))
    await store.start()
    try:
        for key in ("tickets/a/1/jane doe.pdf", "tickets/a/2/y.pdf", "tickets/ab/3/z.pdf"):
            await store.put(key, b"%PDF-1.4", "application/pdf")
        assert await erasure.delete_objects(store, ["a"]) == 2
        assert not await store.exists("tickets/a/1/jane doe.pdf")
        assert await store.exists("tickets/ab/3/z.pdf")  # a prefix is a whole folder
        assert await erasure.delete_objects(store, ["a"]) == 0
    finally:
        await store.close()

"""Backup and restore on both profiles: `sav events export --format store` →
`sav events import FILE` into a fresh database → the API answers exactly as before
(tickets, conversations, statistics, agents, a public ticket's token); an import into a
non-empty store, a gap or the lossy feed format writes nothing."""

from __future__ import annotations

import argparse
import base64
import secrets
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from sav.api.app import create_app
from sav.bootstrap import Services, bootstrap
from sav.cli.main import cmd_export
from sav.cli.ops import cmd_events_import
from sav.config import Settings
from sav.eventstore.backup import RestoreError, export_backup, read_backup
from sav.eventstore.db import engine_for
from sav.eventstore.schema import stored_events
from sav.workers.inprocess import start_projector
from tests.support.http import ADMIN, AGENT, CUSTOMER, Client, create_ticket
from tests.support.settings import drop_mysql_database, make_settings

READS = ("/tickets?limit=100", "/tickets/statistics", "/agents")


async def write_history(client: Client) -> dict[str, str]:
    first = await create_ticket(client, subject="Broken mug", priority="high")
    second = await create_ticket(client, subject="Late parcel")
    await client.put("/agents/agent-1", as_=ADMIN, json={"name": "Agent One"})
    await client.post(f"/tickets/{first['id']}/messages", as_=AGENT,
                      json={"content": "Sorry about that"})
    await client.post(f"/tickets/{first['id']}/messages", as_=AGENT,
                      json={"content": "staff only", "is_internal": True})
    await client.post(f"/tickets/{first['id']}/start", as_=AGENT)
    await client.post(f"/tickets/{second['id']}/resolve", as_=ADMIN)
    public = (await client.post("/public/tickets", json={
        "email": "bob@example.com", "subject": "Public one", "description": "d"})).json
    return {"first": first["id"], "second": second["id"],
            "public": public["ticket_number"], "token": public["access_token"]}


async def answers(client: Client, ids: dict[str, str]) -> list[object]:
    paths = [*READS, *(f"/tickets/{ids[k]}" for k in ("first", "second")),
             f"/tickets/{ids['first']}/messages"]
    seen: list[object] = []
    for path in paths:
        for caller in (ADMIN, CUSTOMER):
            response = await client.get(path, as_=caller)
            seen.append((path, caller, response.status, response.json))
    public = await client.get(f"/public/tickets/{ids['public']}",
                              headers={"X-Access-Token": ids["token"]})
    assert public.status == 200, public
    seen.append(public.json)
    return seen


@pytest.fixture
def restored_settings(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    # Fresh databases (events, and on SQLite the key store's file), the same master key.
    restored = make_settings(settings.db_connection, tmp_path / "restored",
                             SAV_MASTER_KEY=settings.privacy_master_key())
    yield restored
    if restored.is_mysql:
        drop_mysql_database(restored.db_database)


async def test_export_then_import_into_a_fresh_database_answers_the_same(
        services: Services, client: Client, restored_settings: Settings, tmp_path: Path,
        capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    ids = await write_history(client)
    before = await answers(client, ids)
    assert cmd_export(services.settings, argparse.Namespace(after=0, format="store")) == 0
    backup = tmp_path / "backup.jsonl"
    backup.write_bytes(capsysbinary.readouterr().out)
    assert backup.read_bytes() == b"".join(export_backup(
        services.engine, engine_for(services.settings.keys_database_url)))

    other_key = restored_settings.model_copy(
        update={"master_key": base64.b64encode(secrets.token_bytes(32)).decode()})
    whole = argparse.Namespace(file=str(backup), until=None)
    assert cmd_events_import(other_key, whole) == 1  # no write
    assert cmd_events_import(restored_settings, whole) == 0
    restored = bootstrap(restored_settings)
    start_projector(restored)
    try:
        again = Client(create_app(restored_settings, restored))
        assert await answers(again, ids) == before
        # New writes go on after the restored log; ticket numbers do not repeat.
        created = await create_ticket(again, subject="After the restore")
        numbers = {t["ticket_number"] for t in before[0][3]["data"]}  # type: ignore[index]
        assert created["ticket_number"] not in numbers
        # A second import into the now non-empty store is refused and writes nothing.
        with restored.engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(stored_events)).scalar()
        assert cmd_events_import(restored_settings, whole) == 1
        with restored.engine.connect() as conn:
            assert conn.execute(
                select(func.count()).select_from(stored_events)).scalar() == count
    finally:
        await restored.aclose()


def record(position: int) -> bytes:
    return orjson.dumps({"position": position, "originator_id": "s", "originator_version":
                         position, "topic": "t:T", "state": "e30="}) + b"\n"


@pytest.mark.parametrize(("content", "message"), [
    (record(1) + record(3), "position 3 where 2 was expected"),
    (record(2), "position 2 where 1 was expected"),
    (b'{"position": 1, "message_id": "m", "event": "ticket.created"}\n', "feed export"),
    (b"not json\n", "not JSON"),
    (b"", "no event"),
    (record(1) + b'{"keys": "privacy_keys", "row": {}}\n', "key rows come before"),
])
def test_a_bad_backup_is_refused_before_anything_is_written(
        tmp_path: Path, content: bytes, message: str) -> None:
    backup = tmp_path / "backup.jsonl"
    backup.write_bytes(content)
    with pytest.raises(RestoreError, match=message):
        read_backup(backup)  # the import checks the whole file before writing anything


async def test_an_import_until_a_position_restores_the_log_up_to_it(
        services: Services, client: Client, restored_settings: Settings,
        tmp_path: Path) -> None:
    ids = await write_history(client)
    backup = tmp_path / "backup.jsonl"
    backup.write_bytes(b"".join(export_backup(
        services.engine, engine_for(services.settings.keys_database_url))))
    with services.engine.connect() as conn:
        second_created = conn.execute(select(stored_events.c.notification_id).where(
            stored_events.c.originator_id == ids["second"],
            stored_events.c.originator_version == 1)).scalar_one()
        head = conn.execute(select(func.max(stored_events.c.notification_id))).scalar_one()
    with pytest.raises(RestoreError, match=f"the file ends at position {head}"):
        read_backup(backup, until=head + 1)
    assert cmd_events_import(restored_settings, argparse.Namespace(
        file=str(backup), until=second_created - 1)) == 0
    restored = bootstrap(restored_settings)
    try:
        with restored.engine.connect() as conn:
            assert conn.execute(select(func.max(stored_events.c.notification_id))
                                ).scalar_one() == second_created - 1
        again = Client(create_app(restored_settings, restored))
        assert (await again.get(f"/tickets/{ids['first']}", as_=ADMIN)).status == 200
        assert (await again.get(f"/tickets/{ids['second']}", as_=ADMIN)).status == 404
    finally:
        await restored.aclose()

"""Crypto-shredding's building blocks (issue 12) on the in-memory store and SQLite key
stores: personal fields sealed in storage, opened on load, unreadable once erased; a wrong
or missing master key stops everything before a write."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from cryptography.exceptions import InvalidTag
from eventsourcing.persistence import StoredEvent
from sqlalchemy import create_engine

from sav.commands.app import SavApplication
from sav.config import ConfigError, load_settings
from sav.events.ticket import Ticket
from sav.eventstore.transcoder import KeysNotInstalledError, OrjsonTranscoder, PrivacyMapper
from sav.privacy.crypto import MasterKeyError, new_key, new_master_key, parse_master_key
from sav.privacy.keys import KeyStore, user_subject
from sav.privacy.setup import open_key_store


def new_ticket(user_id: str | None = "cust-1", email: str | None = None) -> Ticket:
    return Ticket(id=uuid4(), ticket_number="T-1", subject="Parcel for Jane Doe",
                  description="card ends 4242", priority="normal", category=None, source="web",
                  user_id=user_id, contact_email=email, contact_name="Jane" if email else None,
                  tags=["vip"], metadata={"address": "1 rue de la Paix"}, created_by=user_id,
                  access_token_hash=None, origin=None)


def stored(app: SavApplication, ticket: Ticket) -> list[StoredEvent]:
    return list(app.recorder.select_events(ticket.id))


def test_personal_fields_are_sealed_in_storage_and_open_on_load() -> None:
    app = SavApplication()
    ticket = new_ticket()
    ticket.post_message("m1", "cust-1", "customer", "Jane", "jane@example.com", "call 0612",
                        False)
    app.save(ticket)
    raw = b"".join(event.state for event in stored(app, ticket))
    for secret in (b"Jane Doe", b"4242", b"rue de la Paix", b"0612", b"jane@example.com"):
        assert secret not in raw
    assert b'"vip"' in raw and b'"normal"' in raw  # tags, priority: in clear
    loaded = app.repository.get(ticket.id)
    assert (loaded.subject, loaded.metadata) == ("Parcel for Jane Doe",
                                                 {"address": "1 rue de la Paix"})
    assert list(app.events.get(ticket.id))[1].content == "call 0612"  # type: ignore


def test_a_sealed_field_does_not_open_under_another_ticket_or_field() -> None:
    app = SavApplication()
    ticket = new_ticket()
    app.save(ticket)
    record = stored(app, ticket)[0]
    mapper: Any = app.mapper
    moved = StoredEvent(originator_id=uuid4(), originator_version=1, topic=record.topic,
                        state=record.state)
    with pytest.raises(InvalidTag):
        mapper.to_domain_event(moved)


def test_an_erased_subject_reads_as_none_and_new_writes_keep_nothing() -> None:
    app = SavApplication()
    ticket, other = new_ticket(), new_ticket(user_id="cust-2")
    app.save(ticket, other)
    keys: KeyStore = app.mapper.keys  # type: ignore[attr-defined]
    assert keys.erase([user_subject("cust-1")]) == [str(ticket.id)]
    event = app.mapper.to_domain_event(stored(app, ticket)[0])
    assert (event.subject, event.description, event.metadata) == (None, None, {})  # type: ignore
    assert event.tags == ["vip"] and event.priority == "normal"  # type: ignore
    # A copy still in memory writes nothing personal under the destroyed key (snapshots).
    ticket.post_message("m2", "agent-1", "agent", "Bob", None, "late reply", False)
    app.save(ticket)
    last = app.mapper.to_domain_event(stored(app, ticket)[-1])
    assert last.content is None  # type: ignore[attr-defined]
    assert app.repository.get(other.id).subject == "Parcel for Jane Doe"


def test_a_linked_public_ticket_is_erased_with_the_user() -> None:
    app = SavApplication()
    public = new_ticket(user_id=None, email="Jane@Example.com")
    app.save(public)
    public.link_user("cust-9", "jane@example.com")
    app.save(public)
    keys: KeyStore = app.mapper.keys  # type: ignore[attr-defined]
    assert keys.email_subject("jane@example.com ") == keys.email_subject("JANE@example.com")
    assert keys.erase([user_subject("cust-9")]) == [str(public.id)]
    created = app.mapper.to_domain_event(stored(app, public)[0])
    assert created.contact_email is None  # type: ignore[attr-defined]
    # The subject registers again: a new key, readable.
    again = new_ticket(user_id="cust-9")
    app.save(again)
    assert app.repository.get(again.id).subject == "Parcel for Jane Doe"


def test_a_database_store_never_writes_without_its_keys(tmp_path: Path) -> None:
    mapper = PrivacyMapper(OrjsonTranscoder(), require_keys=True)
    ticket = new_ticket()
    with pytest.raises(KeysNotInstalledError):
        mapper.to_stored_event(ticket.collect_events()[0])


def test_a_wrong_master_key_fails_loudly_at_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.sqlite3'}"
    master = new_key()
    KeyStore(create_engine(url), master)
    KeyStore(create_engine(url), master)  # the right key opens it again
    with pytest.raises(MasterKeyError, match="SAV_MASTER_KEY"):
        KeyStore(create_engine(url), new_key())


def test_the_master_key_is_validated_and_required_in_production(tmp_path: Path) -> None:
    assert len(parse_master_key(new_master_key())) == 32
    with pytest.raises(MasterKeyError):
        parse_master_key(base64.b64encode(b"short").decode())
    with pytest.raises(ConfigError, match="SAV_MASTER_KEY"):
        open_key_store(load_settings({"SAV_DATA_DIR": str(tmp_path), "APP_ENV": "production"}))
    with pytest.raises(ConfigError, match="SAV_MASTER_KEY"):
        open_key_store(load_settings({"SAV_DATA_DIR": str(tmp_path), "SAV_MASTER_KEY": "nope"}))
    # Embedded default: generated once into the data dir, then reused.
    local = load_settings({"SAV_DATA_DIR": str(tmp_path)})
    assert local.privacy_master_key() == local.privacy_master_key()
    assert (tmp_path / "master_key").stat().st_mode & 0o777 == 0o600


def test_rotating_the_master_key_keeps_every_data_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.sqlite3'}"
    old, new = new_key(), new_key()
    keys = KeyStore(create_engine(url), old)
    key_id = keys.assign(str(uuid4()), user_subject("cust-1")).key_id
    email = keys.email_subject("a@b.c")
    assert keys.rewrap(new) == 1
    reopened = KeyStore(create_engine(url), new)
    assert reopened.key(key_id).cipher is not None and reopened.email_subject("a@b.c") == email
    with pytest.raises(MasterKeyError):
        KeyStore(create_engine(url), old)


def test_keys_in_a_database_of_their_own_leave_the_event_store_without_keys(
        tmp_path: Path) -> None:
    from sqlalchemy import inspect

    from sav.bootstrap import bootstrap
    from sav.commands.actor import Actor
    from sav.commands.tickets import CreateTicket, create_ticket

    settings = load_settings({"SAV_DATA_DIR": str(tmp_path), "SAV_MASTER_KEY": new_master_key(),
                              "SAV_KEYS_DB_CONNECTION": "sqlite"})
    services = bootstrap(settings)
    try:
        customer = Actor("cust-1", "customer")
        created = create_ticket(services.app, customer,
                                CreateTicket(subject="Parcel for Jane Doe", description="d"))
        assert services.app.repository.get(created.ticket_id).subject == "Parcel for Jane Doe"
        tables = inspect(services.engine).get_table_names()
        assert not [name for name in tables if name.startswith("privacy_")]
        events = services.app.recorder.select_events(created.ticket_id)
        assert events and all(b"Jane Doe" not in event.state for event in events)
        keys = create_engine(f"sqlite:///{tmp_path / 'keys.sqlite3'}")
        assert "privacy_keys" in inspect(keys).get_table_names()
    finally:
        services.close()


def test_the_cli_prints_a_master_key_and_erases_a_subject(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import orjson

    import sav.cli.main as cli

    monkeypatch.setenv("SAV_DATA_DIR", str(tmp_path))
    assert cli.main(["privacy", "new-master-key"]) == 0
    assert len(parse_master_key(capsys.readouterr().out)) == 32
    assert cli.main(["privacy", "erase", "--user-id", "cust-1"]) == 0
    answer = orjson.loads(capsys.readouterr().out)
    assert answer["status"] == "pending" and answer["tickets"] == 0
    monkeypatch.setenv("SAV_MASTER_KEY", new_master_key())  # not the one that made the store
    assert cli.main(["privacy", "erase", "--user-id", "cust-1"]) == 2
    assert "SAV_MASTER_KEY does not open" in capsys.readouterr().err


def test_another_process_drops_an_erased_key_when_its_cache_expires(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sav.privacy import keys as keys_module

    url, master = f"sqlite:///{tmp_path / 'keys.sqlite3'}", new_key()
    here, there = KeyStore(create_engine(url), master), KeyStore(create_engine(url), master)
    key_id = here.assign(str(uuid4()), user_subject("cust-1"), new_stream=True).key_id
    assert there.key(key_id).cipher is not None  # now cached over there
    here.erase([user_subject("cust-1")])
    assert here.key(key_id).cipher is None  # the erasing process forgets at once
    assert there.key(key_id).cipher is not None  # the other within CACHE_SECONDS...
    later = time.monotonic() + keys_module.CACHE_SECONDS + 0.1
    monkeypatch.setattr(keys_module.time, "monotonic", lambda: later)
    assert there.key(key_id).cipher is None  # ...then reads the tombstone

"""The e-mail channel over real SMTP on both sides, on both profiles: mail sent with
smtplib to SAV's listener (`sav worker mail`), SAV's mail caught by an aiosmtpd relay."""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import socket
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from sav.bootstrap import Services
from sav.config import Settings
from sav.eventstore import tracking
from sav.mail import listener, outbound, worker
from sav.privacy import erasure
from tests.integration.test_privacy_erasure import erase, stored_bytes
from tests.support.attachments import EXE, PDF
from tests.support.http import ADMIN, Client
from tests.support.services import free_port
from tests.support.smtp import Sink, self_signed_tls, smtp_sink

SUPPORT = "support@help.example.com"


@pytest.fixture
def sink() -> Iterator[Sink]:
    with smtp_sink() as sink:
        yield sink


@pytest.fixture
def settings_env(sink: Sink) -> dict[str, str]:
    return {"SAV_MAIL_ADDRESS": SUPPORT, "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(sink.port), "SMTP_STARTTLS": "false",
            "SAV_INBOUND_SMTP_PORT": str(free_port())}


@contextlib.contextmanager
def listening(services: Services, target: Any, *args: Any) -> Iterator[int]:
    """`target(*args, stop)` in a thread, once SAV's inbound SMTP port answers."""
    stop = threading.Event()
    thread = threading.Thread(target=target, args=(*args, stop), daemon=True)
    thread.start()
    port = services.settings.inbound_smtp_port
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    try:
        yield port
    finally:
        stop.set()
        thread.join(timeout=10)


@pytest.fixture
def mail_worker(services: Services) -> Iterator[int]:
    """`sav worker mail`: the listener and the sender."""
    with listening(services, worker.run, services.app, services.engine,
                   services.settings) as port:
        yield port


def send(port: int, sender: str, body: str, message_id: str,
         files: tuple[tuple[str, bytes], ...] = (), **headers: str) -> None:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = headers.pop("To", SUPPORT)
    message["Subject"] = headers.pop("Subject", "Lampe cassée")
    message["Message-ID"] = message_id
    message.set_content(body)
    for name, data in files:  # each declared a PDF, whatever it is
        message.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    for name, value in headers.items():  # after set_content, which clears Content-*
        message[name.replace("_", "-")] = value
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(message)


async def eventually(read: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


async def tickets(client: Client) -> list[dict[str, Any]]:
    return (await client.get("/tickets", as_=ADMIN)).json["data"]  # type: ignore[no-any-return]


async def test_a_conversation_by_mail(client: Client, sink: Sink, mail_worker: int) -> None:
    send(mail_worker, "Zoé <zoe@example.com>", "Elle clignote.", "<first@example.com>",
         Content_Language="fr-FR")
    [ack] = await asyncio.to_thread(sink.wait_for, 1)
    [ticket] = await eventually(lambda: tickets(client))
    assert ticket["source"] == "email" and ticket["contact_email"] == "zoe@example.com"
    french = await eventually(lambda: _with_locale(client, ticket["id"], "fr"))
    assert french["locale"] == "fr"
    hex_id = ticket["id"].replace("-", "")
    assert ack["To"].addresses[0].addr_spec == "zoe@example.com"
    assert ack["From"].addresses[0].addr_spec == SUPPORT
    assert ack["Reply-To"] == f"support+{hex_id}@help.example.com"
    assert ack["Subject"] == f"[{ticket['ticket_number']}] Lampe cassée"
    assert ack["Content-Language"] == "fr" and ack["Auto-Submitted"] == "auto-generated"
    assert ack["In-Reply-To"] == "<first@example.com>"
    assert "Bonjour Zoé" in ack.get_content() and ticket["ticket_number"] in ack.get_content()

    base = f"/tickets/{ticket['id']}"
    note = await client.post(f"{base}/messages", as_=ADMIN,
                             json={"content": "internal: check stock", "is_internal": True})
    assert note.status == 201, note
    said = await client.post(f"{base}/messages", as_=ADMIN, json={"content": "Try a new bulb"})
    assert said.status == 201, said
    assert (await client.post(f"{base}/resolve", as_=ADMIN,
                              json={"resolution": "Bulb replaced"})).status == 200
    _, reply, resolved = await asyncio.to_thread(sink.wait_for, 3)
    # In order: the internal note between the two was never mailed.
    assert "Try a new bulb" in reply.get_content() and "Auto-Submitted" not in reply
    assert "Bulb replaced" in resolved.get_content()
    assert reply["Message-ID"] != resolved["Message-ID"]

    quoted = "Still broken.\n\nOn Mon, Dec 7, 2026 SAV wrote:\n> Try a new bulb\n"
    for _ in range(2):  # delivered twice: stored once
        send(mail_worker, "ZOE@Example.com", quoted, "<second@example.com>",
             In_Reply_To=reply["Message-ID"])
    send(mail_worker, "zoe@example.com", "I am away", "<away@example.com>",
         Auto_Submitted="auto-replied", In_Reply_To=reply["Message-ID"])
    send(mail_worker, "eve@evil.example", "Let me in", "<eve@example.com>",
         To=f"support+{hex_id}@help.example.com")

    async def customer_messages() -> list[str]:
        found = (await client.get(f"{base}/messages", as_=ADMIN)).json
        items = found["data"] if isinstance(found, dict) else found
        return [m["content"] for m in items if m["author_email"] == "zoe@example.com"]

    assert await eventually(customer_messages) == ["Still broken."]
    everyone = await eventually(lambda: _two(client))
    assert {t["contact_email"] for t in everyone} == {"zoe@example.com", "eve@evil.example"}
    reopened = (await client.get(base, as_=ADMIN)).json
    assert reopened["status"] != "resolved"  # the customer's reply reopened it
    # The intruder got an acknowledgement of their own ticket, nobody else's mail.
    mails = await asyncio.to_thread(sink.wait_for, 4)
    assert mails[3]["To"].addresses[0].addr_spec == "eve@evil.example"
    assert mails[3]["Content-Language"] == "en"


async def test_a_reply_answers_the_customers_latest_mail(
        client: Client, sink: Sink, mail_worker: int) -> None:
    """In-Reply-To names the customer's last mail, References the chain from the first
    (RFC 5322 3.6.4): the customer's client threads SAV's answer under what they wrote."""
    send(mail_worker, "zoe@example.com", "It flickers.", "<first@example.com>")
    [ack] = await asyncio.to_thread(sink.wait_for, 1)
    assert ack["In-Reply-To"] == "<first@example.com>"
    assert ack["References"] == "<first@example.com>"
    send(mail_worker, "zoe@example.com", "Still flickering.\n> It flickers.",
         "<second@example.com>", In_Reply_To=ack["Message-ID"],
         References=f"<first@example.com> {ack['Message-ID']}")
    [ticket] = await eventually(lambda: tickets(client))
    base = f"/tickets/{ticket['id']}"

    async def threaded() -> list[dict[str, Any]]:
        found = (await client.get(f"{base}/messages", as_=ADMIN)).json
        return found["data"] if isinstance(found, dict) else found  # type: ignore[no-any-return]

    [second] = await eventually(threaded)
    assert second["content"] == "Still flickering."
    said = await client.post(f"{base}/messages", as_=ADMIN, json={"content": "A new bulb?"})
    assert said.status == 201, said
    _, reply = await asyncio.to_thread(sink.wait_for, 2)
    assert "A new bulb?" in reply.get_content()
    assert reply["In-Reply-To"] == "<second@example.com>"
    assert reply["References"] == "<first@example.com> <second@example.com>"


async def test_an_attachment_refused_by_content_is_dropped_and_noted(
        client: Client, sink: Sink, mail_worker: int) -> None:
    send(mail_worker, "zoe@example.com", "Both files attached.", "<files@example.com>",
         files=(("real.pdf", PDF), ("invoice.pdf", EXE)))
    [ack] = await asyncio.to_thread(sink.wait_for, 1)  # the mail still opened its ticket
    [listed] = await eventually(lambda: tickets(client))

    async def with_note() -> dict[str, Any] | None:
        ticket = (await client.get(f"/tickets/{listed['id']}", as_=ADMIN)).json
        return ticket if ticket["messages"] else None

    ticket = await eventually(with_note)
    assert [a["file_name"] for a in ticket["attachments"]] == ["real.pdf"]
    [note] = ticket["messages"]
    assert note["is_internal"] and "invoice.pdf" in note["content"]
    assert ticket["ticket_number"] in ack["Subject"]


async def test_an_erased_contact_is_mailed_nothing_and_their_mail_ids_are_gone(
        client: Client, services: Services, settings: Settings, sink: Sink,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A reply waiting in the outbox when its contact is erased is never sent, and the
    Message-IDs of the contact's mails (personal data) are unreadable after it."""
    monkeypatch.setattr(erasure, "CACHE_SECONDS", 0.0)  # one process: no key cache to wait
    sender = outbound.MailSender(services.app, services.engine, services.settings)
    sender.start()  # the outbox starts here; the sender runs after the erasure only
    first, second = "zqfirst@example.com", "zqsecond@example.com"
    with listening(services, listener.run, services.app, services.settings) as port:
        send(port, "zoe@example.com", "It flickers.", f"<{first}>")
        [ticket] = await eventually(lambda: tickets(client))
        send(port, "zoe@example.com", "Still.", f"<{second}>",
             To=f"support+{ticket['id'].replace('-', '')}@help.example.com")
        base = f"/tickets/{ticket['id']}"

        async def threaded() -> bool:
            found = (await client.get(f"{base}/messages", as_=ADMIN)).json
            return bool(found["data"] if isinstance(found, dict) else found)

        assert await eventually(threaded)
    assert (await client.post(f"{base}/messages", as_=ADMIN,
                              json={"content": "A new bulb?"})).status == 201
    before = (await client.get("/events/export", as_=ADMIN)).body
    assert first.encode() in before and second.encode() in before  # staff read them
    await erase(client, {"email": "zoe@example.com"})
    await asyncio.to_thread(sender.step)
    assert sink.mails == []  # neither the acknowledgement nor the reply
    after = (await client.get("/events/export", as_=ADMIN)).body
    stored = stored_bytes(settings, services)
    for mail_id in (first, second):
        assert mail_id.encode() not in after and mail_id.encode() not in stored


async def _two(client: Client) -> list[dict[str, Any]]:
    found = await tickets(client)
    return found if len(found) == 2 else []


async def _with_locale(client: Client, ticket_id: str, locale: str) -> dict[str, Any] | None:
    ticket = (await client.get(f"/tickets/{ticket_id}", as_=ADMIN)).json
    return ticket if ticket["locale"] == locale else None


async def test_mail_waits_without_a_relay_and_goes_out_once_there_is_one(
        client: Client, services: Services, sink: Sink) -> None:
    waiting = outbound.MailSender(services.app, services.engine,
                                  services.settings.model_copy(update={"smtp_host": None}))
    waiting.start()  # the outbox starts at the store's head
    created = await client.post("/public/tickets", headers={"Accept-Language": "fr"}, json={
        "email": "ann@example.com", "subject": "Lamp", "description": "It flickers"})
    assert created.status == 201, created
    start = tracking.read_position(services.engine, outbound.TRACKING_NAME)
    await asyncio.to_thread(waiting.step)
    down = outbound.MailSender(services.app, services.engine, services.settings.model_copy(
        update={"smtp_port": free_port()}))  # nothing listens there: the relay is down
    await asyncio.to_thread(down.step)
    assert down.retry_at > 0 and sink.mails == []
    assert tracking.read_position(services.engine, outbound.TRACKING_NAME) == start
    sender = outbound.MailSender(services.app, services.engine, services.settings)
    await asyncio.to_thread(sender.step)
    [ack] = sink.mails  # the public form's acknowledgement, once
    assert ack["To"].addresses[0].addr_spec == "ann@example.com"
    assert ack["Content-Language"] == "fr" and ack["Auto-Submitted"] == "auto-generated"
    await asyncio.to_thread(sender.step)
    assert len(sink.mails) == 1


async def test_the_relay_gets_starttls_and_auth(
        client: Client, services: Services, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """SMTP_STARTTLS with a verified certificate, then AUTH as SMTP_USERNAME: a refused
    login is retried (the mail waits), never dropped."""
    tls, certificate = self_signed_tls(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))  # the relay's CA, trusted
    with smtp_sink(tls=tls, login=("sav", "relay-secret")) as relay:
        relay_settings = services.settings.model_copy(update={
            "smtp_port": relay.port, "smtp_starttls": True, "smtp_username": "sav",
            "smtp_password": "not-the-password"})
        wrong = outbound.MailSender(services.app, services.engine, relay_settings)
        wrong.start()
        created = await client.post("/public/tickets", json={
            "email": "ann@example.com", "subject": "Lamp", "description": "It flickers"})
        assert created.status == 201, created
        start = tracking.read_position(services.engine, outbound.TRACKING_NAME)
        await asyncio.to_thread(wrong.step)
        assert wrong.retry_at > 0 and relay.mails == []
        assert tracking.read_position(services.engine, outbound.TRACKING_NAME) == start
        right = outbound.MailSender(services.app, services.engine, relay_settings.model_copy(
            update={"smtp_password": "relay-secret"}))
        await asyncio.to_thread(right.step)
        [ack] = relay.mails
        assert ack["To"].addresses[0].addr_spec == "ann@example.com"
        assert relay.sessions == [(True, True)]

"""The e-mail channel's inbound side over `POST /inbound/email`, on both profiles:
tickets opened from mail, loop guards, deduplication, threading and its intruders."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest

from tests.support.attachments import EXE, PDF
from tests.support.http import ADMIN, Client

TOKEN = "inbound-token-for-tests-0123456789"
SUPPORT = "support@help.example.com"


@pytest.fixture
def settings_env() -> dict[str, str]:
    return {"SAV_INBOUND_EMAIL_TOKEN": TOKEN, "SAV_MAIL_ADDRESS": SUPPORT}


def mail(sender: str = "Zoé Martin <Zoe@Example.com>", subject: str = "Lampe cassée",
         body: str = "Elle clignote.", message_id: str = "<m1@example.com>",
         **headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = headers.pop("To", SUPPORT)
    message["Subject"] = subject
    message["Message-ID"] = message_id
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return bytes(message)


async def post_mail(client: Client, raw: bytes, token: str = TOKEN) -> Any:
    return await client.post("/inbound/email", content=raw, headers={
        "Content-Type": "message/rfc822", "Authorization": f"Bearer {token}"})


async def test_a_mail_opens_a_ticket_and_a_wrong_token_is_refused(client: Client) -> None:
    refused = await post_mail(client, mail(), token="not-the-token")
    assert refused.status == 401, refused
    not_mail = await client.post("/inbound/email", content=mail(), headers={
        "Content-Type": "text/plain", "Authorization": f"Bearer {TOKEN}"})
    assert not_mail.status == 415 and not_mail.json["error"]["code"] == "unsupported_media_type"
    answer = await post_mail(client, mail(subject="=?utf-8?q?Lampe_cass=C3=A9e?="))
    assert answer.status == 202, answer
    assert answer.json["outcome"] == "created"
    ticket = (await client.get(f"/tickets/{answer.json['ticket_id']}", as_=ADMIN)).json
    assert ticket["source"] == "email" and ticket["subject"] == "Lampe cassée"
    assert ticket["contact_email"] == "zoe@example.com"
    assert ticket["contact_name"] == "Zoé Martin"
    assert ticket["description"] == "Elle clignote."
    assert ticket["locale"] == "en"  # no Content-Language: the default
    changed = await client.put(f"/tickets/{ticket['id']}", as_=ADMIN, json={"locale": "fr"})
    assert changed.status == 200 and changed.json["locale"] == "fr"
    again = await post_mail(client, mail(subject="=?utf-8?q?Lampe_cass=C3=A9e?="))
    assert again.json == {**answer.json, "outcome": "duplicate"}
    listed = (await client.get("/tickets", as_=ADMIN)).json["data"]
    assert [item["id"] for item in listed] == [answer.json["ticket_id"]]


@pytest.mark.parametrize("headers", [
    {"Auto_Submitted": "auto-replied"}, {"Precedence": "bulk"}, {"X_Autoreply": "yes"}])
async def test_automatic_mail_opens_nothing(client: Client, headers: dict[str, str]) -> None:
    answer = await post_mail(client, mail(**headers))
    assert answer.status == 202 and answer.json["outcome"] == "ignored"
    assert answer.json["ticket_id"] is None
    bounce = await post_mail(client, mail(sender="MAILER-DAEMON@example.com",
                                          message_id="<b@x>"))
    assert bounce.json["outcome"] == "ignored"
    metrics = (await client.get("/metrics")).body.decode()
    assert 'sav_mail_inbound_total{outcome="ignored",reason="mailer_daemon"}' in metrics


async def test_a_reply_threads_only_from_the_contact(client: Client) -> None:
    opened = (await post_mail(client, mail())).json
    hex_id = opened["ticket_id"].replace("-", "")
    reply_to = f"support+{hex_id}@help.example.com"
    quoted = "Toujours cassée.\n\nLe lun. 7 déc. 2026, SAV a écrit :\n> Bonjour\n"
    intruder = await post_mail(client, mail(sender="eve@evil.example", message_id="<e@x>",
                                            body="Let me in", To=reply_to))
    assert intruder.json["outcome"] == "created"
    assert intruder.json["ticket_id"] != opened["ticket_id"]
    reply = await post_mail(client, mail(sender="ZOE@example.com", message_id="<r1@x>",
                                         body=quoted, In_Reply_To=f"<sav.{hex_id}.1@h>"))
    assert reply.json == {"ticket_id": opened["ticket_id"], "outcome": "threaded",
                          "reason": None}
    messages = (await client.get(f"/tickets/{opened['ticket_id']}/messages", as_=ADMIN)).json
    items = messages["data"] if isinstance(messages, dict) else messages
    assert [m["content"] for m in items] == ["Toujours cassée."]
    assert (await post_mail(client, mail(sender="zoe@example.com", message_id="<r1@x>",
                                         body=quoted, To=reply_to))).json["outcome"] \
        == "duplicate"


async def test_an_attachment_refused_by_content_is_noted(client: Client) -> None:
    message = EmailMessage()
    message["From"] = "zoe@example.com"
    message["To"] = SUPPORT
    message["Subject"] = "Invoice"
    message["Message-ID"] = "<att@example.com>"
    message.set_content("Both files attached.")
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="real.pdf")
    message.add_attachment(EXE, maintype="application", subtype="pdf", filename="invoice.pdf")
    answer = await post_mail(client, bytes(message))
    assert answer.status == 202 and answer.json["outcome"] == "created"
    ticket = (await client.get(f"/tickets/{answer.json['ticket_id']}", as_=ADMIN)).json
    assert [a["file_name"] for a in ticket["attachments"]] == ["real.pdf"]
    [note] = ticket["messages"]
    assert note["is_internal"] and "invoice.pdf" in note["content"]


async def test_the_creating_request_s_language_is_the_ticket_s(client: Client) -> None:
    created = await client.post("/public/tickets", headers={
        "Accept-Language": "de-DE, fr-CH;q=0.8, en;q=0.5"}, json={
        "email": "ann@example.com", "subject": "Lamp", "description": "It flickers"})
    assert created.status == 201 and created.json["locale"] == "fr"
    plain = await client.post("/tickets", as_=ADMIN, json={
        "subject": "Lamp", "description": "It flickers"}, headers={"Accept-Language": "de"})
    assert plain.status == 201 and plain.json["locale"] == "en"

"""One valid call of every POST route of the app, for the tests that go over all of them
(Idempotency-Key replays, `Location` on 201). A new POST route gets its example here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.support.attachments import PDF
from tests.support.http import ADMIN, AGENT, CUSTOMER, Client, create_ticket

TICKET = {"subject": "Parcel", "description": "Never came"}
# POST routes whose example needs more than a client (None from `example_post`), and why.
WITHOUT_EXAMPLE = {
    "webhooks/<webhook_id:str>/deliveries/<delivery_id:str>/retry":
        "a delivery needs the webhook sender and a receiver (tests/integration/test_webhooks.py)",
    "inbound/email": "needs SAV_INBOUND_EMAIL_TOKEN (tests/integration/test_mail_inbound.py)",
}


@dataclass
class Post:
    """One POST as a client sends it: `first` and `other` are two different bodies
    (keyword arguments of `Client.post`: `json`, or `files` for an upload)."""

    path: str
    as_: tuple[str, str] | None
    first: dict[str, Any]
    other: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


async def resolved(client: Client, ticket_id: str) -> None:
    assert (await client.post(f"/tickets/{ticket_id}/resolve", as_=ADMIN)).status == 200


async def public_ticket(client: Client) -> tuple[str, dict[str, str]]:
    created = await client.post("/public/tickets", json={
        "email": "ann@example.com", "subject": "Lamp", "description": "It flickers"})
    assert created.status == 201, created
    return created.json["ticket_number"], {"X-Access-Token": created.json["access_token"]}


async def example_post(client: Client, route: str) -> Post | None:
    """A valid call of the POST route `route` (a router path), on a fresh ticket."""
    ticket = await create_ticket(client)
    base = f"/tickets/{ticket['id']}"
    say = [{"json": {"content": "first"}}, {"json": {"content": "second"}}]
    pdf = [{"files": {"file": ("a.pdf", PDF, "application/pdf")}},
           {"files": {"file": ("b.pdf", PDF + b"\n", "application/pdf")}}]
    match route:
        case "tickets":
            return Post("/tickets", CUSTOMER, {"json": TICKET},
                        {"json": {**TICKET, "subject": "Other"}})
        case "tickets/<ticket_ref:str>/assign":
            return Post(f"{base}/assign", ADMIN, {"json": {"agent_id": "agent-1"}},
                        {"json": {"agent_id": "agent-2"}})
        case "tickets/<ticket_ref:str>/start" | "tickets/<ticket_ref:str>/wait":
            await client.post(f"{base}/assign", as_=ADMIN, json={"agent_id": "agent-1"})
            return Post(f"{base}/{route.rsplit('/', 1)[1]}", AGENT, {}, {"json": {}})
        case "tickets/<ticket_ref:str>/resolve" | "tickets/<ticket_ref:str>/close":
            name = "reason" if route.endswith("close") else "resolution"
            return Post(f"{base}/{route.rsplit('/', 1)[1]}", ADMIN, {}, {"json": {name: "x"}})
        case "tickets/<ticket_ref:str>/unassign":
            await client.post(f"{base}/assign", as_=ADMIN, json={"agent_id": "agent-1"})
            return Post(f"{base}/unassign", AGENT, {}, {"json": {}})
        case "tickets/<ticket_ref:str>/restore":
            assert (await client.delete(base, as_=ADMIN)).status == 200
            return Post(f"{base}/restore", ADMIN, {}, {"json": {}})
        case "tickets/<ticket_ref:str>/reopen":
            await resolved(client, ticket["id"])
            return Post(f"{base}/reopen", CUSTOMER, {"json": {"reason": "not fixed"}},
                        {"json": {"reason": "still broken"}})
        case "tickets/<ticket_ref:str>/satisfaction":
            await resolved(client, ticket["id"])
            return Post(f"{base}/satisfaction", CUSTOMER, {"json": {"rating": 5}},
                        {"json": {"rating": 4}})
        case "tickets/<ticket_ref:str>/messages":
            return Post(f"{base}/messages", CUSTOMER, *say)
        case "tickets/<ticket_ref:str>/viewing":
            return Post(f"{base}/viewing", AGENT, {}, {"json": {}})
        case "tickets/<ticket_ref:str>/messages/mark-all-read":
            await client.post(f"{base}/messages", as_=AGENT, json={"content": "hello"})
            return Post(f"{base}/messages/mark-all-read", CUSTOMER, {}, {"json": {}})
        case "tickets/<ticket_ref:str>/messages/<message_ref:str>/mark-read":
            said = await client.post(f"{base}/messages", as_=AGENT, json={"content": "hi"})
            return Post(f"{base}/messages/{said.json['id']}/mark-read", CUSTOMER, {},
                        {"json": {}})
        case "tickets/<ticket_ref:str>/attachments":
            return Post(f"{base}/attachments", CUSTOMER, *pdf)
        case "tickets/<ticket_ref:str>/attachments/multiple":
            return Post(f"{base}/attachments/multiple", CUSTOMER,
                        {"files": [("files", ("a.pdf", PDF, "application/pdf"))]},
                        {"files": [("files", ("b.pdf", PDF, "application/pdf"))]})
        case "public/tickets":
            body = {"email": "bob@example.com", "subject": "Kettle", "description": "Cold"}
            return Post("/public/tickets", None, {"json": body},
                        {"json": {**body, "subject": "Toaster"}})
        case "public/tickets/<ticket_ref:str>/messages":
            number, token = await public_ticket(client)
            return Post(f"/public/tickets/{number}/messages", None, *say, headers=token)
        case "public/tickets/<ticket_ref:str>/satisfaction":
            number, token = await public_ticket(client)
            await resolved(client, number)
            return Post(f"/public/tickets/{number}/satisfaction", None,
                        {"json": {"rating": 5}}, {"json": {"rating": 3}}, headers=token)
        case "macros":
            return Post("/macros", ADMIN, {"json": {"title": "Thanks", "content": "Thank you"}},
                        {"json": {"title": "Sorry", "content": "Sorry"}})
        case "tickets/<ticket_ref:str>/macros/<macro_id:str>":
            macro = await client.post("/macros", as_=ADMIN, json={
                "title": "Hi", "content": "Hello {{customer.name}}"})
            return Post(f"{base}/macros/{macro.json['id']}", ADMIN, {}, {"json": {}})
        case "tickets/<ticket_ref:str>/links":
            others = [await create_ticket(client) for _ in range(2)]
            return Post(f"{base}/links", ADMIN,
                        {"json": {"ticket_id": others[0]["id"], "kind": "related"}},
                        {"json": {"ticket_id": others[1]["id"], "kind": "parent"}})
        case "tickets/<ticket_ref:str>/merge":
            targets = [await create_ticket(client) for _ in range(2)]
            return Post(f"{base}/merge", ADMIN, {"json": {"into": targets[0]["id"]}},
                        {"json": {"into": targets[1]["id"]}})
        case "tickets/bulk":
            return Post("/tickets/bulk", ADMIN, {"json": {"ids": [ticket["id"]],
                                                          "action": "add_tags", "tags": ["a"]}},
                        {"json": {"ids": [ticket["id"]], "action": "add_tags", "tags": ["b"]}})
        case "webhooks":
            hook = {"url": "https://93.184.216.34/hook", "events": ["ticket.created"]}
            return Post("/webhooks", ADMIN, {"json": hook},
                        {"json": {**hook, "events": ["ticket.assigned"]}})
        case "webhooks/<webhook_id:str>/secret/rotate":
            hook = await client.post("/webhooks", as_=ADMIN, json={
                "url": "https://93.184.216.34/hook", "events": ["ticket.created"]})
            assert hook.status == 201, hook
            return Post(f"/webhooks/{hook.json['id']}/secret/rotate", ADMIN, {}, {"json": {}})
        case "privacy/erasures":
            return Post("/privacy/erasures", ADMIN, {"json": {"user_id": "gone-1"}},
                        {"json": {"user_id": "gone-2"}})
    if route in WITHOUT_EXAMPLE:
        return None
    raise AssertionError(f"no example call of POST /{route}: add one here")

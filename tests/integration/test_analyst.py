"""The `analyst` role: reads every ticket as an admin does (internal notes included),
statistics and history; every command answers 403 and changes nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jwt

from sav.bootstrap import Services
from tests.support.attachments import PDF
from tests.support.http import (
    ADMIN,
    AGENT,
    ANALYST,
    CUSTOMER,
    OTHER_AGENT,
    OTHER_CUSTOMER,
    Client,
    create_ticket,
)

SECRET = "analyst-test-secret-0123456789abcdef"
FILE = {"file": ("invoice.pdf", PDF, "application/pdf")}
FILES = {"files": ("invoice.pdf", PDF, "application/pdf")}

# A valid request to every write route, so that only the role can refuse it. A route
# added without a sample here fails `test_every_write_route_answers_403_to_analysts`.
SAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/tickets"): {"json": {"subject": "s", "description": "d"}},
    ("POST", "/privacy/erasures"): {"json": {"user_id": "cust-1"}},
    ("PUT", "/tickets/{ticket_ref}"): {"json": {"subject": "analysed"}},
    ("DELETE", "/tickets/{ticket_ref}"): {},
    ("POST", "/tickets/{ticket_ref}/assign"): {"json": {"agent_id": "agent-2"}},
    ("POST", "/tickets/{ticket_ref}/start"): {},
    ("POST", "/tickets/{ticket_ref}/wait"): {},
    ("POST", "/tickets/{ticket_ref}/unassign"): {},
    ("POST", "/tickets/{ticket_ref}/restore"): {},
    ("POST", "/tickets/{ticket_ref}/viewing"): {},
    ("POST", "/tickets/{ticket_ref}/resolve"): {"json": {"resolution": "done"}},
    ("POST", "/tickets/{ticket_ref}/close"): {"json": {}},
    ("POST", "/tickets/{ticket_ref}/reopen"): {"json": {}},
    ("POST", "/tickets/{ticket_ref}/satisfaction"): {"json": {"rating": 5}},
    ("POST", "/tickets/{ticket_ref}/messages"): {"json": {"content": "hi"}},
    ("POST", "/tickets/{ticket_ref}/messages/mark-all-read"): {},
    ("PUT", "/tickets/{ticket_ref}/messages/{message_ref}"): {"json": {"content": "edited"}},
    ("DELETE", "/tickets/{ticket_ref}/messages/{message_ref}"): {},
    ("POST", "/tickets/{ticket_ref}/messages/{message_ref}/mark-read"): {},
    ("POST", "/tickets/{ticket_ref}/attachments"): {"files": FILE},
    ("POST", "/tickets/{ticket_ref}/attachments/multiple"): {"files": FILES},
    ("DELETE", "/tickets/{ticket_ref}/attachments/{attachment_id}"): {},
    ("PUT", "/agents/{agent_id}"): {"json": {"name": "Nine", "active": True}},
    ("PUT", "/sla/calendar"): {"json": {"timezone": "Europe/Paris"}},
    ("PUT", "/sla/policies/{name}"): {"json": {"first_response_minutes": 30,
                                                "resolution_minutes": 480}},
    ("DELETE", "/sla/policies/{name}"): {},
    ("POST", "/macros"): {"json": {"title": "Hi", "content": "Hello"}},
    ("PUT", "/macros/{macro_id}"): {"json": {"title": "Hi", "content": "Hello"}},
    ("DELETE", "/macros/{macro_id}"): {},
    ("POST", "/tickets/{ticket_ref}/macros/{macro_id}"): {},
    ("POST", "/tickets/bulk"): {"json": {"ids": ["x"], "action": "unassign"}},
    ("POST", "/tickets/{ticket_ref}/links"): {"json": {
        "ticket_id": "3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b", "kind": "related"}},
    ("DELETE", "/tickets/{ticket_ref}/links/{other_id}"): {},
    ("POST", "/tickets/{ticket_ref}/merge"): {"json": {
        "into": "3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b"}},
    ("POST", "/webhooks"): {"json": {"url": "https://example.com/hook",
                                     "events": ["*"]}},
    ("PATCH", "/webhooks/{webhook_id}"): {"json": {"active": False}},
    ("DELETE", "/webhooks/{webhook_id}"): {},
    ("POST", "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"): {},
    ("POST", "/webhooks/{webhook_id}/secret/rotate"): {},
}
# Write routes that take no user token at all (they check their own secret), so no
# analyst can reach them: a user's JWT, the analyst's included, answers 401.
OWN_AUTH: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/inbound/email"): {"content": b"From: a@example.com\r\n\r\nhi",
                                    "headers": {"Content-Type": "message/rfc822"}},
}


def test_sav_token_issues_analyst_tokens(tmp_path: Path) -> None:
    env = {**os.environ, "SAV_DATA_DIR": str(tmp_path), "AUTH_JWT_SECRET": SECRET}
    result = subprocess.run([sys.executable, "-m", "sav.cli", "token", "--sub", "ana",
                             "--role", "analyst"], env=env, capture_output=True, text=True,
                            timeout=60, check=True)
    claims = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["role"]) == ("ana", "analyst")


async def busy_desk(client: Client) -> dict[str, Any]:
    """Tickets of two customers: one assigned to another agent with an internal note, its
    attachment and `internal_notes`; one closed; one open. Returns the first one's ids."""
    ticket = await create_ticket(client)
    path = f"/tickets/{ticket['id']}"
    await client.post(f"{path}/assign", as_=ADMIN, json={"agent_id": OTHER_AGENT[0]})
    note = await client.post(f"{path}/messages", as_=ADMIN,
                             json={"content": "INTERNAL note", "is_internal": True})
    said = await client.post(f"{path}/messages", as_=CUSTOMER, json={"content": "hello"})
    attached = await client.post(f"{path}/attachments", as_=ADMIN, files=FILE,
                                 data={"message_id": note.json["id"]})
    await client.put(path, as_=ADMIN, json={"internal_notes": "INTERNAL field"})
    closed = await create_ticket(client, as_=OTHER_CUSTOMER)
    await client.post(f"/tickets/{closed['id']}/close", as_=ADMIN)
    await create_ticket(client, as_=OTHER_CUSTOMER, priority="urgent")
    assert (note.status, said.status, attached.status) == (201, 201, 201)
    return {"ticket_ref": ticket["id"], "message_ref": said.json["id"],
            "attachment_id": attached.json["id"], "agent_id": "agent-9", "name": "standard",
            "macro_id": "3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b",
            "other_id": "3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b",
            "webhook_id": "3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b",
            "delivery_id": "3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b"}


async def test_analysts_read_everything_admins_read(client: Client) -> None:
    ids = await busy_desk(client)
    path = f"/tickets/{ids['ticket_ref']}"
    reads = ["/tickets", "/tickets?status=closed", f"/tickets?user_id={CUSTOMER[0]}", path,
             f"{path}?version=3", f"{path}/messages?limit=100", f"{path}/messages/unread-count",
             f"{path}/attachments", f"{path}/history?limit=100", "/tickets/statistics",
             "/tickets/statistics?from=2000-01-01&to=2999-12-31"]
    for read in reads:
        analyst = await client.get(read, as_=ANALYST)
        admin = await client.get(read, as_=ADMIN)
        assert analyst.status == admin.status == 200, (read, analyst, admin)
        assert analyst.json == admin.json, read
    listed = (await client.get("/tickets", as_=ANALYST)).json["data"]
    assert len(listed) == 3
    detail = (await client.get(path, as_=ANALYST)).json
    assert detail["internal_notes"] == "INTERNAL field"
    assert any(m["is_internal"] for m in detail["messages"])
    assert len(detail["attachments"]) == 1


async def test_every_write_route_answers_403_to_analysts(client: Client,
                                                         services: Services) -> None:
    ids = await busy_desk(client)
    head = await services.commands.call(services.app.recorder.max_notification_id)
    before = (await client.get(f"/tickets/{ids['ticket_ref']}", as_=ADMIN)).json
    writes = sorted(
        (method, "/" + re.sub(r"<(\w+)(?::[^>]*)?>", r"{\1}", route.path).lstrip("/"))
        for route in client.app.router.routes
        for method in route.methods - {"GET", "HEAD", "OPTIONS"})
    writes = [(method, path) for method, path in writes if not path.startswith("/public/")]
    assert set(writes) == set(SAMPLES) | set(OWN_AUTH), \
        "every write route needs a sample request"
    for method, template in OWN_AUTH:
        response = await client.request(method, template, as_=ANALYST,
                                        **OWN_AUTH[method, template])
        assert response.status == 401, (method, template, response)
    writes = [write for write in writes if write not in OWN_AUTH]
    for method, template in writes:
        path = template.format(**ids)
        response = await client.request(method, path, as_=ANALYST, **SAMPLES[method, template])
        assert response.status == 403, (method, template, response)
        assert response.json["error"]["code"] == "forbidden"
    assert await services.commands.call(services.app.recorder.max_notification_id) == head
    after = (await client.get(f"/tickets/{ids['ticket_ref']}", as_=ADMIN)).json
    assert after == before


async def test_analysts_get_no_owner_or_agent_rights_either(client: Client) -> None:
    """Handlers treat anyone who is not staff as a customer: an analyst owning a ticket
    (staff opened it for them) still may not edit, close or rate it, nor open one."""
    own = await client.post("/tickets", as_=ANALYST,
                            json={"subject": "s", "description": "d", "user_id": ANALYST[0]})
    assert own.status == 403, own
    ticket = await create_ticket(client, as_=ADMIN, user_id=ANALYST[0])
    path = f"/tickets/{ticket['id']}"
    assert (await client.put(path, as_=ANALYST, json={"subject": "mine"})).status == 403
    assert (await client.post(f"{path}/resolve", as_=ADMIN)).status == 200
    for action, body in (("satisfaction", {"rating": 5}), ("reopen", {}), ("close", {})):
        response = await client.post(f"{path}/{action}", as_=ANALYST, json=body)
        assert response.status == 403, (action, response)
    assign = await client.post(f"{path}/assign", as_=ANALYST, json={"agent_id": AGENT[0]})
    assert assign.status == 403, assign

"""Macros (issue 26) over HTTP on both profiles: the catalog (admins change, staff read,
customers 403, 422 for an unknown placeholder, status or priority), a macro applied in
one append (rendered message, actions, its use in the statistics and the history), and
a refused step leaving the ticket and its messages exactly as they were."""

from __future__ import annotations

from typing import Any

from tests.support.http import ADMIN, AGENT, ANALYST, CUSTOMER, Client, create_ticket

CONTENT = ("Hello {{customer.name}} ({{ customer.email }}), about {{ticket.number}} "
           "\"{{ticket.subject}}\": a replacement ships today. {{agent.name}}")


async def new_macro(client: Client, **body: Any) -> dict[str, Any]:
    response = await client.post("/macros", as_=ADMIN, json={
        "title": "Parcel replaced", "content": CONTENT, **body})
    assert response.status == 201, response
    assert response.headers["location"] == f"/macros/{response.json['id']}"
    return response.json  # type: ignore[no-any-return]


async def contact_ticket(client: Client) -> dict[str, Any]:
    return await create_ticket(client, as_=ADMIN, user_id=CUSTOMER[0], contact_name="Jo",
                               contact_email="jo@example.com", tags=["delivery", "old"])


async def messages_of(client: Client, ticket_id: str, as_: tuple[str, str] = ADMIN
                      ) -> list[dict[str, Any]]:
    response = await client.get(f"/tickets/{ticket_id}/messages?limit=100", as_=as_)
    assert response.status == 200, response
    return response.json["data"]  # type: ignore[no-any-return]


async def test_the_catalog_admins_change_staff_read(client: Client) -> None:
    body = {"title": "Thanks", "content": "Thank you {{agent.name}}"}
    assert (await client.post("/macros", as_=AGENT, json=body)).status == 403
    assert (await client.post("/macros", as_=CUSTOMER, json=body)).status == 403
    for bad, field in ((dict(content="Hi {{ticket.owner}}"), "content"),
                       (dict(content="Hi {{customer.phone}} {{agent.name}}"), "content"),
                       (dict(actions={"status": "pending"}), "actions"),
                       (dict(actions={"status": "assigned"}), "actions"),
                       (dict(actions={"priority": "critical"}), "actions"),
                       (dict(actions={"unknown": 1}), "actions")):
        refused = await client.post("/macros", as_=ADMIN, json={**body, **bad})
        assert refused.status == 422, (bad, refused)
        assert refused.json["error"]["details"][0]["field"].startswith(field)
    macro = await new_macro(client, is_internal=True,
                            actions={"status": "resolved", "add_tags": ["done"]})
    assert macro["actions"] == {"status": "resolved", "add_tags": ["done"]}
    assert macro["created_by"] == ADMIN[0] and macro["is_internal"] is True
    listed = await client.get("/macros", as_=AGENT)
    assert listed.status == 200 and listed.json["data"] == [macro]
    assert (await client.get("/macros", as_=ANALYST)).json["data"] == [macro]
    assert (await client.get("/macros", as_=CUSTOMER)).status == 403
    assert (await client.get(f"/macros/{macro['id']}", as_=CUSTOMER)).status == 403
    path = f"/macros/{macro['id']}"
    assert (await client.put(path, as_=AGENT, json=body)).status == 403
    changed = await client.put(path, as_=ADMIN, json=body)
    assert changed.status == 200 and changed.json["title"] == "Thanks"
    assert changed.json["actions"] == {} and changed.json["created_at"] == macro["created_at"]
    assert (await client.get(path, as_=AGENT)).json == changed.json
    assert (await client.delete(path, as_=AGENT)).status == 403
    assert (await client.delete(path, as_=ADMIN)).status == 200
    assert (await client.get(path, as_=AGENT)).status == 404
    assert (await client.put(path, as_=ADMIN, json=body)).status == 404
    assert (await client.get("/macros/not-a-uuid", as_=AGENT)).status == 404
    assert (await client.get("/macros", as_=AGENT)).json["data"] == []


async def test_a_macro_is_applied_in_one_append(client: Client) -> None:
    macro = await new_macro(client, actions={
        "status": "waiting_customer", "priority": "high", "add_tags": ["replacement"],
        "remove_tags": ["old"], "assign_to_me": True})
    ticket = await contact_ticket(client)
    path = f"/tickets/{ticket['id']}/macros/{macro['id']}"
    assert (await client.post(path, as_=CUSTOMER)).status == 403
    before = (await client.get(f"/tickets/{ticket['id']}", as_=ADMIN)).json["version"]
    applied = await client.post(path, as_=AGENT)
    assert applied.status == 200, applied
    view = applied.json
    assert (view["status"], view["assigned_to"], view["priority"]) == (
        "waiting_customer", AGENT[0], "high")
    assert view["tags"] == ["delivery", "replacement"]
    said = await messages_of(client, ticket["id"], as_=CUSTOMER)
    assert [m["content"] for m in said] == [
        f"Hello Jo (jo@example.com), about {ticket['ticket_number']} \"Order not received\": "
        f"a replacement ships today. {AGENT[0]}"]
    # assign, update, message, wait, the use: one append (versions are consecutive).
    events = await client.get(f"/tickets/{ticket['id']}/history?limit=100", as_=ADMIN)
    entries = [e for e in events.json["data"] if e["version"] > before]
    assert [e["changes"].get("macro") for e in entries][-1] == {
        "id": macro["id"], "title": "Parcel replaced"}
    assert view["version"] == entries[-1]["version"]  # the read model's ETag is current
    customer_history = await client.get(f"/tickets/{ticket['id']}/history?limit=100",
                                        as_=CUSTOMER)
    assert all("macro" not in e["changes"] for e in customer_history.json["data"])
    stats = await client.get("/tickets/statistics", as_=ADMIN)
    assert stats.json["macros"] == {"applied": 1, "by_macro": [
        {"macro_id": macro["id"], "title": "Parcel replaced", "uses": 1}]}
    assert "macros" not in (await client.get("/tickets/statistics", as_=CUSTOMER)).json
    unknown = f"/tickets/{ticket['id']}/macros/3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b"
    assert (await client.post(unknown, as_=AGENT)).status == 404


async def test_a_refused_step_leaves_the_ticket_as_it_was(client: Client) -> None:
    """Waiting on the customer is not allowed from `open`: the priority, the tags and
    the message decided before that step are not stored either."""
    macro = await new_macro(client, actions={"status": "waiting_customer",
                                              "priority": "urgent", "add_tags": ["x"]})
    ticket = await contact_ticket(client)
    before = await client.get(f"/tickets/{ticket['id']}", as_=ADMIN)
    refused = await client.post(f"/tickets/{ticket['id']}/macros/{macro['id']}", as_=AGENT)
    assert refused.status == 409, refused
    after = await client.get(f"/tickets/{ticket['id']}", as_=ADMIN)
    assert after.json == before.json
    assert await messages_of(client, ticket["id"]) == []
    stats = await client.get("/tickets/statistics", as_=ADMIN)
    assert stats.json["macros"] == {"applied": 0, "by_macro": []}

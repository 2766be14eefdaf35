"""`POST /tickets/bulk` (issue 26) on both profiles: each ticket its own command with
its own status (200, 403, 404, 409, 422 never stop the others), more than 100 ids 422,
customers 403, an Idempotency-Key replays the first answer."""

from __future__ import annotations

from tests.support.http import ADMIN, AGENT, CUSTOMER, OTHER_AGENT, Client, create_ticket

MISSING = "3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b"


async def test_each_ticket_answers_for_itself(client: Client) -> None:
    tickets = [await create_ticket(client) for _ in range(3)]
    first, taken, done = (t["id"] for t in tickets)
    await client.post(f"/tickets/{taken}/assign", as_=ADMIN, json={"agent_id": OTHER_AGENT[0]})
    assert (await client.post(f"/tickets/{done}/close", as_=ADMIN)).status == 200
    body = {"ids": [first, taken, done, MISSING, "not-a-ticket"], "action": "resolve"}
    assert (await client.post("/tickets/bulk", as_=CUSTOMER, json=body)).status == 403
    answered = await client.post("/tickets/bulk", as_=AGENT, json=body)
    assert answered.status == 200, answered
    results = answered.json["results"]
    assert [(r["id"], r["status"]) for r in results] == [
        (first, 200), (taken, 404), (done, 404), (MISSING, 404), ("not-a-ticket", 404)]
    assert "error" not in results[0] and results[1]["error"]["code"] == "not_found"
    closed = await client.post("/tickets/bulk", as_=ADMIN, json={"ids": [done, first],
                                                                  "action": "close"})
    assert [(r["status"], r.get("error", {}).get("code")) for r in closed.json["results"]] == [
        (409, "ticket_closed"), (200, None)]
    assert (await client.get(f"/tickets/{first}", as_=ADMIN)).json["status"] == "closed"
    assert (await client.get(f"/tickets/{taken}", as_=ADMIN)).json["status"] == "assigned"

    tagged = await client.post("/tickets/bulk", as_=ADMIN, json={
        "ids": [first, taken], "action": "add_tags", "tags": ["vip"]},
        headers={"Idempotency-Key": "bulk-1"})
    assert [r["status"] for r in tagged.json["results"]] == [409, 200]
    again = await client.post("/tickets/bulk", as_=ADMIN, json={
        "ids": [first, taken], "action": "add_tags", "tags": ["vip"]},
        headers={"Idempotency-Key": "bulk-1"})
    assert again.json == tagged.json
    view = (await client.get(f"/tickets/{taken}", as_=ADMIN)).json
    assert view["tags"] == ["vip"] and view["version"] == 3  # once, not twice
    priority = await client.post("/tickets/bulk", as_=ADMIN, json={
        "ids": [taken], "action": "set_priority", "priority": "urgent"})
    assert priority.json["results"] == [{"id": taken, "status": 200}]
    assert (await client.get(f"/tickets/{taken}", as_=ADMIN)).json["priority"] == "urgent"
    unassigned = await client.post("/tickets/bulk", as_=ADMIN, json={
        "ids": [taken, first], "action": "unassign"})  # a closed ticket keeps its agent
    assert [r["status"] for r in unassigned.json["results"]] == [200, 409]


async def test_the_request_itself_is_checked(client: Client) -> None:
    ticket = await create_ticket(client)
    too_many = {"ids": [ticket["id"]] * 101, "action": "close"}
    assert (await client.post("/tickets/bulk", as_=ADMIN, json=too_many)).status == 422
    for bad in ({"ids": [ticket["id"]], "action": "explode"},
                {"ids": [ticket["id"]], "action": "assign"},
                {"ids": [ticket["id"]], "action": "set_priority", "priority": "critical"},
                {"ids": [], "action": "close"}):
        assert (await client.post("/tickets/bulk", as_=ADMIN, json=bad)).status == 422, bad
    macro = await client.post("/macros", as_=ADMIN, json={
        "title": "Thanks", "content": "Thank you, {{customer.email}}"})
    applied = await client.post("/tickets/bulk", as_=ADMIN, json={
        "ids": [ticket["id"]], "action": "apply_macro", "macro_id": macro.json["id"]})
    assert applied.json["results"] == [{"id": ticket["id"], "status": 200}]
    gone = await client.post("/tickets/bulk", as_=ADMIN, json={
        "ids": [ticket["id"]], "action": "apply_macro", "macro_id": MISSING})
    assert gone.json["results"][0]["status"] == 404

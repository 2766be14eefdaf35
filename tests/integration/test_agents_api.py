"""The agent roster over HTTP on both profiles: admins only, upsert, workload, pages."""

from __future__ import annotations

from tests.support.http import ADMIN, AGENT, ANALYST, CUSTOMER, Client, Response, create_ticket


async def put_agent(client: Client, agent_id: str, **body: object) -> Response:
    payload = {"name": f"Agent {agent_id}", "email": f"{agent_id}@example.com",
               "active": True, **body}
    return await client.put(f"/agents/{agent_id}", as_=ADMIN, json=payload)


async def test_put_registers_then_updates_an_agent(client: Client) -> None:
    created = await put_agent(client, "agent-1", name="Alice")
    assert created.status == 201, created
    assert created.json == {**created.json, "agent_id": "agent-1", "name": "Alice",
                            "email": "agent-1@example.com", "active": True, "open_tickets": 0}
    updated = await put_agent(client, "agent-1", name="Alice B.", active=False)
    assert updated.status == 200
    assert updated.json["name"] == "Alice B." and updated.json["active"] is False
    same = await put_agent(client, "agent-1", name="Alice B.", active=False)
    assert same.status == 200 and same.json["updated_at"] == updated.json["updated_at"]


async def test_roster_is_for_admins_only(client: Client) -> None:
    body = {"name": "Eve", "email": None, "active": True}
    for who in (AGENT, CUSTOMER):
        assert (await client.put("/agents/eve", as_=who, json=body)).status == 403
        assert (await client.get("/agents", as_=who)).status == 403
    assert (await client.get("/agents")).status == 401


async def test_bad_agent_bodies_are_4xx(client: Client) -> None:
    path = "/agents/agent-1"
    assert (await client.put(path, as_=ADMIN, content=b"{nope")).status == 400
    assert (await client.put(path, as_=ADMIN, json={"name": ""})).status == 422
    assert (await client.put(path, as_=ADMIN, json={"name": "A", "email": "x"})).status == 422
    assert (await client.put(path, as_=ADMIN, json={"name": "A", "rank": 1})).status == 422
    assert (await client.put(path, as_=ADMIN, json={"name": "A", "active": "maybe"})).status == 422
    long_id = "/agents/" + "a" * 65
    assert (await client.put(long_id, as_=ADMIN, json={"name": "A"})).status == 422
    assert (await client.get("/agents?limit=0", as_=ADMIN)).status == 422
    assert (await client.get("/agents?cursor=%%%", as_=ADMIN)).status == 422
    assert (await client.get("/agents?active=perhaps", as_=ADMIN)).status == 422


async def test_list_shows_each_agents_open_workload(client: Client) -> None:
    for agent_id in ("agent-1", "agent-2", "agent-3"):
        await put_agent(client, agent_id)
    tickets = [await create_ticket(client) for _ in range(4)]
    for ticket, agent_id in zip(tickets, ("agent-1", "agent-1", "agent-2", "agent-2"),
                                strict=True):
        response = await client.post(f"/tickets/{ticket['id']}/assign", as_=ADMIN,
                                     json={"agent_id": agent_id})
        assert response.status == 200
    # Resolved and closed tickets are not open workload.
    await client.post(f"/tickets/{tickets[3]['id']}/resolve", as_=ADMIN)
    listed = await client.get("/agents", as_=ADMIN)
    assert listed.status == 200
    assert {a["agent_id"]: a["open_tickets"] for a in listed.json["data"]} == {
        "agent-1": 2, "agent-2": 1, "agent-3": 0}
    assert listed.json["pagination"] == {"limit": 20, "next_cursor": None}


async def test_list_pages_and_filters_by_active(client: Client) -> None:
    for index in range(5):
        await put_agent(client, f"agent-{index}", active=index % 2 == 0)
    seen: list[str] = []
    cursor = None
    while True:
        query = "/agents?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(query, as_=ADMIN)).json
        seen += [a["agent_id"] for a in page["data"]]
        cursor = page["pagination"]["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"agent-{i}" for i in range(5)]
    active = (await client.get("/agents?active=true", as_=ADMIN)).json["data"]
    assert [a["agent_id"] for a in active] == ["agent-0", "agent-2", "agent-4"]


async def test_agent_ids_in_the_path_are_percent_decoded(client: Client) -> None:
    response = await client.put("/agents/jean%20dupont", as_=ADMIN,
                                json={"name": "Jean", "active": True})
    assert response.status == 201 and response.json["agent_id"] == "jean dupont"


async def test_agent_ids_differing_in_case_are_two_agents(client: Client) -> None:
    for agent_id in ("bob", "BOB"):
        response = await client.put(f"/agents/{agent_id}", as_=ADMIN,
                                    json={"name": agent_id, "active": True})
        assert response.status == 201, response
    ids = {a["agent_id"] for a in (await client.get("/agents", as_=ADMIN)).json["data"]}
    assert {"bob", "BOB"} <= ids


async def test_one_agent_is_read_by_staff_where_its_location_says(client: Client) -> None:
    created = await client.put("/agents/ada%2F1", as_=ADMIN, json={"name": "Ada"})
    assert created.status == 201 and created.headers["location"] == "/agents/ada%2F1"
    for who in (ADMIN, AGENT, ANALYST):
        read = await client.get(created.headers["location"], as_=who)
        assert read.status == 200, (who, read)
        assert read.json == created.json
    assert (await client.get("/agents/ada%2F1", as_=CUSTOMER)).status == 403
    assert (await client.get("/agents/ada%2F1")).status == 401
    missing = await client.get("/agents/nobody", as_=AGENT)
    assert missing.status == 404 and missing.json["error"]["code"] == "not_found"
    assert (await client.get("/agents/" + "a" * 300, as_=AGENT)).status == 404


async def test_one_agent_shows_its_open_workload(client: Client) -> None:
    await put_agent(client, "agent-1")
    ticket = await create_ticket(client)
    await client.post(f"/tickets/{ticket['id']}/assign", as_=ADMIN, json={"agent_id": "agent-1"})
    read = await client.get("/agents/agent-1", as_=AGENT)
    assert read.status == 200 and read.json["open_tickets"] == 1

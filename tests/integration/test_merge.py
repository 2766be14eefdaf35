"""Merging tickets (issue 26) on both profiles: the source closed with `merged_into`,
the target's `merged_from` link and a public message on each side, seen from the
customer's side and by the public lookup; further messages 409 `ticket_merged`; into
itself 422, into a closed or merged ticket 409, customers 403; published."""

from __future__ import annotations

from tests.support.http import ADMIN, AGENT, CUSTOMER, Client, create_ticket


async def test_a_merge_seen_from_both_sides(client: Client) -> None:
    source, target = await create_ticket(client), await create_ticket(client)
    path = f"/tickets/{source['id']}/merge"
    assert (await client.post(path, as_=CUSTOMER, json={"into": target["id"]})).status == 403
    assert (await client.post(path, as_=AGENT, json={"into": source["id"]})).status == 422
    merged = await client.post(path, as_=AGENT, json={"into": target["id"]})
    assert merged.status == 200, merged
    assert (merged.json["status"], merged.json["merged_into"],
            merged.json["merged_into_number"]) == ("closed", target["id"],
                                                   target["ticket_number"])
    seen = (await client.get(f"/tickets/{source['id']}", as_=CUSTOMER)).json
    assert seen["merged_into"] == target["id"] and seen["status"] == "closed"
    assert target["ticket_number"] in seen["messages"][-1]["content"]
    there = (await client.get(f"/tickets/{target['id']}", as_=CUSTOMER)).json
    assert source["ticket_number"] in there["messages"][-1]["content"]
    assert there["merged_into"] is None
    links = await client.get(f"/tickets/{target['id']}/links", as_=CUSTOMER)
    assert [(link["ticket_id"], link["kind"], link["status"])
            for link in links.json["links"]] == [(source["id"], "merged_from", "closed")]
    said = await client.post(f"/tickets/{source['id']}/messages", as_=CUSTOMER,
                             json={"content": "hello?"})
    assert said.status == 409 and said.json["error"]["code"] == "ticket_merged"
    again = await client.post(path, as_=ADMIN, json={"into": target["id"]})
    assert again.status == 409
    other = await create_ticket(client)
    into_merged = await client.post(f"/tickets/{other['id']}/merge", as_=ADMIN,
                                     json={"into": source["id"]})
    assert into_merged.status == 409
    assert (await client.post(f"/tickets/{other['id']}/close", as_=ADMIN)).status == 200
    into_closed = await client.post(f"/tickets/{target['id']}/merge", as_=ADMIN,
                                    json={"into": other["id"]})
    assert into_closed.status == 409
    history = await client.get(f"/tickets/{source['id']}/history?limit=100", as_=ADMIN)
    assert "ticket.merged" in [e["type"] for e in history.json["data"]]


async def test_the_public_lookup_shows_the_target(client: Client) -> None:
    created = await client.post("/public/tickets", json={
        "email": "ann@example.com", "subject": "Lamp", "description": "It flickers"})
    number, token = created.json["ticket_number"], created.json["access_token"]
    target = await create_ticket(client)
    merged = await client.post(f"/tickets/{number}/merge", as_=ADMIN,
                               json={"into": target["id"]})
    assert merged.status == 200, merged
    public = await client.get(f"/public/tickets/{number}", headers={"X-Access-Token": token})
    assert public.status == 200
    assert public.json["merged_into_number"] == target["ticket_number"]
    said = await client.post(f"/public/tickets/{number}/messages",
                             headers={"X-Access-Token": token}, json={"content": "hi"})
    assert said.status == 409 and said.json["error"]["code"] == "ticket_merged"

"""Links between tickets (issue 26) on both profiles: shown on both tickets (related on
both sides, parent/child mirrored, duplicate_of/duplicated_by) with the other ticket's
number and status as it is now, removed on both sides, staff only, in the history."""

from __future__ import annotations

from typing import Any

from tests.support.http import ADMIN, AGENT, CUSTOMER, OTHER_CUSTOMER, Client, create_ticket


async def links(client: Client, ticket_id: str, as_: tuple[str, str] = ADMIN
                ) -> list[tuple[str, str]]:
    response = await client.get(f"/tickets/{ticket_id}/links", as_=as_)
    assert response.status == 200, response
    return [(link["ticket_id"], link["kind"]) for link in response.json["links"]]


async def test_links_on_both_tickets(client: Client) -> None:
    a, b, c, d = [await create_ticket(client) for _ in range(4)]
    assert await links(client, a["id"]) == []
    body = {"ticket_id": b["id"], "kind": "duplicate"}
    assert (await client.post(f"/tickets/{a['id']}/links", as_=CUSTOMER, json=body)
            ).status == 403
    created = await client.post(f"/tickets/{a['id']}/links", as_=AGENT, json=body)
    assert created.status == 201, created
    assert created.headers["location"] == f"/tickets/{a['id']}/links"
    assert created.json["links"][0] == {
        "ticket_id": b["id"], "kind": "duplicate_of", "ticket_number": b["ticket_number"],
        "status": "open", "created_at": created.json["links"][0]["created_at"]}
    assert (await client.post(f"/tickets/{a['id']}/links", as_=AGENT, json=body)).status == 409
    assert (await client.post(f"/tickets/{a['id']}/links", as_=AGENT, json={
        "ticket_id": a["id"], "kind": "related"})).status == 422
    assert (await client.post(f"/tickets/{a['id']}/links", as_=AGENT, json={
        "ticket_id": c["id"], "kind": "sibling"})).status == 422
    for other, kind in ((c, "parent"), (d, "related")):
        assert (await client.post(f"/tickets/{a['id']}/links", as_=ADMIN, json={
            "ticket_id": other["id"], "kind": kind})).status == 201
    assert await links(client, a["id"]) == [
        (b["id"], "duplicate_of"), (c["id"], "parent"), (d["id"], "related")]
    assert await links(client, b["id"]) == [(a["id"], "duplicated_by")]
    assert await links(client, c["id"]) == [(a["id"], "child")]
    assert await links(client, d["id"]) == [(a["id"], "related")]
    assert await links(client, a["id"], as_=CUSTOMER) == await links(client, a["id"])
    # The other ticket's status as it is now.
    assert (await client.post(f"/tickets/{b['id']}/resolve", as_=ADMIN)).status == 200
    listed = await client.get(f"/tickets/{a['id']}/links", as_=ADMIN)
    assert listed.json["links"][0]["status"] == "resolved"

    assert (await client.delete(f"/tickets/{a['id']}/links/{c['id']}", as_=CUSTOMER)
            ).status == 403
    removed = await client.delete(f"/tickets/{c['id']}/links/{a['ticket_number']}", as_=AGENT)
    assert removed.status == 200, removed
    assert await links(client, c["id"]) == []
    assert await links(client, a["id"]) == [(b["id"], "duplicate_of"), (d["id"], "related")]
    assert (await client.delete(f"/tickets/{a['id']}/links/{c['id']}", as_=AGENT)
            ).status == 404
    history = await client.get(f"/tickets/{a['id']}/history?limit=100", as_=ADMIN)
    changes = [e["changes"] for e in history.json["data"]]
    assert {"link": {"ticket_id": b["id"], "kind": "duplicate_of"}} in changes
    assert {"unlinked": c["id"]} in changes
    view = (await client.get(f"/tickets/{a['id']}", as_=ADMIN)).json
    assert view["version"] == history.json["data"][-1]["version"]


def shown(view: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(link["ticket_id"], link["kind"], link["ticket_number"], link["status"])
            for link in view["links"]]


async def test_every_ticket_view_carries_its_links(client: Client) -> None:
    """`links` in `GET /tickets/{id}`, the list, write answers and time travel, with the
    other ticket's number and status now; customers see links to their own tickets
    only; an unlinked ticket shows []. The messages list moved to `messages_url`."""
    a, b, lone = [await create_ticket(client) for _ in range(3)]
    theirs = await create_ticket(client, as_=OTHER_CUSTOMER)
    assert a["links"] == [] and a["messages_url"] == f"/tickets/{a['id']}/messages"
    # Read once before the links exist: a view kept in memory must not hide them.
    assert (await client.get(f"/tickets/{a['id']}", as_=ADMIN)).json["links"] == []
    for other, kind in ((b, "related"), (theirs, "parent")):
        assert (await client.post(f"/tickets/{a['id']}/links", as_=AGENT, json={
            "ticket_id": other["id"], "kind": kind})).status == 201

    async def get(ticket: dict[str, Any], as_: tuple[str, str] = ADMIN) -> dict[str, Any]:
        response = await client.get(f"/tickets/{ticket['id']}", as_=as_)
        assert response.status == 200, response
        return response.json  # type: ignore[no-any-return]

    to_b = (b["id"], "related", b["ticket_number"], "open")
    to_theirs = (theirs["id"], "parent", theirs["ticket_number"], "open")
    assert shown(await get(a)) == [to_b, to_theirs]
    assert shown(await get(b)) == [(a["id"], "related", a["ticket_number"], "open")]
    assert shown(await get(theirs)) == [(a["id"], "child", a["ticket_number"], "open")]
    assert (await get(lone))["links"] == []
    # Customers: only links to their own tickets (cust-2's ticket is not named to cust-1).
    assert shown(await get(a, CUSTOMER)) == [to_b]
    assert (await get(theirs, OTHER_CUSTOMER))["links"] == []
    # The other ticket's status as it is now, also on a view read before.
    assert (await client.post(f"/tickets/{b['id']}/resolve", as_=ADMIN)).status == 200
    to_b = (b["id"], "related", b["ticket_number"], "resolved")
    assert shown(await get(a)) == [to_b, to_theirs]
    assert shown(await get(a, CUSTOMER)) == [to_b]

    # The list: every item carries its links (one query for the page).
    for who, expected in ((ADMIN, [to_b, to_theirs]), (CUSTOMER, [to_b])):
        page = await client.get("/tickets?limit=100", as_=who)
        assert page.status == 200, page
        items = {item["id"]: item for item in page.json["data"]}
        assert shown(items[a["id"]]) == expected
        assert shown(items[b["id"]]) == [(a["id"], "related", a["ticket_number"], "open")]
        assert items[lone["id"]]["links"] == []
    # A write's answer.
    updated = await client.put(f"/tickets/{a['id']}", as_=CUSTOMER, json={"subject": "x"})
    assert updated.status == 200, updated
    assert shown(updated.json) == [to_b]
    # Time travel: the links of that version (none at creation), no messages_url.
    first = await client.get(f"/tickets/{a['id']}?version=1", as_=ADMIN)
    assert first.status == 200, first
    assert first.json["links"] == [] and first.json["messages_url"] is None
    linked = await client.get(f"/tickets/{a['id']}?version=3", as_=ADMIN)
    assert shown(linked.json) == [to_b, to_theirs]
    assert shown((await client.get(f"/tickets/{a['id']}?version=2", as_=ADMIN)).json) == [
        to_b]
    # A link to a deleted ticket is hidden, and shown again once it is restored: a view
    # that hides a link is not kept in memory either.
    assert (await client.delete(f"/tickets/{a['id']}", as_=ADMIN)).status == 200
    for _ in range(2):
        assert (await get(theirs))["links"] == []
    assert (await client.post(f"/tickets/{a['id']}/restore", as_=ADMIN)).status == 200
    assert shown(await get(theirs)) == [(a["id"], "child", a["ticket_number"], "open")]

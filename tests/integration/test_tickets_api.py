"""Ticket routes over HTTP on both profiles: contract, visibility, lifecycle, bad input."""

from __future__ import annotations

import re

from sav.bootstrap import Services
from tests.support.http import (
    ADMIN,
    AGENT,
    CUSTOMER,
    OTHER_AGENT,
    OTHER_CUSTOMER,
    Client,
    create_ticket,
)


async def test_create_returns_ticket_with_number_and_etag(client: Client) -> None:
    response = await client.post("/tickets", as_=CUSTOMER, json={
        "subject": "Broken kettle", "description": "It leaks", "priority": "high",
        "category": "product", "metadata": {"order_id": 42}})
    assert response.status == 201
    ticket = response.json
    assert re.fullmatch(r"TICKET-\d{8}-\d{3,}", ticket["ticket_number"])
    assert ticket["status"] == "open" and ticket["priority"] == "high"
    assert ticket["user_id"] == "cust-1" and ticket["metadata"] == {"order_id": 42}
    assert ticket["version"] == 1 and response.headers["etag"] == '"1"'
    assert "internal_notes" not in ticket


async def test_read_your_writes_on_list_and_get(client: Client) -> None:
    ticket = await create_ticket(client)
    listed = await client.get("/tickets", as_=CUSTOMER)
    assert [t["id"] for t in listed.json["data"]] == [ticket["id"]]
    by_number = await client.get(f"/tickets/{ticket['ticket_number']}", as_=CUSTOMER)
    assert by_number.status == 200 and by_number.json["id"] == ticket["id"]


async def test_customers_see_only_their_tickets(client: Client) -> None:
    ticket = await create_ticket(client)
    assert (await client.get(f"/tickets/{ticket['id']}", as_=OTHER_CUSTOMER)).status == 404
    assert (await client.get("/tickets", as_=OTHER_CUSTOMER)).json["data"] == []
    response = await client.post(f"/tickets/{ticket['id']}/close", as_=OTHER_CUSTOMER)
    assert response.status == 404


async def test_agents_see_assigned_and_unassigned_open(client: Client) -> None:
    mine, theirs, pool = [await create_ticket(client) for _ in range(3)]
    await client.post(f"/tickets/{mine['id']}/assign", as_=ADMIN, json={"agent_id": "agent-1"})
    await client.post(f"/tickets/{theirs['id']}/assign", as_=ADMIN, json={"agent_id": "agent-2"})
    seen = {t["id"] for t in (await client.get("/tickets", as_=AGENT)).json["data"]}
    assert seen == {mine["id"], pool["id"]}
    assert (await client.get(f"/tickets/{theirs['id']}", as_=AGENT)).status == 404
    assert (await client.get(f"/tickets/{theirs['id']}", as_=OTHER_AGENT)).status == 200
    assert len((await client.get("/tickets", as_=ADMIN)).json["data"]) == 3


async def test_lifecycle_assign_resolve_close(client: Client) -> None:
    ticket = await create_ticket(client)
    path = f"/tickets/{ticket['id']}"
    assigned = await client.post(f"{path}/assign", as_=AGENT, json={"agent_id": "agent-1"})
    assert assigned.status == 200 and assigned.json["status"] == "assigned"
    assert (await client.post(f"{path}/start", as_=AGENT)).json["status"] == "in_progress"
    assert (await client.post(f"{path}/wait", as_=AGENT)).json["status"] == "waiting_customer"
    resolved = await client.post(f"{path}/resolve", as_=AGENT, json={"resolution": "Refunded"})
    assert resolved.json["status"] == "resolved" and resolved.json["resolution_notes"] == "Refunded"
    assert resolved.json["resolved_at"] is not None
    reopened = await client.post(f"{path}/reopen", as_=CUSTOMER)
    assert reopened.json["status"] == "in_progress"
    await client.post(f"{path}/resolve", as_=AGENT)
    closed = await client.post(f"{path}/close", as_=CUSTOMER)
    assert closed.json["status"] == "closed" and closed.json["closed_at"] is not None
    for command in ("reopen", "close", "resolve", "start"):
        response = await client.post(f"{path}/{command}", as_=ADMIN)
        assert response.status == 409, (command, response)
        assert response.json["error"]["code"] in ("ticket_closed", "invalid_transition")


async def test_invalid_transitions_are_409(client: Client) -> None:
    ticket = await create_ticket(client)
    path = f"/tickets/{ticket['id']}"
    assert (await client.post(f"{path}/wait", as_=AGENT)).status == 409
    assert (await client.post(f"{path}/reopen", as_=AGENT)).status == 409


async def test_only_staff_assign_and_resolve(client: Client) -> None:
    ticket = await create_ticket(client)
    path = f"/tickets/{ticket['id']}"
    response = await client.post(f"{path}/assign", as_=CUSTOMER, json={"agent_id": "cust-1"})
    assert response.status == 403 and response.json["error"]["code"] == "forbidden"
    assert (await client.post(f"{path}/resolve", as_=CUSTOMER)).status == 403


async def test_customer_updates_own_open_ticket_fields_only(client: Client) -> None:
    ticket = await create_ticket(client)
    path = f"/tickets/{ticket['id']}"
    ok = await client.put(path, as_=CUSTOMER, json={"subject": "New subject", "priority": "low"})
    assert ok.status == 200 and ok.json["subject"] == "New subject" and ok.json["version"] == 2
    denied = await client.put(path, as_=CUSTOMER, json={"internal_notes": "x"})
    assert denied.status == 403
    staff = await client.put(path, as_=AGENT, json={"internal_notes": "VIP", "tags": ["a"],
                                                   "status": "in_progress"})
    assert staff.status == 200 and staff.json["internal_notes"] == "VIP"
    assert staff.json["status"] == "in_progress"
    assert "internal_notes" not in (await client.get(path, as_=CUSTOMER)).json


async def test_if_match_mismatch_is_412_and_writes_nothing(client: Client) -> None:
    ticket = await create_ticket(client)
    path = f"/tickets/{ticket['id']}"
    stale = await client.put(path, as_=CUSTOMER, json={"subject": "A"},
                             headers={"If-Match": '"7"'})
    assert stale.status == 412
    fresh = await client.put(path, as_=CUSTOMER, json={"subject": "B"},
                             headers={"If-Match": '"1"'})
    assert fresh.status == 200 and fresh.headers["etag"] == '"2"'
    assert (await client.get(path, as_=CUSTOMER)).json["subject"] == "B"


async def test_idempotency_key_returns_first_result(client: Client, services: Services) -> None:
    body = {"subject": "Once", "description": "only once"}
    headers = {"Idempotency-Key": "abc-123"}
    first = await client.post("/tickets", as_=CUSTOMER, json=body, headers=headers)
    second = await client.post("/tickets", as_=CUSTOMER, json=body, headers=headers)
    assert first.status == second.status == 201
    assert first.json["id"] == second.json["id"]
    assert len((await client.get("/tickets", as_=CUSTOMER)).json["data"]) == 1


async def test_cursor_pagination_walks_every_ticket_once(client: Client) -> None:
    created = [(await create_ticket(client, subject=f"T{i}"))["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        query = "/tickets?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(query, as_=CUSTOMER)).json
        assert page["pagination"]["limit"] == 2
        seen += [t["id"] for t in page["data"]]
        cursor = page["pagination"]["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(created))


async def test_filters_and_full_text(client: Client) -> None:
    await create_ticket(client, subject="Kettle leaking water", priority="urgent")
    await create_ticket(client, subject="Invoice missing", description="need billing copy",
                        category="billing")
    found = (await client.get("/tickets?q=kettle", as_=CUSTOMER)).json["data"]
    assert [t["subject"] for t in found] == ["Kettle leaking water"]
    billing = (await client.get("/tickets?q=billing", as_=CUSTOMER)).json["data"]
    assert [t["subject"] for t in billing] == ["Invoice missing"]
    urgent = (await client.get("/tickets?priority=urgent", as_=CUSTOMER)).json["data"]
    assert len(urgent) == 1
    assert len((await client.get("/tickets?category=billing", as_=CUSTOMER)).json["data"]) == 1
    assert len((await client.get("/tickets?status=open,closed", as_=CUSTOMER)).json["data"]) == 2


async def test_delete_is_soft_and_hides_the_ticket(client: Client, services: Services) -> None:
    ticket = await create_ticket(client)
    path = f"/tickets/{ticket['id']}"
    assert (await client.delete(path, as_=AGENT)).status == 403
    assert (await client.delete(path, as_=CUSTOMER)).status == 200
    assert (await client.get(path, as_=ADMIN)).status == 404
    assert (await client.get("/tickets", as_=ADMIN)).json["data"] == []
    assert services.app.recorder.max_notification_id() == 2  # history kept


async def test_statistics_scoped_to_caller(client: Client) -> None:
    await create_ticket(client, priority="urgent")
    await create_ticket(client, as_=OTHER_CUSTOMER)
    mine = (await client.get("/tickets/statistics", as_=CUSTOMER)).json
    assert mine["total"] == 1 and mine["by_priority"]["urgent"] == 1
    everyone = (await client.get("/tickets/statistics", as_=ADMIN)).json
    assert everyone["total"] == 2 and everyone["by_status"]["open"] == 2
    for key in ("avg_first_response_seconds", "avg_resolution_seconds", "satisfaction",
                "escalation_rate", "agent_workload"):
        assert key in everyone


async def test_agent_resolving_an_unassigned_ticket_gets_the_new_state(client: Client) -> None:
    ticket = await create_ticket(client)
    resolved = await client.post(f"/tickets/{ticket['id']}/resolve", as_=AGENT)
    assert resolved.status == 200 and resolved.json["status"] == "resolved"
    # Resolved and unassigned: out of the agents' pool from now on.
    assert (await client.get(f"/tickets/{ticket['id']}", as_=AGENT)).status == 404


async def test_full_text_matches_the_same_way_on_both_profiles(client: Client) -> None:
    """Prefixes of long words and substrings of short ones, on SQLite and MariaDB alike."""
    await create_ticket(client, subject="Subject 3 about a kettle", description="x")
    await create_ticket(client, subject="Another one", description="nothing here")

    async def search(q: str) -> list[str]:
        found = (await client.get(f"/tickets?q={q}", as_=CUSTOMER)).json["data"]
        return [t["subject"] for t in found]

    assert await search("Subject%203") == ["Subject 3 about a kettle"]
    assert await search("3") == ["Subject 3 about a kettle"]
    assert await search("Subj") == ["Subject 3 about a kettle"]
    assert await search("kett%20subj") == ["Subject 3 about a kettle"]
    assert await search("kettle%20nothing") == []
    assert len(await search("%25%25")) == 2  # no words: no filter


async def test_idempotency_key_replays_the_etag_and_refuses_another_body(
    client: Client, services: Services,
) -> None:
    headers = {"Idempotency-Key": "key-1"}
    first = await client.post("/tickets", as_=CUSTOMER, headers=headers,
                              json={"subject": "A", "description": "a"})
    replay = await client.post("/tickets", as_=CUSTOMER, headers=headers,
                               json={"subject": "A", "description": "a"})
    assert replay.headers["etag"] == first.headers["etag"] == '"1"'
    before = services.app.recorder.max_notification_id()
    other = await client.post("/tickets", as_=CUSTOMER, headers=headers,
                              json={"subject": "B", "description": "b"})
    assert other.status == 422 and other.json["error"]["code"] == "idempotency_key_reused"
    assert services.app.recorder.max_notification_id() == before


async def test_put_status_follows_the_lifecycle_table(client: Client) -> None:
    ticket = await create_ticket(client)
    path = f"/tickets/{ticket['id']}"
    assert (await client.put(path, as_=AGENT, json={"status": "waiting_customer"})).status == 409
    assert (await client.put(path, as_=AGENT, json={"status": "in_progress"})).status == 200
    again = await client.put(path, as_=AGENT, json={"status": "in_progress"})
    assert again.status == 409 and again.json["error"]["code"] == "invalid_transition"


async def test_metadata_comes_back_exactly_even_when_it_looks_like_a_tag(client: Client) -> None:
    odd = {"_type_": "datetime_iso", "_data_": "2020-01-01T00:00:00"}
    ticket = await create_ticket(client, metadata=odd)
    assert ticket["metadata"] == odd
    updated = await client.put(f"/tickets/{ticket['id']}", as_=AGENT,
                               json={"metadata": {"_type_": "uuid_hex", "_data_": "zz"}})
    assert updated.status == 200
    assert updated.json["metadata"] == {"_type_": "uuid_hex", "_data_": "zz"}
    assert (await create_ticket(client))["status"] == "open"  # the projector kept going


async def test_user_ids_compare_exactly_on_both_profiles(client: Client) -> None:
    """MySQL's default collation would make ALICE equal alice."""
    await create_ticket(client, as_=("alice", "customer"))
    assert (await client.get("/tickets", as_=("ALICE", "customer"))).json["data"] == []
    stats = (await client.get("/tickets/statistics", as_=("ALICE", "customer"))).json
    assert stats["total"] == 0


async def test_idempotency_keys_are_case_sensitive(client: Client) -> None:
    body = {"subject": "s", "description": "d"}
    first = await client.post("/tickets", as_=CUSTOMER, json=body,
                              headers={"Idempotency-Key": "abc"})
    second = await client.post("/tickets", as_=CUSTOMER, json=body,
                               headers={"Idempotency-Key": "ABC"})
    assert first.json["id"] != second.json["id"]

"""Message routes over HTTP on both profiles: conversation, privacy, read tracking, rules."""

from __future__ import annotations

from typing import Any

import pytest

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


async def post(client: Client, ticket: dict[str, Any], as_: tuple[str, str], content: str,
               **extra: Any) -> dict[str, Any]:
    response = await client.post(f"/tickets/{ticket['id']}/messages", as_=as_,
                                 json={"content": content, **extra})
    assert response.status == 201, response
    return response.json  # type: ignore[no-any-return]


async def assigned_ticket(client: Client) -> dict[str, Any]:
    ticket = await create_ticket(client)
    response = await client.post(f"/tickets/{ticket['id']}/assign", as_=ADMIN,
                                 json={"agent_id": AGENT[0]})
    assert response.status == 200
    return ticket


async def test_add_and_list_messages_in_order(client: Client) -> None:
    ticket = await create_ticket(client)
    first = await post(client, ticket, CUSTOMER, "Where is my parcel?")
    assert first["ticket_id"] == ticket["id"] and first["user_id"] == "cust-1"
    assert first["is_internal"] is False and first["is_read"] is False
    assert first["read_at"] is None and first["created_at"] == first["updated_at"]
    second = await post(client, ticket, AGENT, "Checking with the carrier")
    listed = await client.get(f"/tickets/{ticket['id']}/messages", as_=CUSTOMER)
    assert listed.status == 200
    assert [m["id"] for m in listed.json["data"]] == [first["id"], second["id"]]
    assert listed.json["pagination"] == {"limit": 50, "next_cursor": None}


async def test_messages_accept_ticket_number(client: Client) -> None:
    ticket = await create_ticket(client)
    await post(client, ticket, CUSTOMER, "hello")
    listed = await client.get(f"/tickets/{ticket['ticket_number']}/messages", as_=CUSTOMER)
    assert len(listed.json["data"]) == 1


async def test_cursor_pagination_walks_the_conversation(client: Client) -> None:
    ticket = await create_ticket(client)
    ids = [(await post(client, ticket, CUSTOMER, f"m{i}"))["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        after = f"&cursor={cursor}" if cursor else ""
        query = f"/tickets/{ticket['id']}/messages?limit=2{after}"
        page = (await client.get(query, as_=CUSTOMER)).json
        seen += [m["id"] for m in page["data"]]
        cursor = page["pagination"]["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    bad = await client.get(f"/tickets/{ticket['id']}/messages?cursor=!!", as_=CUSTOMER)
    assert bad.status == 422


async def test_internal_notes_are_staff_only(client: Client) -> None:
    ticket = await assigned_ticket(client)
    note = await post(client, ticket, AGENT, "customer is a known fraudster", is_internal=True)
    public = await post(client, ticket, AGENT, "We are on it")
    path = f"/tickets/{ticket['id']}"
    customer_list = (await client.get(f"{path}/messages", as_=CUSTOMER)).json["data"]
    assert [m["id"] for m in customer_list] == [public["id"]]
    assert (await client.get(f"{path}/messages/{note['id']}", as_=CUSTOMER)).status == 404
    details = (await client.get(path, as_=CUSTOMER)).json
    assert [m["id"] for m in details["messages"]] == [public["id"]]
    assert "fraudster" not in (await client.get(path, as_=CUSTOMER)).body.decode()
    staff = (await client.get(f"{path}/messages", as_=AGENT)).json["data"]
    assert {m["id"] for m in staff} == {note["id"], public["id"]}
    assert (await client.get(path, as_=ADMIN)).json["messages"][0]["is_internal"] is True


async def test_customer_cannot_write_internal_notes(client: Client, services: Services) -> None:
    ticket = await create_ticket(client)
    before = services.app.recorder.max_notification_id()
    response = await client.post(f"/tickets/{ticket['id']}/messages", as_=CUSTOMER,
                                 json={"content": "x", "is_internal": True})
    assert response.status == 403
    assert services.app.recorder.max_notification_id() == before


async def test_first_public_staff_message_sets_first_response(client: Client) -> None:
    ticket = await assigned_ticket(client)
    path = f"/tickets/{ticket['id']}"
    await post(client, ticket, CUSTOMER, "hello?")
    await post(client, ticket, AGENT, "internal only", is_internal=True)
    assert (await client.get(path, as_=AGENT)).json["first_response_at"] is None
    reply = await post(client, ticket, AGENT, "Hello!")
    first = (await client.get(path, as_=AGENT)).json["first_response_at"]
    assert first == reply["created_at"]
    await post(client, ticket, AGENT, "Again")
    assert (await client.get(path, as_=AGENT)).json["first_response_at"] == first


async def test_customer_reply_wakes_waiting_and_reopens_resolved(client: Client) -> None:
    ticket = await assigned_ticket(client)
    path = f"/tickets/{ticket['id']}"
    await client.post(f"{path}/wait", as_=AGENT)
    await post(client, ticket, AGENT, "Any news?")
    assert (await client.get(path, as_=AGENT)).json["status"] == "waiting_customer"
    await post(client, ticket, CUSTOMER, "Yes, here")
    assert (await client.get(path, as_=AGENT)).json["status"] == "in_progress"
    await client.post(f"{path}/resolve", as_=AGENT, json={"resolution": "done"})
    await post(client, ticket, AGENT, "Closing note")
    assert (await client.get(path, as_=AGENT)).json["status"] == "resolved"
    await post(client, ticket, CUSTOMER, "Not fixed!")
    reopened = (await client.get(path, as_=AGENT)).json
    assert reopened["status"] == "in_progress" and reopened["resolved_at"] is None


async def test_no_message_on_closed_ticket(client: Client, services: Services) -> None:
    ticket = await create_ticket(client)
    message = await post(client, ticket, CUSTOMER, "before closing")
    path = f"/tickets/{ticket['id']}"
    await client.post(f"{path}/close", as_=CUSTOMER)
    before = services.app.recorder.max_notification_id()
    for as_ in (CUSTOMER, ADMIN):
        response = await client.post(f"{path}/messages", as_=as_, json={"content": "late"})
        assert response.status == 409 and response.json["error"]["code"] == "ticket_closed"
    edit = await client.put(f"{path}/messages/{message['id']}", as_=CUSTOMER,
                            json={"content": "changed"})
    assert edit.status == 409
    assert (await client.delete(f"{path}/messages/{message['id']}", as_=CUSTOMER)).status == 409
    assert services.app.recorder.max_notification_id() == before


async def test_visibility_of_the_ticket_governs_messages(client: Client) -> None:
    ticket = await assigned_ticket(client)
    message = await post(client, ticket, CUSTOMER, "mine")
    path = f"/tickets/{ticket['id']}/messages"
    for as_ in (OTHER_CUSTOMER, OTHER_AGENT):
        assert (await client.get(path, as_=as_)).status == 404
        assert (await client.post(path, as_=as_, json={"content": "hi"})).status == 404
        assert (await client.get(f"{path}/{message['id']}", as_=as_)).status == 404
        assert (await client.get(f"{path}/unread-count", as_=as_)).status == 404
    assert (await client.get("/tickets/TICKET-19990101-001/messages", as_=ADMIN)).status == 404
    assert (await client.get(f"{path}/not-a-uuid", as_=CUSTOMER)).status == 404
    assert (await client.get(path)).status == 401


async def test_authors_and_admins_edit_and_delete(client: Client) -> None:
    ticket = await assigned_ticket(client)
    path = f"/tickets/{ticket['id']}/messages"
    mine = await post(client, ticket, CUSTOMER, "typo hre")
    theirs = await post(client, ticket, AGENT, "agent says")
    edited = await client.put(f"{path}/{mine['id']}", as_=CUSTOMER, json={"content": "typo here"})
    assert edited.status == 200 and edited.json["content"] == "typo here"
    assert edited.json["updated_at"] > edited.json["created_at"]
    forbidden = await client.put(f"{path}/{theirs['id']}", as_=CUSTOMER, json={"content": "x"})
    assert forbidden.status == 403 and forbidden.json["error"]["code"] == "forbidden"
    assert (await client.delete(f"{path}/{mine['id']}", as_=AGENT)).status == 403
    by_admin = await client.put(f"{path}/{mine['id']}", as_=ADMIN, json={"content": "moderated"})
    assert by_admin.status == 200 and by_admin.json["content"] == "moderated"
    deleted = await client.delete(f"{path}/{mine['id']}", as_=CUSTOMER)
    assert deleted.status == 200 and deleted.json["success"] is True
    assert (await client.get(f"{path}/{mine['id']}", as_=CUSTOMER)).status == 404
    assert (await client.delete(f"{path}/{mine['id']}", as_=CUSTOMER)).status == 404
    assert (await client.delete(f"{path}/{theirs['id']}", as_=ADMIN)).status == 200
    assert (await client.get(path, as_=CUSTOMER)).json["data"] == []


async def test_customer_cannot_touch_internal_note_it_cannot_see(client: Client) -> None:
    ticket = await assigned_ticket(client)
    note = await post(client, ticket, AGENT, "secret", is_internal=True)
    path = f"/tickets/{ticket['id']}/messages/{note['id']}"
    assert (await client.put(path, as_=CUSTOMER, json={"content": "x"})).status == 404
    assert (await client.delete(path, as_=CUSTOMER)).status == 404
    assert (await client.post(f"{path}/mark-read", as_=CUSTOMER)).status == 404


async def test_read_tracking_by_the_other_side(client: Client) -> None:
    ticket = await assigned_ticket(client)
    path = f"/tickets/{ticket['id']}/messages"
    question = await post(client, ticket, CUSTOMER, "question 1")
    await post(client, ticket, CUSTOMER, "question 2")
    answer = await post(client, ticket, AGENT, "answer")
    await post(client, ticket, AGENT, "note", is_internal=True)

    async def count(as_: tuple[str, str]) -> int:
        response = await client.get(f"{path}/unread-count", as_=as_)
        assert response.status == 200
        return int(response.json["count"])

    assert await count(CUSTOMER) == 1  # the answer; never the internal note
    assert await count(AGENT) == 2
    # Marking one's own message read changes nothing.
    own = await client.post(f"{path}/{question['id']}/mark-read", as_=CUSTOMER)
    assert own.status == 200 and own.json["marked"] == 0
    assert (await client.get(f"{path}/{question['id']}", as_=AGENT)).json["is_read"] is False
    marked = await client.post(f"{path}/{answer['id']}/mark-read", as_=CUSTOMER)
    assert marked.status == 200 and marked.json["marked"] == 1
    read = (await client.get(f"{path}/{answer['id']}", as_=AGENT)).json
    assert read["is_read"] is True and read["read_at"] is not None
    assert await count(CUSTOMER) == 0
    all_read = await client.post(f"{path}/mark-all-read", as_=AGENT)
    assert all_read.status == 200 and all_read.json == {"success": True, "marked": 2}
    assert await count(AGENT) == 0
    again = await client.post(f"{path}/mark-all-read", as_=AGENT)
    assert again.json["marked"] == 0
    notes = [m for m in (await client.get(path, as_=AGENT)).json["data"] if m["is_internal"]]
    assert notes[0]["is_read"] is False


async def test_public_messages_show_in_ticket_details(client: Client) -> None:
    ticket = await create_ticket(client)
    await post(client, ticket, CUSTOMER, "first")
    details = (await client.get(f"/tickets/{ticket['id']}", as_=CUSTOMER)).json
    assert [m["content"] for m in details["messages"]] == ["first"]


@pytest.mark.parametrize("body, status", [
    (b"{not json", 400),
    (b"[1, 2]", 400),
    (b"", 400),
    (b'{"content": ""}', 422),
    (b'{"content": "   "}', 422),
    (b'{"content": "hi", "colour": "red"}', 422),
    (b'{"content": 5}', 422),
    (b'{"content": "hi", "is_internal": "yes"}', 422),
    (b'{}', 422),
])
async def test_bad_message_input_is_4xx_and_writes_nothing(
    client: Client, services: Services, body: bytes, status: int
) -> None:
    ticket = await create_ticket(client)
    message = await post(client, ticket, CUSTOMER, "original")
    before = services.app.recorder.max_notification_id()
    path = f"/tickets/{ticket['id']}/messages"
    headers = {"content-type": "application/json"}
    created = await client.post(path, as_=CUSTOMER, content=body, headers=headers)
    assert created.status == status, created
    assert created.json["error"]["code"] in ("bad_request", "validation_failed")
    edited = await client.put(f"{path}/{message['id']}", as_=CUSTOMER, content=body,
                              headers=headers)
    assert edited.status == status, edited
    assert services.app.recorder.max_notification_id() == before
    listed = (await client.get(path, as_=CUSTOMER)).json["data"]
    assert [m["content"] for m in listed] == ["original"]


async def test_bad_limit_is_422(client: Client) -> None:
    ticket = await create_ticket(client)
    for query in ("limit=0", "limit=abc", "limit=1000"):
        response = await client.get(f"/tickets/{ticket['id']}/messages?{query}", as_=CUSTOMER)
        assert response.status == 422, query


async def test_idempotency_key_posts_once(client: Client) -> None:
    ticket = await create_ticket(client)
    path = f"/tickets/{ticket['id']}/messages"
    headers = {"Idempotency-Key": "msg-1"}
    first = await client.post(path, as_=CUSTOMER, json={"content": "once"}, headers=headers)
    second = await client.post(path, as_=CUSTOMER, json={"content": "once"}, headers=headers)
    assert first.status == second.status == 201
    assert first.json["id"] == second.json["id"]
    assert len((await client.get(path, as_=CUSTOMER)).json["data"]) == 1

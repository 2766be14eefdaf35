"""What a careful API client trips on in the domain (issue 19), on both profiles:
optimistic concurrency on messages, erased tickets read-only, removed messages gone
from customers' views, unassign, staff-only fields at creation, strict lists, restore.
(docs/decisions/0160-careful-client-domain.md)"""

from __future__ import annotations

import asyncio
import re
from typing import Any
from uuid import UUID

import pytest

from sav.api.query import is_list
from sav.bootstrap import Services
from sav.commands.tickets import NOT_BLANK
from sav.events.ticket import Ticket
from sav.privacy import erasure
from sav.workers.routing import ROUTES
from tests.support.attachments import upload
from tests.support.http import ADMIN, AGENT, ANALYST, CUSTOMER, Client, create_ticket


async def message(client: Client, ticket_id: str, content: str,
                  as_: tuple[str, str] = CUSTOMER, **headers: str) -> Any:
    return await client.post(f"/tickets/{ticket_id}/messages", as_=as_,
                             json={"content": content}, headers=headers)


# -- 1. optimistic concurrency on messages -------------------------------------------


async def test_a_message_has_an_etag_on_every_read_and_write(client: Client) -> None:
    ticket = await create_ticket(client)
    posted = await message(client, ticket["id"], "hello")
    assert posted.status == 201 and posted.headers.get("etag") == '"2"', posted
    path = f"/tickets/{ticket['id']}/messages/{posted.json['id']}"
    read = await client.get(path, as_=CUSTOMER)
    assert read.status == 200 and read.headers.get("etag") == '"2"', read
    # Another message changes the ticket, not this message's version.
    await message(client, ticket["id"], "and another thing")
    assert (await client.get(path, as_=CUSTOMER)).headers.get("etag") == '"2"'
    edited = await client.put(path, as_=CUSTOMER, json={"content": "hello!"},
                              headers={"If-Match": '"2"'})
    assert edited.status == 200 and edited.headers.get("etag") == '"4"', edited
    assert (await client.get(path, as_=CUSTOMER)).headers.get("etag") == '"4"'


async def test_a_stale_if_match_on_a_message_is_412_with_its_current_version(
        client: Client) -> None:
    ticket = await create_ticket(client)
    posted = await message(client, ticket["id"], "hello")
    path = f"/tickets/{ticket['id']}/messages/{posted.json['id']}"
    assert (await client.put(path, as_=CUSTOMER, json={"content": "v2"})).status == 200
    for method in (client.put, client.delete):
        stale = await method(path, as_=CUSTOMER, json={"content": "v3"},
                             headers={"If-Match": '"2"'})
        assert stale.status == 412, stale
        assert stale.json["error"]["code"] == "precondition_failed"
        assert {"field": "current_version", "message": "3"} in stale.json["error"]["details"]
        garbage = await method(path, as_=CUSTOMER, json={"content": "v3"},
                               headers={"If-Match": "garbage"})
        assert garbage.status == 412, garbage
    assert (await client.get(path, as_=CUSTOMER)).json["content"] == "v2"
    gone = await client.delete(path, as_=CUSTOMER, headers={"If-Match": '"3"'})
    assert gone.status == 200, gone


async def test_a_reply_with_if_match_refers_to_the_ticket(client: Client) -> None:
    ticket = await create_ticket(client)
    seen = (await client.get(f"/tickets/{ticket['id']}", as_=AGENT)).headers["etag"]
    await message(client, ticket["id"], "I forgot: it is the blue one")  # the customer
    stale = await message(client, ticket["id"], "we will send a red one", as_=AGENT,
                          **{"If-Match": seen})
    assert stale.status == 412, stale
    assert {"field": "current_version", "message": "2"} in stale.json["error"]["details"]
    fresh = (await client.get(f"/tickets/{ticket['id']}", as_=AGENT)).headers["etag"]
    answered = await message(client, ticket["id"], "a blue one then", as_=AGENT,
                             **{"If-Match": fresh})
    assert answered.status == 201, answered
    assert (await message(client, ticket["id"], "no condition", as_=AGENT)).status == 201


# -- 3. erased tickets are read-only -------------------------------------------------


async def erase(client: Client, body: dict[str, str]) -> None:
    started = await client.post("/privacy/erasures", as_=ADMIN, json=body)
    assert started.status == 202, started
    for _ in range(200):
        status = await client.get(f"/privacy/erasures/{started.json['id']}", as_=ADMIN)
        if status.json["status"] == "done":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the erasure never became done")


async def test_every_write_to_an_erased_ticket_is_409_ticket_erased(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(erasure, "CACHE_SECONDS", 0.0)
    ticket = await create_ticket(client)
    base = f"/tickets/{ticket['id']}"
    posted = await message(client, ticket["id"], "my card is 4111")
    attached = await upload(client, ticket["id"])
    assert attached.status == 201, attached
    attachment = attached.json["id"] if "id" in attached.json else attached.json[0]["id"]
    await erase(client, {"user_id": CUSTOMER[0]})
    writes = [
        (client.put, base, ADMIN, {"subject": "new"}),
        (client.post, f"{base}/messages", AGENT, {"content": "hello?"}),
        (client.post, f"{base}/messages", CUSTOMER, {"content": "me again"}),
        (client.put, f"{base}/messages/{posted.json['id']}", ADMIN, {"content": "x"}),
        (client.delete, f"{base}/messages/{posted.json['id']}", ADMIN, None),
        (client.post, f"{base}/assign", ADMIN, {"agent_id": AGENT[0]}),
        (client.post, f"{base}/start", ADMIN, None),
        (client.post, f"{base}/resolve", ADMIN, {}),
        (client.post, f"{base}/close", ADMIN, {}),
        (client.post, f"{base}/messages/mark-all-read", ADMIN, None),
        (client.delete, f"{base}/attachments/{attachment}", ADMIN, None),
        (client.delete, base, ADMIN, None),
    ]
    for method, path, who, body in writes:
        refused = await method(path, as_=who, json=body)
        assert refused.status == 409, (path, refused)
        assert refused.json["error"]["code"] == "ticket_erased", (path, refused)
    again = await upload(client, ticket["id"], as_=ADMIN)
    assert again.status == 409 and again.json["error"]["code"] == "ticket_erased", again
    download = await client.get(f"{base}/attachments/{attachment}/download", as_=ADMIN)
    assert download.status in (404, 410), download
    shown = (await client.get(base, as_=ADMIN)).json
    assert shown["erased"] is True and shown["subject"] is None


async def test_the_public_view_of_an_erased_ticket_says_so(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(erasure, "CACHE_SECONDS", 0.0)
    created = await client.post("/public/tickets", json={
        "email": "jo@example.com", "name": "Jo", "subject": "Hello",
        "description": "my order is late"})
    assert created.status == 201, created
    token = created.json["access_token"]
    number = created.json["ticket_number"]
    await erase(client, {"email": "jo@example.com"})
    shown = await client.get(f"/public/tickets/{number}", headers={"X-Access-Token": token})
    assert shown.status == 200, shown
    assert shown.json["erased"] is True
    assert shown.json["subject"] is None and shown.json["contact_email"] is None
    reply = await client.post(f"/public/tickets/{number}/messages",
                              headers={"X-Access-Token": token}, json={"content": "hi"})
    assert reply.status == 409 and reply.json["error"]["code"] == "ticket_erased", reply


# -- 5. unassign -----------------------------------------------------------------------


async def test_staff_unassign_a_ticket_back_to_open(client: Client, services: Services
                                                     ) -> None:
    ticket = await create_ticket(client)
    base = f"/tickets/{ticket['id']}"
    not_assigned = await client.post(f"{base}/unassign", as_=AGENT)
    assert not_assigned.status == 409, not_assigned
    assert (await client.post(f"{base}/assign", as_=ADMIN,
                              json={"agent_id": AGENT[0]})).status == 200
    assert (await client.post(f"{base}/start", as_=AGENT)).status == 200
    refused = await client.post(f"{base}/unassign", as_=CUSTOMER)
    assert refused.status == 403, refused
    taken_back = await client.post(f"{base}/unassign", as_=AGENT)
    assert taken_back.status == 200, taken_back
    assert taken_back.json["assigned_to"] is None and taken_back.json["status"] == "open"
    assert taken_back.headers["etag"] == f'"{taken_back.json["version"]}"'
    history = (await client.get(f"{base}/history", as_=ADMIN)).json["data"]
    assert history[-1]["type"] == "ticket.unassigned", history[-1]
    listed = (await client.get("/tickets?assigned_to=none", as_=AGENT)).json["data"]
    assert ticket["id"] in [t["id"] for t in listed]
    event = Ticket.Unassigned
    assert ROUTES[event] == "ticket.unassigned"
    assert topic_of(services, ticket["id"])[-1] == f"sav.events.ticket:Ticket.{event.__name__}"
    assert (await client.post(f"{base}/resolve", as_=ADMIN)).status == 200
    done = await client.post(f"{base}/unassign", as_=ADMIN)
    assert done.status == 409, done  # resolved and closed tickets keep who handled them


def topic_of(services: Services, ticket_id: str) -> list[str]:
    """The stored topics of a ticket's events, oldest first."""
    events = services.app.recorder.select_events(UUID(ticket_id))
    return [stored.topic for stored in events]


# -- 6. staff-only fields at creation ------------------------------------------------


async def test_customers_may_not_set_staff_fields_at_creation(client: Client) -> None:
    body = {"subject": "Lamp", "description": "It flickers"}
    for extra, named in (({"tags": ["vip"]}, ["tags"]), ({"source": "phone"}, ["source"]),
                         ({"tags": [], "source": "web"}, ["source", "tags"])):
        refused = await client.post("/tickets", as_=CUSTOMER, json={**body, **extra})
        assert refused.status == 403, refused
        assert [d["field"] for d in refused.json["error"]["details"]] == named
    kept = {**body, "priority": "high", "category": "lighting", "metadata": {"order": "7"}}
    created = await client.post("/tickets", as_=CUSTOMER, json=kept)
    assert created.status == 201, created
    staff = await client.post("/tickets", as_=AGENT,
                              json={**body, "tags": ["vip"], "source": "phone"})
    assert staff.status == 201 and staff.json["tags"] == ["vip"], staff


# -- 9. soft-deleted tickets can be found and restored ---------------------------------


async def test_admins_find_and_restore_deleted_tickets(client: Client, services: Services
                                                       ) -> None:
    ticket = await create_ticket(client)
    kept = await create_ticket(client)
    base = f"/tickets/{ticket['id']}"
    assert (await client.delete(base, as_=CUSTOMER)).status == 200
    for who in (CUSTOMER, AGENT, ANALYST):
        refused = await client.get("/tickets?deleted=true", as_=who)
        assert refused.status == 403, (who, refused)
        assert (await client.post(f"{base}/restore", as_=who)).status == 403
    found = await client.get("/tickets?deleted=true", as_=ADMIN)
    assert found.status == 200, found
    ids = [t["id"] for t in found.json["data"]]
    assert ticket["id"] in ids and kept["id"] not in ids
    assert ticket["id"] not in [t["id"] for t in
                                (await client.get("/tickets", as_=ADMIN)).json["data"]]
    restored = await client.post(f"/tickets/{ticket['ticket_number']}/restore", as_=ADMIN)
    assert restored.status == 200, restored
    assert restored.json["id"] == ticket["id"]
    assert (await client.get(base, as_=CUSTOMER)).status == 200
    assert ROUTES[Ticket.Restored] == "ticket.restored"
    assert topic_of(services, ticket["id"])[-1] == "sav.events.ticket:Ticket.Restored"
    again = await client.post(f"{base}/restore", as_=ADMIN)
    assert again.status == 409, again
    unknown = await client.post(f"/tickets/{UUID(int=7)}/restore", as_=ADMIN)
    assert unknown.status == 404, unknown


# -- 7. lists say what they do -------------------------------------------------------


async def test_tickets_filter_by_tags_and_creation_time(client: Client) -> None:
    lamp = await client.post("/tickets", as_=AGENT, json={
        "subject": "Lamp", "description": "flickers", "tags": ["lamp", "vip"],
        "user_id": CUSTOMER[0]})
    only_lamp = await client.post("/tickets", as_=AGENT, json={
        "subject": "Lamp", "description": "dark", "tags": ["lamp"], "user_id": CUSTOMER[0]})
    plain = await create_ticket(client)
    assert lamp.status == 201 and only_lamp.status == 201

    async def ids(query: str, as_: tuple[str, str] = ADMIN) -> list[str]:
        listed = await client.get(f"/tickets?{query}", as_=as_)
        assert listed.status == 200, (query, listed)
        return [t["id"] for t in listed.json["data"]]

    assert await ids("tag=lamp") == [only_lamp.json["id"], lamp.json["id"]]
    assert await ids("tag=lamp&tag=vip") == [lamp.json["id"]]
    assert await ids("tag=vip", CUSTOMER) == [lamp.json["id"]]
    assert await ids("tag=lam") == []  # a whole tag, not a substring
    created = lamp.json["created_at"]  # "...Z"
    after = await ids(f"created_after={created.replace('Z', '%2B00:00')}")
    assert lamp.json["id"] not in after and plain["id"] in after
    assert only_lamp.json["id"] in after
    assert await ids(f"created_before={created}") == []
    assert set(await ids("created_before=2999-01-01T00:00:00Z")) >= {
        lamp.json["id"], plain["id"]}
    for bad in ("created_after=yesterday", "created_after=2026-12-01",
                "created_before=2026-12-01T00:00:00", "tag="):
        refused = await client.get(f"/tickets?{bad}", as_=ADMIN)
        assert refused.status == 422, (bad, refused)
        assert refused.json["error"]["details"][0]["field"] == bad.split("=")[0]


async def test_every_list_route_refuses_an_unknown_parameter(client: Client) -> None:
    ticket = await create_ticket(client)
    await client.get("/tickets", as_=ADMIN)  # starts the app: its routes are final
    lists = [route for route in client.app.router.routes
             if "GET" in route.methods and is_list(route.handler)]
    assert len(lists) >= 6, [route.path for route in lists]
    values = {"ticket_ref": ticket["id"], "webhook_id": str(UUID(int=1)),
              "message_id": str(UUID(int=2)), "name": "standard",
              "agent_id": AGENT[0]}
    for route in lists:
        assert getattr(route.handler, "sav_strict", False), route.path
        path = "/" + re.sub(r"<(\w+)(:[^>]*)?>", lambda m: values[m.group(1)], route.path)
        fine = await client.get(f"{path}?limit=5", as_=ADMIN, headers=ACCEPT_JSON)
        assert fine.status != 422, (path, fine)
        for query in ("tags=lamp", "limit=5&Status=open", "bogus="):
            refused = await client.get(f"{path}?{query}", as_=ADMIN, headers=ACCEPT_JSON)
            assert refused.status == 422, (path, query, refused)
            named = query.rsplit("&", 1)[-1].split("=")[0]
            assert refused.json["error"]["details"] == [
                {"field": named, "message": "unknown query parameter"}], (path, refused)


ACCEPT_JSON = {"Accept": "application/json"}


async def test_every_route_with_a_query_refuses_an_unknown_parameter(client: Client) -> None:
    """Not only lists (issue 19): `?verison=3` is not the ticket as it is now."""
    ticket = await create_ticket(client)
    for path in (f"/tickets/{ticket['id']}?verison=1", "/events/export?fromat=csv",
                 "/tickets/statistics?form=2026-01-01"):
        refused = await client.get(path, as_=ADMIN)
        assert refused.status == 422, (path, refused)
        assert refused.json["error"]["details"][0]["message"] == "unknown query parameter"


# -- 4. removed messages leave customers' views ----------------------------------------


async def test_a_removed_message_leaves_customers_history_and_time_travel(
        client: Client) -> None:
    ticket = await create_ticket(client)
    base = f"/tickets/{ticket['id']}"
    assert (await client.post(f"{base}/assign", as_=ADMIN,
                              json={"agent_id": AGENT[0]})).status == 200
    posted = await message(client, ticket["id"], "card 4111-1111", as_=AGENT)
    path = f"{base}/messages/{posted.json['id']}"
    assert (await client.put(path, as_=AGENT, json={"content": "card 4111-2222"})).status == 200
    kept = await message(client, ticket["id"], "thanks")
    removed = await client.delete(path, as_=AGENT)
    assert removed.status == 200, removed
    head = int(removed.headers["etag"].strip('"'))

    async def text(as_: tuple[str, str], query: str) -> bytes:
        response = await client.get(f"{base}{query}", as_=as_)
        assert response.status == 200, (query, response)
        return response.body

    for version in range(1, head + 1):
        shown = await text(CUSTOMER, f"?version={version}")
        assert b"4111" not in shown, version
    assert b"4111" not in await text(CUSTOMER, f"?as_of={kept.json['created_at']}")
    history = await client.get(f"{base}/history", as_=CUSTOMER)
    assert b"4111" not in history.body
    gone = [e for e in history.json["data"]
            if e["changes"].get("message_id") == posted.json["id"]]
    assert gone and all(e["changes"] == {"message_id": posted.json["id"], "removed": True}
                        for e in gone)
    assert b"thanks" in history.body  # the rest of the conversation stays
    # Staff and analysts keep the full audit trail.
    for who in (ADMIN, ANALYST):
        assert b"4111-1111" in await text(who, "/history")
        assert b"4111-2222" in await text(who, f"?version={head - 2}")


# -- 15. the document says which routes honour If-Match and Idempotency-Key -----------

# Every route documented with `If-Match`, and a body it would otherwise accept.
CONDITIONAL: dict[tuple[str, str], dict[str, Any] | None] = {
    ("PUT", "/tickets/{ticket_ref}"): {"subject": "New"},
    ("DELETE", "/tickets/{ticket_ref}"): None,
    ("POST", "/tickets/{ticket_ref}/assign"): {"agent_id": AGENT[0]},
    ("POST", "/tickets/{ticket_ref}/unassign"): None,
    ("POST", "/tickets/{ticket_ref}/restore"): None,
    ("POST", "/tickets/{ticket_ref}/start"): None,
    ("POST", "/tickets/{ticket_ref}/wait"): None,
    ("POST", "/tickets/{ticket_ref}/resolve"): {},
    ("POST", "/tickets/{ticket_ref}/close"): {},
    ("POST", "/tickets/{ticket_ref}/reopen"): {},
    ("POST", "/tickets/{ticket_ref}/messages"): {"content": "hello"},
    ("PUT", "/tickets/{ticket_ref}/messages/{message_ref}"): {"content": "edited"},
    ("DELETE", "/tickets/{ticket_ref}/messages/{message_ref}"): None,
}


def documented(spec: dict[str, Any], header: str) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in spec["paths"].items()
            for method, operation in item.items()
            if any(p["in"] == "header" and p["name"] == header
                   for p in operation.get("parameters", ()))}


async def test_every_documented_if_match_is_honoured(client: Client) -> None:
    spec = (await client.get("/openapi.json")).json
    assert documented(spec, "If-Match") == set(CONDITIONAL)
    posts = {("POST", path) for path, item in spec["paths"].items() if "post" in item}
    assert documented(spec, "Idempotency-Key") == posts  # each replays (test_idempotency)
    for (method, template), body in CONDITIONAL.items():
        ticket = await create_ticket(client)
        said = await message(client, ticket["id"], "hi", as_=ADMIN)
        path = template.format(ticket_ref=ticket["id"], message_ref=said.json["id"])
        stale = await client.request(method, path, as_=ADMIN, json=body,
                                     headers={"If-Match": '"99"'})
        assert stale.status == 412, (method, template, stale)
        operation = spec["paths"][template][method.lower()]
        assert "412" in operation["responses"], (method, template)
    ignored = spec["paths"]["/tickets/{ticket_ref}/messages/mark-all-read"]["post"]
    assert "412" not in ignored["responses"]


async def test_the_document_and_the_validators_agree(client: Client) -> None:
    """Where they disagreed (issue 15's findings), each now says what the other does."""
    spec = (await client.get("/openapi.json")).json
    schemas = spec["components"]["schemas"]

    def body_schema(path: str, method: str) -> dict[str, Any]:
        ref = spec["paths"][path][method]["requestBody"]["content"]["application/json"][
            "schema"]["$ref"]
        return schemas[ref.rsplit("/", 1)[1]]  # type: ignore[no-any-return]

    ticket = await create_ticket(client)
    base = f"/tickets/{ticket['id']}"
    # White space alone is refused, and documented as a pattern.
    assert body_schema("/tickets", "post")["properties"]["subject"]["pattern"] == NOT_BLANK
    message_body = body_schema("/tickets/{ticket_ref}/messages", "post")
    assert message_body["properties"]["content"]["pattern"] == NOT_BLANK
    for space in (" ", "\x1f", "\x85 "):  # white space to Python's strip: to the pattern too
        assert re.search(NOT_BLANK, space) is None
        blank = await client.post("/tickets", as_=CUSTOMER, json={"subject": space,
                                                                 "description": "x"})
        assert blank.status == 422, blank
    assert (await message(client, ticket["id"], "  \n ")).status == 422
    # `null` in PUT only where it clears something: documented as not nullable.
    update = body_schema("/tickets/{ticket_ref}", "put")["properties"]
    assert "anyOf" not in update["subject"] and update["subject"]["type"] == "string"
    assert {"type": "null"} in update["category"]["anyOf"]
    nulled = await client.put(base, as_=ADMIN, json={"subject": None})
    assert nulled.status == 422, nulled
    assert (await client.put(base, as_=ADMIN, json={"category": None})).status == 200
    # A boolean is a JSON boolean.
    zero = await client.put("/agents/agent-9", as_=ADMIN, json={"name": "Nine", "active": 0})
    assert zero.status == 422, zero
    # A blank query value is a value to validate, not "no filter" nor the default.
    for path in ("/events?ticket_id=", "/events/export?format=", f"{base}?version="):
        refused = await client.get(path, as_=ADMIN)
        assert refused.status == 422, (path, refused)


async def test_a_rating_is_a_json_integer(client: Client) -> None:
    """JSON Schema's `integer` includes `4.0`: accepted as 4; `"4"`, `true`, `4.5` are not."""
    ticket = await create_ticket(client)
    base = f"/tickets/{ticket['id']}"
    assert (await client.post(f"{base}/resolve", as_=ADMIN)).status == 200
    for wrong in ("4", True, 4.5):
        refused = await client.post(f"{base}/satisfaction", as_=CUSTOMER,
                                    json={"rating": wrong})
        assert refused.status == 422, (wrong, refused)
    rated = await client.post(f"{base}/satisfaction", as_=CUSTOMER, json={"rating": 4.0})
    assert rated.status == 200 and rated.json["satisfaction_rating"] == 4, rated

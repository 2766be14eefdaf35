"""HTTP conventions (issue 13), on both profiles through the app: 404 for unknown paths
whoever calls, 405 with `Allow`, HEAD and OPTIONS, CORS, request ids, `Retry-After`,
conditional GETs with an ETag per visible body, one shape for error details, an export
without secrets. What only a real server does (431, 413 before the body is read) is in
tests/e2e/test_http_limits.py."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from sanic import HTTPResponse, Request

from sav.api.app import create_app
from sav.api.conventions import CACHE_SECONDS, CREATED_AT
from sav.api.openapi import declared_answers
from sav.bootstrap import Services
from sav.logging import JsonFormatter
from tests.support.attachments import PDF
from tests.support.http import ADMIN, AGENT, ANALYST, CUSTOMER, Client, create_ticket
from tests.support.posts import example_post
from tests.support.settings import make_settings

SHOP = "https://shop.example.com"


def assert_error_shape(response: Any) -> dict[str, Any]:
    """`{"error": {"code", "message"}}` plus `details` only as a list of {field, message}."""
    error = response.json["error"]
    assert {"code", "message"} <= set(error) <= {"code", "message", "details"}, response
    if "details" in error:
        assert error["details"] and all(
            isinstance(item, dict) and set(item) == {"field", "message"}
            and all(isinstance(v, str) for v in item.values())
            for item in error["details"]), response
    return dict(error)


def test_every_get_route_has_head_and_every_cached_route_exists(tmp_path: Path) -> None:
    app = create_app(make_settings("sqlite", tmp_path))  # routes only: no services
    routes = list(app.router.routes)
    assert [r.path for r in routes if "GET" in r.methods and "HEAD" not in r.methods] == []
    assert set(CACHE_SECONDS) <= {route.path for route in routes}


async def test_unknown_paths_wrong_methods_and_options_for_everyone(client: Client) -> None:
    for who in (None, CUSTOMER, ADMIN):
        for method in ("GET", "POST", "DELETE"):
            response = await client.request(method, "/no/such/thing", as_=who)
            assert response.status == 404, (who, method, response)
            assert assert_error_shape(response)["code"] == "not_found"
        wrong = await client.delete("/tickets", as_=who)
        assert wrong.status == 405, wrong
        assert wrong.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    health = await client.post("/health")
    assert (health.status, health.headers["allow"]) == (405, "GET, HEAD, OPTIONS")
    # OPTIONS on a path that exists (dynamic ones too); no CORS unless configured.
    response = await client.request("OPTIONS", "/tickets/abc/messages",
                                    headers={"Origin": SHOP,
                                             "Access-Control-Request-Method": "POST"})
    assert response.status == 204
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    assert not [name for name in response.headers if name.startswith("access-control")]
    assert (await client.request("OPTIONS", "/nowhere")).status == 404


async def test_head_answers_with_the_get_headers(client: Client) -> None:
    ticket = await create_ticket(client)
    path = f"/tickets/{ticket['id']}"
    got, head = await client.get(path, as_=CUSTOMER), await client.request("HEAD", path,
                                                                           as_=CUSTOMER)
    assert (head.status, head.body) == (200, b"")
    assert head.headers["etag"] == got.headers["etag"]
    assert (await client.request("HEAD", path)).status == 401  # still authenticated
    assert (await client.request("HEAD", "/health")).status == 200


@pytest.mark.parametrize("settings_env", [{"SAV_CORS_ORIGINS": f"{SHOP}, http://localhost:3000"}])
async def test_cors_for_the_configured_origins_only(client: Client) -> None:
    preflight = {"Origin": SHOP, "Access-Control-Request-Method": "PUT",
                 "Access-Control-Request-Headers": "authorization, if-match"}
    answer = await client.request("OPTIONS", "/tickets/abc", headers=preflight)
    assert answer.status == 204
    assert answer.headers["access-control-allow-origin"] == SHOP
    assert "PUT" in answer.headers["access-control-allow-methods"]
    assert "If-Match" in answer.headers["access-control-allow-headers"]
    assert "Origin" in answer.headers["vary"]
    stranger = await client.request("OPTIONS", "/tickets/abc",
                                    headers={**preflight, "Origin": "https://evil.example"})
    assert stranger.status == 204 and "access-control-allow-origin" not in stranger.headers
    listed = await client.get("/tickets", as_=CUSTOMER, headers={"Origin": SHOP})
    assert listed.headers["access-control-allow-origin"] == SHOP
    assert "ETag" in listed.headers["access-control-expose-headers"]
    denied = await client.get("/tickets", headers={"Origin": SHOP})  # errors too
    assert (denied.status, denied.headers["access-control-allow-origin"]) == (401, SHOP)


async def test_request_ids_are_echoed_or_generated_and_logged(
        client: Client, caplog: pytest.LogCaptureFixture) -> None:
    given = await client.get("/health", headers={"X-Request-ID": "req-42.a:b"})
    assert given.headers["x-request-id"] == "req-42.a:b"
    for bad in ("x" * 129, "has space", "semi;colon"):
        replaced = await client.get("/health", headers={"X-Request-ID": bad})
        assert replaced.headers["x-request-id"] != bad
        assert len(replaced.headers["x-request-id"]) == 32
    generated = {(await client.get("/nope")).headers["x-request-id"] for _ in range(2)}
    assert len(generated) == 2  # on errors too, one per request

    async def logs_something(request: Request) -> HTTPResponse:
        logging.getLogger("sav.api").warning("something worth logging")
        return HTTPResponse(status=204)

    client.app.add_route(logs_something, "/test-logging")
    with caplog.at_level(logging.WARNING, logger="sav.api"):
        response = await client.get("/test-logging", as_=ADMIN,
                                    headers={"X-Request-ID": "trace-me"})
    assert response.status == 204
    [record] = [r for r in caplog.records if r.getMessage() == "something worth logging"]
    assert orjson.loads(JsonFormatter().format(record))["request_id"] == "trace-me"


@pytest.mark.parametrize("settings_env", [{"SAV_PUBLIC_RATE_LIMIT": "1"}])
async def test_429_says_when_to_retry(client: Client) -> None:
    statuses = [await client.get("/public/tickets/TICKET-20000101-001") for _ in range(2)]
    assert statuses[1].status == 429
    assert int(statuses[1].headers["retry-after"]) >= 1
    assert_error_shape(statuses[1])


@pytest.mark.parametrize("settings_env", [{"SAV_READ_YOUR_WRITES_TIMEOUT": "0.2"}])
async def test_503_read_model_lagging_says_when_to_retry_and_where(
        client: Client, services: Services) -> None:
    services.background.close()  # the projector stops: writes are stored, not visible
    services.read_model.local = None
    response = await client.post("/tickets", as_=CUSTOMER,
                                 json={"subject": "s", "description": "d"})
    assert response.status == 503
    error = assert_error_shape(response)
    assert error["code"] == "read_model_lagging"
    assert response.headers["retry-after"] == "1"
    assert response.headers["location"].startswith("/tickets/")
    assert response.headers["etag"] == '"1"'


async def test_conditional_get_of_a_ticket_per_visible_body(client: Client) -> None:
    ticket = await create_ticket(client)
    path = f"/tickets/{ticket['id']}"
    own, staff = await client.get(path, as_=CUSTOMER), await client.get(path, as_=AGENT)
    assert own.headers["etag"] != staff.headers["etag"]  # the customer sees less
    assert own.headers["etag"].startswith('"1-') and staff.headers["etag"].startswith('"1-')
    assert own.headers["cache-control"] == "private, max-age=60"
    assert "Authorization" in own.headers["vary"]
    cached = await client.get(path, as_=CUSTOMER, headers={"If-None-Match": own.headers["etag"]})
    assert (cached.status, cached.body) == (304, b"")
    assert cached.headers["etag"] == own.headers["etag"]
    weak = await client.get(path, as_=CUSTOMER,
                            headers={"If-None-Match": f'"x", W/{own.headers["etag"]}'})
    assert weak.status == 304
    # The agent holding the customer's ETag gets the agent's body, not a 304.
    assert (await client.get(path, as_=AGENT,
                             headers={"If-None-Match": own.headers["etag"]})).status == 200
    # A GET's ETag works for If-Match (its version), and a change makes a new one.
    edit = await client.put(path, as_=CUSTOMER, json={"subject": "new"},
                            headers={"If-Match": own.headers["etag"]})
    assert edit.status == 200, edit
    fresh = await client.get(path, as_=CUSTOMER, headers={"If-None-Match": own.headers["etag"]})
    assert fresh.status == 200 and fresh.headers["etag"].startswith('"2-')


async def test_conditional_get_of_lists_messages_and_statistics(client: Client) -> None:
    ticket = await create_ticket(client)
    await client.post(f"/tickets/{ticket['id']}/messages", as_=AGENT,
                      json={"content": "note", "is_internal": True})
    for path, who, seconds in [("/tickets", CUSTOMER, 180),
                               (f"/tickets/{ticket['id']}/messages", CUSTOMER, 60),
                               ("/tickets/statistics", ADMIN, 300),
                               (f"/tickets/{ticket['id']}/attachments", CUSTOMER, 600)]:
        first = await client.get(path, as_=who)
        assert first.status == 200, (path, first)
        assert first.headers["cache-control"] == f"private, max-age={seconds}", path
        again = await client.get(path, as_=who, headers={"If-None-Match": first.headers["etag"]})
        assert (again.status, again.body) == (304, b""), path
    own = await client.get(f"/tickets/{ticket['id']}/messages", as_=CUSTOMER)
    staff = await client.get(f"/tickets/{ticket['id']}/messages", as_=AGENT)
    assert own.headers["etag"] != staff.headers["etag"]  # the internal note


async def test_error_details_are_always_a_list_of_fields_or_absent(client: Client) -> None:
    ticket = await create_ticket(client)
    path = f"/tickets/{ticket['id']}"
    answers = [
        await client.get("/tickets"),  # 401
        await client.get(f"{path}/history", as_=("cust-2", "customer")),  # 404
        await client.post("/tickets", as_=CUSTOMER, json={"subject": ""}),  # 422 pydantic
        await client.get("/tickets?limit=0", as_=CUSTOMER),  # 422 edge
        await client.get("/tickets?cursor=garbage", as_=CUSTOMER),  # 422 domain
        await client.put(path, as_=CUSTOMER, json={"subject": "x"},
                         headers={"If-Match": '"9"'}),  # 412 with the current version
        await client.put(path, as_=CUSTOMER, json={"internal_notes": "x"}),  # 403 fields
        await client.post(f"{path}/attachments", as_=CUSTOMER,
                          files={"file": ("a.pdf", PDF + bytes(11 * 1024 * 1024),
                                          "application/pdf")}),  # 413 max_bytes
        await client.post(f"{path}/start", as_=CUSTOMER),  # 403
    ]
    statuses = [answer.status for answer in answers]
    assert statuses == [401, 404, 422, 422, 422, 412, 403, 413, 403], answers
    shapes = [assert_error_shape(answer) for answer in answers]
    assert "details" not in shapes[0] and "details" not in shapes[1]
    assert {d["field"] for d in shapes[2]["details"]} >= {"subject", "description"}
    assert shapes[4]["details"][0]["field"] == "cursor"
    assert shapes[5]["details"] == [{"field": "current_version", "message": "1"}]
    assert "max_bytes" in {d["field"] for d in shapes[7]["details"]}


async def test_the_export_never_carries_the_access_token_hash(client: Client) -> None:
    created = await client.post("/public/tickets", json={
        "email": "ann@example.com", "name": "Ann", "subject": "Lamp", "description": "d"})
    assert created.status == 201
    token = created.json["access_token"]
    for fmt in ("jsonl", "csv"):
        export = await client.get(f"/events/export?format={fmt}", as_=ADMIN)
        assert export.status == 200 and b"ticket.created" in export.body
        assert b"access_token" not in export.body and token.encode() not in export.body


def created_routes(app: Any) -> list[Any]:
    """The routes that declare a 201 (`@responds(201, …)`)."""
    return sorted((route for route in app.router.routes
                   if 201 in {a.status for a in declared_answers(route.handler)}),
                  key=lambda route: route.path)


def test_every_route_that_creates_says_where(tmp_path: Path) -> None:
    app = create_app(make_settings("sqlite", tmp_path))
    routes = {route.path for route in created_routes(app)}
    assert routes and routes <= set(CREATED_AT)


async def test_every_201_has_the_created_resources_location(client: Client) -> None:
    """`Location` on every 201, a URL the caller can read the new resource at (or, for
    an anonymous reply, the ticket that lists it)."""
    await client.get("/health")  # the app's routes are there once it started
    routes = [route for route in created_routes(client.app) if "POST" in route.methods]
    assert len(routes) >= 6, [r.path for r in routes]
    for route in routes:
        call = await example_post(client, route.path)
        if call is None:
            continue  # tests.support.posts.WITHOUT_EXAMPLE says why
        created = await client.post(call.path, as_=call.as_, headers=call.headers,
                                    **call.first)
        assert created.status == 201, (route.path, created)
        location = created.headers["location"]
        read = await client.get(location, as_=call.as_, headers=call.headers or (
            {"X-Access-Token": created.json["access_token"]}
            if "access_token" in (created.json or {}) else {}))
        assert read.status == 200, (route.path, location, read)
        made = created.json["data"][0] if "data" in created.json else created.json
        if location.startswith("/tickets/"):
            assert read.json["id"] == made["id"], (route.path, location)
    agent = await client.put("/agents/ada%2F1", as_=ADMIN,
                             json={"name": "Ada", "email": "ada@example.com"})
    assert (agent.status, agent.headers["location"]) == (201, "/agents/ada%2F1"), agent
    # The PUT routes that create: their Location reads back with GET too.
    policy = await client.put("/sla/policies/vip", as_=ADMIN, json={
        "first_response_minutes": 30, "resolution_minutes": 480})
    assert policy.status == 201, policy
    for made in (agent, policy):
        read = await client.get(made.headers["location"], as_=ADMIN)
        assert read.status == 200 and read.json == made.json, (made.headers, read)
    changed = await client.put("/agents/ada%2F1", as_=ADMIN, json={"name": "Ada L."})
    assert changed.status == 200 and "location" not in changed.headers


# Who may not use a route at all, whatever the body (besides analysts, who write nothing).
FORBIDDEN = {
    ("PUT", "agents/<agent_id:str>"): [CUSTOMER, AGENT],
    ("POST", "privacy/erasures"): [CUSTOMER, AGENT],
    ("POST", "tickets/<ticket_ref:str>/assign"): [CUSTOMER],
    ("POST", "tickets/<ticket_ref:str>/start"): [CUSTOMER],
    ("POST", "tickets/<ticket_ref:str>/wait"): [CUSTOMER],
    ("POST", "tickets/<ticket_ref:str>/resolve"): [CUSTOMER],
    ("DELETE", "tickets/<ticket_ref:str>"): [AGENT],
    ("POST", "tickets/<ticket_ref:str>/satisfaction"): [AGENT, ADMIN],
}
BAD_BODIES: list[dict[str, Any]] = [
    {"content": b"{}", "headers": {"content-type": "application/json"}},
    {"content": b"not json", "headers": {"content-type": "application/json"}},
    {"json": {"email": "not-an-email", "rating": 99, "agent_id": "", "subject": ""}},
    {"content": b"--x\r\n", "headers": {"content-type": "multipart/form-data; boundary=x"}},
]


async def test_who_before_what_on_every_write_route(client: Client) -> None:
    """A caller whose role may not use a route gets 403 whatever the body: never a 400
    or 422 about a body they could not have sent anyway."""
    ticket = await create_ticket(client)
    message = await client.post(f"/tickets/{ticket['id']}/messages", as_=CUSTOMER,
                                json={"content": "hello"})
    attachment = await client.post(f"/tickets/{ticket['id']}/attachments", as_=CUSTOMER,
                                   files={"file": ("a.pdf", PDF, "application/pdf")})
    assert (message.status, attachment.status) == (201, 201)
    values = {"ticket_ref": ticket["id"], "message_ref": message.json["id"],
              "attachment_id": attachment.json["id"], "agent_id": "x"}
    writes = [(method, route.path) for route in client.app.router.routes
              for method in sorted(route.methods - {"GET", "HEAD", "OPTIONS"})
              # public/: anonymous; inbound/: its own token, a user's JWT is a 401 there
              if not route.path.startswith(("public/", "inbound/"))]
    assert len(writes) >= 20, writes
    assert set(FORBIDDEN) <= set(writes)
    for method, path in writes:
        url = "/" + re.sub(r"<(\w+):[^>]*>", lambda m: values.get(m.group(1), "x"), path)
        for who in [ANALYST, *FORBIDDEN.get((method, path), [])]:
            for bad in BAD_BODIES:
                bad = {**bad, "headers": dict(bad.get("headers", {}))}
                refused = await client.request(method, url, as_=who, **bad)
                assert refused.status == 403, (method, path, who, bad, refused)
                assert refused.json["error"]["code"] == "forbidden"
    # The two examples, with bodies that are fine: still 403.
    assert (await client.put("/agents/x", as_=AGENT, json={"name": "X"})).status == 403
    assert (await client.post("/tickets", as_=ANALYST,
                              json={"subject": "s", "description": "d"})).status == 403

"""`GET /openapi.json` describes every route completely (parameters, bodies, answers,
errors, security) and is valid OpenAPI 3.1."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate

from sav.api.app import create_app
from sav.api.openapi import openapi_document
from sav.api.openapi_texts import OPERATION_IDS
from sav.config import load_settings

ANONYMOUS = {"/health", "/ready", "/status", "/metrics", "/openapi.json", "/asyncapi.json", "/docs",
             "/docs/asyncapi", "/docs/assets/{asset}", "/files/{raw_key}",
             "/public/tickets", "/public/tickets/{ticket_ref}",
             "/public/tickets/{ticket_ref}/messages",
             "/public/tickets/{ticket_ref}/satisfaction", "/public/tickets/{ticket_ref}/events",
             "/inbound/email"}
# Routes without a user's JWT that check a shared token of their own (documented 401).
OWN_TOKEN = {"/inbound/email"}


@pytest.fixture(scope="module")
def app_and_document(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any]]:
    data_dir: Path = tmp_path_factory.mktemp("openapi")
    app = create_app(load_settings({"SAV_DATA_DIR": str(data_dir),
                                    "AUTH_JWT_SECRET": "x" * 40}))
    return app, openapi_document(app)


@pytest.fixture
def document(app_and_document: tuple[Any, dict[str, Any]]) -> dict[str, Any]:
    return app_and_document[1]


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in document["paths"].items()
            for method, op in ops.items()]


def test_openapi_document_is_valid_and_has_every_route(
        app_and_document: tuple[Any, dict[str, Any]]) -> None:
    app, document = app_and_document
    validate(document)
    routes = {
        ("/" + re.sub(r"<(\w+)(?::[^>]*)?>", r"{\1}", route.path).lstrip("/"), method.lower())
        for route in app.router.routes for method in route.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, method, _ in operations(document)}
    assert routes == documented
    assert len({op["operationId"] for _, _, op in operations(document)}) == len(documented)


def test_every_operation_declares_its_success_answer_with_a_schema(
        document: dict[str, Any]) -> None:
    for path, method, op in operations(document):
        successes = {s: r for s, r in op["responses"].items() if s.startswith("2")}
        assert successes, (method, path)
        for status, answer in successes.items():
            assert answer.get("content") or status == "204", (method, path, status)


def test_creates_answer_201_with_an_etag_and_reads_may_answer_304(
        document: dict[str, Any]) -> None:
    paths = document["paths"]
    create = paths["/tickets"]["post"]["responses"]
    assert "200" not in create
    assert create["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TicketDetails"}
    assert "ETag" in create["201"]["headers"]
    assert "201" in paths["/tickets/{ticket_ref}/messages"]["post"]["responses"]
    assert "201" in paths["/tickets/{ticket_ref}/attachments"]["post"]["responses"]
    assert {"200", "201"} <= set(paths["/agents/{agent_id}"]["put"]["responses"])
    assert "304" in paths["/tickets/{ticket_ref}"]["get"]["responses"]
    export = paths["/events/export"]["get"]["responses"]["200"]["content"]
    assert set(export) == {"application/x-ndjson", "text/csv; charset=utf-8"}


def test_every_error_uses_the_error_envelope(document: dict[str, Any]) -> None:
    shared = document["components"]["responses"]
    for name, response in shared.items():
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}, name
    assert set(shared["TooManyRequests"]["headers"]) == {
        "Retry-After", "RateLimit", "RateLimit-Policy"}
    assert set(shared["ServiceUnavailable"]["headers"]) == {"Retry-After"}
    details = document["components"]["schemas"]["ErrorBody"]["properties"]["details"]
    assert details["anyOf"][0]["items"] == {"$ref": "#/components/schemas/ErrorDetail"}
    for path, method, op in operations(document):
        errors = {s for s in op["responses"] if s >= "400"}
        assert {"400", "431"} <= errors, (method, path)
        for status in errors - ({"503"} if path == "/status" else set()):
            assert op["responses"][status]["$ref"].startswith("#/components/responses/")


def test_errors_follow_from_what_the_operation_is(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assign = set(paths["/tickets/{ticket_ref}/assign"]["post"]["responses"])
    assert {"401", "403", "404", "409", "412", "413", "422", "503"} <= assign
    upload = set(paths["/tickets/{ticket_ref}/attachments"]["post"]["responses"])
    assert {"413", "415"} <= upload
    assert "429" in paths["/public/tickets"]["post"]["responses"]
    assert "401" not in paths["/health"]["get"]["responses"]
    assert "422" in paths["/tickets"]["get"]["responses"]


def test_security_scheme_and_anonymous_routes(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, method, op in operations(document):
        anonymous = path in ANONYMOUS
        assert op["security"] == ([] if anonymous else [{"bearer": []}]), (method, path)
        assert ("401" in op["responses"]) != (anonymous and path not in OWN_TOKEN), (method,
                                                                                   path)


def test_parameters_of_lists_history_time_travel_and_headers(document: dict[str, Any]) -> None:
    paths = document["paths"]

    def params(path: str, method: str = "get", where: str = "query") -> dict[str, Any]:
        return {p["name"]: p for p in paths[path][method]["parameters"] if p["in"] == where}

    history = params("/tickets/{ticket_ref}/history")
    assert set(history) == {"limit", "cursor"}
    assert history["limit"]["schema"]["maximum"] == 100
    ticket = params("/tickets/{ticket_ref}")
    assert set(ticket) == {"version", "as_of"}
    assert ticket["as_of"]["schema"]["anyOf"][0] == {"type": "string", "format": "date-time"}
    assert not any(p["required"] for p in (*history.values(), *ticket.values()))
    assert {"limit", "cursor", "status", "priority", "assigned_to", "category", "q"} <= set(
        params("/tickets"))
    assert set(params("/tickets/statistics")) == {"from", "to", "group_by"}
    assert set(params("/agents")) == {"limit", "cursor", "active"}
    assert {"after", "limit", "type", "ticket_id", "wait"} == set(params("/events"))
    assert set(params("/tickets/{ticket_ref}/assign", "post", "header")) == {
        "If-Match", "Idempotency-Key", "X-Request-ID"}
    assert set(params("/tickets/{ticket_ref}", "get", "header")) == {
        "If-None-Match", "X-Request-ID"}
    assert "Last-Event-ID" in params("/events", "get", "header")
    read = paths["/tickets/{ticket_ref}"]["get"]["responses"]
    assert {"ETag", "X-Request-ID"} <= set(read["200"]["headers"]) and "304" in read
    assert "X-Access-Token" in params("/public/tickets/{ticket_ref}", "get", "header")
    path_param = params("/tickets/{ticket_ref}", where="path")["ticket_ref"]
    assert path_param["required"] and "number" in path_param["description"]


def test_request_bodies_with_examples_that_their_schema_accepts(
        document: dict[str, Any]) -> None:
    components = {"components": document["components"]}
    create = document["paths"]["/tickets"]["post"]["requestBody"]
    assert create["required"] is True
    content = create["content"]["application/json"]
    named = document["components"]["schemas"][content["schema"]["$ref"].rsplit("/", 1)[1]]
    assert set(named["required"]) == {"subject", "description"}
    for path, method, op in operations(document):
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body is None:
            continue
        assert "example" in body, (method, path)
        schema = {**body["schema"], **components}
        jsonschema.validate(body["example"], schema)
    form = document["components"]["schemas"]["AttachmentUpload"]
    assert form["properties"]["file"] == {"type": "string", "format": "binary"}


# verbNoun: a lower-case verb, then capitalised words (`listTicketMessages`).
OPERATION_ID = re.compile(r"(?:list|get|create|update|delete|upsert|assign|start|mark|resolve"
                          r"|close|reopen|rate|upload|count|export|download|retry|unassign|rotate"
                          r"|restore|receive|apply|merge)(?:[A-Z][a-z0-9]*)+")


def test_every_operation_has_an_explicit_unique_verb_noun_id(
        app_and_document: tuple[Any, dict[str, Any]]) -> None:
    app, document = app_and_document
    keys = {f"{method.upper()} {path}" for path, method, _ in operations(document)}
    assert keys == set(OPERATION_IDS), ("routes without an id:", keys - set(OPERATION_IDS),
                                        "ids without a route:", set(OPERATION_IDS) - keys)
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids))
    for path, method, op in operations(document):
        assert op["operationId"] == OPERATION_IDS[f"{method.upper()} {path}"]
        assert OPERATION_ID.fullmatch(op["operationId"]), op["operationId"]
    # Not derived from the handlers' names: renaming a function changes nothing.
    names = {route.handler.__name__ for route in app.router.routes}
    assert not set(ids) & names
    paths = document["paths"]
    assert paths["/tickets"]["post"]["operationId"] == "createTicket"
    assert paths["/tickets/{ticket_ref}/messages"]["get"]["operationId"] == "listTicketMessages"


def test_tags_read_in_order_tickets_first_each_described(document: dict[str, Any]) -> None:
    names = [tag["name"] for tag in document["tags"]]
    assert names[:3] == ["tickets", "messages", "attachments"]
    assert names.index("public") < names.index("health") < names.index("docs")
    assert set(names) == {op["tags"][0] for _, _, op in operations(document)}
    assert all(tag.get("description") for tag in document["tags"])


def bodies(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every request and response body of every operation: (where, media type, media)."""
    found = []
    for path, method, op in operations(document):
        where = f"{method} {path}"
        for media_type, media in op.get("requestBody", {}).get("content", {}).items():
            found.append((f"{where} request", media_type, media))
        for status, answer in op["responses"].items():
            for media_type, media in answer.get("content", {}).items():
                found.append((f"{where} {status}", media_type, media))
    for name, answer in document["components"]["responses"].items():
        for media_type, media in answer["content"].items():
            found.append((name, media_type, media))
    return found


def test_every_structured_body_is_a_named_component_with_a_valid_example(
        document: dict[str, Any]) -> None:
    components = {"components": document["components"]}
    checked = 0
    for where, media_type, media in bodies(document):
        if media_type not in ("application/json", "multipart/form-data"):
            continue
        ref = media["schema"].get("$ref", "")
        assert ref.startswith("#/components/schemas/"), (where, media["schema"])
        assert "example" in media, where
        jsonschema.validate(media["example"], {**media["schema"], **components})
        checked += 1
    assert checked > 60
    names = document["components"]["schemas"]
    assert {"TicketCreate", "TicketUpdate", "MessageCreate", "PublicTicketCreate",
            "AttachmentUpload", "Ticket", "TicketDetails", "TicketPage", "Error"} <= set(names)
    create = document["paths"]["/tickets"]["post"]["requestBody"]["content"]
    assert create["application/json"]["schema"] == {"$ref": "#/components/schemas/TicketCreate"}


def test_text_bodies_have_examples_too(document: dict[str, Any]) -> None:
    for where, media_type, media in bodies(document):
        if media_type.startswith(("text/", "application/x-ndjson", "application/javascript")):
            assert isinstance(media.get("example"), str) and media["example"], where


def test_error_examples_carry_the_code_of_their_status(document: dict[str, Any]) -> None:
    shared = document["components"]["responses"]
    assert shared["NotFound"]["content"]["application/json"]["example"]["error"][
        "code"] == "not_found"
    assert shared["TooManyRequests"]["content"]["application/json"]["example"]["error"][
        "code"] == "rate_limited"


def test_rate_limited_routes_document_their_quota_headers(document: dict[str, Any]) -> None:
    limited = {"RateLimit", "RateLimit-Policy"}
    assert limited <= set(document["components"]["responses"]["TooManyRequests"]["headers"])
    for path, method, op in operations(document):
        for status, answer in op["responses"].items():
            if not status.startswith("2"):
                continue
            headers = set(answer.get("headers", {}))
            assert (limited <= headers) == path.startswith("/public/"), (method, path, status)
            assert not any(answer["headers"][h].get("required") for h in limited & headers)


def test_readiness_is_its_own_route(document: dict[str, Any]) -> None:
    ready = document["paths"]["/ready"]["get"]
    assert ready["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PodReadiness"}
    assert ready["responses"]["503"] == {"$ref": "#/components/responses/ServiceUnavailable"}
    assert ready["security"] == []


def test_the_document_is_the_same_in_any_route_order(
        app_and_document: tuple[Any, dict[str, Any]]) -> None:
    """Routes register from sets (their order follows the hash seed): two models named
    alike would make a component that depends on it (a response's `MacroActions` once
    replaced the request's, issue 19)."""
    app, document = app_and_document
    reordered = SimpleNamespace(name=app.name, router=SimpleNamespace(
        routes=list(reversed(app.router.routes))))
    assert openapi_document(reordered)["components"] == document["components"]

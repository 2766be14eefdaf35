"""The OpenAPI 3.1 document, built from what the routes declare: their paths, docstrings,
query models (`sav.api.query`), bodies (`sav.api.body`) and answers, named here:

    @bp.post("/tickets")
    @responds(201, schemas.TicketDetails, etag=True)
    @body(CreateTicket)
    async def create_route(request: Request, cmd: CreateTicket) -> HTTPResponse: ...

The error statuses of an operation follow from what it is (a token, a body, a path
parameter, a write, a public route), so every route gets the same ones for the same
reasons; `responds(409)` adds one a route has for its own reasons.

What a generated client is made of is written down, not derived from Python names
(`sav.api.openapi_texts`): each operation's id (`createTicket`, `listTicketMessages`),
each request body's component name (`TicketCreate`), the tags' reading order; every body
has an example (`sav.api.examples` for the answers).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel

from sav import __version__
from sav.api import schemas
from sav.api.auth import is_public
from sav.api.body import SCHEMA_REF, JsonBody, MultipartBody, request_body
from sav.api.examples import CONTENT, error_example, response_example
from sav.api.openapi_texts import (
    DESCRIPTION,
    EXAMPLES,
    HEADERS,
    OPERATION_IDS,
    PATH_PARAMETERS,
    REQUEST_BODY_NAMES,
    TAGS,
    UPLOAD_BODY_NAMES,
)

F = TypeVar("F", bound=Callable[..., Any])
_PARAM = re.compile(r"<(\w+)(?::[^>]*)?>")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}

ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "malformed request: the body is not JSON, a header is not valid"),
    401: ("Unauthorized", "missing, invalid or expired bearer token"),
    403: ("Forbidden", "the caller's role may not do this"),
    404: ("NotFound", "not found, or not visible to the caller"),
    409: ("Conflict", "not allowed in the ticket's status, or a concurrent change"),
    412: ("PreconditionFailed", "`If-Match` does not match the current ETag"),
    413: ("PayloadTooLarge", "the body or a file is over its limit"),
    415: ("UnsupportedMediaType", "the file type is not allowed (checked by content)"),
    422: ("ValidationFailed", "a value is not valid; `details` name each field"),
    429: ("TooManyRequests", "rate limited: retry after `Retry-After` seconds"),
    431: ("HeadersTooLarge", "the request head is over the limit"),
    503: ("ServiceUnavailable", "a backing service is down or the read model lags: retry "
          "after `Retry-After` seconds"),
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying",
                               "schema": {"type": "integer", "minimum": 0}}}
REQUEST_ID = {"X-Request-ID": {"description": "the caller's request id, or a new one: "
                               "in every log line of the request",
                               "schema": {"type": "string"}}}
# The public routes' quota (IETF draft-ietf-httpapi-ratelimit-headers; see
# docs/decisions/0100-rate-limit-headers.md), on every answer of a rate-limited route.
RATE_LIMIT = {
    "RateLimit-Policy": {"description": 'the quota policy: `"public";q=<requests>;w=<window '
                         'seconds>`', "schema": {"type": "string"},
                         "example": '"public";q=30;w=60'},
    "RateLimit": {"description": 'what is left of it: `"public";r=<remaining>;t=<seconds '
                  'until more are allowed>`', "schema": {"type": "string"},
                  "example": '"public";r=29;t=60'},
}
# JSON answers without a model of their own: the documents describing the API.
DOCUMENT_SCHEMAS = {
    "/openapi.json": ("OpenApiDocument", "this OpenAPI 3.1 document"),
    "/asyncapi.json": ("AsyncApiDocument", "the AsyncAPI 3.0 document of the published "
                       "and consumed messages"),
}
ETAG = {"ETag": {"description": 'the version of what was answered: `"<version>"` after a '
                 'write, `"<version>-<digest>"` on a read. Send it back in `If-Match` '
                 "(conditional write) or `If-None-Match` (304 when unchanged)",
                 "schema": {"type": "string"}}}


@dataclass(frozen=True)
class Answer:
    """One documented response of a route."""

    status: int
    model: type[BaseModel] | None = None
    description: str = ""
    content_type: str | tuple[str, ...] | None = None
    etag: bool = False


def responds(status: int, model: type[BaseModel] | None = None, *, description: str = "",
             content_type: str | tuple[str, ...] | None = None, etag: bool = False
             ) -> Callable[[F], F]:
    """Declare an answer of the route: `model` (JSON), and/or `content_type`s (anything
    else: a stream, a file); neither, for a status of 400 and up, is an error with the
    error envelope."""
    answer = Answer(status, model, description, content_type, etag)

    def declare(handler: F) -> F:
        handler.sav_responses = (*declared_answers(handler), answer)  # type: ignore[attr-defined]
        return handler

    return declare


def conditional(handler: F) -> F:
    """The route honours `If-Match` (412 when it is stale): only such routes document the
    header and the 412 (a test sends a stale one to each)."""
    handler.sav_if_match = True  # type: ignore[attr-defined]
    return handler


def honours_if_match(handler: Any) -> bool:
    return bool(getattr(handler, "sav_if_match", False))


def documents_query(model: type[BaseModel]) -> Callable[[F], F]:
    """Document query parameters a route reads by hand (lists: `limit`, `cursor`, filters)
    without changing how it reads them; `sav.api.query.query` both validates and documents."""

    def declare(handler: F) -> F:
        handler.sav_documented_query = model  # type: ignore[attr-defined]
        return handler

    return declare


def declared_answers(handler: Any) -> tuple[Answer, ...]:
    return tuple(getattr(handler, "sav_responses", ()))


# The answers of routes whose modules declare none (operations, not the ticket API).
ANSWERS_BY_PATH: dict[str, tuple[Answer, ...]] = {
    "/health": (Answer(200, schemas.Health, "the process serves requests"),),
    "/status": (Answer(200, schemas.Readiness, "ready"),
                Answer(503, schemas.Readiness, "degraded: a dependency is down or the "
                       "projector is stuck")),
    "/metrics": (Answer(200, content_type="text/plain", description="Prometheus text"),),
    "/openapi.json": (Answer(200, content_type="application/json",
                             description="this document"),),
    "/files/{raw_key}": (Answer(200, content_type="application/octet-stream",
                                description="the file, with its stored type"),
                         Answer(403, description="the link is invalid or has expired")),
}


# -- the document --------------------------------------------------------------------

# Built once per app (the routes do not change once it serves): anonymous callers must
# not make the server redo a tenth of a second of work per request.
_built: dict[str, bytes] = {}


def document_bytes(app: Any) -> bytes:
    """`openapi_document(app)` as JSON, built on first use."""
    if app.name not in _built:
        _built[app.name] = orjson.dumps(openapi_document(app))
    return _built[app.name]


def openapi_document(app: Any) -> dict[str, Any]:
    """Every route of `app`, with everything it declares."""
    schemas_: dict[str, Any] = {}
    errors = error_responses(schemas_)
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes:
        path = "/" + _PARAM.sub(r"{\1}", route.path).lstrip("/")
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = operation(
                route, path, method, schemas_)
    return {
        "openapi": "3.1.0",
        "info": {"title": "SAV ticket service", "version": __version__,
                 "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "tags": tags({op["tags"][0] for ops in paths.values() for op in ops.values()}),
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas_.items())),
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "HS256 JWT with `sub`, `role` (customer, agent, admin, "
                "analyst), `email`, `name`, `exp`; `sav token` prints one"}},
            "responses": errors,
        },
    }


def tags(used: set[str]) -> list[dict[str, str]]:
    """The tags in reading order (`TAGS`: tickets first), then any other, by name."""
    ordered = [name for name in TAGS if name in used] + sorted(used - set(TAGS))
    return [{"name": name, "description": TAGS[name]} if name in TAGS else {"name": name}
            for name in ordered]


def operation_id(method: str, path: str) -> str:
    """The id `OPERATION_IDS` gives the operation. A route missing there still gets a
    unique one (tests/unit/test_openapi.py fails until it is written down)."""
    key = f"{method} {path}"
    if key in OPERATION_IDS:
        return OPERATION_IDS[key]
    words = re.findall(r"[A-Za-z0-9]+", path)
    return method.lower() + "".join(word[:1].upper() + word[1:] for word in words)


def operation(route: Any, path: str, method: str, schemas_: dict[str, Any]) -> dict[str, Any]:
    handler = route.handler
    doc = (handler.__doc__ or route.name).strip()
    summary, _, rest = doc.partition("\n")
    declared = request_body(handler)
    secured = not is_public(path)
    op: dict[str, Any] = {
        "tags": [route.name.split(".")[1]],
        "summary": summary.strip(),
        "operationId": operation_id(method, path),
        "parameters": parameters(route, handler, method, secured, path),
        "responses": responses(handler, path, method, secured, declared, schemas_),
    }
    if rest.strip():
        op["description"] = " ".join(rest.split())
    op["security"] = [{"bearer": []}] if secured else []
    if declared is not None:
        op["requestBody"] = named_request_body(declared, op["operationId"], schemas_)
    return op


def named_request_body(declared: Any, operation_id: str, schemas_: dict[str, Any]
                       ) -> dict[str, Any]:
    """The body as a `$ref` to a named component (`TicketCreate`), with its example:
    inline, a generated client would name its model after the operation."""
    body = declared.openapi(schemas_)
    media_type, content = next(iter(body["content"].items()))
    if media_type not in ("application/json", "multipart/form-data"):
        return body  # raw bytes (a whole mail): no structure to name
    if isinstance(declared, JsonBody):
        model = declared.model.__name__
        name = REQUEST_BODY_NAMES.get(model, model)
        example = EXAMPLES.get(model)
    else:
        name = UPLOAD_BODY_NAMES.get(operation_id, operation_id[:1].upper() + operation_id[1:])
        example = upload_example(content["schema"])
    schemas_[name] = {**content["schema"], "title": name}
    body["content"][media_type] = {"schema": {"$ref": SCHEMA_REF.format(model=name)}}
    if example is not None:
        body["content"][media_type]["example"] = example
    return body


def upload_example(schema: dict[str, Any]) -> dict[str, Any]:
    """A form's example: each file field stands for its bytes."""
    example: dict[str, Any] = {}
    for name, field in schema["properties"].items():
        if field.get("format") == "binary":
            example[name] = "(the bytes of invoice.pdf)"
        elif field.get("type") == "array":
            example[name] = ["(the bytes of invoice.pdf)", "(the bytes of photo.png)"]
        else:
            example[name] = "0b8e5d2c-47a1-4f3e-8c6d-91a2b3c4d5e6"
    return example


def parameters(route: Any, handler: Any, method: str, secured: bool, path: str
               ) -> list[dict[str, Any]]:
    found = [{"name": name, "in": "path", "required": True,
              "description": PATH_PARAMETERS.get(name, ""),
              "schema": {"type": "string", "minLength": 1, **PATH_SCHEMAS.get(name, {})}}
             for name in _PARAM.findall(route.path)]
    for model in (getattr(handler, "sav_query", None),
                  getattr(handler, "sav_documented_query", None), QUERY_BY_PATH.get(path)):
        if model is not None:
            found += query_parameters(model)
    headers: list[str] = []
    if method in WRITES and honours_if_match(handler):
        headers.append("If-Match")
    if method == "POST":  # every POST replays (sav.api.idempotency)
        headers.append("Idempotency-Key")
    if path.startswith("/public/tickets/") and method == "GET":
        headers.append("X-Access-Token")
    if method == "GET" and secured and path.startswith("/tickets"):
        headers.append("If-None-Match")
    if method == "GET" and path == "/events":
        headers.append("Last-Event-ID")
    headers.append("X-Request-ID")
    found += [{"name": name, "in": "header", "required": False,
               "description": HEADERS[name],
               "schema": {"type": "string", **HEADER_SCHEMAS.get(name, {})}}
              for name in headers]
    return found


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """One `in: query` parameter per field of `model` (named by its alias)."""
    properties = model.model_json_schema(ref_template=SCHEMA_REF)["properties"]
    found = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        schema = {k: v for k, v in properties[key].items()
                  if k not in ("title", "description", "examples")}
        parameter: dict[str, Any] = {"name": key, "in": "query",
                                     "required": field.is_required(),
                                     "description": field.description or "", "schema": schema}
        if field.examples:
            parameter["example"] = field.examples[0]
        found.append(parameter)
    return found


QUERY_BY_PATH: dict[str, type[BaseModel]] = {"/files/{raw_key}": schemas.SignedLinkQuery}
# Headers a route checks with a 422 (`sav.api.http.idempotency_scope`).
HEADER_SCHEMAS: dict[str, dict[str, Any]] = {
    "Idempotency-Key": {"maxLength": 128, "pattern": "^[ -~]*$"}}
# Path parameters a route checks beyond "not empty" with a 422 (others answer 404).
PATH_SCHEMAS: dict[str, dict[str, Any]] = {"message_id": {"maxLength": 64}}


def responses(handler: Any, path: str, method: str, secured: bool, declared: Any,
              schemas_: dict[str, Any]) -> dict[str, Any]:
    answers = declared_answers(handler) or ANSWERS_BY_PATH.get(path, (Answer(200),))
    found: dict[str, Any] = {}
    for answer in answers:
        found[str(answer.status)] = (error_ref(answer.status) if answer.status >= 400
                                     and answer.model is None and answer.content_type is None
                                     else success(answer, path, schemas_))
    if method == "GET" and secured and path.startswith("/tickets"):
        found.setdefault("304", {"description": "Not modified: `If-None-Match` holds the "
                                 "current ETag", "headers": {**ETAG, **REQUEST_ID}})
        for code, answer in found.items():
            if code.startswith("2"):
                answer["headers"].update(ETAG)
    for status in sorted(error_statuses(handler, path, method, secured, declared)):
        found.setdefault(str(status), error_ref(status))
    if path.startswith("/public/"):
        for code, answer in found.items():
            if code.startswith("2"):
                answer["headers"].update(RATE_LIMIT)
    return dict(sorted(found.items()))


def error_statuses(handler: Any, path: str, method: str, secured: bool, declared: Any
                   ) -> set[int]:
    """Why an operation can fail, from what it is."""
    statuses = {400, 431}
    if secured:
        statuses |= {401, 403, 503}
    if "{" in path or path.startswith("/public/"):
        statuses |= {404, 503}
    if path.startswith("/public/"):
        statuses |= {429}
    if declared is not None:
        statuses |= {413, 422}
    if method == "POST":
        statuses |= {422}  # an `Idempotency-Key` that is not one
    if isinstance(declared, MultipartBody):
        statuses |= {415}
    if (getattr(handler, "sav_query", None) or getattr(handler, "sav_documented_query", None)
            or path in QUERY_BY_PATH):
        statuses |= {422}
    if method in WRITES and path.startswith(("/tickets/", "/public/tickets/")):
        statuses |= {404, 409, 422}
    if method in WRITES and honours_if_match(handler):
        statuses |= {412}
    return statuses


def success(answer: Answer, path: str, schemas_: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "description": answer.description or HTTPStatus(answer.status).phrase}
    content: dict[str, Any] = {}
    if answer.model is not None:
        content["application/json"] = media(answer.model.__name__, answer.status,
                                            model_ref(answer.model, schemas_))
    others = answer.content_type or ()
    for content_type in (others,) if isinstance(others, str) else others:
        if content_type == "application/json":
            name, description = DOCUMENT_SCHEMAS[path]
            schemas_[name] = {"type": "object", "title": name, "description": description}
            content[content_type] = media(name, answer.status,
                                          {"$ref": SCHEMA_REF.format(model=name)})
        else:
            content[content_type] = {"schema": {"type": "string"}}
            if content_type in CONTENT:
                content[content_type]["example"] = CONTENT[content_type]
    if content:
        result["content"] = content
    result["headers"] = {**(ETAG if answer.etag else {}), **REQUEST_ID}
    return result


def media(name: str, status: int, schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON media type: the schema, and its example when `sav.api.examples` has one."""
    found = {"schema": schema}
    example = response_example(name, status)
    if example is not None:
        found["example"] = example
    return found


def model_ref(model: type[BaseModel], schemas_: dict[str, Any]) -> dict[str, Any]:
    """The model as a shared component (with the components it refers to)."""
    schema = model.model_json_schema(ref_template=SCHEMA_REF, mode="serialization")
    schemas_.update(schema.pop("$defs", {}))
    schemas_[model.__name__] = schema
    return {"$ref": SCHEMA_REF.format(model=model.__name__)}


def error_ref(status: int) -> dict[str, Any]:
    return {"$ref": f"#/components/responses/{ERRORS[status][0]}"}


def error_responses(schemas_: dict[str, Any]) -> dict[str, Any]:
    """One shared response per error status, all with the error envelope."""
    envelope = model_ref(schemas.Error, schemas_)
    found = {}
    for status, (name, description) in ERRORS.items():
        entry: dict[str, Any] = {"description": f"{status}: {description}",
                                 "content": {"application/json": {
                                     "schema": envelope, "example": error_example(status)}}}
        if status in (429, 503):
            entry["headers"] = dict(RETRY_AFTER)
        if status == 429:  # only the rate-limited routes answer it
            entry["headers"].update(RATE_LIMIT)
        found[name] = entry
    return found

"""The HTTP conventions every route follows, applied once for the whole app.

- `HEAD` on every `GET` route (added to the blueprints' routes at registration);
  `OPTIONS` on every path that exists: 204 with `Allow` (a CORS preflight from an
  allowed origin also gets the `Access-Control-*` answer), built by the error handler
  from the router's 405, so before any auth.
- `X-Request-ID`: the caller's (1-128 safe characters) or a new one, echoed on every
  response and set on the log records of the request (`sav.logging.request_id`).
- CORS headers for the origins listed in `SAV_CORS_ORIGINS` (none by default).
- `Retry-After` on every 429 and 503 that does not say it already.
- `Location` on every 201: the created resource's URL (`CREATED_AT`, by route).
- Conditional GET on the cached reads (the seed's caching TTLs, as `max-age`): an ETag
  per visible body (the route's version ETag, if any, plus a digest of the body, so a
  customer's and an agent's view of one version differ) and `If-None-Match` → 304.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

import orjson
from sanic import Blueprint, HTTPResponse, Request
from sanic.constants import HTTP_METHODS
from sanic.exceptions import MethodNotAllowed, SanicException
from sanic.response import BaseHTTPResponse

from sav.config import Settings
from sav.logging import request_id

REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
# Seconds a client waits before retrying when the answer does not say (the read model
# usually catches up within a second; a dependency takes longer to come back).
DEFAULT_RETRY_AFTER = {429: "1", 503: "5"}
# The spec's "Caching Strategy" (user ticket list 3 min, ticket details 1 min,
# statistics 5 min, attachment metadata 10 min), by route pattern.
CACHE_SECONDS = {
    "tickets": 180,
    "tickets/statistics": 300,
    "tickets/<ticket_ref:str>": 60,
    "tickets/<ticket_ref:str>/messages": 60,
    "tickets/<ticket_ref:str>/attachments": 600,
    "tickets/<ticket_ref:str>/attachments/<attachment_id:str>": 600,
}
# Where a 201 says the created resource lives, by route pattern, from the answer's body
# (canonical ids, whatever the request's path named the ticket by). Anonymous callers
# have no message URL: the reply's is its ticket's, which lists it.
CREATED_AT: dict[str, Callable[[dict[str, Any]], str]] = {
    "tickets": lambda body: f"/tickets/{body['id']}",
    "tickets/<ticket_ref:str>/messages":
        lambda body: f"/tickets/{body['ticket_id']}/messages/{body['id']}",
    "tickets/<ticket_ref:str>/attachments":
        lambda body: f"/tickets/{body['ticket_id']}/attachments/{body['id']}",
    # Several files: the first one's (RFC 9110's "primary resource"); all are listed.
    "tickets/<ticket_ref:str>/attachments/multiple":
        lambda body: f"/tickets/{body['data'][0]['ticket_id']}/attachments/"
                     f"{body['data'][0]['id']}",
    "agents/<agent_id:str>": lambda body: f"/agents/{quote(body['agent_id'], safe='')}",
    "public/tickets": lambda body: f"/public/tickets/{body['ticket_number']}",
    "public/tickets/<ticket_ref:str>/messages":
        lambda body: f"/public/tickets/{body['ticket_id']}",
    "webhooks": lambda body: f"/webhooks/{body['id']}",
    "sla/policies/<name:str>": lambda body: f"/sla/policies/{quote(body['name'], safe='')}",
    "macros": lambda body: f"/macros/{body['id']}",
    "tickets/<ticket_ref:str>/links": lambda body: f"/tickets/{body['id']}/links",
}
CORS_REQUEST_HEADERS = ("Authorization, Content-Type, If-Match, If-None-Match, "
                        "Idempotency-Key, Last-Event-ID, X-Access-Token, X-Request-ID")
# RateLimit, RateLimit-Policy: a browser on an allowed origin paces itself by them.
CORS_EXPOSED_HEADERS = ("ETag, Retry-After, X-Request-ID, Idempotent-Replayed, Location, "
                        "Allow, Content-Disposition, RateLimit, RateLimit-Policy")
CORS_MAX_AGE = "600"


def add_head(blueprint: Blueprint) -> Blueprint:
    """Every GET route also answers HEAD (idempotent: blueprints are module globals,
    registered on every app)."""
    blueprint._future_routes = {
        future._replace(methods=frozenset(future.methods or ()) | {"HEAD"})
        if "GET" in (future.methods or ()) else future
        for future in blueprint._future_routes
    }
    return blueprint


def allowed_methods(request: Request, error: MethodNotAllowed) -> set[str]:
    """The methods the request's path answers. The router names them for static paths
    only; for the others, each method is tried on the (cached) router."""
    if error.allowed_methods:
        return set(error.allowed_methods)
    host = request.headers.getone("host", None)
    found: set[str] = set()
    for method in HTTP_METHODS:
        try:
            request.app.router.get(request.path, method, host)
        except SanicException:
            continue
        found.add(method)
    return found


def options_response(request: Request, allowed: Iterable[str]) -> HTTPResponse:
    """OPTIONS on a path that exists (the router found no OPTIONS route but knows the
    path's methods): 204 with `Allow`; a CORS preflight from an allowed origin also gets
    the `Access-Control-Allow-*` headers (`finish` adds the origin)."""
    allow = ", ".join(sorted({*allowed, "OPTIONS"}))
    headers = {"Allow": allow}
    origin = allowed_origin(request.app.ctx.settings, request.headers.get("origin"))
    if origin is not None and request.headers.get("access-control-request-method"):
        headers.update({"Access-Control-Allow-Methods": allow,
                        "Access-Control-Allow-Headers": CORS_REQUEST_HEADERS,
                        "Access-Control-Max-Age": CORS_MAX_AGE})
    return HTTPResponse(status=204, headers=headers)


def allowed_origin(settings: Settings, origin: str | None) -> str | None:
    """The value of `Access-Control-Allow-Origin` for this origin, if it is allowed."""
    if not origin or not settings.cors_origins:
        return None
    if "*" in settings.cors_origins:
        return "*"
    return origin if origin in settings.cors_origins else None


def new_request_id(request: Request) -> str:
    given = request.headers.get("x-request-id")
    return given if given and REQUEST_ID.fullmatch(given) else random_request_id()


def random_request_id() -> str:
    """A random UUID (version 4) as 32 hex digits, as `uuid.uuid4().hex` writes it, at a
    quarter of its cost (one per request)."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    return raw.hex()


async def begin(request: Request) -> None:
    """Request middleware, first of all: the request id, for the response and the logs.
    An `OPTIONS` answered from the router's 405 (no route reads its body) has its body
    read here, within the body limit: a body is allowed, and Sanic logs an error for a
    2xx answer that left one unread."""
    request.ctx.request_id = new_request_id(request)
    stream: Any = request.stream
    if (request.method == "OPTIONS" and request.route is None and stream is not None
            and stream.request_body):
        await request.receive_body()
    request_id.set(request.ctx.request_id)


async def finish(request: Request, response: BaseHTTPResponse) -> None:
    """Response middleware: request id, CORS, Retry-After, conditional GET."""
    headers = response.headers
    rid = getattr(request.ctx, "request_id", None) or new_request_id(request)
    headers["X-Request-ID"] = rid
    settings = request.app.ctx.settings
    origin = allowed_origin(settings, request.headers.get("origin"))
    if origin is not None:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = CORS_EXPOSED_HEADERS
    if settings.cors_origins and "*" not in settings.cors_origins:
        headers["Vary"] = _vary(headers.get("vary"), "Origin")  # the answer depends on it
    status = response.status
    stream: Any = request.stream
    if status == 413 and hasattr(stream, "keep_alive"):
        # The rest of the body stays unread: say the connection ends with this answer, so
        # a client does not send its next request on it.
        stream.keep_alive = False
    if status == 201 and "location" not in headers and isinstance(response, HTTPResponse):
        location = created_location(request, response)
        if location is not None:
            headers["Location"] = location
    if status in DEFAULT_RETRY_AFTER and "retry-after" not in headers:
        headers["Retry-After"] = DEFAULT_RETRY_AFTER[status]
    if status == 200 and request.method in ("GET", "HEAD") and request.route is not None:
        seconds = CACHE_SECONDS.get(request.route.path)
        if seconds is not None and isinstance(response, HTTPResponse):
            conditional(request, response, seconds)


def created_location(request: Request, response: HTTPResponse) -> str | None:
    locate = CREATED_AT.get(request.route.path) if request.route is not None else None
    if locate is None:
        return None
    try:
        return locate(orjson.loads(response.body or b""))
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return None


def conditional(request: Request, response: HTTPResponse, seconds: int) -> None:
    """An ETag for this very body and `Cache-Control: private`; 304 (no body) when the
    caller already holds it."""
    body = response.body or b""
    known = getattr(request.ctx, "representation", None)
    # The tag a route computed once for a body it keeps (`known_representation`), while
    # the response still carries that very body; else hashed here.
    tag = (known[1] if known is not None and known[0] is body
           else representation_tag(response.headers.get("etag"), body))
    headers = response.headers
    headers["ETag"] = tag
    headers["Cache-Control"] = f"private, max-age={seconds}"
    headers["Vary"] = _vary(headers.get("vary"), "Authorization")
    if none_match(request.headers.get("if-none-match"), tag):
        response.status = 304
        response.body = b""
        headers.pop("content-type", None)


def known_representation(request: Request, body: bytes, tag: str) -> None:
    """The route knows `representation_tag` of the body it answers (a kept view): the
    response's conditional GET uses it instead of hashing the body again."""
    request.ctx.representation = (body, tag)


def representation_tag(declared: str | None, body: bytes) -> str:
    """`"<version>-<digest>"` when the route gave its version ETag, else `"<digest>"`;
    `If-Match` reads the version before the dash."""
    digest = hashlib.blake2b(body, digest_size=8).hexdigest()
    version = declared.strip().removeprefix("W/").strip('"') if declared else ""
    return f'"{version}-{digest}"' if version else f'"{digest}"'


def none_match(header: str | None, tag: str) -> bool:
    """`If-None-Match` compares weakly: `W/"x"` matches `"x"`; `*` matches anything."""
    if not header:
        return False
    candidates = [item.strip().removeprefix("W/") for item in header.split(",")]
    return "*" in candidates or tag in candidates


def _vary(current: Any, name: str) -> str:
    if not current:
        return name
    values = [v.strip() for v in str(current).split(",") if v.strip()]
    if name.lower() not in (v.lower() for v in values):
        values.append(name)
    return ", ".join(values)

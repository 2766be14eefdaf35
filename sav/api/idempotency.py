"""`Idempotency-Key` on every POST route, applied once at registration (`idempotent_posts`,
as `conventions.add_head` adds HEAD), so no route can forget it.

A POST with a key runs once per caller: the same key with the same body answers the first
(stored) result again with `Idempotent-Replayed: true`; the same key with another body is
`422 idempotency_key_reused`. What is stored: the status, body and `ETag` of a result below
500 (a failed attempt stores nothing, so the retry runs again). The caller is the token's
user, or for anonymous routes the client address plus the access token presented, so a
replay never answers someone who could not have made the request.

Answers expire after `SAV_IDEMPOTENCY_TTL_HOURS` (24 h, as Stripe's): the same key later
is a new request. A key is claimed before its request runs (a `pending` row, status 0):
the claim's time is the key's generation, from which a create derives its id
(`http.idempotent_id`), so concurrent retries and retries after a 5xx still collide on
one id, and a request after the expiry gets a new one. The claim becomes the stored
answer; an answer of 500 or more leaves it pending, so the retry runs again. Expired rows
are ignored at once and deleted by the `idempotency-keys` job (`prune_expired`).

Bodies compare as sent (JSON), or by their parsed parts for an upload (a client library
draws a new multipart boundary on each attempt). A secret shown once (the anonymous
ticket's access token, a webhook's signing secret) is sealed in the stored answer with a
key derived from the server's signing secret and the Idempotency-Key: never in clear in
the database.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import ValidationError
from sanic import Blueprint, HTTPResponse, Request
from sanic.exceptions import SanicException
from sqlalchemy import Engine, delete, select, tuple_, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from sav.api import http
from sav.api.body import MultipartBody, request_body
from sav.api.errors import ApiError
from sav.api.tables import idempotency_keys
from sav.events import clock
from sav.events.errors import DomainError
from sav.privacy.crypto import open_sealed, seal

log = logging.getLogger("sav.api")
Handler = Callable[..., Awaitable[HTTPResponse]]
# Secrets an answer shows once, kept sealed in a stored answer (top level of a JSON
# object): an anonymous ticket's access token, a webhook's signing secret.
SEALED_FIELDS = ("access_token", "secret")
SEALED_PREFIX = "sealed:"
REPLAYED = "Idempotent-Replayed"
PENDING = 0  # the status of a claim whose request has stored no answer (yet)
PRUNE_BATCH = 1000


def idempotent_posts(blueprint: Blueprint) -> Blueprint:
    """Every POST route of the blueprint honours `Idempotency-Key` (idempotent itself:
    blueprints are module globals, registered on every app)."""
    futures: set[Any] = blueprint._future_routes  # FutureRoute types `handler` as str
    blueprint._future_routes = {
        future._replace(handler=replayable(future.handler))
        if "POST" in (future.methods or ()) and not is_replayable(future.handler)
        else future
        for future in futures
    }
    return blueprint


def is_replayable(handler: Any) -> bool:
    return bool(getattr(handler, "sav_idempotent", False))


def replayable(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def route(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        return await replay_or_run(request, handler, lambda: handler(request, *args, **kwargs))

    route.sav_idempotent = True  # type: ignore[attr-defined]
    return route


async def replay_or_run(request: Request, handler: Handler,
                        produce: Callable[[], Awaitable[HTTPResponse]]) -> HTTPResponse:
    scope = http.idempotency_scope(request)
    if scope is None:
        return await produce()
    upload = request_body(handler)
    streamed = isinstance(upload, MultipartBody)
    engine = http.reads(request)
    now = naive_now()
    oldest = now - dt.timedelta(hours=http.settings(request).idempotency_ttl_hours)
    stored = await live_row(engine, scope, oldest)
    claimed = False
    if stored is None:
        # The uploads' digest is taken while the route reads them (`sav.api.uploads`).
        claimed = await claim(engine, scope, now, "" if streamed else body_digest(request.body))
        if not claimed:  # a concurrent request claimed it first
            stored = await live_row(engine, scope, oldest)
    generation = now
    if stored is not None:
        if stored.request_hash:
            if streamed:
                assert isinstance(upload, MultipartBody)
                form = await upload.read(request, http.settings(request).max_attachment_bytes)
                digest = form.digest()
            else:
                digest = body_digest(request.body)
            if stored.request_hash != digest:
                raise ApiError(422, "idempotency_key_reused",
                               "this Idempotency-Key was used with a different request body")
        if stored.status != PENDING:
            return replayed(request, scope, stored)
        generation = stored.created_at
    request.ctx.idempotency_generation = generation
    try:
        response = await produce()
    except Exception as error:
        if claimed and refused(error):
            # Refused before it ran (a bad body, a rule): no answer is kept, so the key
            # may carry a corrected body (a 5xx keeps the claim: the retry runs again).
            await release(engine, scope, generation)
        raise
    taken: str | None = (getattr(request.ctx, "upload_digest", None) if streamed
                         else body_digest(request.body))
    if taken is not None and response.status < 500:
        await remember(request, scope, generation, taken, response)
    return response


def refused(error: Exception) -> bool:
    """The error is answered below 500 (as `sav.api.errors.to_response` maps it)."""
    if isinstance(error, ApiError):
        return error.status < 500
    if isinstance(error, SanicException):
        return (error.status_code or 500) < 500
    return isinstance(error, DomainError | ValidationError)


async def release(engine: AsyncEngine, scope: tuple[str, str], generation: dt.datetime
                  ) -> None:
    t = idempotency_keys.c
    try:
        async with engine.begin() as conn:
            await conn.execute(delete(idempotency_keys).where(
                t.scope == scope[0], t.key == scope[1], t.created_at == generation,
                t.status == PENDING))
    except sa_exc.SQLAlchemyError:
        log.warning("could not release an Idempotency-Key", exc_info=True)


def naive_now() -> dt.datetime:
    """Whole seconds: a `DATETIME` column keeps no fraction on MariaDB, and the claim's
    time read back must derive the same ids as the one written."""
    return clock.now().astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)


async def live_row(engine: AsyncEngine, scope: tuple[str, str], oldest: dt.datetime
                   ) -> Any:
    """The key's row unless it expired (then it is as good as absent: deleted here, the
    job deletes the others)."""
    t = idempotency_keys.c
    async with engine.connect() as conn:
        row = (await conn.execute(
            select(t.status, t.body, t.request_hash, t.etag, t.created_at)
            .where(t.scope == scope[0], t.key == scope[1])
        )).first()
    if row is None or row.created_at > oldest:
        return row
    async with engine.begin() as conn:
        await conn.execute(delete(idempotency_keys).where(
            t.scope == scope[0], t.key == scope[1], t.created_at == row.created_at))
    return None


async def claim(engine: AsyncEngine, scope: tuple[str, str], now: dt.datetime,
                digest: str) -> bool:
    """Claim the key (a pending row): False if another request holds it already."""
    try:
        async with engine.begin() as conn:
            await conn.execute(idempotency_keys.insert().values(
                scope=scope[0], key=scope[1], status=PENDING, request_hash=digest,
                etag=None, body="", created_at=now))
    except sa_exc.IntegrityError:
        return False
    return True


def replayed(request: Request, scope: tuple[str, str], stored: Any) -> HTTPResponse:
    headers = {REPLAYED: "true"}
    if stored.etag:
        headers["ETag"] = stored.etag
    if not stored.body:  # a 204
        return HTTPResponse(status=stored.status, headers=headers)
    body = unsealed(request, scope, stored.body.encode())
    return HTTPResponse(body, status=stored.status, headers=headers,
                        content_type="application/json")


def prune_expired(engine: Engine, oldest: dt.datetime) -> int:
    """Delete the answers stored at `oldest` (naive UTC) or before, oldest first in
    batches (the `idempotency-keys` job), each read and deleted through the index on
    `created_at` up to its own newest row: a batch reads its own rows, not every expired
    one (a first run may find millions)."""
    t = idempotency_keys.c
    deleted = 0
    while True:
        with engine.begin() as conn:
            keys = conn.execute(select(t.scope, t.key, t.created_at)
                                .where(t.created_at <= oldest)
                                .order_by(t.created_at).limit(PRUNE_BATCH)).all()
            if keys:
                # A key claimed again since is newer than the batch: it stays.
                conn.execute(delete(idempotency_keys).where(
                    tuple_(t.scope, t.key).in_([(row.scope, row.key) for row in keys]),
                    t.created_at <= keys[-1].created_at))
        deleted += len(keys)
        if len(keys) < PRUNE_BATCH:
            return deleted


def body_digest(body: bytes | None) -> str:
    return hashlib.sha256(body or b"").hexdigest()


async def remember(request: Request, scope: tuple[str, str], generation: dt.datetime,
                   digest: str, response: HTTPResponse) -> None:
    """The claim becomes the stored answer."""
    t = idempotency_keys.c
    try:
        async with http.reads(request).begin() as conn:
            await conn.execute(update(idempotency_keys).where(
                t.scope == scope[0], t.key == scope[1], t.created_at == generation,
                t.status == PENDING,
            ).values(status=response.status, request_hash=digest,
                     etag=response.headers.get("etag"),
                     body=sealed(request, scope, response.body or b"").decode()))
    except sa_exc.SQLAlchemyError:
        # The command is stored: answer its result; only a later replay is lost.
        log.warning("could not store the Idempotency-Key result", exc_info=True)


def _cipher(request: Request, scope: tuple[str, str]) -> AESGCM:
    secret = http.settings(request).signing_secret()
    key = hmac.new(secret, f"sav-idempotency-seal\0{scope[0]}\0{scope[1]}".encode(),
                   hashlib.sha256).digest()
    return AESGCM(key)


def sealed(request: Request, scope: tuple[str, str], body: bytes) -> bytes:
    """The body to store, its secret fields sealed."""
    data = _object(body)
    if data is None or not any(isinstance(data.get(name), str) for name in SEALED_FIELDS):
        return body
    cipher = _cipher(request, scope)
    for name in SEALED_FIELDS:
        if isinstance(data.get(name), str):
            box = seal(cipher, data[name].encode(), name.encode())
            data[name] = SEALED_PREFIX + base64.urlsafe_b64encode(box).decode()
    return orjson.dumps(data)


def unsealed(request: Request, scope: tuple[str, str], body: bytes) -> bytes:
    """The stored body with its secret fields opened (`null` if the signing secret
    changed since)."""
    data = _object(body)
    names = [name for name in SEALED_FIELDS if data is not None
             and str(data.get(name) or "").startswith(SEALED_PREFIX)]
    if data is None or not names:
        return body
    cipher = _cipher(request, scope)
    for name in names:
        box = base64.urlsafe_b64decode(data[name].removeprefix(SEALED_PREFIX))
        try:
            data[name] = open_sealed(cipher, box, name.encode()).decode()
        except InvalidTag:
            data[name] = None
    return orjson.dumps(data)


def _object(body: bytes) -> dict[str, Any] | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None

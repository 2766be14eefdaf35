"""Who is calling: HS256 JWTs (`AUTH_MODE=jwt`) or the auth service (`AUTH_MODE=remote`)."""

from __future__ import annotations

import hashlib
import math
import re
import time
from typing import Any

import httpx
import jwt
from sanic import Request

from sav.api.errors import ApiError, DependencyDownError
from sav.commands.actor import Actor
from sav.events.rules import STAFF_ROLES, Role

REMOTE_CACHE_SECONDS = 30.0
# RFC 7519 NumericDate claims: JSON numbers only. PyJWT alone would take `"9999999999"`.
NUMERIC_DATE_CLAIMS = ("exp", "nbf", "iat")
# Routes anyone may call; everything else needs a bearer token.
PUBLIC_PREFIXES = ("/public/", "/files/", "/docs/")
PUBLIC_PATHS = {"/health", "/ready", "/status", "/openapi.json", "/metrics", "/docs",
                "/asyncapi.json",
                "/inbound/email"}  # its own token, checked by the route (sav.api.inbound)


# Who may use a write route at all, whatever the body says (a route not listed: every role
# that may write). Checked right after authentication, so a caller who may not use a route
# gets 403 before its body is read or validated (then 422 could tell them about a route
# they cannot use). Finer rules (a customer's fields, an author's message, a ticket's
# owner) stay with the commands; this only mirrors the role each command requires first.
ADMIN_ONLY = frozenset({Role.ADMIN})
ROUTE_ROLES: dict[tuple[str, str], frozenset[str]] = {
    ("PUT", "agents/<agent_id:str>"): ADMIN_ONLY,
    ("POST", "privacy/erasures"): ADMIN_ONLY,
    ("POST", "tickets/<ticket_ref:str>/unassign"): STAFF_ROLES,
    ("POST", "tickets/<ticket_ref:str>/restore"): ADMIN_ONLY,
    ("POST", "tickets/<ticket_ref:str>/assign"): STAFF_ROLES,
    ("POST", "tickets/<ticket_ref:str>/start"): STAFF_ROLES,
    ("POST", "tickets/<ticket_ref:str>/wait"): STAFF_ROLES,
    ("POST", "tickets/<ticket_ref:str>/resolve"): STAFF_ROLES,
    ("DELETE", "tickets/<ticket_ref:str>"): frozenset({Role.ADMIN, Role.CUSTOMER}),
    ("POST", "tickets/<ticket_ref:str>/satisfaction"): frozenset({Role.CUSTOMER}),
    ("PUT", "sla/calendar"): ADMIN_ONLY,
    ("PUT", "sla/policies/<name:str>"): ADMIN_ONLY,
    ("DELETE", "sla/policies/<name:str>"): ADMIN_ONLY,
    ("POST", "macros"): ADMIN_ONLY,
    ("PUT", "macros/<macro_id:str>"): ADMIN_ONLY,
    ("DELETE", "macros/<macro_id:str>"): ADMIN_ONLY,
    ("POST", "tickets/<ticket_ref:str>/macros/<macro_id:str>"): STAFF_ROLES,
    ("POST", "tickets/bulk"): STAFF_ROLES,
    ("POST", "tickets/<ticket_ref:str>/links"): STAFF_ROLES,
    ("POST", "tickets/<ticket_ref:str>/merge"): STAFF_ROLES,
    ("DELETE", "tickets/<ticket_ref:str>/links/<other_id:str>"): STAFF_ROLES,
    ("POST", "webhooks/<webhook_id:str>/secret/rotate"): ADMIN_ONLY,
}
READS = frozenset({"GET", "HEAD", "OPTIONS"})


def issue_token(secret: str, sub: str, role: str, email: str | None = None,
                name: str | None = None, ttl: int = 86400, issuer: str = "",
                audience: str = "") -> str:
    if role not in Role.__members__.values():
        raise ValueError(f"role must be one of {', '.join(Role)}")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "role": role, "iat": now, "exp": now + ttl}
    if email:
        claims["email"] = email
    if name:
        claims["name"] = name
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def actor_from_claims(claims: dict[str, Any]) -> Actor:
    sub, role = claims.get("sub"), claims.get("role")
    if not isinstance(sub, str | int) or not str(sub) or len(str(sub)) > 64:
        raise _unauthorized("token has no valid subject")
    if role not in Role.__members__.values():
        raise _unauthorized("token has no valid role")
    email, name = claims.get("email"), claims.get("name")
    return Actor(user_id=str(sub), role=str(role),
                 email=email if isinstance(email, str) else None,
                 name=name if isinstance(name, str) else None)


# Verified tokens, until they expire: decoding is a measurable share of a request.
_verified: dict[tuple[str, str], tuple[float, Actor]] = {}


def decode_token(token: str, secret: str, issuer: str = "", audience: str = "") -> Actor:
    """`issuer`/`audience` (AUTH_JWT_ISSUER/AUDIENCE), when set, must match the token's."""
    cached = _verified.get((secret, token))
    if cached is not None and cached[0] > time.time():
        return cached[1]
    required = ["sub", "exp", *(["iss"] if issuer else []), *(["aud"] if audience else [])]
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], issuer=issuer or None,
                            audience=audience or None, options={"require": required})
    except jwt.ExpiredSignatureError:
        raise _unauthorized("token expired") from None
    except (jwt.PyJWTError, OverflowError):  # OverflowError: `"exp": 1e999` (infinity)
        raise _unauthorized("invalid token") from None
    if not all(is_numeric_date(claims[name]) for name in NUMERIC_DATE_CLAIMS
               if name in claims):
        raise _unauthorized("exp, nbf and iat must be JSON numbers (RFC 7519 NumericDate)")
    actor = actor_from_claims(claims)
    if len(_verified) > 10_000:
        _verified.clear()
    _verified[(secret, token)] = (float(claims["exp"]), actor)
    return actor


def is_numeric_date(value: Any) -> bool:
    """A finite JSON number (`true` is not one, though Python counts it as an int)."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("missing bearer token")
    return token.strip()


class RemoteAuth:
    """Checks tokens with `GET {AUTH_SERVICE_URL}/api/auth/me`, caching answers briefly.

    The HTTP client is opened on first use and closed when the server stops; the cache
    outlives server start/stop cycles."""

    def __init__(self, base_url: str, client: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url
        self.client = client
        self.cache: dict[str, tuple[float, Actor]] = {}

    async def actor(self, token: str) -> Actor:
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self.cache.get(key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        if self.client is None:
            self.client = httpx.AsyncClient(timeout=5.0)
        try:
            response = await self.client.get(
                f"{self.base_url}/api/auth/me", headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as error:
            raise DependencyDownError(f"auth service unreachable: {error}") from None
        if response.status_code in (401, 403):
            raise _unauthorized("invalid token")
        if response.status_code != 200:
            raise DependencyDownError(f"auth service answered {response.status_code}")
        try:
            body = response.json()
            actor = actor_from_claims({**body, "sub": body.get("id")})
        except ValueError:
            raise DependencyDownError("auth service answered malformed JSON") from None
        if len(self.cache) > 10_000:
            self.cache.clear()
        self.cache[key] = (time.monotonic() + REMOTE_CACHE_SECONDS, actor)
        return actor

    async def close(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            await client.aclose()


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


async def authenticate(request: Request) -> None:
    """Request middleware: every non-public route gets `request.ctx.actor` or a 401."""
    request.ctx.actor = None
    # A head all ASCII has nothing to refuse (ASGI gives none: each header is looked at).
    if not request.head or not request.head.isascii():
        refuse_undecodable_headers(request)
    if request.route is None:
        return  # no such route (404/405) or no request at all (431): nothing to protect
    if request.method == "OPTIONS" or is_public(request.path):
        return
    token = bearer_token(request)
    remote: RemoteAuth | None = request.app.ctx.remote_auth
    if remote is not None:
        request.ctx.actor = await remote.actor(token)
    else:
        request.ctx.actor = decode_token(token, request.app.ctx.jwt_secret,
                                         *request.app.ctx.jwt_claims)
    require_route_role(request.method, request.route.path, request.ctx.actor)


def refuse_undecodable_headers(request: Request) -> None:
    for name, value in request.headers.items():
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:  # raw non-UTF-8 bytes, kept as surrogates by Sanic
                raise ApiError(400, "bad_request", f"header {name} is not valid UTF-8") from None


def require_route_role(method: str, route: str, actor: Actor) -> None:
    """403 for a caller whose role may not use the route at all (see `ROUTE_ROLES`)."""
    if method in READS:
        return
    if actor.read_only:  # as the commands say it (`sav.commands.policy`)
        raise ApiError(403, "forbidden", f"the {actor.role} role has read-only access",
                       {"role": actor.role})
    allowed = ROUTE_ROLES.get((method, route))
    if allowed is not None and actor.role not in allowed:
        path = re.sub(r"<(\w+)(:[^>]*)?>", r"{\1}", route)
        raise ApiError(403, "forbidden", f"the {actor.role} role may not {method} /{path}",
                       {"role": actor.role})


def current_actor(request: Request) -> Actor:
    actor = getattr(request.ctx, "actor", None)
    if actor is None:
        raise _unauthorized("missing bearer token")
    return actor

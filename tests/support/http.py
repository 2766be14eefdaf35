"""An HTTP client for the API under test, the callers used across tests, ticket creation."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from sav.api.auth import issue_token
from tests.support.settings import JWT_SECRET

CUSTOMER = ("cust-1", "customer")
OTHER_CUSTOMER = ("cust-2", "customer")
AGENT = ("agent-1", "agent")
OTHER_AGENT = ("agent-2", "agent")
ADMIN = ("admin-1", "admin")
ANALYST = ("analyst-1", "analyst")


class Client:
    """An HTTP client that calls the app over ASGI in this process, with tokens per role.

    Sanic's own ASGI test client starts the app (router, touch-ups, listeners) again on
    every request, ~80 ms each: here the app starts once, on the first request, and
    `aclose()` runs its shutdown listeners."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.asgi: Any = None

    async def _started(self) -> Any:
        if self.asgi is None:
            app = self.app
            app.asgi_client  # noqa: B018 - puts Sanic in test mode, answers ASGI calls
            app.config.TOUCHUP = False  # a start-up optimisation that costs more than it saves here
            app.router.reset()
            app.signal_router.reset()
            await app._startup()
            await app._server_event("init", "before")
            await app._server_event("init", "after")
            self.asgi = DirectAsgi(app)
        return self.asgi

    async def aclose(self) -> None:
        if isinstance(self.asgi, DirectAsgi):
            await self.asgi.http.aclose()
            await self.app._server_event("shutdown", "before")
            await self.app._server_event("shutdown", "after")
        self.asgi = None

    def token(self, sub: str, role: str = "customer", **claims: Any) -> str:
        return issue_token(JWT_SECRET, sub, role, claims.get("email"), claims.get("name"))

    def auth(self, sub: str, role: str = "customer", **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(sub, role, **claims)}"}

    async def request(self, method: str, path: str, *, as_: tuple[str, str] | None = None,
                      json: Any = None, headers: dict[str, str] | None = None,
                      **kwargs: Any) -> Response:
        all_headers = dict(headers or {})
        if as_ is not None:
            all_headers.update(self.auth(*as_))
        if json is not None:
            kwargs["content"] = orjson.dumps(json)
            all_headers.setdefault("content-type", "application/json")
        asgi = self.asgi if self.asgi is not None else await self._started()
        _, response = await getattr(asgi, method.lower())(path, headers=all_headers, **kwargs)
        return Response(response.status, response.body, dict(response.headers))

    async def get(self, path: str, **kw: Any) -> Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> Response:
        return await self.request("POST", path, **kw)

    async def put(self, path: str, **kw: Any) -> Response:
        return await self.request("PUT", path, **kw)

    async def delete(self, path: str, **kw: Any) -> Response:
        return await self.request("DELETE", path, **kw)


class DirectAsgi:
    """Requests straight into a started app's ASGI entry point (httpx's transport)."""

    def __init__(self, app: Any) -> None:
        transport = httpx.ASGITransport(app=app, client=("mockserver", 1234))
        self.http = httpx.AsyncClient(transport=transport, base_url="http://mockserver:1234")

    def __getattr__(self, method: str) -> Any:
        async def call(path: str, **kwargs: Any) -> tuple[None, Response]:
            raw = await self.http.request(method.upper(), path, **kwargs)
            return None, Response(raw.status_code, raw.content, dict(raw.headers))

        return call


class Response:
    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = {k.lower(): v for k, v in headers.items()}

    @property
    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:300]!r}>"


async def create_ticket(client: Client, as_: tuple[str, str] = CUSTOMER,
                        **fields: Any) -> dict[str, Any]:
    body = {"subject": "Order not received", "description": "Parcel never arrived",
            "priority": "normal", **fields}
    response = await client.post("/tickets", as_=as_, json=body)
    assert response.status == 201, response
    return response.json  # type: ignore[no-any-return]

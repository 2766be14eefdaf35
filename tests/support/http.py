"""An HTTP client for the API under test, the callers used across tests, ticket creation."""

from __future__ import annotations

from typing import Any

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
    """An HTTP client over Sanic's ASGI test client, with tokens per role."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.asgi = app.asgi_client

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
        _, response = await getattr(self.asgi, method.lower())(
            path, headers=all_headers, **kwargs)
        return Response(response.status, response.body, dict(response.headers))

    async def get(self, path: str, **kw: Any) -> Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> Response:
        return await self.request("POST", path, **kw)

    async def put(self, path: str, **kw: Any) -> Response:
        return await self.request("PUT", path, **kw)

    async def delete(self, path: str, **kw: Any) -> Response:
        return await self.request("DELETE", path, **kw)


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

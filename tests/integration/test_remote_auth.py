"""AUTH_MODE=remote: tokens are checked by the auth service's `GET /api/auth/me`."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from sav.api.app import create_app
from sav.bootstrap import Services
from sav.config import Settings
from tests.support.http import Client

USERS = {
    "token-ann": {"id": "ann", "email": "ann@example.com", "name": "Ann", "role": "customer"},
    "token-ada": {"id": "ada", "email": "ada@example.com", "name": "Ada", "role": "agent"},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PORT = free_port()


@pytest.fixture
def settings_env() -> dict[str, str]:
    return {"AUTH_MODE": "remote", "AUTH_SERVICE_URL": f"http://127.0.0.1:{PORT}"}


@pytest.fixture
async def auth_service() -> AsyncIterator[dict[str, int]]:
    """A stand-in for the platform's auth service, counting the calls it gets."""
    calls = {"n": 0}

    async def me(request: web.Request) -> web.Response:
        calls["n"] += 1
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in USERS:
            return web.json_response({"message": "unauthenticated"}, status=401)
        return web.json_response(USERS[token])

    app = web.Application()
    app.router.add_get("/api/auth/me", me)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", PORT)
    await site.start()
    yield calls
    await runner.cleanup()


@pytest.fixture
async def remote_client(settings: Settings, services: Services) -> AsyncIterator[Client]:
    app = create_app(settings, services)
    yield Client(app)
    if app.ctx.remote_auth is not None:
        await app.ctx.remote_auth.close()


async def test_a_token_the_auth_service_knows_acts_as_its_user(
    remote_client: Client, auth_service: dict[str, int],
) -> None:
    ann = {"Authorization": "Bearer token-ann"}
    created = await remote_client.post("/tickets", headers=ann,
                                       json={"subject": "Hello", "description": "remote"})
    assert created.status == 201, created
    assert created.json["user_id"] == "ann" and created.json["contact_email"] == "ann@example.com"
    listed = await remote_client.get("/tickets", headers=ann)
    assert [t["id"] for t in listed.json["data"]] == [created.json["id"]]
    assert auth_service["n"] == 1  # the answer is cached briefly
    agent = await remote_client.get(f"/tickets/{created.json['id']}",
                                    headers={"Authorization": "Bearer token-ada"})
    assert agent.status == 200


async def test_an_unknown_token_is_401_and_a_signed_jwt_is_not_enough(
    remote_client: Client, auth_service: dict[str, int],
) -> None:
    response = await remote_client.get("/tickets", headers={"Authorization": "Bearer nope"})
    assert response.status == 401 and response.json["error"]["code"] == "unauthorized"
    jwt_only = await remote_client.get("/tickets", as_=("cust-1", "customer"))
    assert jwt_only.status == 401


async def test_auth_service_down_is_503(remote_client: Client) -> None:
    response = await remote_client.get("/tickets", headers={"Authorization": "Bearer token-ann"})
    assert response.status == 503 and response.json["error"]["code"] == "dependency_unavailable"

"""Shared fixtures. Integration and e2e tests run on both profiles (SQLite, MariaDB).

MariaDB is taken from `SAV_TEST_MYSQL_HOST/PORT/USER/PASSWORD` (default 127.0.0.1:3306
root); every test gets its own database, dropped afterwards. If MariaDB does not
answer, the MySQL-parametrized tests FAIL: nothing is skipped silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from sav.api.app import create_app
from sav.api.auth import issue_token
from sav.config import Settings, load_settings
from sav.events import clock
from sav.runtime import Runtime

JWT_SECRET = "test-secret-not-for-production-0123456789"
PROFILES = ["sqlite", "mysql"]


def mysql_env() -> dict[str, str]:
    return {
        "DB_HOST": os.environ.get("SAV_TEST_MYSQL_HOST", "127.0.0.1"),
        "DB_PORT": os.environ.get("SAV_TEST_MYSQL_PORT", "3306"),
        "DB_USERNAME": os.environ.get("SAV_TEST_MYSQL_USER", "root"),
        "DB_PASSWORD": os.environ.get("SAV_TEST_MYSQL_PASSWORD", ""),
    }


def drop_mysql_database(name: str) -> None:
    env = mysql_env()
    engine = create_engine(
        f"mysql+pymysql://{env['DB_USERNAME']}:{env['DB_PASSWORD']}@{env['DB_HOST']}:"
        f"{env['DB_PORT']}/", poolclass=NullPool)
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def mysql_allows_large_events() -> None:
    """Events up to 16 MiB need max_allowed_packet >= 64M on the server (MariaDB's default
    is 16M). The test user is root, so the suite raises it itself when it can."""
    env = mysql_env()
    engine = create_engine(
        f"mysql+pymysql://{env['DB_USERNAME']}:{env['DB_PASSWORD']}@{env['DB_HOST']}:"
        f"{env['DB_PORT']}/", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            current = conn.execute(text("SELECT @@global.max_allowed_packet")).scalar_one()
            if int(current) < 64 * 1024 * 1024:
                conn.execute(text("SET GLOBAL max_allowed_packet = 67108864"))
    except Exception:  # the MySQL tests themselves report an unreachable server
        pass
    finally:
        engine.dispose()


def make_settings(profile: str, data_dir: Path, **env: str) -> Settings:
    values = {"SAV_DATA_DIR": str(data_dir), "AUTH_JWT_SECRET": JWT_SECRET,
              "SAV_READ_YOUR_WRITES_TIMEOUT": "10"}
    if profile == "mysql":
        values.update(mysql_env())
        values.update(DB_CONNECTION="mysql", DB_DATABASE=f"sav_test_{uuid.uuid4().hex[:12]}")
    values.update(env)
    return load_settings(values)


@pytest.fixture(params=PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings_env() -> dict[str, str]:
    """Override in a test module to add environment variables to `settings`."""
    return {}


@pytest.fixture
def settings(profile: str, tmp_path: Path, settings_env: dict[str, str]) -> Iterator[Settings]:
    settings = make_settings(profile, tmp_path, **settings_env)
    yield settings
    if settings.is_mysql:
        drop_mysql_database(settings.db_database)


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """The real runtime with its in-process projector, as `sav serve` builds it."""
    runtime = Runtime.build(settings)
    runtime.start_projector()
    yield runtime
    await runtime.aclose()
    clock.reset()


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


@pytest.fixture
async def client(settings: Settings, runtime: Runtime) -> AsyncIterator[Client]:
    app = create_app(settings, runtime)
    yield Client(app)


CUSTOMER = ("cust-1", "customer")
OTHER_CUSTOMER = ("cust-2", "customer")
AGENT = ("agent-1", "agent")
OTHER_AGENT = ("agent-2", "agent")
ADMIN = ("admin-1", "admin")


async def create_ticket(client: Client, as_: tuple[str, str] = CUSTOMER,
                        **fields: Any) -> dict[str, Any]:
    body = {"subject": "Order not received", "description": "Parcel never arrived",
            "priority": "normal", **fields}
    response = await client.post("/tickets", as_=as_, json=body)
    assert response.status == 201, response
    return response.json  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 server over HTTP (moto) for the whole run; each test uses its own bucket."""
    from tests.support.s3server import run_moto_server

    with run_moto_server() as endpoint:
        yield endpoint

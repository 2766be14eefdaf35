"""An erasure deletes the copies other parts keep of the erased tickets, on both
profiles: the API's stored idempotent replies (plain JSON of the ticket) go, another
customer's stay. Privacy knows no table of theirs: the owner registers the cleaner
(`sav.privacy.copies`), so `sav.privacy.erasure` imports nothing of the API."""

from __future__ import annotations

import ast
import inspect
from typing import Any

from sqlalchemy import select

from sav.api.tables import idempotency_keys
from sav.bootstrap import Services
from sav.privacy import copies, erasure
from tests.support.http import ADMIN, CUSTOMER, OTHER_CUSTOMER, Client


async def create_with_key(client: Client, who: tuple[str, str], key: str) -> dict[str, Any]:
    body = {"subject": f"Parcel of {who[0]}", "description": "late"}
    created = await client.post("/tickets", as_=who, json=body,
                                headers={"Idempotency-Key": key})
    assert created.status == 201, created
    replayed = await client.post("/tickets", as_=who, json=body,
                                 headers={"Idempotency-Key": key})
    assert replayed.headers.get("idempotent-replayed") == "true"
    return created.json  # type: ignore[no-any-return]


def stored_bodies(services: Services) -> list[str]:
    with services.engine.connect() as conn:
        return [row.body for row in conn.execute(select(idempotency_keys.c.body))]


async def test_an_erasure_deletes_the_stored_replies_of_its_tickets(
        client: Client, services: Services) -> None:
    erased = await create_with_key(client, CUSTOMER, "erased-1")
    kept = await create_with_key(client, OTHER_CUSTOMER, "kept-1")
    assert any(erased["id"] in body for body in stored_bodies(services))

    response = await client.post("/privacy/erasures", as_=ADMIN,
                                 json={"user_id": CUSTOMER[0]})
    assert response.status == 202, response

    bodies = stored_bodies(services)
    assert not any(erased["id"] in body for body in bodies)
    assert any(kept["id"] in body for body in bodies)


def test_privacy_imports_nothing_of_the_api_and_the_api_registers_its_replies() -> None:
    tree = ast.parse(inspect.getsource(erasure))
    imported = {node.module for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
    assert not {name for name in imported if name.startswith("sav.api")}
    assert "idempotency_keys" in copies.cleaners()

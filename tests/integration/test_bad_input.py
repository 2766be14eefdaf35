"""Invariant 9: bad input is a clear 4xx JSON error, never a 500, and writes nothing."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from sav.bootstrap import Services
from tests.support.http import AGENT, CUSTOMER, Client, create_ticket
from tests.support.settings import JWT_SECRET

EXPIRED = jwt.encode({"sub": "x", "role": "customer", "exp": int(time.time()) - 10},
                     JWT_SECRET, algorithm="HS256")
FORGED = jwt.encode({"sub": "x", "role": "admin", "exp": int(time.time()) + 60},
                    "another-secret-of-sufficient-length!!", algorithm="HS256")
NO_ROLE = jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, JWT_SECRET, algorithm="HS256")

# (method, path, kwargs, expected status); {id} is replaced by an existing ticket's id.
CASES: list[tuple[str, str, dict[str, Any], int]] = [
    ("GET", "/tickets", {}, 401),
    ("POST", "/tickets", {"headers": {"Authorization": "Bearer nope"}}, 401),
    ("POST", "/tickets", {"headers": {"Authorization": f"Bearer {EXPIRED}"}}, 401),
    ("POST", "/tickets", {"headers": {"Authorization": f"Bearer {FORGED}"}}, 401),
    ("POST", "/tickets", {"headers": {"Authorization": f"Bearer {NO_ROLE}"}}, 401),
    ("POST", "/tickets", {"as_": CUSTOMER, "content": b"{not json"}, 400),
    ("POST", "/tickets", {"as_": CUSTOMER, "content": b"\xff\xfe\x00"}, 400),
    ("POST", "/tickets", {"as_": CUSTOMER, "content": b"[1, 2]"}, 400),
    ("POST", "/tickets", {"as_": CUSTOMER, "content": b""}, 400),
    ("POST", "/tickets", {"as_": CUSTOMER, "json": {"subject": "x"}}, 422),
    ("POST", "/tickets", {"as_": CUSTOMER, "json": {"subject": "", "description": "d"}}, 422),
    ("POST", "/tickets", {"as_": CUSTOMER, "json": {"subject": "x" * 256, "description": "d"}},
     422),
    ("POST", "/tickets", {"as_": CUSTOMER, "json": {"subject": "s", "description": "d",
                                                     "priority": "critical"}}, 422),
    ("POST", "/tickets", {"as_": CUSTOMER, "json": {"subject": "s", "description": "d",
                                                     "status": "closed"}}, 422),
    ("POST", "/tickets", {"as_": CUSTOMER, "json": {"subject": 5, "description": "d"}}, 422),
    ("POST", "/tickets", {"as_": CUSTOMER, "json": {"subject": "s", "description": "d",
                                                     "contact_email": "not-an-email"}}, 422),
    ("POST", "/tickets", {"as_": CUSTOMER, "json": {"subject": "s", "description": "d",
                                                     "tags": "a,b"}}, 422),
    ("GET", "/tickets?limit=0", {"as_": CUSTOMER}, 422),
    ("GET", "/tickets?limit=abc", {"as_": CUSTOMER}, 422),
    ("GET", "/tickets?cursor=%%%", {"as_": CUSTOMER}, 422),
    ("GET", "/tickets?status=lost", {"as_": CUSTOMER}, 422),
    ("GET", "/tickets/00000000-0000-0000-0000-000000000000", {"as_": CUSTOMER}, 404),
    ("GET", "/tickets/TICKET-19990101-001", {"as_": CUSTOMER}, 404),
    ("PUT", "/tickets/{id}", {"as_": CUSTOMER, "json": {"priority": "meh"}}, 422),
    ("PUT", "/tickets/{id}", {"as_": CUSTOMER, "json": {"subject": None}}, 422),
    ("PUT", "/tickets/{id}", {"as_": AGENT, "json": {"tags": None}}, 422),
    ("PUT", "/tickets/{id}", {"as_": AGENT, "json": {"metadata": None}}, 422),
    ("PUT", "/tickets/{id}", {"as_": AGENT, "json": {"tags": [" "]}}, 422),
    ("PUT", "/tickets/{id}", {"as_": CUSTOMER, "json": {"subject": "x"},
                              "headers": {"If-Match": "banana"}}, 412),
    ("POST", "/tickets/{id}/assign", {"as_": AGENT, "json": {}}, 422),
    ("POST", "/tickets/{id}/assign", {"as_": AGENT, "json": {"agent_id": ""}}, 422),
    ("POST", "/tickets/{id}/resolve", {"as_": AGENT, "content": b"{"}, 400),
    ("POST", "/tickets/{id}/frobnicate", {"as_": AGENT}, 404),
    ("PATCH", "/tickets/{id}", {"as_": AGENT, "json": {}}, 405),
    ("POST", "/tickets", {"as_": CUSTOMER, "json": {"subject": "s", "description": "d"},
                          "headers": {"Idempotency-Key": "k" * 200}}, 422),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), CASES,
                         ids=[f"{m} {p} {s}" for m, p, _, s in CASES])
async def test_bad_input_is_4xx_and_writes_nothing(
    client: Client, services: Services, method: str, path: str, kwargs: dict[str, Any],
    status: int,
) -> None:
    ticket = await create_ticket(client)
    before = services.app.recorder.max_notification_id()
    response = await client.request(method, path.replace("{id}", ticket["id"]), **kwargs)
    assert response.status == status, response
    error = response.json["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    assert "Traceback" not in response.body.decode(errors="replace")
    assert services.app.recorder.max_notification_id() == before

"""Black-box contract audit: docs/contract.md, over HTTP, against a real `sav serve`.

One SQLite server per module (embedded default profile). Tokens come from the `sav token`
console command. Every test states the contract line it checks; a failing test documents a
mismatch between the running service and the contract (the contract wins).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

SAV = [sys.executable, "-m", "sav.cli"]
SECRET = "contract-audit-secret-0123456789abcdef"
PREFIX = "AUD"

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" * 8

MESSAGE_FIELDS = {"id", "ticket_id", "user_id", "author_name", "author_email", "content",
                  "is_internal", "is_read", "read_at", "created_at", "updated_at"}
TICKET_COLUMNS = {"id", "ticket_number", "user_id", "assigned_to", "subject", "description",
                  "status", "priority", "category", "source", "contact_email", "contact_name",
                  "first_response_at", "resolved_at", "closed_at", "resolution_notes",
                  "satisfaction_rating", "satisfaction_comment", "tags", "metadata",
                  "created_at", "updated_at"}
ATTACHMENT_COLUMNS = {"id", "ticket_id", "message_id", "user_id", "file_name", "file_path",
                      "file_url", "file_type", "file_size", "mime_type", "created_at",
                      "updated_at"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DB_", "RABBITMQ_", "MINIO_", "SAV_", "AUTH_", "APP_",
                                "TICKET_", "AUTO_CLOSE", "ESCALATION", "MAX_ATTACHMENT"))}
    env.update(SAV_DATA_DIR=str(data_dir), AUTH_JWT_SECRET=SECRET,
               TICKET_NUMBER_PREFIX=PREFIX)
    env.update(extra)
    return env


def sav(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SAV, *args], env=env, capture_output=True, text=True, timeout=60)


def wait_healthy(base: str, process: subprocess.Popen[bytes], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            return False
        time.sleep(0.2)
    return False


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL to the server's own process group (its Sanic workers too)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


class Api:
    def __init__(self, base: str, env: dict[str, str], http: httpx.Client) -> None:
        self.base, self.env, self.http = base, env, http
        self.tokens: dict[str, dict[str, str]] = {}

    def auth(self, sub: str, role: str, email: str | None = None,
             name: str | None = None) -> dict[str, str]:
        key = f"{sub}/{role}"
        if key not in self.tokens:
            args = ["token", "--sub", sub, "--role", role]
            if email:
                args += ["--email", email]
            if name:
                args += ["--name", name]
            result = sav(self.env, *args)
            assert result.returncode == 0, result.stderr
            self.tokens[key] = {"Authorization": f"Bearer {result.stdout.strip()}"}
        return self.tokens[key]

    @property
    def customer(self) -> dict[str, str]:
        return self.auth("cust-1", "customer", "cust1@example.com", "Cust One")

    @property
    def customer2(self) -> dict[str, str]:
        return self.auth("cust-2", "customer", "cust2@example.com", "Cust Two")

    @property
    def agent(self) -> dict[str, str]:
        return self.auth("agent-1", "agent", "agent1@example.com", "Agent One")

    @property
    def agent2(self) -> dict[str, str]:
        return self.auth("agent-2", "agent", "agent2@example.com", "Agent Two")

    @property
    def admin(self) -> dict[str, str]:
        return self.auth("admin-1", "admin", "admin1@example.com", "Admin One")

    def ticket(self, headers: dict[str, str] | None = None, **body: Any) -> dict[str, Any]:
        payload = {"subject": "Order not received", "description": "Parcel #42"} | body
        created = self.http.post("/tickets", headers=headers or self.customer, json=payload)
        assert created.status_code == 201, created.text
        return dict(created.json())


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    data_dir = tmp_path_factory.mktemp("contract")
    env = base_env(data_dir)
    port = free_port()
    process = subprocess.Popen([*SAV, "serve", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_healthy(base, process), "server did not start"
        with httpx.Client(base_url=base, timeout=15) as http:
            yield Api(base, env, http)
    finally:
        stop(process)


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """Contract: errors are {"error": {"code": "snake_case", "message": "…", "details": …}}."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"}, body
    # issue 13: `details` is a list of {field, message}, or absent.
    assert {"code", "message"} <= set(body["error"]) <= {"code", "message", "details"}, body
    if "details" in body["error"]:
        assert all(set(item) == {"field", "message"} for item in body["error"]["details"]), body
    assert re.fullmatch(r"[a-z][a-z0-9_]*", body["error"]["code"]), body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return dict(body["error"])


# --------------------------------------------------------------------------- health, docs


def test_health_and_status_bodies(api: Api) -> None:
    health = api.http.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "service": "sav-service"}
    status = api.http.get("/status")
    assert status.status_code == 200
    assert status.json()["status"] == "ok" and status.json()["database"] == "connected"


SPEC_ROUTES = [
    ("get", "/tickets"), ("post", "/tickets"), ("get", "/tickets/statistics"),
    ("get", "/tickets/{}"), ("put", "/tickets/{}"), ("delete", "/tickets/{}"),
    ("post", "/tickets/{}/assign"), ("post", "/tickets/{}/resolve"),
    ("post", "/tickets/{}/close"), ("post", "/tickets/{}/reopen"),
    ("post", "/tickets/{}/start"), ("post", "/tickets/{}/wait"),
    ("post", "/tickets/{}/satisfaction"),
    ("get", "/tickets/{}/messages"), ("post", "/tickets/{}/messages"),
    ("get", "/tickets/{}/messages/unread-count"), ("post", "/tickets/{}/messages/mark-all-read"),
    ("get", "/tickets/{}/messages/{}"), ("put", "/tickets/{}/messages/{}"),
    ("delete", "/tickets/{}/messages/{}"), ("post", "/tickets/{}/messages/{}/mark-read"),
    ("get", "/tickets/{}/attachments"), ("post", "/tickets/{}/attachments"),
    ("post", "/tickets/{}/attachments/multiple"), ("get", "/tickets/{}/attachments/{}"),
    ("get", "/tickets/{}/attachments/{}/download"), ("delete", "/tickets/{}/attachments/{}"),
    ("get", "/tickets/{}/attachments/message/{}"),
    ("post", "/public/tickets"), ("get", "/public/tickets/{}"),
    ("post", "/public/tickets/{}/messages"), ("post", "/public/tickets/{}/satisfaction"),
    ("get", "/health"), ("get", "/status"), ("get", "/metrics"),
    ("put", "/agents/{}"), ("get", "/agents"),
]


def test_openapi_describes_every_contract_route(api: Api) -> None:
    spec = api.http.get("/openapi.json")
    assert spec.status_code == 200
    paths = {re.sub(r"\{[^}]+\}", "{}", p): {m.lower() for m in ops}
             for p, ops in spec.json()["paths"].items()}
    missing = [(m, p) for m, p in SPEC_ROUTES if m not in paths.get(p, set())]
    assert not missing, missing


# --------------------------------------------------------------------------- errors, auth


def test_error_envelope_400_401_403_404_422(api: Api) -> None:
    bad_json = api.http.post("/tickets", headers={**api.customer,
                                                  "content-type": "application/json"},
                             content=b"{nope")
    assert_error(bad_json, 400)
    assert_error(api.http.get("/tickets"), 401)
    assert_error(api.http.get("/tickets", headers={"Authorization": "Bearer not-a-jwt"}), 401)
    ticket = api.ticket()
    assert_error(api.http.post(f"/tickets/{ticket['id']}/assign", headers=api.customer,
                               json={"agent_id": "agent-1"}), 403)
    assert_error(api.http.get(f"/tickets/{uuid.uuid4()}", headers=api.customer), 404)
    assert_error(api.http.post("/tickets", headers=api.customer,
                               json={"subject": "s", "description": "d",
                                     "priority": "bogus"}), 422)


def test_token_from_another_secret_and_expired_token_are_401(api: Api) -> None:
    other = sav({**api.env, "AUTH_JWT_SECRET": "another-secret-0123456789abcdef0123"},
                "token", "--sub", "x", "--role", "admin")
    assert other.returncode == 0
    assert_error(api.http.get("/tickets", headers={
        "Authorization": f"Bearer {other.stdout.strip()}"}), 401)
    expired = sav(api.env, "token", "--sub", "x", "--role", "admin", "--ttl", "1")
    time.sleep(1.1)
    assert_error(api.http.get("/tickets", headers={
        "Authorization": f"Bearer {expired.stdout.strip()}"}), 401)


# --------------------------------------------------------------------------- tickets


def test_ticket_json_has_spec_columns_uuid_and_prefixed_number(api: Api) -> None:
    created = api.http.post("/tickets", headers=api.customer, json={
        "subject": "Order not received", "description": "Parcel #42", "priority": "high"})
    assert created.status_code == 201
    ticket = created.json()
    assert set(ticket) >= TICKET_COLUMNS, TICKET_COLUMNS - set(ticket)
    uuid.UUID(ticket["id"])
    today = datetime.now(UTC).strftime("%Y%m%d")
    assert re.fullmatch(rf"{PREFIX}-{today}-\d{{3,}}", ticket["ticket_number"]), ticket
    assert ticket["status"] == "open" and ticket["priority"] == "high"
    assert ticket["user_id"] == "cust-1"
    assert "internal_notes" not in ticket  # staff only (invariant 7)
    by_number = api.http.get(f"/tickets/{ticket['ticket_number']}", headers=api.customer)
    assert by_number.status_code == 200 and by_number.json()["id"] == ticket["id"]
    detail = by_number.json()
    assert isinstance(detail["messages"], list) and isinstance(detail["attachments"], list)
    staff = api.http.get(f"/tickets/{ticket['id']}", headers=api.admin).json()
    assert "internal_notes" in staff


def test_list_envelope_pagination_and_filters(api: Api) -> None:
    owner = api.auth("cust-list", "customer", "list@example.com")
    made = [api.ticket(owner, subject=f"Subject {i} {'parcel' if i % 2 else 'refund'}",
                       description="see subject", priority=p, **({"category": c} if c else {}))
            for i, (p, c) in enumerate([("low", "billing"), ("high", "technical"),
                                        ("urgent", "billing"), ("normal", None)])]
    api.http.post(f"/tickets/{made[0]['id']}/assign", headers=api.agent,
                  json={"agent_id": "agent-1"})
    first = api.http.get("/tickets", headers=owner, params={"limit": 3})
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"data", "pagination"}
    assert set(body["pagination"]) == {"limit", "next_cursor"}
    assert body["pagination"]["limit"] == 3 and len(body["data"]) == 3
    cursor = body["pagination"]["next_cursor"]
    assert isinstance(cursor, str)
    second = api.http.get("/tickets", headers=owner, params={"limit": 3, "cursor": cursor}).json()
    assert len(second["data"]) == 1 and second["pagination"]["next_cursor"] is None
    seen = {t["id"] for t in body["data"]} | {t["id"] for t in second["data"]}
    assert seen == {t["id"] for t in made}

    def ids(**params: str) -> set[str]:
        response = api.http.get("/tickets", headers=owner, params=params)
        assert response.status_code == 200, response.text
        return {t["id"] for t in response.json()["data"]}

    assert ids(status="assigned") == {made[0]["id"]}
    assert ids(priority="high") == {made[1]["id"]}
    assert ids(assigned_to="agent-1") == {made[0]["id"]}
    assert ids(category="billing") == {made[0]["id"], made[2]["id"]}
    assert ids(q="parcel") == {made[1]["id"], made[3]["id"]}
    assert_error(api.http.get("/tickets", headers=owner, params={"status": "bogus"}), 422)


def test_visibility_rules(api: Api) -> None:
    mine = api.ticket()
    theirs = api.ticket(api.customer2)
    to_agent2 = api.ticket(api.customer2)
    assert api.http.post(f"/tickets/{to_agent2['id']}/assign", headers=api.admin,
                         json={"agent_id": "agent-2"}).status_code == 200
    assert_error(api.http.get(f"/tickets/{theirs['id']}", headers=api.customer), 404)
    assert_error(api.http.put(f"/tickets/{theirs['id']}", headers=api.customer,
                              json={"subject": "x"}), 404)
    listed = {t["id"] for t in api.http.get("/tickets", headers=api.customer,
                                           params={"limit": 100}).json()["data"]}
    assert mine["id"] in listed and theirs["id"] not in listed
    # agents: tickets assigned to them plus all unassigned open ones
    assert api.http.get(f"/tickets/{theirs['id']}", headers=api.agent).status_code == 200
    assert_error(api.http.get(f"/tickets/{to_agent2['id']}", headers=api.agent), 404)
    assert api.http.get(f"/tickets/{to_agent2['id']}", headers=api.agent2).status_code == 200
    assert api.http.get(f"/tickets/{to_agent2['id']}", headers=api.admin).status_code == 200


def test_etag_and_if_match(api: Api) -> None:
    created = api.http.post("/tickets", headers=api.customer,
                            json={"subject": "s", "description": "d"})
    assert created.headers.get("etag") == '"1"'
    tid = created.json()["id"]
    # issue 13: a GET's ETag is the version and a digest of the caller's view.
    seen = api.http.get(f"/tickets/{tid}", headers=api.customer).headers.get("etag")
    assert seen.startswith('"1-'), seen
    stale = api.http.put(f"/tickets/{tid}", headers={**api.customer, "If-Match": '"7"'},
                         json={"subject": "x"})
    assert_error(stale, 412)
    ok = api.http.put(f"/tickets/{tid}", headers={**api.customer, "If-Match": '"1"'},
                      json={"subject": "x"})
    assert ok.status_code == 200 and ok.headers.get("etag") == '"2"'
    assert ok.json()["subject"] == "x"
    assert_error(api.http.post(f"/tickets/{tid}/assign",
                               headers={**api.agent, "If-Match": '"1"'},
                               json={"agent_id": "agent-1"}), 412)
    assigned = api.http.post(f"/tickets/{tid}/assign", headers={**api.agent, "If-Match": '"2"'},
                             json={"agent_id": "agent-1"})
    assert assigned.status_code == 200 and assigned.headers.get("etag") == '"3"'
    message = api.http.post(f"/tickets/{tid}/messages", headers=api.customer,
                            json={"content": "hello"})
    assert message.headers.get("etag") == '"4"'


def test_attachment_upload_returns_an_etag(api: Api) -> None:
    """Contract: "Writes return the new state and an ETag (the ticket version)"."""
    tid = api.ticket()["id"]
    uploaded = api.http.post(f"/tickets/{tid}/attachments", headers=api.customer,
                             files={"file": ("shot.png", PNG, "image/png")})
    assert uploaded.status_code == 201
    assert uploaded.headers.get("etag") == '"2"', dict(uploaded.headers)


def test_idempotency_key_returns_first_result(api: Api) -> None:
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    body = {"subject": "idem", "description": "d"}
    first = api.http.post("/tickets", headers={**api.customer, **key}, json=body)
    again = api.http.post("/tickets", headers={**api.customer, **key}, json=body)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["ticket_number"] == first.json()["ticket_number"]
    tid = first.json()["id"]
    mkey = {"Idempotency-Key": f"m-{uuid.uuid4()}"}
    m1 = api.http.post(f"/tickets/{tid}/messages", headers={**api.customer, **mkey},
                       json={"content": "once"})
    m2 = api.http.post(f"/tickets/{tid}/messages", headers={**api.customer, **mkey},
                       json={"content": "once"})
    assert m1.json()["id"] == m2.json()["id"]
    assert len(api.http.get(f"/tickets/{tid}/messages", headers=api.customer)
               .json()["data"]) == 1


def test_idempotent_replay_keeps_the_etag(api: Api) -> None:
    """A retried write returns the first result, which carried an ETag: so must the replay."""
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    body = {"subject": "idem", "description": "d"}
    first = api.http.post("/tickets", headers={**api.customer, **key}, json=body)
    again = api.http.post("/tickets", headers={**api.customer, **key}, json=body)
    assert first.headers.get("etag") == '"1"'
    assert again.headers.get("etag") == first.headers.get("etag"), dict(again.headers)


# --------------------------------------------------------------------------- lifecycle

SETUP = {
    "open": [],
    "assigned": ["assign"],
    "in_progress": ["assign", "start"],
    "waiting_customer": ["assign", "start", "wait"],
    "resolved": ["assign", "resolve"],
    "resolved_unassigned": ["resolve"],
    "closed": ["close"],
}
C = 409
TABLE: dict[str, dict[str, str | int]] = {
    "open": dict(assign="assigned", start="in_progress", wait=C, resolve="resolved",
                 close="closed", reopen=C),
    "assigned": dict(assign="assigned", start="in_progress", wait="waiting_customer",
                     resolve="resolved", close="closed", reopen=C),
    "in_progress": dict(assign="in_progress", start=C, wait="waiting_customer",
                        resolve="resolved", close="closed", reopen=C),
    "waiting_customer": dict(assign=C, start="in_progress", wait=C, resolve="resolved",
                             close="closed", reopen=C),
    "resolved": dict(assign=C, start=C, wait=C, resolve=C, close="closed",
                     reopen="in_progress"),
    "resolved_unassigned": dict(assign=C, start=C, wait=C, resolve=C, close="closed",
                                reopen="open"),
    "closed": dict(assign=C, start=C, wait=C, resolve=C, close=C, reopen=C),
}
PUT_TABLE: dict[str, dict[str, str | int]] = {
    "open": {"in_progress": "in_progress", "waiting_customer": C},
    "assigned": {"in_progress": "in_progress", "waiting_customer": "waiting_customer"},
    "in_progress": {"in_progress": C, "waiting_customer": "waiting_customer"},
    "waiting_customer": {"in_progress": "in_progress", "waiting_customer": C},
    "resolved": {"in_progress": C, "waiting_customer": C},
    "closed": {"in_progress": C, "waiting_customer": C},
}


def command(api: Api, tid: str, name: str) -> httpx.Response:
    body: dict[str, Any] = {}
    if name == "assign":
        body = {"agent_id": "agent-1"}
    elif name == "resolve":
        body = {"resolution": "fixed"}
    return api.http.post(f"/tickets/{tid}/{name}", headers=api.admin, json=body)


def ticket_in(api: Api, state: str) -> str:
    tid = api.ticket()["id"]
    for step in SETUP[state]:
        response = command(api, tid, step)
        assert response.status_code == 200, (state, step, response.text)
    return tid


@pytest.mark.parametrize(("state", "cmd"), [(s, c) for s, row in TABLE.items() for c in row])
def test_lifecycle_table_post_routes(api: Api, state: str, cmd: str) -> None:
    tid = ticket_in(api, state)
    expected = TABLE[state][cmd]
    response = command(api, tid, cmd)
    if expected == C:
        assert_error(response, 409)
        assert api.http.get(f"/tickets/{tid}", headers=api.admin).json()["status"] == (
            state.removesuffix("_unassigned"))
    else:
        assert response.status_code == 200, response.text
        assert response.json()["status"] == expected


@pytest.mark.parametrize(("state", "target"),
                         [(s, t) for s, row in PUT_TABLE.items() for t in row])
def test_lifecycle_table_put_status(api: Api, state: str, target: str) -> None:
    """PUT status in_progress = start, waiting_customer = wait; not listed in the table → 409."""
    tid = ticket_in(api, state)
    expected = PUT_TABLE[state][target]
    response = api.http.put(f"/tickets/{tid}", headers=api.admin, json={"status": target})
    if expected == C:
        assert_error(response, 409)
    else:
        assert response.status_code == 200, response.text
        assert response.json()["status"] == expected


def test_only_staff_assign_resolve_start_wait_and_customers_close_their_own(api: Api) -> None:
    tid = api.ticket()["id"]
    for name in ("assign", "resolve", "start", "wait"):
        body = {"agent_id": "cust-1"} if name == "assign" else {}
        assert_error(api.http.post(f"/tickets/{tid}/{name}", headers=api.customer, json=body),
                     403)
    closed = api.http.post(f"/tickets/{tid}/close", headers=api.customer)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert closed.json()["closed_at"]


def test_resolve_stores_resolution_and_customer_reply_reopens(api: Api) -> None:
    tid = ticket_in(api, "assigned")
    resolved = api.http.post(f"/tickets/{tid}/resolve", headers=api.agent,
                             json={"resolution": "Refund issued"})
    assert resolved.json()["resolution_notes"] == "Refund issued"
    assert resolved.json()["resolved_at"]
    api.http.post(f"/tickets/{tid}/messages", headers=api.customer, json={"content": "no!"})
    assert api.http.get(f"/tickets/{tid}", headers=api.customer).json()["status"] == \
        "in_progress"
    waiting = ticket_in(api, "waiting_customer")
    api.http.post(f"/tickets/{waiting}/messages", headers=api.customer, json={"content": "hi"})
    assert api.http.get(f"/tickets/{waiting}", headers=api.customer).json()["status"] == \
        "in_progress"


def test_put_field_permissions(api: Api) -> None:
    tid = api.ticket()["id"]
    for field, value in (("category", "billing"), ("tags", ["a"]), ("metadata", {"k": 1}),
                         ("internal_notes", "x"), ("status", "in_progress")):
        assert_error(api.http.put(f"/tickets/{tid}", headers=api.customer,
                                  json={field: value}), 403)
    own = api.http.put(f"/tickets/{tid}", headers=api.customer,
                       json={"subject": "new", "description": "nd", "priority": "urgent"})
    assert own.status_code == 200
    assert (own.json()["subject"], own.json()["description"], own.json()["priority"]) == (
        "new", "nd", "urgent")
    staff = api.http.put(f"/tickets/{tid}", headers=api.agent, json={
        "category": "billing", "tags": ["vip"], "metadata": {"order": 42},
        "internal_notes": "SECRET-NOTE"})
    assert staff.status_code == 200
    assert staff.json()["tags"] == ["vip"] and staff.json()["metadata"] == {"order": 42}
    assert staff.json()["internal_notes"] == "SECRET-NOTE"
    assert "SECRET-NOTE" not in api.http.get(f"/tickets/{tid}", headers=api.customer).text
    api.http.post(f"/tickets/{tid}/assign", headers=api.agent, json={"agent_id": "agent-1"})
    assert api.http.put(f"/tickets/{tid}", headers=api.customer,
                        json={"subject": "late"}).status_code in (403, 409)


def test_delete_ticket(api: Api) -> None:
    tid = api.ticket()["id"]
    assert_error(api.http.delete(f"/tickets/{tid}", headers=api.agent), 403)
    deleted = api.http.delete(f"/tickets/{tid}", headers=api.customer)
    assert deleted.status_code == 200
    assert_error(api.http.get(f"/tickets/{tid}", headers=api.admin), 404)


# --------------------------------------------------------------------------- messages


def test_message_fields_are_exactly_the_contract(api: Api) -> None:
    tid = api.ticket()["id"]
    posted = api.http.post(f"/tickets/{tid}/messages", headers=api.customer,
                           json={"content": "hello"})
    assert posted.status_code == 201
    assert set(posted.json()) == MESSAGE_FIELDS, set(posted.json()) ^ MESSAGE_FIELDS


def test_messages_internal_privacy_and_read_semantics(api: Api) -> None:
    tid = api.ticket()["id"]
    own = api.http.post(f"/tickets/{tid}/messages", headers=api.customer,
                        json={"content": "customer says"}).json()
    assert own["user_id"] == "cust-1" and own["author_email"] == "cust1@example.com"
    assert own["author_name"] == "Cust One" and own["is_internal"] is False
    assert own["is_read"] is False and own["read_at"] is None
    assert_error(api.http.post(f"/tickets/{tid}/messages", headers=api.customer,
                               json={"content": "x", "is_internal": True}), 403)
    internal = api.http.post(f"/tickets/{tid}/messages", headers=api.agent,
                             json={"content": "SECRET-INTERNAL", "is_internal": True}).json()
    assert api.http.get(f"/tickets/{tid}", headers=api.admin).json()["first_response_at"] is None
    reply = api.http.post(f"/tickets/{tid}/messages", headers=api.agent,
                          json={"content": "agent answers"}).json()
    assert api.http.get(f"/tickets/{tid}", headers=api.admin).json()["first_response_at"]

    listed = api.http.get(f"/tickets/{tid}/messages", headers=api.customer)
    assert set(listed.json()) == {"data", "pagination"}
    assert [m["id"] for m in listed.json()["data"]] == [own["id"], reply["id"]]
    assert "SECRET-INTERNAL" not in api.http.get(f"/tickets/{tid}", headers=api.customer).text
    assert_error(api.http.get(f"/tickets/{tid}/messages/{internal['id']}",
                              headers=api.customer), 404)
    assert len(api.http.get(f"/tickets/{tid}/messages", headers=api.agent).json()["data"]) == 3

    assert api.http.get(f"/tickets/{tid}/messages/unread-count",
                        headers=api.customer).json() == {"count": 1}
    assert api.http.get(f"/tickets/{tid}/messages/unread-count",
                        headers=api.agent).json() == {"count": 1}
    assert api.http.post(f"/tickets/{tid}/messages/{reply['id']}/mark-read",
                         headers=api.customer).status_code == 200
    read = api.http.get(f"/tickets/{tid}/messages/{reply['id']}", headers=api.agent).json()
    assert read["is_read"] is True and read["read_at"]
    assert api.http.get(f"/tickets/{tid}/messages/unread-count",
                        headers=api.customer).json() == {"count": 0}
    assert api.http.post(f"/tickets/{tid}/messages/mark-all-read",
                         headers=api.agent).status_code == 200
    assert api.http.get(f"/tickets/{tid}/messages/{own['id']}",
                        headers=api.customer).json()["is_read"] is True


def test_message_edit_delete_permissions_and_closed_ticket(api: Api) -> None:
    tid = api.ticket()["id"]
    mine = api.http.post(f"/tickets/{tid}/messages", headers=api.customer,
                         json={"content": "v1"}).json()
    edited = api.http.put(f"/tickets/{tid}/messages/{mine['id']}", headers=api.customer,
                          json={"content": "v2"})
    assert edited.status_code == 200 and edited.json()["content"] == "v2"
    assert_error(api.http.put(f"/tickets/{tid}/messages/{mine['id']}", headers=api.agent,
                              json={"content": "hijack"}), 403)
    assert api.http.put(f"/tickets/{tid}/messages/{mine['id']}", headers=api.admin,
                        json={"content": "v3"}).status_code == 200
    assert api.http.delete(f"/tickets/{tid}/messages/{mine['id']}",
                           headers=api.customer).status_code == 200
    assert_error(api.http.get(f"/tickets/{tid}/messages/{mine['id']}",
                              headers=api.customer), 404)
    api.http.post(f"/tickets/{tid}/close", headers=api.customer)
    assert_error(api.http.post(f"/tickets/{tid}/messages", headers=api.customer,
                               json={"content": "late"}), 409)
    assert_error(api.http.post(f"/tickets/{tid}/messages", headers=api.admin,
                               json={"content": "late"}), 409)


# --------------------------------------------------------------------------- satisfaction


def test_owner_satisfaction(api: Api) -> None:
    tid = api.ticket()["id"]
    assert_error(api.http.post(f"/tickets/{tid}/satisfaction", headers=api.customer,
                               json={"rating": 5}), 409)
    command(api, tid, "resolve")
    assert_error(api.http.post(f"/tickets/{tid}/satisfaction", headers=api.customer,
                               json={"rating": 6}), 422)
    rated = api.http.post(f"/tickets/{tid}/satisfaction", headers=api.customer,
                          json={"rating": 4, "comment": "quick"})
    assert rated.status_code in (200, 201)
    ticket = api.http.get(f"/tickets/{tid}", headers=api.customer).json()
    assert (ticket["satisfaction_rating"], ticket["satisfaction_comment"]) == (4, "quick")
    closed = ticket_in(api, "closed")
    assert api.http.post(f"/tickets/{closed}/satisfaction", headers=api.customer,
                         json={"rating": 1}).status_code in (200, 201)


# --------------------------------------------------------------------------- attachments


def test_attachments_single_multiple_download_and_limits(api: Api) -> None:
    tid = api.ticket()["id"]
    single = api.http.post(f"/tickets/{tid}/attachments", headers=api.customer,
                           files={"file": ("shot.png", PNG, "image/png")})
    assert single.status_code == 201, single.text
    att = single.json()
    assert set(att) >= ATTACHMENT_COLUMNS, ATTACHMENT_COLUMNS - set(att)
    assert att["file_path"] == f"tickets/{tid}/{att['id']}/shot.png"
    assert att["file_size"] == len(PNG) and att["mime_type"] == "image/png"
    many = api.http.post(f"/tickets/{tid}/attachments/multiple", headers=api.customer,
                         files=[("files", ("a.png", PNG, "image/png")),
                                ("files", ("b.pdf", PDF, "application/pdf"))])
    assert many.status_code == 201, many.text
    many_body = many.json()
    items = many_body["data"] if isinstance(many_body, dict) else many_body
    assert [a["file_name"] for a in items] == ["a.png", "b.pdf"]
    message = api.http.post(f"/tickets/{tid}/messages", headers=api.customer,
                            json={"content": "see file"}).json()
    linked = api.http.post(f"/tickets/{tid}/attachments", headers=api.customer,
                           files={"file": ("m.pdf", PDF, "application/pdf")},
                           data={"message_id": message["id"]})
    assert linked.status_code == 201 and linked.json()["message_id"] == message["id"]
    by_message = api.http.get(f"/tickets/{tid}/attachments/message/{message['id']}",
                              headers=api.customer).json()
    by_message_items = by_message["data"] if isinstance(by_message, dict) else by_message
    assert [a["id"] for a in by_message_items] == [linked.json()["id"]]
    assert api.http.get(f"/tickets/{tid}/attachments/{att['id']}",
                        headers=api.customer).json()["id"] == att["id"]

    link = api.http.get(f"/tickets/{tid}/attachments/{att['id']}/download",
                        headers=api.customer)
    assert link.status_code == 200 and set(link.json()) == {"url", "expires_at"}
    expires = datetime.fromisoformat(link.json()["expires_at"].replace("Z", "+00:00"))
    assert abs(expires - datetime.now(UTC) - timedelta(hours=1)) < timedelta(minutes=2)
    assert httpx.get(link.json()["url"], timeout=10).content == PNG

    assert_error(api.http.post(f"/tickets/{tid}/attachments", headers=api.customer,
                               files={"file": ("evil.png", EXE, "image/png")}), 415)
    assert api.http.post(f"/tickets/{tid}/attachments", headers=api.customer,
                         files={"file": ("misnamed.bin", PDF, "application/octet-stream")}
                         ).status_code == 201  # checked by content, not by name
    big = b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024 + 1)
    assert_error(api.http.post(f"/tickets/{tid}/attachments", headers=api.customer,
                               files={"file": ("big.pdf", big, "application/pdf")}), 413)
    assert api.http.delete(f"/tickets/{tid}/attachments/{att['id']}",
                           headers=api.customer).status_code == 200
    assert_error(api.http.get(f"/tickets/{tid}/attachments/{att['id']}",
                              headers=api.customer), 404)


# --------------------------------------------------------------------------- statistics, agents


def test_statistics_field_names(api: Api) -> None:
    for headers in (api.customer, api.agent, api.admin):
        stats = api.http.get("/tickets/statistics", headers=headers)
        assert stats.status_code == 200
        body = stats.json()
        for key in ("total", "by_status", "by_priority", "avg_first_response_seconds",
                    "avg_resolution_seconds", "satisfaction", "escalation_rate",
                    "agent_workload"):
            assert key in body, key
        assert set(body["satisfaction"]) >= {"average", "count"}
        assert isinstance(body["agent_workload"], list)
        for row in body["agent_workload"]:
            assert set(row) >= {"agent_id", "open"}
    admin = api.http.get("/tickets/statistics", headers=api.admin).json()
    assert admin["total"] >= api.http.get("/tickets/statistics",
                                          headers=api.customer).json()["total"]


def test_agents_roster(api: Api) -> None:
    put = api.http.put("/agents/agent-9", headers=api.admin,
                       json={"name": "Nine", "email": "nine@example.com", "active": True})
    assert put.status_code in (200, 201), put.text
    assert put.json()["agent_id"] == "agent-9" and put.json()["active"] is True
    assert_error(api.http.put("/agents/agent-9", headers=api.agent,
                              json={"name": "x", "email": "x@example.com", "active": True}), 403)
    assert_error(api.http.get("/agents", headers=api.customer), 403)
    roster = api.http.get("/agents", headers=api.admin)
    assert roster.status_code == 200
    rows = roster.json()["data"]
    assert any(r["agent_id"] == "agent-9" and r["name"] == "Nine" for r in rows)


# --------------------------------------------------------------------------- metrics


def test_metrics_prometheus_text(api: Api) -> None:
    metrics = api.http.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert "sav_http_requests_total" in text and "sav_http_request_duration_seconds" in text
    assert "sav_events_appended_total" in text
    assert 'sav_projection_lag_events{projector="read_model"}' in text
    assert "sav_tickets{" in text


def test_metrics_say_publishing_is_paused_without_a_broker(api: Api) -> None:
    """Contract: /metrics has "publisher lag"; issue 13: with no broker (publishing paused
    by design, events wait) a `sav_publisher_paused 1` gauge instead of a growing lag."""
    text = api.http.get("/metrics").text
    assert "sav_publisher_paused 1.0" in text and "sav_publisher_lag" not in text


# --------------------------------------------------------------------------- CLI


def test_jobs_run_auto_close_zero_days_escalate_and_auto_assign(api: Api) -> None:
    resolved = ticket_in(api, "resolved")
    urgent = api.ticket(priority="urgent")["id"]
    out = sav({**api.env, "AUTO_CLOSE_RESOLVED_DAYS": "0"}, "jobs", "run", "auto-close")
    assert out.returncode == 0, out.stderr
    assert api.http.get(f"/tickets/{resolved}", headers=api.admin).json()["status"] == "closed"
    out = sav({**api.env, "ESCALATION_TIMEOUT_HOURS": "0"}, "jobs", "run", "escalate")
    assert out.returncode == 0, out.stderr
    assert api.http.get(f"/tickets/{urgent}", headers=api.admin).json()["escalated_at"]
    api.http.put("/agents/agent-1", headers=api.admin,
                 json={"name": "One", "email": "one@example.com", "active": True})
    out = sav(api.env, "jobs", "run", "auto-assign")
    assert out.returncode == 0, out.stderr
    assert api.http.get(f"/tickets/{urgent}", headers=api.admin).json()["assigned_to"]
    for job in ("survey", "metrics"):
        assert sav(api.env, "jobs", "run", job).returncode == 0


def test_events_export_formats(api: Api) -> None:
    jsonl = sav(api.env, "events", "export", "--after", "1")
    assert jsonl.returncode == 0 and jsonl.stdout.splitlines()
    assert '"position":2' in jsonl.stdout.splitlines()[0].replace(" ", "")
    csv_out = sav(api.env, "events", "export", "--format", "csv")
    assert csv_out.returncode == 0 and csv_out.stdout.startswith("position,")


def test_sav_worker_kind_is_optional(api: Api, tmp_path: Path) -> None:
    """Contract: `sav worker [projections|publisher|consumer|scheduler|all]` (brackets = optional,
    as in `sav serve [--host H]`). A bare `sav worker` must not be a usage error."""
    process = subprocess.Popen([*SAV, "worker"], env=base_env(tmp_path),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        time.sleep(2)
        assert process.poll() is None, process.stderr.read() if process.stderr else b""
    finally:
        stop(process)


def test_serve_port_comes_from_app_port(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen([*SAV, "serve"], env=base_env(tmp_path, APP_PORT=str(port)),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        assert wait_healthy(f"http://127.0.0.1:{port}", process)
    finally:
        stop(process)


def test_serve_with_several_workers_starts_on_a_fresh_data_dir(tmp_path: Path) -> None:
    """`sav serve --workers N` on the embedded default: every copy must come up.
    Observed: workers race on schema creation, `sqlite3.OperationalError: database is
    locked` in CREATE TABLE stored_events, Sanic aborts the whole server."""
    servers = []
    for i in range(2):
        port = free_port()
        data = tmp_path / f"w{i}"
        data.mkdir()
        servers.append((port, subprocess.Popen(
            [*SAV, "serve", "--port", str(port), "--workers", "2"], env=base_env(data),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)))
    try:
        up = [wait_healthy(f"http://127.0.0.1:{port}", proc, 15) for port, proc in servers]
        time.sleep(1.5)  # let the second worker finish starting (SIGTERM mid-start hangs)
        assert all(up) and all(proc.poll() is None for _, proc in servers), up
    finally:
        for _, proc in servers:
            stop(proc, timeout=5)


# --------------------------------------------------------------------------- public (last: 429)


def test_public_ticket_token_lookup_reply_and_satisfaction(api: Api) -> None:
    created = api.http.post("/public/tickets", json={
        "email": "anon@example.com", "name": "Anon", "subject": "Help", "description": "broken"})
    assert created.status_code == 201, created.text
    body = created.json()
    number, token = body["ticket_number"], body["access_token"]
    assert re.fullmatch(rf"{PREFIX}-\d{{8}}-\d{{3,}}", number)
    assert_error(api.http.get(f"/public/tickets/{number}"), 404)
    assert_error(api.http.get(f"/public/tickets/{number}",
                              headers={"X-Access-Token": "wrong"}), 404)
    assert_error(api.http.get(f"/public/tickets/{number}", params={"token": "wrong"}), 404)
    tid = api.http.get(f"/public/tickets/{number}",
                       headers={"X-Access-Token": token}).json()["id"]
    api.http.post(f"/tickets/{tid}/messages", headers=api.admin,
                  json={"content": "SECRET-INTERNAL", "is_internal": True})
    api.http.put(f"/tickets/{tid}", headers=api.admin, json={"internal_notes": "SECRET-NOTES"})
    api.http.post(f"/tickets/{tid}/messages", headers=api.admin, json={"content": "we're on it"})
    view = api.http.get(f"/public/tickets/{number}", params={"token": token})
    assert view.status_code == 200 and "SECRET" not in view.text
    assert [m["content"] for m in view.json()["messages"]] == ["we're on it"]
    assert_error(api.http.post(f"/public/tickets/{number}/messages",
                               json={"content": "x"}, params={"token": "wrong"}), 404)
    reply = api.http.post(f"/public/tickets/{number}/messages", json={"content": "thanks"},
                          headers={"X-Access-Token": token})
    assert reply.status_code == 201 and reply.json()["author_email"] == "anon@example.com"
    assert_error(api.http.post(f"/public/tickets/{number}/satisfaction",
                               json={"rating": 5}, params={"token": token}), 409)
    command(api, tid, "resolve")
    assert_error(api.http.post(f"/public/tickets/{number}/satisfaction",
                               json={"rating": 5}, params={"token": "wrong"}), 404)
    rated = api.http.post(f"/public/tickets/{number}/satisfaction",
                          json={"rating": 5, "comment": "great"}, params={"token": token})
    assert rated.status_code in (200, 201)
    assert api.http.get(f"/tickets/{tid}", headers=api.admin).json()["satisfaction_rating"] == 5


def test_public_endpoints_are_rate_limited(api: Api) -> None:
    statuses = [api.http.get("/public/tickets/AUD-20000101-001",
                             params={"token": "x"}).status_code for _ in range(80)]
    assert 429 in statuses
    limited = api.http.get("/public/tickets/AUD-20000101-001", params={"token": "x"})
    assert_error(limited, 429)

"""Live conversations over a real `sav serve`, on both profiles: a ticket's stream
(`GET /tickets/{id}/events`, `GET /public/tickets/{number}/events`) gets each new history
entry as its reader may see it, resumes after `Last-Event-ID`, tells staff who else views
the ticket (`event: presence`), and ends when the ticket is erased or the token expires.
One server per profile for the module (tests/support/sse.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sav.config import Settings
from tests.support.sse import SSE, EventStream, Server, sse_server


@pytest.fixture(scope="module")
def server(module_settings: Settings) -> Iterator[Server]:
    """One server per profile for the module: each test makes its own tickets."""
    with sse_server(module_settings, Path(module_settings.data_dir)) as server:
        yield server


def post(http: httpx.Client, path: str, headers: dict[str, str], **body: Any) -> Any:
    response = http.post(path, headers=headers, json=body or None)
    assert response.status_code in (200, 201, 202, 204), response.text
    return response.json() if response.content else None


def test_a_customer_gets_a_public_reply_within_a_second_and_never_an_internal_note(
        server: Server) -> None:
    customer, agent = server.token("cust-1", "customer"), server.token("agent-1", "agent")
    with httpx.Client(base_url=server.base, timeout=20) as http:
        ticket = post(http, "/tickets", customer, subject="Late parcel", description="d")
        path = f"/tickets/{ticket['id']}"
        with http.stream("GET", f"{path}/events", headers={**customer, **SSE}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            stream = EventStream(response)
            assert stream.next()["comment"].startswith(f"ticket {ticket['id']} after now")
            post(http, f"{path}/messages", agent, content="Refund if late", is_internal=True)
            post(http, f"{path}/messages", agent, content="It ships today")
            replied = time.monotonic()
            entry = stream.next_message()
            assert time.monotonic() - replied < 1.0
            assert "event" not in entry  # history entries are plain messages
            assert entry["data"]["changes"]["content"] == "It ships today"
            history = http.get(f"{path}/history?limit=100", headers=customer).json()["data"]
            assert entry["data"] == history[-1] and entry["id"] == str(history[-1]["position"])
            assert not any("Refund" in str(e) for e in history)
    assert server.errors() == []


def test_a_stream_resumes_after_last_event_id_with_nothing_repeated_or_skipped(
        server: Server) -> None:
    customer, agent = server.token("cust-1", "customer"), server.token("agent-1", "agent")
    with httpx.Client(base_url=server.base, timeout=20) as http:
        ticket = post(http, "/tickets", customer, subject="Late parcel", description="d")
        path = f"/tickets/{ticket['id']}"
        for i in range(3):
            post(http, f"{path}/messages", agent, content=f"reply {i}")
            post(http, f"{path}/messages", agent, content=f"note {i}", is_internal=True)
        history = http.get(f"{path}/history?limit=100", headers=customer).json()["data"]
        resume_after = history[1]["position"]
        with http.stream("GET", f"{path}/events", headers={
                **customer, **SSE, "Last-Event-ID": str(resume_after)}) as response:
            stream = EventStream(response)
            caught_up = [stream.next_entry() for _ in history[2:]]
            assert [e["data"] for e in caught_up] == history[2:]
            post(http, f"{path}/messages", agent, content="live")
            live = stream.next_entry()
            assert live["data"]["changes"]["content"] == "live"
        # The number and the token reach the same stream on the public side.
        number = ticket["ticket_number"]
        assert http.get(f"/public/tickets/{number}/events", headers=SSE).status_code == 404


def test_presence_reaches_the_other_agents_stream_and_never_the_customers(
        server: Server) -> None:
    customer = server.token("cust-1", "customer")
    first, second = server.token("agent-1", "agent"), server.token("agent-2", "agent")
    with httpx.Client(base_url=server.base, timeout=20) as http:
        ticket = post(http, "/tickets", customer, subject="Late parcel", description="d")
        path = f"/tickets/{ticket['id']}"
        with http.stream("GET", f"{path}/events", headers={**second, **SSE}) as agents, \
                http.stream("GET", f"{path}/events", headers={**customer, **SSE}) as own:
            agent_stream, customer_stream = EventStream(agents), EventStream(own)
            assert agent_stream.next_message() == {"event": "presence",
                                                   "data": {"viewers": []}}
            assert post(http, f"{path}/viewing", first) is None
            seen = agent_stream.next_message()
            assert seen["event"] == "presence" and "id" not in seen
            assert [v["id"] for v in seen["data"]["viewers"]] == ["agent-1"]
            post(http, f"{path}/messages", first, content="on it")
            # The customer's next message is the reply: no presence came before it.
            assert "event" not in customer_stream.next_message()
            assert agent_stream.next_message()["data"]["changes"]["content"] == "on it"
            view = http.get(path, headers=second).json()
            assert [v["id"] for v in view["viewers"]] == ["agent-1"]
            assert "viewers" not in http.get(path, headers=customer).json()


def test_the_public_stream_with_its_token_and_its_end_when_the_ticket_is_erased(
        server: Server) -> None:
    admin = server.token("admin-1", "admin")
    with httpx.Client(base_url=server.base, timeout=20) as http:
        created = post(http, "/public/tickets", {}, email="jo@example.com",
                       subject="Broken lid", description="Lid")
        number, token = created["ticket_number"], created["access_token"]
        path = f"/tickets/{created['id']}"
        with http.stream("GET", f"/public/tickets/{number}/events?token={token}",
                         headers=SSE) as response:
            assert response.status_code == 200 and "ratelimit" in response.headers
            stream = EventStream(response)
            post(http, f"{path}/messages", admin, content="note", is_internal=True)
            post(http, f"{path}/messages", admin, content="Send a photo")
            assert stream.next_entry()["data"]["changes"]["content"] == "Send a photo"
            post(http, "/privacy/erasures", admin, email="jo@example.com")
            assert all("id" not in message for message in stream.rest())
    assert server.errors() == []


def test_the_stream_ends_when_the_token_expires(server: Server) -> None:
    customer = server.token("cust-1", "customer")
    with httpx.Client(base_url=server.base, timeout=30) as http:
        ticket = post(http, "/tickets", customer, subject="Late parcel", description="d")
        short = server.token("cust-1", "customer", ttl=8)
        with http.stream("GET", f"/tickets/{ticket['id']}/events",
                         headers={**short, **SSE}) as response:
            assert response.status_code == 200
            # Ended at expiry: before the first heartbeat (15 s), after the greeting only.
            assert [m.get("comment", "") for m in EventStream(response).rest()] == [
                f"ticket {ticket['id']} after now"]


# A wait of 15 s: one profile is enough.
@pytest.mark.parametrize("module_settings", ["sqlite"], indirect=True)
def test_an_idle_stream_gets_a_heartbeat_comment(server: Server) -> None:
    agent = server.token("agent-1", "agent")
    with httpx.Client(base_url=server.base, timeout=30) as http:
        ticket = post(http, "/tickets", agent, subject="Quiet", description="d")
        with http.stream("GET", f"/tickets/{ticket['id']}/events",
                         headers={**agent, **SSE}) as response:
            stream = EventStream(response)
            assert stream.next()["comment"].endswith("after now")
            assert stream.next_message()["event"] == "presence"  # nobody else, at first
            assert stream.next() == {"comment": "heartbeat"}

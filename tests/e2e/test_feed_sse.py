"""The live tail of the event feed (Server-Sent Events) and the streamed export, over a
real `sav serve`, on both profiles: events as they are stored, resuming with
`Last-Event-ID`, heartbeats, clean ends when the client leaves or the server stops."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from sav.bootstrap import bootstrap
from sav.config import Settings
from sav.events.ticket import Ticket
from tests.support.sse import SSE, EventStream, Server, sav, sse_server


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[Server]:
    with sse_server(settings, tmp_path) as server:
        yield server


def create(http: httpx.Client, headers: dict[str, str], subject: str) -> dict[str, Any]:
    response = http.post("/tickets", headers=headers,
                         json={"subject": subject, "description": "d"})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_tail_streams_events_as_stored_and_resumes_from_last_event_id(server: Server) -> None:
    admin = server.token("admin-1", "admin")
    with httpx.Client(base_url=server.base, timeout=20) as http:
        for i in range(3):
            create(http, admin, f"S{i}")
        with http.stream("GET", "/events?after=1", headers={**admin, **SSE}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            stream = EventStream(response)
            first, second = stream.next_message(), stream.next_message()
            assert (first["id"], second["id"]) == ("2", "3")
            assert list(first["data"]) == ["position", "message_id", "event", "timestamp",
                                           "data"]
            assert first["data"]["position"] == 2 and first["data"]["event"] == "ticket.created"
            assert second["data"] == http.get("/events?after=2&limit=1",
                                              headers=admin).json()["data"][0]
            create(http, admin, "while tailing")
            live = stream.next_message()
            assert live["id"] == "4" and live["data"]["data"]["subject"] == "while tailing"
        # A reconnecting client sends the last id it saw: it wins over `after`.
        with http.stream("GET", "/events?after=0",
                         headers={**admin, **SSE, "Last-Event-ID": "3"}) as response:
            assert EventStream(response).next_message()["id"] == "4"
        with http.stream("GET", "/events", headers={**admin, **SSE,
                                                     "Last-Event-ID": "x"}) as response:
            assert response.status_code == 422
        assert http.get("/health").status_code == 200
    assert server.errors() == []


def test_tail_filters_by_type(server: Server) -> None:
    admin = server.token("admin-1", "admin")
    with httpx.Client(base_url=server.base, timeout=20) as http:
        ticket = create(http, admin, "S")
        create(http, admin, "other")
        with http.stream("GET", "/events?type=ticket.assigned",
                         headers={**admin, **SSE}) as response:
            stream = EventStream(response)
            assert http.post(f"/tickets/{ticket['id']}/assign", headers=admin,
                             json={"agent_id": "agent-1"}).status_code == 200
            message = stream.next_message()
            assert message["id"] == "3" and message["data"]["event"] == "ticket.assigned"


def test_tail_is_for_admins_and_analysts(server: Server) -> None:
    with httpx.Client(base_url=server.base, timeout=20) as http:
        for role in ("customer", "agent"):
            response = http.get("/events", headers={**server.token(f"{role}-1", role), **SSE})
            assert response.status_code == 403, role
        with http.stream("GET", "/events", headers={**server.token("analyst-1", "analyst"), **SSE}
                         ) as response:
            assert response.status_code == 200
            assert "comment" in EventStream(response).next()  # the greeting


@pytest.mark.parametrize("profile", ["sqlite"])  # timing only: one profile is enough
def test_idle_tail_sends_heartbeats(server: Server) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as http, \
            http.stream("GET", "/events", headers={**server.token("admin-1", "admin"), **SSE}
                        ) as response:
        stream = EventStream(response)
        assert stream.next()["comment"].startswith("tailing after 0")
        started = time.monotonic()
        assert stream.next() == {"comment": "heartbeat"}
        assert 10 < time.monotonic() - started < 25


def test_server_stops_promptly_with_a_tail_open(server: Server) -> None:
    """The server ends open tails when it stops, rather than waiting them out."""
    with httpx.Client(base_url=server.base, timeout=30) as http, \
            http.stream("GET", "/events", headers={**server.token("admin-1", "admin"), **SSE}
                        ) as response:
        stream = EventStream(response)
        stream.next()
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        with pytest.raises((EOFError, httpx.HTTPError)):
            while True:
                stream.next()
        assert server.process.wait(timeout=30) == 0
        assert time.monotonic() - started < 10


def test_export_of_20k_events_is_streamed_and_equals_the_cli(server: Server,
                                                            settings: Settings) -> None:
    admin = server.token("admin-1", "admin")
    with httpx.Client(base_url=server.base, timeout=120) as http:
        ticket = create(http, admin, "long")
    services = bootstrap(settings)
    try:
        for start in range(0, 20_000, 1000):
            def change(ticket: Ticket, start: int = start) -> None:
                for i in range(start, start + 1000):
                    ticket.update({"subject": f"subject {i}"}, by="admin-1")

            services.app.change_ticket(UUID(ticket["id"]), change)
    finally:
        services.close()
    with httpx.Client(base_url=server.base, timeout=120) as http, \
            http.stream("GET", "/events/export", headers=admin) as response:
        assert response.status_code == 200
        assert response.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in response.headers
        assert response.headers["content-type"] == "application/x-ndjson"
        body = b"".join(response.iter_raw())
    assert body.count(b"\n") == 20_001
    assert body == sav(server.env, "events", "export")
    assert server.errors() == []

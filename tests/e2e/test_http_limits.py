"""What only a real `sav serve` does (issue 13): it logs its address, refuses an oversized
request head with 431 (even on /health), refuses a JSON body over the route's limit with
413 before reading it (an anonymous 100 MiB JSON to /public/tickets), still takes large
uploads (streamed), and answers HEAD without a body.

Server-level behaviour, the same whatever the database: one server, SQLite profile."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from sav.api.auth import issue_token
from sav.config import Settings
from tests.support.attachments import PDF
from tests.support.live_server import live_server, secretless_env
from tests.support.settings import make_settings

Served = tuple[str, int, Path, Settings]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for the module (its start is most of the cost)."""
    data_dir = tmp_path_factory.mktemp("served")
    settings = make_settings("sqlite", data_dir)
    with live_server(settings, env=secretless_env(settings), log=data_dir / "serve.log") as live:
        yield live.base_url, live.port, live.log, settings


def raw_request(port: int, head: bytes, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are; read one response (the server may close right after)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed before a response: {received!r}"
            received += chunk
        top, _, rest = received.partition(b"\r\n\r\n")
        status_line, *lines = top.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in
                   (line.split(":", 1) for line in lines)}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    return int(status_line.split()[1]), headers, rest[:length]


def test_serve_logs_the_address_it_listens_on(
        served: Served) -> None:
    base, _, log, _ = served
    deadline = time.monotonic() + 10
    while f"listening on {base}" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    [line] = [orjson.loads(line) for line in log.read_text().splitlines()
              if line.startswith("{") and "listening on" in line]
    assert line["url"] == base and line["logger"] == "sav.serve"


def test_an_oversized_head_is_431_even_on_health(
        served: Served) -> None:
    _, port, _, _ = served
    status, headers, body = raw_request(
        port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 9000 + b"\r\n\r\n")
    assert status == 431
    assert orjson.loads(body)["error"]["code"] == "request_header_too_large"
    assert headers["x-request-id"]


def test_a_json_body_over_the_limit_is_413_before_it_is_read(
        served: Served) -> None:
    """The anonymous 100 MiB JSON: only the head and one byte are ever sent, and the
    answer comes anyway, so the server did not wait for (or read) the body."""
    _, port, _, _ = served
    started = time.monotonic()
    status, _, body = raw_request(
        port, b"POST /public/tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 104857600\r\n\r\n", b"{")
    assert status == 413
    assert orjson.loads(body)["error"]["code"] == "payload_too_large"
    assert time.monotonic() - started < 10  # answered, not timed out waiting for 100 MiB
    # Within the limit, the same route reads and validates the body as usual.
    status, _, body = raw_request(
        port, b"POST /public/tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 2\r\nConnection: close\r\n\r\n", b"{}")
    assert status == 422


def test_uploads_stream_past_the_json_limit_and_head_has_no_body(
        served: Served) -> None:
    base, port, _, settings = served
    # The server signs with the secret it generated (secretless_env unsets AUTH_JWT_SECRET).
    token = issue_token((settings.data_dir / "jwt_secret").read_text().strip(), "cust-1",
                        "customer")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=30) as http:
        ticket = http.post("/tickets", headers=headers,
                           json={"subject": "s", "description": "d"}).json()
        big = PDF + bytes(2 * 1024 * 1024)  # twice the JSON limit
        uploaded = http.post(f"/tickets/{ticket['id']}/attachments", headers=headers,
                             files={"file": ("big.pdf", big, "application/pdf")})
        assert uploaded.status_code == 201, uploaded.text
        got = http.get(f"/tickets/{ticket['id']}", headers=headers)
    status, head_headers, body = raw_request(
        port, f"HEAD /tickets/{ticket['id']} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
              f"{token}\r\nConnection: close\r\n\r\n".encode())
    assert (status, body) == (200, b"")
    assert head_headers["etag"] == got.headers["etag"]

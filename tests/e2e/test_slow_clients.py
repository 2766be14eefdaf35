"""What only a real server shows (issue 19), with raw sockets against `sav serve` on both
profiles: a client that goes away mid-request is not a server error (499, logged at
info), an OPTIONS with a body is answered, a head or body trickled in is cut off at its
deadline (408), and one address cannot hold more than its share of connections (429)."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from sav.api.auth import issue_token
from sav.config import Settings
from tests.support.live_server import LiveServer, live_server
from tests.support.settings import JWT_SECRET

# The wait between two trickled pieces, and how many are sent at most: a server without
# deadlines keeps the connection for all of them, one with a 1 s deadline does not.
TRICKLE_SECONDS = 0.5
MAX_PIECES = 60


def connect(server: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.settimeout(TRICKLE_SECONDS)
    return sock


def answer_while_trickling(sock: socket.socket, pieces: Iterator[bytes]) -> bytes:
    """Send one piece at a time until the server answers or closes; what it answered."""
    got = b""
    for piece in pieces:
        try:
            sock.sendall(piece)
            data = sock.recv(4096)
        except TimeoutError:
            continue
        except OSError:  # reset: the server closed after answering
            break
        if not data:
            break
        got += data
    sock.settimeout(5)
    try:
        while chunk := sock.recv(4096):
            got += chunk
    except OSError:
        pass
    return got


def metric(server: LiveServer, pattern: str) -> float:
    text = httpx.get(f"{server.base_url}/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if re.fullmatch(pattern, line.rsplit(" ", 1)[0]))


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    with live_server(settings, SAV_HEAD_TIMEOUT_SECONDS="1", SAV_BODY_TIMEOUT_SECONDS="1",
                     SAV_MAX_CONNECTIONS_PER_CLIENT="4") as running:
        yield running


def test_a_client_that_goes_away_is_not_a_server_error(server: LiveServer) -> None:
    token = issue_token(JWT_SECRET, "cust-1", "customer")
    for _ in range(3):
        with connect(server) as sock:
            sock.sendall(b"POST /tickets HTTP/1.1\r\nHost: sav\r\nAuthorization: Bearer "
                         + token.encode() + b"\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100\r\n\r\n{\"subject\": \"half")
    with connect(server) as sock:  # OPTIONS may carry a body: answered, nothing logged
        sock.settimeout(10)
        sock.sendall(b"OPTIONS /tickets HTTP/1.1\r\nHost: sav\r\nContent-Length: 5\r\n\r\nhello")
        assert sock.recv(4096).startswith(b"HTTP/1.1 204 ")
    # The server notices each closed connection on its own time: wait until it counted.
    deadline = time.monotonic() + 30
    while metric(server, r'sav_http_requests_total\{method="POST",route="/tickets",'
                         r'status="499"\}') < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert metric(server, r'sav_http_requests_total\{method="POST",route="/tickets",'
                          r'status="499"\}') == 3
    assert metric(server, r'sav_http_requests_total\{.*status="5\d\d"\}') == 0
    log = server.log.read_text()
    assert '"level":"error"' not in log, log[-3000:]
    # (at least: the start-up probe may have given up on a request of its own)
    assert log.count("the client closed the connection before the answer") >= 3


def test_slow_heads_and_bodies_are_cut_off_and_one_client_has_few_connections(
        server: LiveServer) -> None:
    with connect(server) as sock:  # a header every half second, never the blank line
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: sav\r\n")
        head = answer_while_trickling(sock, (b"X-Slow-%d: 1\r\n" % i for i in range(MAX_PIECES)))
    assert head.startswith(b"HTTP/1.1 408 "), head
    assert b"the request head took too long" in head

    with connect(server) as sock:  # a 100-byte body, a byte every half second
        sock.sendall(b"POST /public/tickets HTTP/1.1\r\nHost: sav\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        body = answer_while_trickling(sock, (b" " for _ in range(MAX_PIECES)))
    assert body.startswith(b"HTTP/1.1 408 "), body
    assert b"the request body took too long" in body

    held = [connect(server) for _ in range(4)]
    try:
        with connect(server) as extra:
            extra.settimeout(10)
            refused = extra.recv(4096)
        assert refused.startswith(b"HTTP/1.1 429 "), refused
        assert b"too_many_connections" in refused
    finally:
        for sock in held:
            sock.close()
    # Once they are closed, the client connects again (when the server has seen them go).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{server.base_url}/health").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    assert httpx.get(f"{server.base_url}/health").status_code == 200
    assert '"level":"error"' not in server.log.read_text()

"""Slow clients: total deadlines for a request's head and body, and a cap on the open
connections of one client address (`sav serve` runs Sanic with `GuardedHttpProtocol`).

Sanic's own `REQUEST_TIMEOUT` and `RESPONSE_TIMEOUT` restart with every byte received, so
a client that trickles one header every few seconds, or a body a byte at a time, keeps
its connection (and the memory behind it) forever; a few thousand such connections from
one address cost it nothing. Here:

- the head (request line and headers) must arrive within `SAV_HEAD_TIMEOUT_SECONDS` of
  its first byte, the body within `SAV_BODY_TIMEOUT_SECONDS` of the end of the head;
  past that the request is answered `408` and the connection closed;
- one client address holds at most `SAV_MAX_CONNECTIONS_PER_CLIENT` open connections per
  server process; the next one is answered `429` and closed at once. Trusted proxies
  (`SAV_TRUSTED_PROXIES`) carry many clients, so they are not capped.
"""

from __future__ import annotations

import ipaddress
import logging
from asyncio import TimerHandle, Transport
from collections import Counter
from typing import Any

import orjson
from sanic.exceptions import RequestTimeout
from sanic.http.constants import Stage
from sanic.server.protocols.http_protocol import HttpProtocol

log = logging.getLogger("sav.api")
# How often a connection with a head or body in progress checks its deadline (seconds).
TICK_SECONDS = 0.5


class ConnectionCounts:
    """Open connections per client address, in one server process."""

    def __init__(self) -> None:
        self.by_client: Counter[str] = Counter()

    def open(self, client: str, cap: int) -> bool:
        if cap > 0 and self.by_client[client] >= cap:
            return False
        self.by_client[client] += 1
        return True

    def close(self, client: str) -> None:
        self.by_client[client] -= 1
        if self.by_client[client] <= 0:
            del self.by_client[client]


def too_many_connections() -> bytes:
    body = orjson.dumps({"error": {
        "code": "too_many_connections",
        "message": "this client has too many open connections; close some and retry"}})
    return (b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
            b"Retry-After: 1\r\nConnection: close\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


class GuardedHttpProtocol(HttpProtocol):
    """Sanic's HTTP/1.1 protocol with total head and body deadlines and a per-client cap.
    The numbers come from the app's settings (`app.ctx.settings`)."""

    # Sanic's protocol classes are slotted (its metaclass adds no `__dict__`).
    __slots__ = ("_body_since", "_client", "_head_since", "_refused", "_tick")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: str | None = None  # counted in `ConnectionCounts` while open
        self._refused = False
        self._tick: TimerHandle | None = None
        self._head_since: float | None = None
        self._body_since: float | None = None

    # -- the per-client cap ----------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        client = _peer(transport)
        settings = self.app.ctx.settings
        if client is not None and not _trusted(client, self.app.ctx.trusted_proxies):
            counts: ConnectionCounts = self.app.ctx.connection_counts
            if not counts.open(client, settings.max_connections_per_client):
                self._refused = True
                log.debug("refused a connection: too many open from one client")
                transport.write(too_many_connections())
                transport.close()
                return
            self._client = client
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return  # never started: nothing of Sanic's to clean up
        if self._client is not None:
            self.app.ctx.connection_counts.close(self._client)
            self._client = None
        self._disarm()
        super().connection_lost(exc)

    # -- the deadlines ---------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        http = self._http if self.http is not None else None
        if http is not None:
            now = self.loop.time()
            if http.request_body:  # a body is being read
                self._body_since = self._body_since or now
            elif http.stage in (Stage.IDLE, Stage.REQUEST):  # a head is being read
                if http.stage is Stage.IDLE:
                    self._head_since = now  # the first bytes of a new request
                self._head_since = self._head_since or now
            self._arm()
        super().data_received(data)

    def _arm(self) -> None:
        if self._tick is None:
            self._tick = self.loop.call_later(TICK_SECONDS, self._check_deadlines)

    def _disarm(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None

    def _check_deadlines(self) -> None:
        self._tick = None
        http = self._http if self.http is not None else None
        if http is None or self._task is None:
            return
        settings = self.app.ctx.settings
        now = self.loop.time()
        if http.request_body:
            self._head_since = None
            self._body_since = self._body_since or now
            if 0 < settings.body_timeout_seconds < now - self._body_since:
                return self._expire(http, "the request body took too long to arrive")
        elif http.stage is Stage.REQUEST:
            self._body_since = None
            self._head_since = self._head_since or now
            if 0 < settings.head_timeout_seconds < now - self._head_since:
                return self._expire(http, "the request head took too long to arrive")
        else:  # handling, answering or idle: nothing to wait for from the client
            self._head_since = self._body_since = None
            return
        self._arm()

    def _expire(self, http: Any, message: str) -> None:
        """As Sanic ends its own timeouts: the connection task answers the exception
        (408) and closes the connection."""
        self._head_since = self._body_since = None
        http.exception = RequestTimeout(message)
        assert self._task is not None
        self._task.cancel("deadline")


def _peer(transport: Transport) -> str | None:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else None


def _trusted(client: str, networks: tuple[Any, ...]) -> bool:
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    return any(address in network for network in networks)

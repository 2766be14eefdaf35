"""A real HTTP endpoint for webhook tests: a standard-library server on a free port of
127.0.0.1 that records every request it gets and answers the statuses it is told to."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int  # what the receiver answered

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)
    # Statuses to answer next, in order; then `default`.
    script: list[int] = field(default_factory=list)
    default: int = 200
    delay: float = 0.0  # seconds before each answer (a slow endpoint)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, *statuses: int) -> None:
        with self.lock:
            self.script.extend(statuses)

    def next_status(self) -> int:
        with self.lock:
            return self.script.pop(0) if self.script else self.default

    def record(self, item: Received) -> None:
        with self.lock:
            self.received.append(item)

    def requests(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def delivered(self) -> list[Received]:
        """The requests it answered 2xx."""
        return [item for item in self.requests() if 200 <= item.status < 300]

    def wait_for(self, predicate: Callable[[list[Received]], bool],
                 timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.requests()
            if predicate(got):
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"the receiver got {len(got)} requests: "
                                     f"{[(r.status, r.headers.get('webhook-id')) for r in got]}")
            time.sleep(0.05)


@contextlib.contextmanager
def webhook_receiver(path: str = "/hook") -> Iterator[Receiver]:
    receiver: Receiver | None = None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            assert receiver is not None
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            status = receiver.next_status()
            if receiver.delay:
                time.sleep(receiver.delay)
            receiver.record(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                     body, status))
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}{path}")
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver",
                              daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


class InvalidSignatureError(AssertionError):
    pass


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes,
                            now: float | None = None, tolerance: float = 300.0) -> None:
    """A receiver's check, written from the Standard Webhooks specification (not from
    SAV's code): the signed content is `{webhook-id}.{webhook-timestamp}.{body}`, the key
    the base64-decoded part of the secret after `whsec_`, the signature HMAC-SHA256 in
    base64, sent as one of the space-separated `v1,<signature>` of `webhook-signature`;
    a timestamp more than `tolerance` seconds away from now is refused (replays)."""
    import base64
    import hashlib
    import hmac

    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs((time.time() if now is None else now) - int(stamp)) > tolerance:
        raise InvalidSignatureError("timestamp outside the tolerance")
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret[len("whsec_"):])
    content = msg_id.encode() + b"." + stamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest())
    for versioned in headers["webhook-signature"].split(" "):
        version, _, signature = versioned.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            return
    raise InvalidSignatureError("no v1 signature matches")

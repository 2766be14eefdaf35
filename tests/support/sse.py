"""A real `sav serve` for the Server-Sent Events tests (tests/e2e/test_live_sse.py,
test_feed_sse.py), its tokens from `sav token`, and a reader of the events it streams."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from sav.config import Settings
from tests.support.live_server import SAV, live_server, secretless_env

SSE = {"Accept": "text/event-stream"}


def sav(env: dict[str, str], *args: str) -> bytes:
    """A `sav` command's output; it must succeed."""
    done = subprocess.run([*SAV, *args], env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


@dataclass
class Server:
    base: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path
    tokens: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def token(self, sub: str, role: str, ttl: int | None = None) -> dict[str, str]:
        """The header of a token from `sav token`; without `ttl` (an hour), one per
        user and role for the server's life (each `sav token` is a process to start)."""
        if ttl is not None:
            return self._issue(sub, role, ttl)
        if (sub, role) not in self.tokens:
            self.tokens[sub, role] = self._issue(sub, role, 3600)
        return self.tokens[sub, role]

    def _issue(self, sub: str, role: str, ttl: int) -> dict[str, str]:
        token = sav(self.env, "token", "--sub", sub, "--role", role, "--ttl", str(ttl))
        return {"Authorization": f"Bearer {token.decode().strip()}"}

    def errors(self) -> list[str]:
        """The error lines and tracebacks the server logged."""
        return [line for line in self.log.read_text(errors="replace").splitlines()
                if '"level": "error"' in line or '"level":"error"' in line
                or "Traceback" in line]


@contextmanager
def sse_server(settings: Settings, tmp_path: Path) -> Iterator[Server]:
    """`sav serve` on `settings` with the secret generated into its data folder (shared
    with every `sav token`), until the block ends."""
    with live_server(settings, env=secretless_env(settings), log=tmp_path / "serve.log") as live:
        yield Server(live.base_url, live.env, live.process, live.log)


class EventStream:
    """Reads Server-Sent Events off a streamed response: messages (`id`, `event`, `data`)
    and comments."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.iter_lines()

    def next(self) -> dict[str, Any]:
        """The next message or comment (`{"comment": ...}`)."""
        fields: dict[str, Any] = {}
        for line in self.lines:
            if not line:
                if fields:
                    return fields
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                return {"comment": value}
            fields[name] = orjson.loads(value) if name == "data" else value
        raise EOFError("the stream ended")

    def next_message(self) -> dict[str, Any]:
        while "comment" in (message := self.next()):
            pass
        return message

    def next_entry(self) -> dict[str, Any]:
        """The next history entry (presence events skipped)."""
        while (message := self.next_message()).get("event") == "presence":
            pass
        return message

    def rest(self) -> list[dict[str, Any]]:
        """Everything until the server ends the stream."""
        found = []
        try:
            while True:
                found.append(self.next())
        except EOFError:
            return found

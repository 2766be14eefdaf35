"""A real `sav serve` per benchmark, on a throwaway store, driven over HTTP.

Only the CLI and the HTTP contract are used here (`sav serve`, `sav token`, `sav replay`,
the documented routes), so this keeps working while sav's internals are refactored.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ceilings import RawDb, find_sqlite_file, free_port, taskset, wait_until_up

SCRUBBED = ("DB_", "RABBITMQ_", "MINIO_", "AUTH_", "SAV_", "APP_")


def sav_cli() -> list[str]:
    """The `sav` console script of this interpreter's environment (or `-m sav.cli`)."""
    script = Path(sys.executable).with_name("sav")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sav.cli"]


def mysql_params() -> dict[str, Any]:
    return {"host": os.environ.get("DB_HOST", "127.0.0.1"),
            "port": int(os.environ.get("DB_PORT", "3306")),
            "user": os.environ.get("DB_USERNAME", "root"),
            "password": os.environ.get("DB_PASSWORD", "")}


@dataclass
class Store:
    """A throwaway SQLite file or MariaDB database `sav serve` runs on."""

    profile: str
    root: Path
    env: dict[str, str]

    @property
    def raw(self) -> RawDb:
        if self.profile == "mysql":
            return RawDb(mysql={**mysql_params(), "database": self.env["DB_DATABASE"]})
        return RawDb(sqlite_path=find_sqlite_file(Path(self.env["SAV_DATA_DIR"])))


@contextmanager
def open_store(profile: str, jwt_secret: str) -> Iterator[Store]:
    with tempfile.TemporaryDirectory(prefix=f"sav-bench-{profile}-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED)}
        env.update(SAV_DATA_DIR=str(Path(tmp) / "data"), AUTH_JWT_SECRET=jwt_secret)
        if profile == "mysql":
            params = mysql_params()
            env.update(DB_CONNECTION="mysql", DB_HOST=params["host"],
                       DB_PORT=str(params["port"]), DB_USERNAME=params["user"],
                       DB_PASSWORD=params["password"],
                       DB_DATABASE=f"sav_bench_{uuid.uuid4().hex[:10]}")
        try:
            yield Store(profile, Path(tmp), env)
        finally:
            if profile == "mysql":
                RawDb(mysql=mysql_params()).execute(
                    f"DROP DATABASE IF EXISTS `{env['DB_DATABASE']}`")


def new_jwt_secret() -> str:
    return "bench-" + secrets.token_urlsafe(32)


def issue_token(env: dict[str, str], sub: str, role: str) -> str:
    done = subprocess.run([*sav_cli(), "token", "--sub", sub, "--role", role], env=env,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


class SavServer:
    """`sav serve --workers N` on a free port, optionally pinned to some CPUs."""

    def __init__(self, store: Store, workers: int = 1, cpus: str | None = None) -> None:
        self.store, self.workers, self.cpus = store, workers, cpus
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = store.root / f"serve-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SavServer:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [*taskset(self.cpus), *sav_cli(), "serve", "--port", str(self.port),
                 "--workers", str(self.workers)],
                env={**self.store.env, "APP_PORT": str(self.port)}, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until_up(f"{self.base}/health", self.process, timeout=120)
        except RuntimeError:
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"sav serve did not start; its log ends with:\n{tail}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def errors(self, limit: int = 6) -> list[str]:
        """Distinct error and critical log entries of the server so far, with counts."""
        counts: dict[str, int] = {}
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                entry = {"level": "error", "message": line} if "Traceback" in line else {}
            if not isinstance(entry, dict) or entry.get("level") not in ("error", "critical"):
                continue
            exception = str(entry.get("exception") or "").strip().splitlines()[-1:]
            key = " / ".join([str(entry.get("message", ""))[:200], *exception])
            if "RequestCancelled" in key:
                key += " (clients gone: wrk closes its connections when a run ends)"
            counts[key] = counts.get(key, 0) + 1
        return [f"{n} x {key}" for key, n in list(counts.items())[:limit]]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session: only its children
            self.process.wait(timeout=10)


def run_replay(store: Store, cpus: str | None) -> tuple[float, float]:
    """(wall seconds, start-up seconds) of `sav replay`, the server being stopped.

    Start-up ends at the first byte of its progress bar (stderr), once it has loaded and
    connected; with no output at all it counts as zero."""
    started = time.perf_counter()
    process = subprocess.Popen([*taskset(cpus), *sav_cli(), "replay"], env=store.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    first_output: float | None = None
    tail = b""
    while chunk := os.read(process.stderr.fileno(), 65536):
        first_output = first_output or time.perf_counter()
        tail = (tail + chunk)[-2000:]
    if process.wait() != 0:
        raise RuntimeError(f"sav replay failed: {tail.decode(errors='replace')}")
    ended = time.perf_counter()
    return ended - started, (first_output or started) - started


@dataclass
class Api:
    """Set-up calls (not measured): urllib, JSON in and out."""

    base: str

    def call(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.base + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def ok(self, method: str, path: str, token: str, body: Any = None) -> Any:
        status, data = self.call(method, path, token, body)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {data!r:.300}")
        return data

    def ticket_ids(self, token: str) -> list[str]:
        """Every ticket the caller sees, oldest first."""
        ids: list[str] = []
        cursor = ""
        while True:
            data = self.ok("GET", f"/tickets?limit=100{cursor}", token)
            ids.extend(item["id"] for item in data["data"])
            if not data["pagination"]["next_cursor"]:
                return ids[::-1]  # lists are newest first
            cursor = "&cursor=" + urllib.parse.quote(data["pagination"]["next_cursor"])

    def wait_for_version(self, ticket_id: str, version: int, token: str,
                         timeout: float = 900) -> None:
        """Until the read model shows the ticket at `version` (projection caught up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, data = self.call("GET", f"/tickets/{ticket_id}", token)
            if status == 200 and data["version"] >= version:
                return
            time.sleep(0.5)
        raise RuntimeError(f"ticket {ticket_id} not projected at version {version}")

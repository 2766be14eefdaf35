"""A real `sav serve` subprocess on a free port, for tests that drive the service from the
outside (fuzzing from the OpenAPI document)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from sav.config import Settings

SAV = [sys.executable, "-m", "sav.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a server on `settings`' database and data folder (no broker,
    no S3: the embedded default's other parts)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DB_", "RABBITMQ_", "MINIO_", "SAV_", "AUTH_", "APP_"))}
    env.update(SAV_DATA_DIR=str(settings.data_dir), AUTH_JWT_SECRET=settings.jwt_secret(),
               DB_CONNECTION=settings.db_connection, DB_HOST=settings.db_host,
               DB_PORT=str(settings.db_port), DB_DATABASE=settings.db_database,
               DB_USERNAME=settings.db_username, DB_PASSWORD=settings.db_password, **extra)
    return env


def secretless_env(settings: Settings) -> dict[str, str]:
    """As `server_env`, but with no JWT secret: the server and every `sav` command run
    with this environment share the one generated into the data folder (as for a user)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DB_", "RABBITMQ_", "MINIO_", "SAV_"))}
    env.update(SAV_DATA_DIR=str(settings.data_dir), AUTH_JWT_SECRET="",
               DB_CONNECTION=settings.db_connection, DB_HOST=settings.db_host,
               DB_PORT=str(settings.db_port), DB_DATABASE=settings.db_database,
               DB_USERNAME=settings.db_username, DB_PASSWORD=settings.db_password)
    return env


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def live_server(settings: Settings, env: dict[str, str] | None = None,
                log: Path | None = None, **extra_env: str) -> Iterator[LiveServer]:
    """`sav serve` on a free port until the block ends, with `env` (default: `server_env`
    of `settings` and `extra_env`); its output goes to `log` (default: a file in the data
    folder), shown when it fails to start."""
    env = env if env is not None else server_env(settings, **extra_env)
    port = free_port()
    log = log or Path(settings.data_dir) / "server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen([*SAV, "serve", "--port", str(port)], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sav serve did not start:\n{log.read_text()[-4000:]}")
            time.sleep(0.2)
        yield LiveServer(base, port, env, log, process)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

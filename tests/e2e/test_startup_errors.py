"""A dependency that cannot be used at start is one line, not a traceback (issue 20): a
wrong port or password of the real MariaDB (or RabbitMQ, for the workers that use it)
makes `sav serve`, `sav db …` and `sav worker` exit 3 with one line on stderr that names
the variables and what was tried (host, port, user), never the password."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from tests.support.broker import RABBIT_HOST, RABBIT_PORT
from tests.support.live_server import free_port
from tests.support.settings import mysql_env

pytestmark = pytest.mark.mysql
SAV = [sys.executable, "-m", "sav"]
WRONG_PASSWORD = "not-the-password-7f3a"


def env(**values: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("DB_", "RABBITMQ_", "MINIO_", "SAV_", "AUTH_", "APP_"))}
    return {**base, **mysql_env(), "DB_CONNECTION": "mysql",
            "DB_DATABASE": f"sav_test_{uuid.uuid4().hex[:12]}", **values}


def fails_in_one_line(environment: dict[str, str], *args: str) -> str:
    done = subprocess.run([*SAV, *args], env=environment, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 3, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("sav: "), done.stderr
    assert done.stdout == ""
    return done.stderr


@pytest.mark.parametrize("command", [("serve",), ("db", "current")])
def test_a_wrong_database_port(command: tuple[str, ...]) -> None:
    port = free_port()  # nothing listens there
    environment = env(DB_PORT=str(port))
    line = fails_in_one_line(environment, *command)
    host, user = environment["DB_HOST"], environment["DB_USERNAME"]
    assert f"tried {user}@{host}:{port}" in line
    assert "DB_HOST" in line and "DB_PORT" in line


@pytest.mark.parametrize("command", [("serve",), ("db", "upgrade")])
def test_a_wrong_database_password(command: tuple[str, ...]) -> None:
    environment = env(DB_PASSWORD=WRONG_PASSWORD)
    line = fails_in_one_line(environment, *command)
    assert "refused the login" in line and "DB_PASSWORD" in line and "DB_USERNAME" in line
    assert f"tried {environment['DB_USERNAME']}@{environment['DB_HOST']}:" in line
    assert WRONG_PASSWORD not in line


@pytest.mark.rabbitmq
def test_a_wrong_broker_password_stops_the_publisher() -> None:
    environment = env(RABBITMQ_HOST=RABBIT_HOST, RABBITMQ_PORT=str(RABBIT_PORT),
                      RABBITMQ_PASSWORD=WRONG_PASSWORD)
    line = fails_in_one_line(environment, "worker", "publisher")
    assert "broker refused the login" in line and "RABBITMQ_PASSWORD" in line
    assert f"@{RABBIT_HOST}:{RABBIT_PORT}" in line and WRONG_PASSWORD not in line

"""A dependency that cannot be used at start is one line, not a traceback (issue 20): a
wrong port or password of the real MariaDB (or a refused login or virtual host on
RabbitMQ, for the workers that use it) makes `sav serve`, `sav db …` and `sav worker` exit
3 with one line on stderr that names the variables and what was tried (host, port, user),
never the password. A broker that does not answer is said in one line too, but the worker
starts: it retries the broker, which may be starting."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
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


@pytest.mark.rabbitmq
def test_a_broker_that_does_not_exist_as_named_stops_the_worker() -> None:
    environment = env(RABBITMQ_HOST=RABBIT_HOST, RABBITMQ_PORT=str(RABBIT_PORT),
                      RABBITMQ_VHOST=f"no-such-vhost-{uuid.uuid4().hex[:6]}")
    line = fails_in_one_line(environment, "worker", "all")
    assert "RABBITMQ_VHOST" in line and environment["RABBITMQ_VHOST"] in line


def test_a_broker_that_does_not_answer_is_said_and_the_worker_starts_anyway() -> None:
    """Not a configuration error: the broker may be starting or down for a while; the
    publisher retries it, and the projections do not need it."""
    port = free_port()
    process = subprocess.Popen(
        [*SAV, "worker", "all"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env=env(RABBITMQ_HOST="127.0.0.1", RABBITMQ_PORT=str(port),
                SAV_WORKER_HEALTH_PORT="0"))
    try:
        assert process.stderr is not None
        ready, _, _ = select.select([process.stderr], [], [], 60)
        assert ready, "nothing said about the broker"
        line = process.stderr.readline().decode()
        assert line.startswith("sav: cannot connect to the broker: ") and "starting anyway" in line
        assert f"127.0.0.1:{port}" in line and "RABBITMQ_PORT" in line
        time.sleep(1)
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
    finally:
        process.terminate()
        process.wait(timeout=30)

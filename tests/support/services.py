"""Throwaway MariaDB, RabbitMQ and Redis for the test run, from the system's packages.

`SAV_TEST_SERVICES` decides: `auto` (default) uses the machine's servers where they
answer (`SAV_TEST_{MYSQL,RABBITMQ,REDIS}_HOST/PORT`, default 127.0.0.1:3306, :5672 and
:6379) and starts its own for a missing one; `own` always starts its own; `machine`
never does. Own servers live in a temporary directory on free ports (MariaDB through
`mariadb-install-db`; RabbitMQ as a node with its own name, ports, data and cookie) and
are stopped at the end of the run. Nothing is installed: a missing program stops the run
with the `apt-get install` line to type.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

# Daemons are in sbin, which is not on every user's PATH.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
# The Debian package's rabbitmq-server in sbin is a wrapper that insists on root or the
# rabbitmq user; the script it calls runs as anyone.
RABBITMQ_SCRIPTS = ("/usr/lib/rabbitmq/bin/rabbitmq-server",)
START_TIMEOUT_S = 90


class MissingProgramError(RuntimeError):
    """A server is needed and its program is not installed."""


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def program(name: str, package: str, candidates: tuple[str, ...] = ()) -> str:
    for path in candidates:
        if os.access(path, os.X_OK):
            return path
    found = shutil.which(name, path=SEARCH_PATH)
    if found is None:
        raise MissingProgramError(
            f"the tests need {name} to start a throwaway server (no server answered, or "
            f"SAV_TEST_SERVICES=own): sudo apt-get install -y {package}")
    return found


def wait_for(ready: Callable[[], bool], what: str, process: subprocess.Popen[bytes],
             log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start; its log:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)


@dataclass
class OwnServer:
    name: str
    port: int
    process: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # Its own session: the whole group (RabbitMQ's shell script, beam, helpers).
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def start_mariadb(base: Path, port: int) -> OwnServer:
    install = program("mariadb-install-db", "mariadb-server")
    daemon = program("mariadbd", "mariadb-server")
    data, sock, log = base / "data", base / "mysqld.sock", base / "mariadb.log"
    user = ["--user=root"] if os.geteuid() == 0 else []  # mariadbd refuses root otherwise
    with log.open("wb") as out:
        subprocess.run([install, "--no-defaults", f"--datadir={data}", "--skip-test-db",
                        "--auth-root-authentication-method=normal", *user],
                       stdout=out, stderr=subprocess.STDOUT, check=True, timeout=120)
    server = OwnServer("MariaDB", port)
    server.process = subprocess.Popen(
        [daemon, "--no-defaults", f"--datadir={data}", f"--port={server.port}",
         "--bind-address=127.0.0.1", f"--socket={sock}", f"--pid-file={base / 'pid'}",
         "--max-allowed-packet=64M", "--skip-log-bin", *user],
        stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)

    def ready() -> bool:
        try:
            pymysql.connect(unix_socket=str(sock), user="root", connect_timeout=1).close()
            return True
        except pymysql.MySQLError:
            return False

    wait_for(ready, "MariaDB", server.process, log)
    # root without a password over TCP too (install-db made root@localhost only).
    conn = pymysql.connect(unix_socket=str(sock), user="root", autocommit=True)
    with conn.cursor() as cursor:
        cursor.execute("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''")
        cursor.execute("GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION")
    conn.close()
    return server


def start_rabbitmq(base: Path, port: int) -> OwnServer:
    script = program("rabbitmq-server", "rabbitmq-server", RABBITMQ_SCRIPTS)
    server = OwnServer("RabbitMQ", port)
    (base / "enabled_plugins").write_text("[].\n")  # no management listener on 15672
    (base / "rabbitmq.conf").write_text(f"listeners.tcp.default = {server.port}\n")
    log = base / "rabbitmq.log"
    env = {**os.environ, "HOME": str(base),  # its own Erlang cookie
           "RABBITMQ_NODENAME": f"sav-test-{uuid.uuid4().hex[:8]}@localhost",
           "RABBITMQ_NODE_PORT": str(server.port), "RABBITMQ_DIST_PORT": str(free_port()),
           "RABBITMQ_MNESIA_BASE": str(base / "mnesia"), "RABBITMQ_LOG_BASE": str(base / "log"),
           "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
           "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
           "RABBITMQ_PID_FILE": str(base / "pid")}
    server.process = subprocess.Popen([script], env=env, cwd=base, stdout=log.open("wb"),
                                      stderr=subprocess.STDOUT, start_new_session=True)
    wait_for(lambda: answers("127.0.0.1", server.port), "RabbitMQ", server.process, log)
    return server


def start_redis(base: Path, port: int) -> OwnServer:
    daemon = program("redis-server", "redis-server")
    server = OwnServer("Redis", port)
    log = base / "redis.log"
    server.process = subprocess.Popen(
        [daemon, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", str(base)],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    wait_for(lambda: answers("127.0.0.1", port), "Redis", server.process, log)
    return server


@dataclass
class TestServices:
    """The servers this run starts itself (none when the machine's servers answer):
    planned before the tests are collected (their ports go into the environment the
    test helpers read), started only if a selected test may need them."""

    planned: dict[str, int] = field(default_factory=dict)  # "MYSQL"/"RABBITMQ" → port
    own: list[OwnServer] = field(default_factory=list)
    directory: Path | None = None

    def start(self) -> None:
        if self.own or not self.planned:
            return
        self.directory = Path(tempfile.mkdtemp(prefix="sav-test-services-"))
        try:
            for kind, port in self.planned.items():
                base = self.directory / kind.lower()
                base.mkdir()
                self.own.append(STARTERS[kind](base, port))
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for server in reversed(self.own):
            server.stop()
        self.own.clear()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


STARTERS = {"MYSQL": start_mariadb, "RABBITMQ": start_rabbitmq, "REDIS": start_redis}
DEFAULT_PORTS = {"MYSQL": 3306, "RABBITMQ": 5672, "REDIS": 6379}


def plan_test_services(env: MutableMapping[str, str]) -> TestServices:
    """Point `SAV_TEST_MYSQL_*` / `SAV_TEST_RABBITMQ_*` in `env` at the servers the run
    will use: the machine's where they answer, else throwaway ones (see the docstring)."""
    mode = env.get("SAV_TEST_SERVICES", "auto")
    if mode not in ("auto", "own", "machine"):
        raise ValueError(f"SAV_TEST_SERVICES must be auto, own or machine, got {mode!r}")
    services = TestServices()
    if mode == "machine":
        return services
    for kind, default in DEFAULT_PORTS.items():
        host = env.get(f"SAV_TEST_{kind}_HOST", "127.0.0.1")
        port = int(env.get(f"SAV_TEST_{kind}_PORT", str(default)))
        if mode == "auto" and answers(host, port):
            continue
        services.planned[kind] = free_port()
        env[f"SAV_TEST_{kind}_HOST"] = "127.0.0.1"
        env[f"SAV_TEST_{kind}_PORT"] = str(services.planned[kind])
        if kind == "MYSQL":
            env["SAV_TEST_MYSQL_USER"], env["SAV_TEST_MYSQL_PASSWORD"] = "root", ""
    return services

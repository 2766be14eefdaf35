"""What a command needs, checked before it starts (issue 20): the database answers and
accepts the login (the data keys' own database too, when set), and, for the workers that
publish or consume, the broker. A failure is one line on stderr naming the variables and
what was tried (host, port, user; never a password) and exit code 3: a wrong `DB_HOST`
used to print 124 lines of three chained driver exceptions, after 12 s on an unroutable
host. Tracebacks stay for bugs."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

from sav.config import Settings
from sav.eventstore.db import CONNECT_TIMEOUT_SECONDS

EXIT_UNAVAILABLE = 3
# MySQL/MariaDB error codes: the login was refused (1044/1045/1698: access denied;
# 1130: this client host is not allowed) or the server did not answer (2003: no
# connection, 2005: unknown host, 2013: the connection dropped during the handshake).
LOGIN_REFUSED = {1044, 1045, 1698, 1130}
NOT_ANSWERING = {2002, 2003, 2005, 2006, 2013}


class Unavailable(Exception):
    """A dependency the command needs does not answer or refuses the login: str() is the
    line for the operator."""


class NotAnswering(Unavailable):
    """The broker does not answer (yet): unlike a refused login, not a configuration
    error. The workers that use it retry on their own, and the others do not need it."""


@dataclass(frozen=True)
class MySQLServer:
    what: str  # "the database", "the data keys' database"
    prefix: str  # the variables' prefix: DB_HOST, SAV_KEYS_DB_HOST, ...
    host: str
    port: int
    user: str
    password: str

    def tried(self) -> str:
        return (f"tried {self.user}@{self.host}:{self.port} "
                f"({self.prefix}_USERNAME@{self.prefix}_HOST:{self.prefix}_PORT)")


def mysql_servers(settings: Settings) -> Iterator[MySQLServer]:
    if settings.is_mysql:
        yield MySQLServer("the database", "DB", settings.db_host, settings.db_port,
                          settings.db_username, settings.db_password)
    if settings.keys_db_connection == "mysql":
        yield MySQLServer("the data keys' database", "SAV_KEYS_DB", settings.keys_db_host,
                          settings.keys_db_port, settings.keys_db_username,
                          settings.keys_db_password)


def check_database(settings: Settings) -> None:
    """Raise Unavailable unless every database the settings name can be used."""
    if not settings.is_mysql:
        check_data_dir(settings)
    for server in mysql_servers(settings):
        check_mysql(server)


def check_data_dir(settings: Settings) -> None:
    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise Unavailable(f"sav: cannot create SAV_DATA_DIR={path} (the SQLite database "
                          f"lives there): {error.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise Unavailable(f"sav: cannot write in SAV_DATA_DIR={path} (the SQLite database "
                          "lives there): permission denied") from None


def check_mysql(server: MySQLServer, timeout: float = CONNECT_TIMEOUT_SECONDS) -> None:
    """Connect once, to the server only: the database itself may not exist yet (the
    first use creates it). The handshake is bounded too: something that accepts the
    connection and says nothing (a proxy, another service) fails as fast."""
    import pymysql

    try:
        pymysql.connect(host=server.host, port=server.port, user=server.user,
                        password=server.password, connect_timeout=timeout,
                        read_timeout=timeout, write_timeout=timeout).close()
    except pymysql.err.MySQLError as error:
        raise Unavailable(describe_mysql(server, error, timeout)) from None


def describe_mysql(server: MySQLServer, error: BaseException, timeout: float) -> str:
    code = error.args[0] if error.args and isinstance(error.args[0], int) else None
    reason = str(error.args[1] if len(error.args) > 1 else error)
    if code in LOGIN_REFUSED:
        password = "set, not shown" if server.password else "empty"
        return (f"sav: {server.what} refused the login: {server.tried()} with "
                f"{server.prefix}_PASSWORD ({password}): {one_line(reason)}; check "
                f"{server.prefix}_USERNAME and {server.prefix}_PASSWORD")
    if "timed out" in reason or code == 2013:
        return (f"sav: {server.what} did not answer within {timeout:g} s: {server.tried()}; "
                f"check {server.prefix}_HOST, {server.prefix}_PORT and the network to it")
    found = re.search(r"\[Errno -?\d+\] ([^)]+)", reason)
    return (f"sav: cannot connect to {server.what}: {server.tried()}: "
            f"{found.group(1) if found else one_line(reason)}; check {server.prefix}_HOST "
            f"and {server.prefix}_PORT, and that the server runs")


def mysql_error_in(error: BaseException) -> BaseException | None:
    """The driver's connection or login error behind `error` (SQLAlchemy and the event
    store wrap it), if that is what `error` is."""
    import pymysql

    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if (isinstance(current, pymysql.err.OperationalError) and current.args
                and current.args[0] in LOGIN_REFUSED | NOT_ANSWERING):
            return current
        todo += [current.__cause__, current.__context__, getattr(current, "orig", None)]
    return None


def describe_failure(settings: Settings, error: BaseException) -> str | None:
    """The one line for a connection or login error met after the checks (the server
    went away meanwhile), else None: anything else is a bug and keeps its traceback."""
    found = mysql_error_in(error)
    servers = list(mysql_servers(settings))
    if found is None or not servers:
        return None
    return describe_mysql(servers[0], found, CONNECT_TIMEOUT_SECONDS)


def check_broker(settings: Settings) -> None:
    """The broker accepts the login (when RABBITMQ_HOST is set): Unavailable if it
    refuses it or the virtual host, NotAnswering if nothing answers."""
    if settings.rabbitmq_host:
        asyncio.run(_check_broker(settings))


async def _check_broker(settings: Settings) -> None:
    import aiormq

    from sav.workers.amqp import CONNECT_TIMEOUT, amqp_url, close_quietly, connect

    tried = (f"tried {settings.rabbitmq_user}@{settings.rabbitmq_host}:"
             f"{settings.rabbitmq_port} vhost {settings.rabbitmq_vhost} (RABBITMQ_USER@"
             "RABBITMQ_HOST:RABBITMQ_PORT, RABBITMQ_VHOST)")
    quiet = logging.getLogger("aiormq")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # it logs the refused connection before raising it
    try:
        connection = await connect(amqp_url(settings), "sav-check")
    except aiormq.exceptions.ProbableAuthenticationError as error:
        password = "set, not shown" if settings.rabbitmq_password else "empty"
        raise Unavailable(f"sav: the broker refused the login: {tried} with "
                          f"RABBITMQ_PASSWORD ({password}): {one_line(str(error.args[0]))}; "
                          "check RABBITMQ_USER and RABBITMQ_PASSWORD") from None
    except TimeoutError:
        raise NotAnswering(f"sav: the broker did not answer within {CONNECT_TIMEOUT:g} s: "
                           f"{tried}; check RABBITMQ_HOST, RABBITMQ_PORT and the network "
                           "to it") from None
    except OSError as error:  # refused, unknown host, unreachable network
        reason = error.args[-1] if error.args else error
        raise NotAnswering(f"sav: cannot connect to the broker: {tried}: "
                           f"{one_line(str(reason))}; check RABBITMQ_HOST, RABBITMQ_PORT "
                           "and that the broker runs") from None
    except aiormq.exceptions.AMQPError as error:  # e.g. a virtual host that does not exist
        reason = one_line(str(error))
        if " object at 0x" in reason:  # aiormq names the frame, not the broker's reason
            reason = "it closed the connection during the handshake"
        raise Unavailable(f"sav: the broker refused the connection: {tried}: {reason}; "
                          "check RABBITMQ_VHOST and the user's permissions on it") from None
    finally:
        quiet.setLevel(level)
    await close_quietly(connection)


def one_line(text: str) -> str:
    return " ".join(text.split())

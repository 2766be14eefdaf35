"""Ceilings measured next to the service in the same run: a bare Sanic JSON route, raw
INSERT+COMMIT loops and a raw read of the events table, on the very database the service
uses (same file or same MariaDB database, same isolation and SQLite pragmas).

Nothing here imports sav, so the ceilings do not move when sav's internals do.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BARE_SANIC = textwrap.dedent("""
    import sys
    from sanic import Sanic
    from sanic.response import json
    app = Sanic("bare")
    app.config.AUTO_EXTEND = False
    @app.get("/ping")
    async def ping(request):
        return json({"status": "ok"})
    app.run(host="127.0.0.1", port=int(sys.argv[1]), single_process=True, access_log=False,
            motd=False)
""")
PAYLOAD = "x" * 300  # about the size of a stored ticket event
# (a) of issue 21: what any web service persisting a write must do. One process, a POST
# route that parses the JSON body and commits one ~500-byte row: through aiomysql (READ
# COMMITTED, a pool as wide as the clients) or sqlite3 on one thread with SAV's pragmas.
BARE_SANIC_INSERT = textwrap.dedent("""
    import asyncio, json, sqlite3, sys
    from concurrent.futures import ThreadPoolExecutor
    from sanic import Sanic
    from sanic.response import json as answer
    port, kind, target = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    app = Sanic("bare_insert")
    app.config.AUTO_EXTEND = False
    ROW = "INSERT INTO bench_writes (payload) VALUES ({})"

    @app.before_server_start
    async def connect(app, _loop):
        if kind == "mysql":
            import aiomysql
            app.ctx.pool = await aiomysql.create_pool(
                minsize=1, maxsize=64, autocommit=False, init_command=
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", **target)
        else:
            app.ctx.db = sqlite3.connect(target["path"], isolation_level=None,
                                         check_same_thread=False, timeout=30)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
                app.ctx.db.execute("PRAGMA " + pragma)
            app.ctx.thread = ThreadPoolExecutor(1)

    def write_sqlite(db, payload):
        db.execute("BEGIN IMMEDIATE")
        db.execute(ROW.format("?"), (payload,))
        db.execute("COMMIT")

    @app.post("/rows")
    async def add(request):
        payload = json.dumps(request.json) + "x" * 400
        if kind == "mysql":
            async with app.ctx.pool.acquire() as conn:
                async with conn.cursor() as cur:
                    await cur.execute(ROW.format("%s"), (payload,))
                await conn.commit()
        else:
            await asyncio.get_running_loop().run_in_executor(
                app.ctx.thread, write_sqlite, app.ctx.db, payload)
        return answer({"ok": True}, status=201)

    @app.get("/ping")
    async def ping(request):
        return answer({"status": "ok"})

    app.run(host="127.0.0.1", port=port, single_process=True, access_log=False, motd=False)
""")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[Any], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server did not answer {url} within {timeout:.0f}s")


def taskset(cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus] if cpus else []


@contextmanager
def bare_sanic(cpus: str | None = None) -> Iterator[str]:
    """A Sanic app with one JSON route, one process; yields its URL."""
    port = free_port()
    server = subprocess.Popen([*taskset(cpus), sys.executable, "-c", BARE_SANIC, str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/ping"
    try:
        wait_until_up(url, server)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=15)


def cpu_seconds(pid: int) -> float:
    """User and system time of a process (all its threads) and its waited-for children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


@contextmanager
def bare_sanic_insert(raw: RawDb, cpus: str | None = None,
                      pids: list[int] | None = None) -> Iterator[str]:
    """(a): a Sanic app whose POST /rows commits one row into `bench_writes` of the
    service's database (made here, dropped after); yields that route's URL (and puts
    the server's process id into `pids`, for its CPU time)."""
    raw.execute("DROP TABLE IF EXISTS bench_writes")
    raw.execute("CREATE TABLE bench_writes (id INTEGER PRIMARY KEY AUTO_INCREMENT, "
                "payload TEXT NOT NULL)" if raw.mysql else
                "CREATE TABLE bench_writes (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
    target = ({**raw.mysql, "db": raw.mysql["database"]} if raw.mysql
              else {"path": str(raw.sqlite_path)})
    target.pop("database", None)
    port = free_port()
    server = subprocess.Popen([*taskset(cpus), sys.executable, "-c", BARE_SANIC_INSERT,
                               str(port), "mysql" if raw.mysql else "sqlite",
                               json.dumps(target)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if pids is not None:
        pids.append(server.pid)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/ping", server)
        yield f"http://127.0.0.1:{port}/rows"
    finally:
        server.terminate()
        server.wait(timeout=15)
        raw.execute("DROP TABLE bench_writes")


@contextmanager
def pinned(cpus: str | None) -> Iterator[None]:
    """Run this thread (and the threads it starts) on `cpus` only."""
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@dataclass
class RawDb:
    """DB-API connections to the service's database, configured as the service does."""

    sqlite_path: Path | None = None
    mysql: dict[str, Any] | None = None

    def connect(self) -> Any:
        if self.sqlite_path is not None:
            conn = sqlite3.connect(self.sqlite_path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            return conn
        import pymysql

        assert self.mysql is not None
        conn = pymysql.connect(**self.mysql, autocommit=False)
        with conn.cursor() as cur:
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        return conn

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(sql)
            rows = list(cur.fetchall())
            conn.commit()
            return rows
        finally:
            conn.close()

    def count(self, table: str) -> int:
        return int(self.execute(f"SELECT COUNT(*) FROM {table}")[0][0])

    def insert_rate(self, connections: int, seconds: float) -> float:
        """Rows/s of one-row INSERT+COMMIT transactions, `connections` threads in a loop."""
        self.execute("DROP TABLE IF EXISTS bench_rows")
        self.execute("CREATE TABLE bench_rows (id INTEGER PRIMARY KEY AUTO_INCREMENT, "
                     "payload TEXT NOT NULL)" if self.mysql else
                     "CREATE TABLE bench_rows (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        counts = [0] * connections
        deadline = time.perf_counter() + seconds

        def loop(slot: int) -> None:
            conn = self.connect()
            cur = conn.cursor()
            insert = "INSERT INTO bench_rows (payload) VALUES (%s)" if self.mysql else \
                "INSERT INTO bench_rows (payload) VALUES (?)"
            try:
                while time.perf_counter() < deadline:
                    if self.sqlite_path is not None:
                        cur.execute("BEGIN IMMEDIATE")  # as the service's write transactions
                    cur.execute(insert, (PAYLOAD,))
                    if self.mysql:
                        conn.commit()
                    else:
                        cur.execute("COMMIT")
                    counts[slot] += 1
            finally:
                conn.close()

        started = time.perf_counter()
        threads = [threading.Thread(target=loop, args=(i,)) for i in range(connections)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        self.execute("DROP TABLE bench_rows")
        return sum(counts) / elapsed

    def fetch_rate(self, table: str) -> tuple[int, float]:
        """(rows, rows/s) of `SELECT *` over a whole table, fetched in batches of 1000."""
        conn = self.connect()
        try:
            started = time.perf_counter()
            cur = conn.cursor()
            cur.execute(f"SELECT * FROM {table}")
            rows = 0
            while batch := cur.fetchmany(1000):
                rows += len(batch)
            elapsed = time.perf_counter() - started
            conn.commit()
        finally:
            conn.close()
        return rows, rows / elapsed


def find_sqlite_file(data_dir: Path) -> Path:
    """The service's SQLite file in its data directory (the largest one)."""
    files = [p for suffix in ("*.sqlite3", "*.sqlite", "*.db") for p in data_dir.rglob(suffix)]
    if not files:
        raise RuntimeError(f"no SQLite file under {data_dir}")
    return max(files, key=lambda p: p.stat().st_size)

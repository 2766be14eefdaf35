"""Benchmark: queries per second of an idle `sav serve`, by source, on both profiles.

`sav serve` runs with every in-process worker a production-like deployment has
(projector, event log, scheduler, webhooks, mail sender, and the publisher and consumer
on a RabbitMQ exchange and queue of its own), on a throwaway store, and nobody calls it.
After a warm-up, queries are counted for `--seconds`:

- by the server (MariaDB): `information_schema.USER_STATISTICS` of a user made for this
  run alone (`SET GLOBAL userstat=1`), so other clients of the shared server do not
  count; statements = SELECT_COMMANDS + UPDATE_COMMANDS + OTHER_COMMANDS (COMMIT and
  ROLLBACK are among the others). `SHOW GLOBAL STATUS LIKE 'Questions'` is printed next
  to it (every client of the server: an upper bound);
- in the process (both profiles): a `sitecustomize` put on the server's PYTHONPATH
  counts what goes over the wire (each PyMySQL command: statements, COMMIT, ROLLBACK,
  pings; each statement SQLite runs, by its trace callback), by the code that sent it
  (thread and the innermost `sav` function that is not plumbing), and writes the counts
  to a file every second.

Not a test: it prints figures.

    python scripts/bench/idle.py [--profiles sqlite,mysql] [--seconds 30] [--warmup 15]
                                 [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ceilings import RawDb
from sav_process import SavServer, mysql_params, new_jwt_secret, open_store

PROBE = textwrap.dedent('''
    """Counts what this process sends to its database (scripts/bench/idle.py)."""
    import collections, json, os, sys, threading, time

    _DIR = os.environ.get("SAV_BENCH_PROBE_DIR")
    _counts = collections.Counter()
    _lock = threading.Lock()

    def _source():
        """Thread and the innermost `sav` function that is not plumbing."""
        frame = sys._getframe(2)
        while frame is not None:
            name = frame.f_code.co_filename
            if "/sav/" in name and not any(part in name for part in _PLUMBING):
                where = name.rsplit("/sav/", 1)[1][:-3].replace("/", ".")
                return f"{where}.{frame.f_code.co_name}"
            frame = frame.f_back
        return "?"

    _PLUMBING = ("/sav/eventstore/db.py", "/sav/eventstore/recorder.py",
                 "/sav/eventstore/tracking.py", "/sav/history/feed.py")

    def _count(kind):
        thread = threading.current_thread().name
        if thread.startswith(("asyncio_", "uvloop_")):
            thread = "to_thread"
        key = f"{kind}\t{thread}\t{_source()}"
        with _lock:
            _counts[key] += 1

    def _dump():
        path = os.path.join(_DIR, f"{os.getpid()}.json")
        while True:
            time.sleep(1.0)
            with _lock:
                data = json.dumps(dict(_counts))
            with open(path + ".tmp", "w") as out:
                out.write(data)
            os.replace(path + ".tmp", path)

    def _kind(sql):
        words = sql.lstrip().split(None, 1) if sql else []
        return words[0].upper() if words else "?"

    def _install():
        # What goes over the wire: PyMySQL's commands (queries, COMMIT, ROLLBACK, pings)
        # and each statement SQLite runs (its trace callback).
        import pymysql.connections
        from sqlalchemy import event
        from sqlalchemy.pool import Pool

        execute = pymysql.connections.Connection._execute_command

        def _execute_command(self, command, sql):
            _count("PING" if command == 14 else _kind(
                sql.decode(errors="replace") if isinstance(sql, bytes) else sql))
            return execute(self, command, sql)

        pymysql.connections.Connection._execute_command = _execute_command

        @event.listens_for(Pool, "connect")
        def _connect(dbapi_connection, record):
            if hasattr(dbapi_connection, "set_trace_callback"):
                dbapi_connection.set_trace_callback(lambda sql: _count(_kind(sql)))

        threading.Thread(target=_dump, name="bench-probe", daemon=True).start()

    if _DIR:
        _install()
''')


def probe_counts(directory: Path) -> dict[str, int]:
    total: dict[str, int] = {}
    for path in directory.glob("*.json"):
        for key, value in json.loads(path.read_text()).items():
            total[key] = total.get(key, 0) + value
    return total


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


class ServerCount:
    """Statements of one MariaDB user, as the server counts them."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.raw = RawDb(mysql=mysql_params())

    def statements(self) -> int:
        rows = self.raw.execute(
            "SELECT SELECT_COMMANDS + UPDATE_COMMANDS + OTHER_COMMANDS FROM "
            f"information_schema.USER_STATISTICS WHERE USER = '{self.user}'")
        return int(rows[0][0]) if rows else 0

    def questions(self) -> int:
        return int(self.raw.execute("SHOW GLOBAL STATUS LIKE 'Questions'")[0][1])


def production_like(env: dict[str, str], probe_dir: Path, suffix: str) -> dict[str, str]:
    """Every in-process worker on: a broker (own exchange and queue), a mail relay."""
    return {**env, "PYTHONPATH": str(probe_dir.parent), "SAV_BENCH_PROBE_DIR": str(probe_dir),
            "RABBITMQ_HOST": os.environ.get("RABBITMQ_HOST", "127.0.0.1"),
            "RABBITMQ_EXCHANGE": f"sav-idle-{suffix}", "RABBITMQ_QUEUE": f"sav-idle-{suffix}",
            "SMTP_HOST": "127.0.0.1", "SMTP_PORT": "2525", "SAV_INPROCESS_WORKERS": "true"}


def measure(profile: str, seconds: float, warmup: float, workers: int) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    with open_store(profile, new_jwt_secret()) as store:
        probe_dir = store.root / "probe" / "counts"
        probe_dir.mkdir(parents=True)
        (probe_dir.parent / "sitecustomize.py").write_text(PROBE)
        store.env.update(production_like(store.env, probe_dir, suffix))
        server_count: ServerCount | None = None
        admin = RawDb(mysql=mysql_params())
        if profile == "mysql":
            user = f"sav_idle_{suffix}"
            admin.execute("SET GLOBAL userstat = 1")
            admin.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{suffix}'")
            admin.execute(f"GRANT ALL ON `{store.env['DB_DATABASE']}`.* TO '{user}'@'%'")
            store.env.update(DB_USERNAME=user, DB_PASSWORD=suffix)
            server_count = ServerCount(user)
        try:
            with SavServer(store, workers=workers) as server:
                time.sleep(warmup)
                before = probe_counts(probe_dir)
                server_before = server_count.statements() if server_count else 0
                questions_before = server_count.questions() if server_count else 0
                started = time.monotonic()
                time.sleep(seconds)
                elapsed = time.monotonic() - started
                after = probe_counts(probe_dir)
                server_after = server_count.statements() if server_count else 0
                questions_after = server_count.questions() if server_count else 0
                errors = server.errors()
        finally:
            if server_count is not None:
                admin.execute(f"DROP USER IF EXISTS '{server_count.user}'@'%'")
            drop_broker_objects(f"sav-idle-{suffix}")
    counted = delta(after, before)
    return {"profile": profile, "workers": workers, "seconds": elapsed, "counted": counted,
            "server": (server_after - server_before) / elapsed if server_count else None,
            "questions": (questions_after - questions_before) / elapsed if server_count
            else None, "errors": errors}


def drop_broker_objects(name: str) -> None:
    """The run's exchange and queue (the server declared them)."""
    import asyncio

    import aiormq

    async def drop() -> None:
        host = os.environ.get("RABBITMQ_HOST", "127.0.0.1")
        async with aiormq.connect(f"amqp://guest:guest@{host}/") as connection:
            channel = await connection.channel()
            await channel.queue_delete(name)
            await channel.exchange_delete(name)

    try:
        asyncio.run(drop())
    except Exception as error:  # the figures stand without the clean-up
        print(f"  (could not delete the broker's {name}: {error!r})")


def report(result: dict[str, Any]) -> None:
    seconds = result["seconds"]
    counted = result["counted"]
    statements = sum(v for k, v in counted.items() if not k.startswith("PING"))
    pings = sum(v for k, v in counted.items() if k.startswith("PING"))
    print(f"\n{result['profile']}: idle `sav serve --workers {result['workers']}`, "
          f"{seconds:.0f} s, load average "
          f"{os.getloadavg()[0]:.2f}")
    if result["server"] is not None:
        print(f"  server-side statements of its user: {result['server']:6.2f} /s   "
              f"(goal <= 2; global Questions, every client: {result['questions']:.1f} /s)")
    print(f"  sent by the process (probe):         {statements / seconds:6.2f} /s   "
          f"(and {pings / seconds:.2f} pings/s: the pool's pre-ping, not a query)")
    by_source: dict[tuple[str, str], dict[str, int]] = {}
    for key, value in counted.items():
        kind, thread, source = key.split("\t")
        if kind != "PING":
            kinds = by_source.setdefault((thread, source), {})
            kinds[kind] = kinds.get(kind, 0) + value
    for (thread, source), kinds in sorted(by_source.items(),
                                          key=lambda item: -sum(item[1].values())):
        detail = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda i: -i[1]))
        print(f"    {sum(kinds.values()) / seconds:6.2f} /s  {thread:16} {source}  ({detail})")
    for line in result["errors"]:
        print(f"  server error: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", default="sqlite,mysql")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=1,
                        help="`sav serve --workers N`: one leads, the others stand by")
    args = parser.parse_args()
    for profile in args.profiles.split(","):
        report(measure(profile, args.seconds, args.warmup, args.workers))


if __name__ == "__main__":
    main()

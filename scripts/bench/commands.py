"""Benchmark: create-ticket commands/s and GET /tickets/{id} requests/s over HTTP.

Measured next to, in the same run: a bare Sanic JSON route (the HTTP ceiling) and a raw
single-row INSERT+COMMIT loop on the same database (the durability ceiling). The ratios
are what we track. Not a test: it prints figures.

    python scripts/bench/commands.py [--profiles sqlite,mysql] [--requests 2000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import orjson
from ceilings import bare_sanic, free_port, wait_until_up
from sqlalchemy import text

from sav.eventstore.db import build_engine

ROOT = Path(__file__).resolve().parents[2]


async def drive(method: str, urls: list[str], body: bytes | None, headers: dict[str, str],
                concurrency: int) -> tuple[float, list[bytes]]:
    """Send one request per url with `concurrency` in flight; returns (req/s, bodies)."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)
    bodies: list[bytes] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            while not queue.empty():
                url = queue.get_nowait()
                async with session.request(method, url, data=body) as response:
                    payload = await response.read()
                    if response.status >= 300:
                        raise RuntimeError(f"{response.status} {payload[:200]!r}")
                    bodies.append(payload)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(urls) / elapsed, bodies


def raw_insert_rate(url: str, rows: int) -> float:
    engine = build_engine(url, pool_size=1)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_rows"))
        conn.execute(text("CREATE TABLE bench_rows (id INTEGER PRIMARY KEY, payload TEXT)"))
    started = time.perf_counter()
    with engine.connect() as conn:
        for i in range(rows):
            conn.execute(text("INSERT INTO bench_rows (id, payload) VALUES (:i, :p)"),
                         {"i": i, "p": "x" * 200})
            conn.commit()
    elapsed = time.perf_counter() - started
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_rows"))
    engine.dispose()
    return rows / elapsed


def profile_env(profile: str, data_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "RABBITMQ_", "MINIO_"))}
    env.update(SAV_DATA_DIR=data_dir, AUTH_JWT_SECRET="bench-secret-" + uuid.uuid4().hex)
    if profile == "mysql":
        env.update(DB_CONNECTION="mysql", DB_HOST=os.environ.get("DB_HOST", "127.0.0.1"),
                   DB_DATABASE=f"sav_bench_{uuid.uuid4().hex[:8]}",
                   DB_USERNAME=os.environ.get("DB_USERNAME", "root"),
                   DB_PASSWORD=os.environ.get("DB_PASSWORD", ""))
    return env


def bench_profile(profile: str, requests: int, concurrency: int) -> dict[str, float]:
    from sav.api.auth import issue_token
    from sav.config import load_settings

    with tempfile.TemporaryDirectory() as data_dir:
        env = profile_env(profile, data_dir)
        settings = load_settings(env)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "sav.cli", "serve", "--port", str(port)],
                                  env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(f"{base}/health", server)
            token = issue_token(settings.auth_jwt_secret, "bench-customer", "customer")
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            body = orjson.dumps({"subject": "Order not received", "description": "bench",
                                 "priority": "normal"})
            create_rate, created = asyncio.run(drive(
                "POST", [f"{base}/tickets"] * requests, body, headers, concurrency))
            ids = [orjson.loads(b)["id"] for b in created]
            get_rate, _ = asyncio.run(drive(
                "GET", [f"{base}/tickets/{ids[i % len(ids)]}" for i in range(requests)], None,
                headers, concurrency))
        finally:
            server.terminate()
            server.wait(timeout=15)
        insert_rate = raw_insert_rate(settings.database_url, min(requests, 2000))
        if settings.is_mysql:
            engine = build_engine(settings.database_url, pool_size=1)
            with engine.begin() as conn:
                conn.execute(text(f"DROP DATABASE `{settings.db_database}`"))
            engine.dispose()
    return {"create": create_rate, "get": get_rate, "insert": insert_rate}


def bench_bare_sanic(requests: int, concurrency: int) -> float:
    with bare_sanic() as url:
        rate, _ = asyncio.run(drive("GET", [url] * requests, None, {}, concurrency))
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", default="sqlite,mysql")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    bare = bench_bare_sanic(args.requests, args.concurrency)
    print(f"bare Sanic JSON route           {bare:9.0f} req/s")
    for profile in args.profiles.split(","):
        r = bench_profile(profile, args.requests, args.concurrency)
        print(f"[{profile}] POST /tickets (create)   {r['create']:9.0f} commands/s"
              f"   ({r['create'] / r['insert']:.2f}x raw INSERT+COMMIT, "
              f"{r['create'] / bare:.3f}x bare Sanic)")
        print(f"[{profile}] GET /tickets/{{id}}        {r['get']:9.0f} req/s"
              f"        ({r['get'] / bare:.3f}x bare Sanic)")
        print(f"[{profile}] raw INSERT+COMMIT loop    {r['insert']:9.0f} rows/s")


if __name__ == "__main__":
    main()

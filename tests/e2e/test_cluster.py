"""Two APIs and two `sav worker all` on one MariaDB and one RabbitMQ, started by
`scripts/cluster.sh` as an operator would: writes through either API read back at once
on it, ticket numbers stay unique, and `kill -9` of the worker holding the jobs hands
every job to the standby within the lease TTL, losing and duplicating nothing in the
read tables or on the exchange. Prints the takeover time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiormq
import httpx
import pytest

from sav.api.auth import issue_token
from tests.support.broker import (
    RABBIT_URL,
    Tap,
    body,
    delete_names,
    publish,
    rabbit_env,
    unique_names,
)
from tests.support.settings import JWT_SECRET, drop_mysql_database, mysql_env

pytestmark = [pytest.mark.mysql, pytest.mark.rabbitmq]

REPO = Path(__file__).resolve().parents[2]
LEASE_TTL = 3.0
# Every job a worker leases (sav.workers.inprocess.KINDS), the senders included.
JOBS = {"projections", "publisher", "consumer", "scheduler", "event-log", "webhooks", "mail"}
ORDER = {"order_id": "C-77", "user_id": 77, "issue_type": "not_received",
         "description": "Parcel never arrived", "priority": "high"}


def bearer(sub: str, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(JWT_SECRET, sub, role, None, None)}"}


ADMIN = bearer("admin-1", "admin")
CUSTOMERS = [bearer(f"cust-{n}", "customer") for n in range(3)]


class Cluster:
    def __init__(self, state: dict[str, str], names: dict[str, str]) -> None:
        self.apis = [state["API_1_URL"], state["API_2_URL"]]
        self.workers = [state["WORKER_1_HEALTH_URL"], state["WORKER_2_HEALTH_URL"]]
        self.worker_pids = [int(state["WORKER_1_PID"]), int(state["WORKER_2_PID"])]
        self.names = names


def cluster_env(tmp_path: Path, database: str, names: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DB_", "RABBITMQ_", "MINIO_", "SAV_", "AUTH_"))}
    sav = Path(sys.executable).with_name("sav")
    env.update(mysql_env(), **rabbit_env(names), DB_DATABASE=database,
               CLUSTER_DIR=str(tmp_path / "cluster"), AUTH_JWT_SECRET=JWT_SECRET,
               SAV_WORKER_LEASE_TTL=str(LEASE_TTL), SAV_BIN=str(sav),
               # Writes during the takeover wait for the new projector instead of a 503.
               SAV_READ_YOUR_WRITES_TIMEOUT="20",
               SAV_PUBLIC_RATE_LIMIT="4", SAV_TRUSTED_PROXIES="127.0.0.1")
    return env


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    names, database = unique_names(), f"sav_test_{uuid.uuid4().hex[:12]}"
    env = cluster_env(tmp_path, database, names)
    script = [str(REPO / "scripts" / "cluster.sh")]
    started = await asyncio.to_thread(subprocess.run, [*script, "start"], env=env,
                                      capture_output=True, text=True, timeout=180)
    try:
        assert started.returncode == 0, started.stderr + logs(tmp_path)
        state = dict(line.split("=", 1) for line in
                     (tmp_path / "cluster" / "cluster.env").read_text().split())
        yield Cluster(state, names)
    finally:
        await asyncio.to_thread(subprocess.run, [*script, "stop"], env=env, timeout=60)
        drop_mysql_database(database)
        await delete_names(names)


def logs(tmp_path: Path) -> str:
    return "".join(f"\n--- {path.name}\n{path.read_text()[-3000:]}"
                   for path in sorted((tmp_path / "cluster" / "logs").glob("*.log")))


async def status(http: httpx.AsyncClient, worker: str) -> dict[str, Any] | None:
    try:
        response = await http.get(f"{worker}/status", timeout=2)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


async def create_and_read_back(http: httpx.AsyncClient, api: str, n: int) -> dict[str, Any]:
    who = CUSTOMERS[n % len(CUSTOMERS)]
    created = await http.post(f"{api}/tickets", headers=who, json={
        "subject": f"Cluster ticket {n}", "description": "Spread over two APIs"})
    assert created.status_code == 201, created.text
    ticket: dict[str, Any] = created.json()
    read = await http.get(f"{api}/tickets/{ticket['id']}", headers=who)
    assert read.status_code == 200 and read.json()["version"] == ticket["version"]
    return ticket


async def every_ticket(http: httpx.AsyncClient, api: str) -> list[dict[str, Any]]:
    tickets: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = (await http.get(f"{api}/tickets", headers=ADMIN,
                               params={"limit": 100, **({"cursor": cursor} if cursor else {})}
                               )).json()
        tickets += page["data"]
        cursor = page["pagination"].get("next_cursor")
        if not cursor:
            return tickets


async def until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_the_standby_worker_takes_over_every_job_and_nothing_is_lost(
        cluster: Cluster) -> None:
    async with Tap(cluster.names["RABBITMQ_EXCHANGE"]) as tap, \
            httpx.AsyncClient(timeout=30) as http:
        one, two = cluster.workers
        assert set((await status(http, one) or {})["leases"]) == JOBS

        async def standing_by() -> bool:  # consuming (every worker does), nothing else
            return ((await status(http, two)) or {}).get("leases") == ["consumer"]
        await until(standing_by, 30, "the standby's consumer")

        created = [await create_and_read_back(http, cluster.apis[n % 2], n) for n in range(10)]

        async def published_everything() -> bool:
            lag = ((await status(http, one)) or {}).get("lag") or {}
            return lag.get("publisher", {}).get("lag_events") == 0
        await until(published_everything, 30, "the publisher to catch up")

        os.kill(cluster.worker_pids[0], signal.SIGKILL)
        killed_at = time.monotonic()
        # Writes while no worker projects: they wait for the standby's projector.
        during = asyncio.gather(*(create_and_read_back(http, cluster.apis[n % 2], n)
                                  for n in range(10, 14)))

        async def standby_holds_every_job() -> bool:
            return set(((await status(http, two)) or {}).get("leases", [])) == JOBS
        await until(standby_holds_every_job, 30, "the standby to take every job over")
        takeover = time.monotonic() - killed_at
        print(f"\ntakeover after kill -9: {takeover:.2f} s (lease TTL {LEASE_TTL:g} s)")
        created += await during

        # The consumer side: a platform message after the failover opens one ticket.
        async with aiormq.connect(RABBIT_URL) as connection:
            await publish(await connection.channel(), cluster.names["RABBITMQ_EXCHANGE"],
                          "order.issue", {"event": "order.issue", "data": ORDER},
                          message_id="cluster-order-1")
        created += [await create_and_read_back(http, cluster.apis[n % 2], n)
                    for n in range(14, 18)]

        async def platform_ticket_listed() -> bool:
            return len(await every_ticket(http, cluster.apis[0])) == len(created) + 1
        await until(platform_ticket_listed, 30, "the platform ticket")

        for api in cluster.apis:
            listed = await every_ticket(http, api)
            ids = [t["id"] for t in listed]
            assert len(ids) == len(set(ids)) == len(created) + 1
            assert {t["id"] for t in created} <= set(ids)
            numbers = [t["ticket_number"] for t in listed]
            assert len(numbers) == len(set(numbers))

        head = (await http.get(f"{cluster.apis[1]}/status")).json()["projection"]["head"]
        await tap.wait_for_positions(head, timeout=30)
        await asyncio.sleep(0.5)  # a duplicate would arrive right behind
        assert sorted(tap.positions()) == list(range(1, head + 1))  # each exactly once
        kinds = [body(m)["event"] for m in tap.messages]
        assert kinds.count("ticket.created") == len(created) + 1
        assert takeover < 4 * LEASE_TTL + 5  # a sanity bound only; the figure is printed

        # The shared public limit across both APIs, per client behind a trusted proxy.
        def via_ingress(client: str) -> dict[str, str]:
            return {"X-Forwarded-For": f"198.51.100.1, {client}"}
        answers = [(await http.get(f"{cluster.apis[n % 2]}/public/tickets/TICKET-19990101-001",
                                   headers=via_ingress("203.0.113.5"))).status_code
                   for n in range(5)]
        assert answers == [404, 404, 404, 404, 429]
        other = await http.get(f"{cluster.apis[1]}/public/tickets/TICKET-19990101-001",
                               headers=via_ingress("203.0.113.6"))
        assert other.status_code == 404

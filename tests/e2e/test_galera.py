"""SAV on a 3-node MariaDB Galera cluster started by the suite (Debian's `galera-4`):
two `sav db upgrade` at once through two nodes both succeed; two APIs on two different
nodes under a bounded load answer no 5xx (certification conflicts are retried); `kill -9`
of one node: the API on it answers 503 on /health, the other keeps writing (the stall is
measured and printed), the node comes back by IST (and, desynced, makes /health 503
again), no acknowledged write is lost and the event positions are gapless and identical on every
node; `sav replay` switches its tables in and `--check` through another node agrees.
One cluster for the module.
See docs/decisions/0150-galera.md.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from sav.api.auth import issue_token
from sav.migrations import head_revision
from tests.support.galera import GaleraCluster, GaleraNode, galera_provider, start_cluster
from tests.support.services import MissingProgramError, free_port
from tests.support.settings import JWT_SECRET

SAV = str(Path(sys.executable).with_name("sav"))
LEASE_TTL = "3"
MASTER_KEY = base64.b64encode(os.urandom(32)).decode()  # shared by every process
CUSTOMERS = [
    {"Authorization": f"Bearer {issue_token(JWT_SECRET, f'cust-{n}', 'customer', None, None)}"}
    for n in range(4)]


@pytest.fixture(scope="module")
def cluster() -> Iterator[GaleraCluster]:
    try:
        galera_provider()
    except MissingProgramError as missing:
        pytest.fail(str(missing))
    started = start_cluster(3)
    try:
        yield started
    finally:
        started.remove()


def sav_env(node: GaleraNode, database: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DB_", "RABBITMQ_", "MINIO_", "SAV_", "AUTH_", "AWS_"))}
    env.update(DB_CONNECTION="mysql", DB_HOST="127.0.0.1", DB_PORT=str(node.port),
               DB_USERNAME="root", DB_PASSWORD="", DB_DATABASE=database,
               DB_WSREP_SYNC_WAIT="1", AUTH_JWT_SECRET=JWT_SECRET,
               SAV_MASTER_KEY=MASTER_KEY, SAV_DATA_DIR=str(data_dir),
               SAV_WORKER_LEASE_TTL=LEASE_TTL, SAV_WORKER_HEALTH_PORT="0")
    return env


def query(node: GaleraNode, sql: str, *args: object) -> list[tuple[object, ...]]:
    with node.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SET SESSION wsrep_sync_wait = 1")
        cursor.execute(sql, args)
        return list(cursor.fetchall())


def test_two_upgrades_at_once_through_two_nodes_both_succeed(
        cluster: GaleraCluster, tmp_path: Path) -> None:
    database = f"sav_upgrade_{uuid.uuid4().hex[:8]}"
    runs = [subprocess.Popen([SAV, "db", "upgrade"], env=sav_env(node, database, tmp_path),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for node in cluster.nodes[:2]]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    for node in cluster.nodes:
        assert query(node, f"SELECT version_num FROM `{database}`.alembic_version") == [
            (head_revision(),)]
        # The cluster-wide schema lock was freed.
        assert query(node, f"SELECT COUNT(*) FROM `{database}`.sav_cluster_locks") == [(0,)]


@dataclass
class Api:
    node: GaleraNode
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def health(self) -> int:
        try:
            return httpx.get(f"{self.url}/health", timeout=3).status_code
        except httpx.HTTPError:
            return 0


def start_api(node: GaleraNode, database: str, data_dir: Path) -> Api:
    port = free_port()
    log = data_dir / f"api-{node.name}.log"
    process = subprocess.Popen([SAV, "serve", "--host", "127.0.0.1", "--port", str(port)],
                               env=sav_env(node, database, data_dir), stdout=log.open("wb"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    api = Api(node, port, process, log)
    deadline = time.monotonic() + 60
    while api.health() != 200:
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)
    return api


def unhandled(api: Api) -> str:
    """The API's log from its first unhandled error on: what a 500 was."""
    text = api.log.read_text(errors="replace")
    start = text.find("unhandled error")
    return text[start:start + 6000] if start >= 0 else "no unhandled error logged"


def until(condition: Callable[[], object], timeout: float = 20) -> bool:
    """Polls `condition` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def until_health(api: Api, status: int, timeout: float = 20) -> bool:
    return until(lambda: api.health() == status, timeout)


@dataclass
class Load:
    """Creates (and a message on each) through one API; what each answered, and how long
    each write took."""

    api: Api
    acknowledged: list[str] = field(default_factory=list)
    acknowledged_at: list[float] = field(default_factory=list)  # when each create began
    statuses: list[int] = field(default_factory=list)
    durations: list[tuple[float, float]] = field(default_factory=list)  # (start, seconds)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def one(self, http: httpx.Client, n: int) -> None:
        who = CUSTOMERS[n % len(CUSTOMERS)]
        started = time.monotonic()
        try:
            created = http.post(f"{self.api.url}/tickets", headers=who, json={
                "subject": f"Galera ticket {n}", "description": "written under load"})
            status = created.status_code
            if status == 503 and not created.headers.get("retry-after"):
                status = -503  # a 503 must say when to retry
        except httpx.HTTPError:
            status = 0  # no answer: not acknowledged
        with self.lock:
            self.statuses.append(status)
            self.durations.append((started, time.monotonic() - started))
        if status != 201:
            return
        ticket = created.json()
        with self.lock:
            self.acknowledged.append(ticket["id"])
            self.acknowledged_at.append(started)
        started = time.monotonic()
        posted = http.post(f"{self.api.url}/tickets/{ticket['id']}/messages", headers=who,
                           json={"content": f"message on {n}"})
        with self.lock:
            self.statuses.append(posted.status_code)
            self.durations.append((started, time.monotonic() - started))

    def run(self, count: int | None, stop: threading.Event | None = None) -> None:
        with httpx.Client(timeout=60) as http:
            n = 0
            while (count is None or n < count) and not (stop and stop.is_set()):
                self.one(http, n)
                n += 1

    def acknowledged_since(self, moment: float) -> int:
        """How many creates begun after `moment` were acknowledged."""
        with self.lock:
            return sum(1 for began in self.acknowledged_at if began > moment)

    def server_errors(self) -> list[int]:
        return [s for s in self.statuses if s >= 500]


def test_two_apis_on_two_nodes_then_a_node_is_killed_and_nothing_is_lost(
        cluster: GaleraCluster, tmp_path: Path) -> None:
    database = f"sav_load_{uuid.uuid4().hex[:8]}"
    first, second, third = cluster.nodes
    # The first API starts alone (it creates the schema and takes the worker leases,
    # so the projector runs on the node that survives); the second joins it.
    apis = [start_api(first, database, tmp_path)]
    apis.append(start_api(second, database, tmp_path))
    try:
        # A bounded load through both nodes at once: certification conflicts retried.
        loads = [Load(api) for api in apis]
        with ThreadPoolExecutor(4) as pool:
            for future in [pool.submit(load.run, 20) for load in loads for _ in range(2)]:
                future.result()
        assert [load.server_errors() for load in loads] == [[], []]
        assert [len(load.acknowledged) for load in loads] == [40, 40], [
            sorted(set(load.statuses)) for load in loads]

        # kill -9 of the second API's node while both keep writing.
        survivor, orphan = Load(apis[0]), Load(apis[1])
        stop = threading.Event()
        threads = [threading.Thread(target=load.run, args=(None, stop))
                   for load in (survivor, orphan)]
        for thread in threads:
            thread.start()
        assert until(lambda: survivor.acknowledged and orphan.acknowledged), \
            "no write went through before the node loss"
        killed_at = time.monotonic()
        cluster.kill(second)
        assert until_health(apis[1], 503), "/health of the API on the killed node kept 200"
        assert apis[0].health() == 200
        # Past the stall: the survivors formed a cluster without the node and the
        # surviving API acknowledged writes there (several, each begun after the kill).
        assert until(lambda: survivor.acknowledged_since(killed_at) >= 3, 60), \
            "no write went through during the node loss"
        position = cluster.restart(second)
        assert cluster.transfer_kinds(second) == {"IST"}, position
        assert until_health(apis[1], 200, 30), "the API did not recover with its node"
        recovered_at = time.monotonic()
        # Writes through both APIs again before the load stops (none is required of the
        # node's API: it may still answer 503 for a moment).
        until(lambda: survivor.acknowledged_since(recovered_at)
              and orphan.acknowledged_since(recovered_at), 5)
        stop.set()
        for thread in threads:
            thread.join(timeout=90)

        # The node back, up but not Synced (desynced, as a donor is): /health says 503.
        with second.connect() as admin, admin.cursor() as cursor:
            cursor.execute("SET GLOBAL wsrep_desync = ON")
            try:
                assert until_health(apis[1], 503), "a desynced node's API kept /health 200"
                assert apis[0].health() == 200
            finally:
                cursor.execute("SET GLOBAL wsrep_desync = OFF")
        assert until_health(apis[1], 200)

        stall = max(seconds for started, seconds in survivor.durations
                    if started + seconds >= killed_at)
        print(f"\nGalera node loss: the surviving API's longest write took {stall:.2f} s; "
              f"{len(survivor.acknowledged)} creates acknowledged there during the loss, "
              f"{len(orphan.acknowledged)} on the killed node's API; its answers: "
              f"{sorted(set(orphan.statuses))}")
        # Stored writes are not answered as errors, and nothing is a 500.
        assert survivor.server_errors() == [], unhandled(apis[0])
        assert set(orphan.statuses) <= {0, 201, 503}, (orphan.statuses, unhandled(apis[1]))
        assert survivor.acknowledged, "no write went through during the node loss"

        acknowledged = {i for load in [*loads, survivor, orphan] for i in load.acknowledged}
        marks = ", ".join(["%s"] * len(acknowledged))
        for node in (first, second, third):
            found = query(node, f"SELECT COUNT(DISTINCT originator_id) FROM `{database}`."
                                f"stored_events WHERE originator_id IN ({marks})",
                          *acknowledged)
            assert found == [(len(acknowledged),)], f"acknowledged creates lost on {node.name}"
        positions = [query(node, f"SELECT COUNT(*), MIN(notification_id), "
                                 f"MAX(notification_id) FROM `{database}`.stored_events")
                     for node in (first, second, third)]
        count, low, high = positions[0][0]
        assert (low, high) == (1, count), "positions have a gap"
        assert positions == [positions[0]] * 3, positions

        # The replay's switch (RENAME TABLE, replicated in total order) through the
        # writer, then its check through another node: the tables agree.
        for node, command in ((first, ["replay"]), (third, ["replay", "--check"])):
            replay = subprocess.run([SAV, *command], env=sav_env(node, database, tmp_path),
                                    capture_output=True, text=True, timeout=120)
            assert replay.returncode == 0, replay.stdout + replay.stderr
    finally:
        for api in apis:
            if api.process.poll() is None:
                api.process.terminate()
                try:
                    api.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    api.process.kill()

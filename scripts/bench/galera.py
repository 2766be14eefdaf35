"""SAV on a 3-node Galera cluster behind HAProxy, against plain MariaDB, in one run.

    .venv/bin/python scripts/bench/galera.py [--seconds 15] [--clients 8]

1. creates/s of one `sav serve` writing through HAProxy (one writer node, two backups,
   checked on their Galera state by scripts/cluster/galera_check.py), then of the same
   server on the machine's plain MariaDB (127.0.0.1:3306, a throwaway database);
2. `kill -9` of the writer node under load: the write stall (the longest create, and
   the longest time without any acknowledged create), the 503s answered meanwhile, and
   the acknowledged creates missing afterwards on every node (must be 0); the node comes
   back by IST (`--wsrep-recover` first).

The cluster is tests/support/galera.py's (the suite's own); needs galera-4, rsync and
haproxy (apt-get install -y galera-4 rsync haproxy).
"""

from __future__ import annotations

import argparse
import base64
import itertools
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pymysql

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sav.api.auth import issue_token  # noqa: E402
from tests.support.galera import (  # noqa: E402
    RUN_AS,
    GaleraCluster,
    GaleraNode,
    owned_by_server,
    start_cluster,
)
from tests.support.services import free_port  # noqa: E402

SAV = str(Path(sys.executable).with_name("sav"))
JWT = secrets.token_urlsafe(48)
MASTER_KEY = base64.b64encode(os.urandom(32)).decode()


def haproxy_config(cluster: GaleraCluster, port: int, checks: list[int]) -> str:
    """The configuration README's "Galera cluster" section documents."""
    servers = "\n".join(
        f"    server {n.name} 127.0.0.1:{n.port} check port {check}"
        f"{'' if i == 0 else ' backup'}"
        for i, (n, check) in enumerate(zip(cluster.nodes, checks, strict=True)))
    return f"""global
    maxconn 4000
defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout check 2s
listen galera-writer
    bind 127.0.0.1:{port}
    stick-table type ip size 1 nopurge
    stick on dst
    option httpchk
    http-check send meth GET uri /
    http-check expect status 200
    default-server inter 1s fall 2 rise 3 on-marked-down shutdown-sessions
{servers}
"""


@dataclass
class Proxy:
    port: int
    processes: list[subprocess.Popen[bytes]]

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
            process.wait(timeout=10)


def start_proxy(cluster: GaleraCluster, folder: Path) -> Proxy:
    haproxy = shutil.which("haproxy", path=os.environ["PATH"] + ":/usr/sbin")
    if haproxy is None:
        sys.exit("haproxy missing: apt-get install -y haproxy")
    checks = [free_port() for _ in cluster.nodes]
    responder = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "cluster" / "galera_check.py"),
         *(f"127.0.0.1:{c}=127.0.0.1:{n.port}" for c, n in zip(checks, cluster.nodes,
                                                               strict=True))])
    # HAProxy's first checks must find the responder up (a node marked down at start
    # needs 3 good checks to come back, and would not be the first writer).
    for check in checks:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{check}/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                sys.exit(f"the check responder on {check} does not answer 200")
            time.sleep(0.2)
    port = free_port()
    config = folder / "haproxy.cfg"
    config.write_text(haproxy_config(cluster, port, checks))
    proxy = subprocess.Popen([haproxy, "-f", str(config), "-db"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            pymysql.connect(host="127.0.0.1", port=port, user="root", connect_timeout=1).close()
            break
        except pymysql.MySQLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    return Proxy(port, [proxy, responder])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_sav(db_port: int, database: str, folder: Path, sync_wait: bool) -> Server:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DB_", "RABBITMQ_", "MINIO_", "SAV_", "AUTH_", "APP_"))}
    env.update(DB_CONNECTION="mysql", DB_HOST="127.0.0.1", DB_PORT=str(db_port),
               DB_USERNAME="root", DB_PASSWORD="", DB_DATABASE=database,
               DB_WSREP_SYNC_WAIT="1" if sync_wait else "0", AUTH_JWT_SECRET=JWT,
               SAV_MASTER_KEY=MASTER_KEY, SAV_DATA_DIR=str(folder),
               SAV_WORKER_HEALTH_PORT="0", SAV_LOG_LEVEL="warning")
    port = free_port()
    process = subprocess.Popen([SAV, "serve", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, stdout=(folder / f"sav-{port}.log").open("wb"),
                               stderr=subprocess.STDOUT)
    server = Server(process, port)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"sav serve did not start: {(folder / f'sav-{port}.log').read_text()}")
        time.sleep(0.2)


@dataclass
class Load:
    url: str
    clients: int
    acknowledged: list[str] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[float, float, int]] = field(default_factory=list)  # start, end, status
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, n: int) -> None:
        token = issue_token(JWT, f"bench-{n}", "customer", None, None)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(timeout=60) as http:
            i = 0
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    response = http.post(f"{self.url}/tickets", headers=headers, json={
                        "subject": f"bench {n}-{i}", "description": "Galera benchmark"})
                    status = response.status_code
                    # A 503 says why: `dependency_unavailable` (the write's node went
                    # away: not stored, or not known) or `read_model_lagging` (stored).
                    said = (f"{status} {response.json()['error']['code']}"
                            if status >= 500 else str(status))
                except (httpx.HTTPError, ValueError, KeyError):
                    status, said = 0, "no answer"
                with self.lock:
                    self.requests.append((started, time.monotonic(), status))
                    self.answers[said] = self.answers.get(said, 0) + 1
                    if status == 201:
                        self.acknowledged.append(response.json()["id"])
                i += 1

    def run_for(self, seconds: float) -> float:
        """Creates per second over `seconds`."""
        threads = [threading.Thread(target=self.client, args=(n,)) for n in range(self.clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        self.stop.set()
        for thread in threads:
            thread.join()
        return len(self.acknowledged) / (time.monotonic() - started)


def creates_per_second(db_port: int, folder: Path, seconds: float, clients: int,
                       galera: bool) -> float:
    database = f"sav_bench_{uuid.uuid4().hex[:8]}"
    server = start_sav(db_port, database, folder, sync_wait=galera)
    try:
        Load(server.url, clients).run_for(1.0)  # warm-up
        return Load(server.url, clients).run_for(seconds)
    finally:
        server.stop()
        with pymysql.connect(host="127.0.0.1", port=db_port, user="root",
                             autocommit=True) as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")


def start_plain(folder: Path) -> GaleraNode:
    """A standalone mariadbd with a cluster node's settings but wsrep off: the same
    server, buffer pool and flush policy, without replication."""
    base = folder / "plain"
    base.mkdir()
    folder.chmod(0o755)  # the server's user reaches its datadir
    single = GaleraCluster(folder / "plain-cluster")
    node = GaleraNode(0, base, free_port(), free_port(), free_port(), free_port())
    single.nodes.append(node)
    owned_by_server(base)
    user = [f"--user={RUN_AS}"] if os.geteuid() == 0 else []
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={node.datadir}",
                    "--skip-test-db", "--auth-root-authentication-method=normal", *user],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    command = [arg for arg in single.command(node) if not arg.startswith("--wsrep")]
    node.process = subprocess.Popen([*command, "--wsrep-on=OFF"], start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            with node.connect(unix_socket=str(node.socket), host=None) as conn, \
                    conn.cursor() as cursor:
                cursor.execute("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''")
                cursor.execute("GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION")
            return node
        except pymysql.MySQLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def writer_node(cluster: GaleraCluster, proxy: Proxy) -> GaleraNode:
    with pymysql.connect(host="127.0.0.1", port=proxy.port, user="root") as conn, \
            conn.cursor() as cursor:
        cursor.execute("SELECT @@wsrep_node_name")
        (name,) = cursor.fetchone()  # type: ignore[misc]
    return next(node for node in cluster.nodes if node.name == name)


def node_loss(cluster: GaleraCluster, proxy: Proxy, folder: Path,
              clients: int) -> dict[str, object]:
    database = f"sav_bench_loss_{uuid.uuid4().hex[:8]}"
    server = start_sav(proxy.port, database, folder, sync_wait=True)
    load = Load(server.url, clients)
    threads = [threading.Thread(target=load.client, args=(n,)) for n in range(clients)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(3)
        victim = writer_node(cluster, proxy)
        killed_at = time.monotonic()
        cluster.kill(victim)
        time.sleep(12)
        recovered = time.monotonic()
        cluster.restart(victim)
        ist = cluster.transfer_kinds(victim)
        restart_s = time.monotonic() - recovered
        time.sleep(3)
    finally:
        load.stop.set()
        for thread in threads:
            thread.join()
        server.stop()
    after = [r for r in load.requests if r[1] >= killed_at]
    longest = max(end - start for start, end, _ in after)
    oks = sorted(end for _, end, status in load.requests if status == 201)
    gaps = [b - a for a, b in itertools.pairwise(oks) if b >= killed_at]
    missing = {}
    for node in cluster.nodes:
        with node.connect() as conn, conn.cursor() as cursor:
            cursor.execute("SET SESSION wsrep_sync_wait = 1")
            marks = ", ".join(["%s"] * len(load.acknowledged))
            cursor.execute(f"SELECT COUNT(DISTINCT originator_id) FROM `{database}`."
                           f"stored_events WHERE originator_id IN ({marks})",
                           load.acknowledged)
            (found,) = cursor.fetchone()  # type: ignore[misc]
            missing[node.name] = len(load.acknowledged) - int(found)
    for log in folder.glob("sav-*.log"):  # what a 500 was, if any
        for line in log.read_text(errors="replace").splitlines():
            if '"level":"error"' in line and "unhandled" in line:
                print(f"  500 in {log.name}: {line[:3000]}")
    return {"killed": victim.name, "acknowledged": len(load.acknowledged),
            "answers": dict(sorted(load.answers.items())),
            "longest_create_s": round(longest, 2),
            "longest_without_ack_s": round(max(gaps, default=0.0), 2),
            "lost_acknowledged": missing, "rejoined_by": sorted(ist),
            "restart_s": round(restart_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sav-bench-galera-"))
    started = time.monotonic()
    cluster = start_cluster(3)
    print(f"cluster of 3 nodes up in {time.monotonic() - started:.1f} s", flush=True)
    proxy = start_proxy(cluster, folder)
    try:
        galera = creates_per_second(proxy.port, folder, args.seconds, args.clients, True)
        plain = start_plain(folder)
        try:
            same = creates_per_second(plain.port, folder, args.seconds, args.clients, False)
        finally:
            GaleraCluster(folder).shutdown(plain)
        machine = creates_per_second(3306, folder, args.seconds, args.clients, False)
        print(f"creates/s, {args.clients} clients, {args.seconds:.0f} s each:\n"
              f"  Galera, 3 nodes, through HAProxy: {galera:.1f}\n"
              f"  plain MariaDB, the nodes' settings, no wsrep: {same:.1f} "
              f"(Galera/plain {galera / same:.2f})\n"
              f"  the machine's MariaDB (127.0.0.1:3306, its own settings): {machine:.1f}",
              flush=True)
        loss = node_loss(cluster, proxy, folder, max(2, args.clients // 2))
        print("kill -9 of the writer node under load:", flush=True)
        for key, value in loss.items():
            print(f"  {key}: {value}")
    finally:
        proxy.stop()
        cluster.remove()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

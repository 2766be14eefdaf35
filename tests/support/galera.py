"""A throwaway MariaDB Galera cluster on loopback ports, from Debian's `galera-4`.

Each node is a separate `mariadbd` with its own datadir under one temporary directory
and its own ports: SQL, group communication (gcomm), IST and rsync SST. The first node
bootstraps the cluster (`--wsrep-new-cluster`); the others join it by state transfer.
The machine's own MariaDB is never touched. Used by tests/e2e/test_galera.py and
scripts/bench/galera.py; `scripts/cluster/galera.sh` is the operators' shell version.

A node killed with `kill -9` comes back as an operator should bring it back: first
`mariadbd --wsrep-recover` (the last committed position, read from InnoDB), then a start
at that position, so the cluster sends it the missing write-sets (IST) instead of a
full copy of the data (SST).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

from tests.support.services import MissingProgramError, free_port, program

PROVIDER = "/usr/lib/galera/libgalera_smm.so"
INSTALL_LINE = "apt-get install -y galera-4 mariadb-server rsync"
START_TIMEOUT_S = 120
SYNCED = "4"  # wsrep_local_state: 4 is Synced (2 Donor, 1 Joining, 3 Joined)
# As root, the servers run as Debian's `mysql` user, as in production: the rsync daemon
# that receives a state transfer runs as the server's user (as root it would drop to
# `nobody`, which may not write into the datadir).
RUN_AS = "mysql"
# Small, and the same at install as at start (a redo log of another size is rebuilt at
# the first start; install-db's default is 96M).
INNODB_SIZES = ("--innodb-buffer-pool-size=64M", "--innodb-log-file-size=48M")
_RECOVERED = re.compile(r"Recovered position:\s*([0-9a-f-]{36}:-?\d+)")


def galera_provider() -> str:
    """The provider library, or MissingProgramError naming the package to install."""
    if not os.path.exists(PROVIDER):
        raise MissingProgramError(
            f"the Galera test needs {PROVIDER} (Debian's galera-4): sudo {INSTALL_LINE}")
    program("rsync", "rsync")
    return PROVIDER


def owned_by_server(path: Path) -> None:
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(RUN_AS)
    for folder, _dirs, files in os.walk(path):
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(os.path.join(folder, name), entry.pw_uid, entry.pw_gid)


@dataclass
class GaleraNode:
    index: int
    base: Path
    port: int  # SQL
    gcomm_port: int
    ist_port: int
    sst_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return f"node{self.index}"

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def socket(self) -> Path:
        return self.base / "mysqld.sock"

    @property
    def log(self) -> Path:
        return self.base / "mariadb.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def connect(self, **kwargs: object) -> pymysql.connections.Connection:
        options: dict[str, object] = {"host": "127.0.0.1", "port": self.port, "user": "root",
                                      "connect_timeout": 2, "read_timeout": 10,
                                      "autocommit": True, **kwargs}
        return pymysql.connect(**options)  # type: ignore[arg-type]

    def status(self, name: str) -> str | None:
        """A `SHOW GLOBAL STATUS` value of this node, or None when it does not answer."""
        try:
            conn = self.connect()
        except pymysql.MySQLError:
            return None
        try:
            with conn.cursor() as cursor:
                cursor.execute("SHOW GLOBAL STATUS LIKE %s", (name,))
                row = cursor.fetchone()
                return None if row is None else str(row[1])
        except pymysql.MySQLError:
            return None
        finally:
            conn.close()

    def synced(self) -> bool:
        return self.status("wsrep_local_state") == SYNCED

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class GaleraCluster:
    directory: Path
    nodes: list[GaleraNode] = field(default_factory=list)
    name: str = "sav-test"

    @property
    def gcomm(self) -> str:
        return "gcomm://" + ",".join(f"127.0.0.1:{n.gcomm_port}" for n in self.nodes)

    def command(self, node: GaleraNode, *extra: str) -> list[str]:
        user = [f"--user={RUN_AS}"] if os.geteuid() == 0 else []
        provider_options = ";".join([
            f"base_port={node.gcomm_port}",
            f"gmcast.listen_addr=tcp://127.0.0.1:{node.gcomm_port}",
            f"ist.recv_addr=127.0.0.1:{node.ist_port}",
            "gcache.size=64M",
        ])
        return [
            program("mariadbd", "mariadb-server"), "--no-defaults",
            f"--datadir={node.datadir}", f"--port={node.port}", "--bind-address=127.0.0.1",
            f"--socket={node.socket}", f"--pid-file={node.base / 'pid'}",
            f"--log-error={node.log}", "--max-allowed-packet=64M",
            *INNODB_SIZES,
            "--performance-schema=OFF", "--skip-name-resolve",
            # What Galera requires of every node:
            "--binlog-format=ROW", "--innodb-autoinc-lock-mode=2",
            "--default-storage-engine=InnoDB", "--innodb-flush-log-at-trx-commit=2",
            "--wsrep-on=ON", f"--wsrep-provider={galera_provider()}",
            f"--wsrep-cluster-name={self.name}", f"--wsrep-cluster-address={self.gcomm}",
            f"--wsrep-node-name={node.name}",
            f"--wsrep-node-address=127.0.0.1:{node.gcomm_port}",
            f"--wsrep-node-incoming-address=127.0.0.1:{node.port}",
            f"--wsrep-provider-options={provider_options}",
            "--wsrep-sst-method=rsync", f"--wsrep-sst-receive-address=127.0.0.1:{node.sst_port}",
            "--wsrep-slave-threads=2",
            *user, *extra,
        ]

    def launch(self, node: GaleraNode, *extra: str) -> None:
        node.process = subprocess.Popen(
            self.command(node, *extra), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "PATH": os.pathsep.join(
                [os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin"])})

    def wait_synced(self, node: GaleraNode, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not node.synced():
            if not node.alive() or time.monotonic() > deadline:
                tail = node.log.read_text(errors="replace")[-6000:] if node.log.exists() else ""
                raise RuntimeError(f"Galera {node.name} did not reach Synced; its log:\n{tail}")
            time.sleep(0.2)

    def wait_members(self, node: GaleraNode, size: int,
                     timeout: float = START_TIMEOUT_S) -> None:
        """Until `node` sees `size` members in the cluster's primary component."""
        deadline = time.monotonic() + timeout
        while node.status("wsrep_cluster_size") != str(size):
            if not node.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"Galera {node.name} did not see {size} members")
            time.sleep(0.1)

    def start(self, size: int = 3) -> None:
        galera_provider()
        install = program("mariadb-install-db", "mariadb-server")
        user = [f"--user={RUN_AS}"] if os.geteuid() == 0 else []
        self.directory.chmod(0o755)  # the server's user reaches its node's folder
        for index in range(1, size + 1):
            base = self.directory / f"node{index}"
            base.mkdir(parents=True)
            owned_by_server(base)
            self.nodes.append(GaleraNode(index, base, free_port(), free_port(), free_port(),
                                         free_port()))
        first = self.nodes[0]
        with (first.base / "install.log").open("wb") as out:
            subprocess.run([install, "--no-defaults", f"--datadir={first.datadir}",
                            "--skip-test-db", "--auth-root-authentication-method=normal",
                            *INNODB_SIZES, *user], stdout=out, stderr=subprocess.STDOUT, check=True,
                           timeout=120)
        self.launch(first, "--wsrep-new-cluster")
        self.wait_synced(first)
        # root without a password over TCP too (install-db made root@localhost only).
        with first.connect(unix_socket=str(first.socket), host=None) as conn, \
                conn.cursor() as cursor:
            cursor.execute("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''")
            cursor.execute("GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION")
        # The joiners start from a copy of the first node's datadir, stopped cleanly (its
        # grastate.dat holds the cluster's uuid:seqno): they join without a full SST,
        # which as root would also need rsync's daemon (run as nobody) to write here.
        self.shutdown(first)
        for node in self.nodes[1:]:
            shutil.copytree(first.datadir, node.datadir)
            owned_by_server(node.datadir)
        self.launch(first, "--wsrep-new-cluster")
        self.wait_synced(first)
        # The joiners enter the group one at a time (two joining at once make the group
        # membership protocol retry for seconds), then catch up (IST) side by side.
        for size, node in enumerate(self.nodes[1:], start=2):
            self.launch(node)
            self.wait_members(first, size)
        for node in self.nodes[1:]:
            self.wait_synced(node)

    def shutdown(self, node: GaleraNode) -> None:
        """A clean stop: the node saves its position in grastate.dat."""
        if node.alive():
            assert node.process is not None
            os.killpg(node.process.pid, signal.SIGTERM)
            try:
                node.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(node.process.pid, signal.SIGKILL)
                node.process.wait(timeout=10)

    def kill(self, node: GaleraNode) -> None:
        """`kill -9`: no shutdown, no saved position (grastate.dat says seqno -1)."""
        assert node.process is not None
        os.killpg(node.process.pid, signal.SIGKILL)
        node.process.wait(timeout=30)

    def recover_position(self, node: GaleraNode) -> str:
        """`mariadbd --wsrep-recover`: the last committed `uuid:seqno`, from InnoDB."""
        recover_log = node.base / "recover.log"
        subprocess.run([*self.command(node, "--wsrep-recover"),
                        f"--log-error={recover_log}"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120, check=False)
        found = _RECOVERED.findall(recover_log.read_text(errors="replace"))
        if not found:
            raise RuntimeError(f"--wsrep-recover found no position:\n"
                               f"{recover_log.read_text(errors='replace')[-3000:]}")
        return str(found[-1])

    def restart(self, node: GaleraNode) -> str:
        """Bring a killed node back at its recovered position (IST); returns it."""
        position = self.recover_position(node)
        self.launch(node, f"--wsrep-start-position={position}")
        self.wait_synced(node)
        return position

    def transfer_kinds(self, node: GaleraNode) -> set[str]:
        """Which state transfers this node received since its last start: "IST" (the
        missing write-sets) and/or "SST" (a full copy of the datadir). With rsync an IST
        also runs the SST script, which then logs `rsync IST completed`."""
        text = node.log.read_text(errors="replace")
        recent = text[text.rfind("Starting MariaDB"):] if "Starting MariaDB" in text else text
        kinds = set()
        if "IST received" in recent:
            kinds.add("IST")
        if re.search(r"(rsync|mariabackup) SST completed", recent):
            kinds.add("SST")
        return kinds

    def stop(self) -> None:
        for node in reversed(self.nodes):
            self.shutdown(node)

    def remove(self) -> None:
        """Throw the cluster away: every node killed at once (nothing of it is kept, so
        no clean shutdown is waited for), then its folder."""
        for node in self.nodes:
            if node.alive():
                assert node.process is not None
                os.killpg(node.process.pid, signal.SIGKILL)
        for node in self.nodes:
            if node.process is not None:
                node.process.wait(timeout=30)
        shutil.rmtree(self.directory, ignore_errors=True)


def start_cluster(size: int = 3) -> GaleraCluster:
    cluster = GaleraCluster(Path(tempfile.mkdtemp(prefix="sav-galera-")))
    try:
        cluster.start(size)
    except BaseException:
        cluster.remove()
        raise
    return cluster

"""A throwaway clamd (Debian's `clamav-daemon`) with a signature database of one entry.

Signature updates cannot be downloaded in CI, so the database is written here: an MD5
hash signature (`.hdb`: `md5:size:name`) of the EICAR test file, the harmless string
every scanner detects by convention. The string is assembled at run time from pieces,
so this repository never holds it verbatim (a developer's own scanner would flag it).
clamd reports a signature from a non-official database with `.UNOFFICIAL` appended.

Like tests/support/services.py: a temporary directory, free ports, stopped at the end;
a missing program stops the run naming the `apt-get install` line, never a skip.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.support.services import OwnServer, free_port, program, wait_for

SIGNATURE = "Eicar-Test-Signature"
PACKAGE = "clamav-daemon clamav"


def eicar() -> bytes:
    """The 68-byte EICAR test file (see the module docstring for why it is built)."""
    head = "X5O!P%@AP[4" + "\\" + "PZX54(P^)7CC)7}$"
    tail = "-".join(["EICAR", "STANDARD", "ANTIVIRUS", "TEST", "FILE!"]) + "$H+H*"
    return (head + tail).encode("ascii")


@dataclass
class Clamd:
    """A running clamd: TCP on 127.0.0.1:`port` and a Unix socket at `socket_path`."""

    directory: Path
    port: int
    socket_path: Path
    server: OwnServer

    @property
    def env(self) -> dict[str, str]:
        """The settings that point SAV at it over TCP."""
        return {"SAV_CLAMAV_HOST": "127.0.0.1", "SAV_CLAMAV_PORT": str(self.port)}

    def stop(self) -> None:
        self.server.stop()


def start_clamd(directory: Path | None = None, stream_max_length: str = "25M") -> Clamd:
    """Start clamd on a free port with the EICAR database; `stop()` it afterwards."""
    daemon = program("clamd", PACKAGE)
    base = directory or Path(tempfile.mkdtemp(prefix="sav-test-clamd-"))
    database = base / "db"
    database.mkdir(parents=True, exist_ok=True)
    sample = eicar()
    (database / "eicar.hdb").write_text(
        f"{hashlib.md5(sample).hexdigest()}:{len(sample)}:{SIGNATURE}\n")
    port, sock, log = free_port(), base / "clamd.sock", base / "clamd.log"
    config = base / "clamd.conf"
    config.write_text("\n".join([
        "Foreground yes", f"TCPSocket {port}", "TCPAddr 127.0.0.1", f"LocalSocket {sock}",
        f"DatabaseDirectory {database}", f"PidFile {base / 'clamd.pid'}",
        f"StreamMaxLength {stream_max_length}", "LogTime yes", ""]))
    server = OwnServer("clamd", port)
    server.process = subprocess.Popen([daemon, "-c", str(config)], stdout=log.open("wb"),
                                      stderr=subprocess.STDOUT, start_new_session=True)
    wait_for(lambda: pings(port), "clamd", server.process, log)
    return Clamd(base, port, sock, server)


def pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"zPING\0")
            return conn.recv(16) == b"PONG\0"
    except OSError:
        return False

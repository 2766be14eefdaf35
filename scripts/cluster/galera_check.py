"""Galera node state over HTTP, for HAProxy's `option httpchk` (its own `mysql-check`
only sees that a server accepts connections, not whether the node is Synced).

    python scripts/cluster/galera_check.py 127.0.0.1:9201=127.0.0.1:3307 \
        127.0.0.1:9202=db-2:3306 ...

Each `LISTEN=NODE` pair serves one node: `GET /` on LISTEN answers 200 `synced` when the
node's `wsrep_local_state` is 4 (Synced) and `wsrep_ready` is ON, 503 with the state
otherwise (a joiner, a donor, a node cut off from the primary component, one that does
not answer). DB_USERNAME / DB_PASSWORD (environment) are the account it asks with: it
needs no privilege beyond USAGE (`SHOW GLOBAL STATUS`). Needs PyMySQL only.
"""

from __future__ import annotations

import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pymysql

SYNCED = "4"
TIMEOUT_S = 2


def split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


def node_state(host: str, port: int) -> tuple[bool, str]:
    """(whether the node takes writes, what it says)."""
    try:
        conn = pymysql.connect(host=host, port=port, user=os.environ.get("DB_USERNAME", "root"),
                               password=os.environ.get("DB_PASSWORD", ""),
                               connect_timeout=TIMEOUT_S, read_timeout=TIMEOUT_S)
    except pymysql.MySQLError as error:
        return False, f"unreachable: {error.args[-1] if error.args else error}"
    try:
        with conn.cursor() as cursor:
            cursor.execute("SHOW GLOBAL STATUS WHERE Variable_name IN "
                           "('wsrep_local_state', 'wsrep_ready', "
                           "'wsrep_local_state_comment')")
            status = {str(name): str(value) for name, value in cursor.fetchall()}
    except pymysql.MySQLError as error:
        return False, f"error: {error}"
    finally:
        conn.close()
    synced = status.get("wsrep_local_state") == SYNCED and status.get("wsrep_ready") == "ON"
    return synced, status.get("wsrep_local_state_comment", "not a Galera node")


def handler_for(host: str, port: int) -> type[BaseHTTPRequestHandler]:
    class Check(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            synced, said = node_state(host, port)
            body = f"{'synced' if synced else 'not synced'}: {said}\n".encode()
            try:
                self.send_response(200 if synced else 503)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # HAProxy reads the status line and may close before the body

        do_OPTIONS = do_GET  # HAProxy checks with OPTIONS unless told

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per check per second is noise

    return Check


def main(pairs: list[str]) -> None:
    if not pairs:
        sys.exit(__doc__)
    servers = []
    for pair in pairs:
        listen, _, node = pair.partition("=")
        servers.append(ThreadingHTTPServer(split(listen), handler_for(*split(node))))
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main(sys.argv[1:])

"""Backup/restore figure: seed a store, `sav events export --format store`, then
`sav events import` into a fresh database; prints events/s of each step.

    .venv/bin/python scripts/restore_figure.py [--tickets 5000] [--mysql]

SQLite by default (temporary SAV_DATA_DIR); --mysql uses the MariaDB of
tests/support/settings.py (two throwaway databases, dropped afterwards).
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from scripts.bench.seeding import seed_tickets  # noqa: E402
from tests.support.settings import drop_mysql_database, mysql_env  # noqa: E402


def sav(env: dict[str, str], *args: str, stdout: int | None = None) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "sav.cli", *args], env=env, check=True,
                   stdout=stdout, cwd=ROOT)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=5000)
    parser.add_argument("--mysql", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = {**os.environ, "AUTH_JWT_SECRET": secrets.token_urlsafe(48),
                "SAV_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode()}
        source = {**base, "SAV_DATA_DIR": f"{tmp}/source"}
        target = {**base, "SAV_DATA_DIR": f"{tmp}/target"}
        names = []
        if args.mysql:
            for env in (source, target):
                env.update(mysql_env(), DB_CONNECTION="mysql",
                           DB_DATABASE=f"sav_restore_{uuid.uuid4().hex[:8]}")
                names.append(env["DB_DATABASE"])
        try:
            sav(source, "db", "upgrade", stdout=subprocess.DEVNULL)
            _, events, _ = seed_tickets(source, args.tickets, 0, "cust-1", "agent-1")
            backup = Path(tmp) / "backup.jsonl"
            with backup.open("wb") as out:
                took = sav(source, "events", "export", "--format", "store", stdout=out.fileno())
            print(f"seeded {events} events ({args.tickets} tickets); export: {took:.1f} s, "
                  f"{events / took:.0f} events/s, {backup.stat().st_size / 1e6:.1f} MB")
            took = sav(target, "events", "import", str(backup))
            print(f"import + replay: {took:.1f} s, {events / took:.0f} events/s end to end "
                  f"(process start included)")
        finally:
            for name in names:
                drop_mysql_database(name)


if __name__ == "__main__":
    main()
